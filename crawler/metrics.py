"""A run's metrics, pushed to a Prometheus Pushgateway when the run closes.

Set ``QUPOST_PUSHGATEWAY_URL`` and every run pushes its counts, duration and
exit status, and, when it succeeded, ``qupost_last_success_timestamp_seconds``.
All runs push to one group, the job ``QUPOST_PUSHGATEWAY_JOB`` with no other
grouping label, with the Pushgateway's POST method ("pushadd"): it replaces
only the metrics named in the push.  A failed run leaves the last success's
timestamp out of its push, so that gauge keeps the time of the last run that
worked and an alert can fire when it grows old (README "Metrics").

A push that fails (the gateway down, a wrong URL, a timeout) is one WARNING
line; it never changes the run's exit status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from crawler.config import QupostConfig

logger = logging.getLogger(__name__)

LAST_SUCCESS = "qupost_last_success_timestamp_seconds"
# The article_counts() keys behind each outcome label (crawler/stats.py).
ARTICLE_OUTCOMES = ("new", "updated", "unchanged", "deleted", "failed", "skipped")
IMAGE_OUTCOMES = ("downloaded", "failed")


@dataclass(frozen=True)
class RunReport:
    """What a closing run tells the Pushgateway."""

    counts: Mapping[str, int]  # crawler.stats.article_counts()
    seconds: float
    exit_status: int
    reason: str  # why the spider closed: finished, shutdown (Ctrl-C, SIGTERM), …
    finished_at: datetime
    site_changed: bool

    @property
    def succeeded(self) -> bool:
        """Exit status 0, and not stopped by a signal before it was done."""
        return self.exit_status == 0 and self.reason != "shutdown"


def run_registry(report: RunReport) -> CollectorRegistry:
    """The run's gauges, in a registry of their own (never the process-wide one)."""
    registry = CollectorRegistry(auto_describe=True)

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(name, doc, registry=registry).set(value)

    articles = Gauge(
        "qupost_run_articles",
        "Listed articles of the last run, by outcome (they add up to qupost_run_articles_listed)",
        ["outcome"],
        registry=registry,
    )
    for outcome in ARTICLE_OUTCOMES:
        articles.labels(outcome=outcome).set(report.counts.get(f"articles_{outcome}", 0))
    gauge(
        "qupost_run_articles_listed",
        "Articles the last run listed",
        report.counts.get("articles_listed", 0),
    )
    images = Gauge(
        "qupost_run_images",
        "Images of the last run, by outcome",
        ["outcome"],
        registry=registry,
    )
    for outcome in IMAGE_OUTCOMES:
        images.labels(outcome=outcome).set(report.counts.get(f"images_{outcome}", 0))
    gauge("qupost_run_duration_seconds", "How long the last run took", report.seconds)
    gauge(
        "qupost_run_exit_status",
        "Exit status of the last run (0 worked, 1 storage failed, 2 list unreadable, "
        "3 the site seems to have changed)",
        report.exit_status,
    )
    gauge(
        "qupost_run_finished_timestamp_seconds",
        "When the last run finished, successful or not (Unix time)",
        report.finished_at.timestamp(),
    )
    gauge(
        "qupost_run_site_changed",
        "1 when the last run found that the site's pages seem to have changed, else 0",
        1 if report.site_changed else 0,
    )
    if report.succeeded:
        gauge(
            LAST_SUCCESS,
            "When the last successful run finished (Unix time)",
            report.finished_at.timestamp(),
        )
    return registry


def push_run(config: QupostConfig, report: RunReport) -> bool:
    """Push the run's metrics when a Pushgateway is configured; True when pushed."""
    if not config.pushgateway_url:
        return False
    try:
        pushadd_to_gateway(
            config.pushgateway_url,
            job=config.pushgateway_job,
            registry=run_registry(report),
            timeout=config.pushgateway_timeout,
        )
    except Exception as exc:  # a failed push must never fail the crawl
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        logger.warning(
            "metrics not pushed to the Pushgateway %s: %s", config.pushgateway_url, detail
        )
        return False
    logger.info("metrics pushed to the Pushgateway %s", config.pushgateway_url)
    return True
