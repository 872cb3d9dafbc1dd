"""The run history as text: the last runs as a table, and their failures by reason.

The rows come from :meth:`storage.repository.RepoTx.recent_runs` and
:meth:`~storage.repository.RepoTx.failure_groups`; ``qupost runs`` prints these
lines.  Times are shown in the zone given (the machine's own by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from storage.repository import FailureGroup, RunSummary

# (header, the runs column it shows)
COUNT_COLUMNS = (
    ("new", "articles_new"),
    ("updated", "articles_updated"),
    ("unchanged", "articles_unchanged"),
    ("deleted", "articles_deleted"),
    ("failed", "articles_failed"),
    ("duplicate", "articles_duplicate"),
    ("images", "images_downloaded"),
    ("img failed", "images_failed"),
)


def duration(run: RunSummary) -> str:
    """How long the run took: ``8.1s``, ``3m12s``, ``2h05m``; ``-`` while it runs."""
    if run.finished_at is None:
        return "-"
    seconds = max((run.finished_at - run.started_at).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def outcome(run: RunSummary) -> str:
    """The exit status, with the way the run ended when that was not a plain finish."""
    if run.status in ("running", "interrupted"):
        return run.status
    status = "-" if run.exit_status is None else str(run.exit_status)
    return status if run.status == "finished" else f"{status} ({run.status})"


def runs_table(runs: Sequence[RunSummary], zone: tzinfo | None = None) -> list[str]:
    """The runs, oldest first, as aligned lines under a header."""
    zone_name = datetime.now().astimezone(zone).tzname() or "local"
    header = ["run", f"started ({zone_name})", "duration", *(h for h, _ in COUNT_COLUMNS), "exit"]
    rows = [
        [
            str(run.id),
            run.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            duration(run),
            *(str(run.counts.get(column, 0)) for _, column in COUNT_COLUMNS),
            outcome(run),
        ]
        for run in runs
    ]
    # Text columns to the left, numbers to the right; the last one is free-form.
    left = {1, len(header) - 1}
    return _align([header, *rows], left)


def failures_table(groups: Sequence[FailureGroup]) -> list[str]:
    """Failures by kind and reason, most frequent first, with example article ids."""
    header = ["kind", "reason", "count", "runs", "last run", "example articles", "example URL"]
    rows = [
        [
            group.kind,
            group.reason,
            str(group.count),
            str(group.runs),
            str(group.last_run),
            ", ".join(group.example_ids) or "-",
            _cut(group.example_url, 100) or "-",
        ]
        for group in groups
    ]
    return _align([header, *rows], {0, 1, 5, 6})


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _align(table: list[list[str]], left: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [
            cell.ljust(widths[i]) if i in left else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
