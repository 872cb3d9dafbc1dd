"""``qupost runs``: the last runs from the catalog, or their failures by reason.

"Did last night's cron work?" is ``qupost runs``: one line per run with its
counts, duration and exit status.  ``--failures`` groups the failed articles
and images of those runs by reason, with example article ids.
"""

from __future__ import annotations

import argparse

from sqlalchemy.exc import SQLAlchemyError

from crawler.cli import QupostCommand
from crawler.commands import fail, missing_catalog
from crawler.config import ConfigError, QupostConfig
from storage.history import failures_table, runs_table
from storage.repository import Repository, StorageError, catalog_name

DEFAULT_LAST = 10
MAX_LAST = 10_000


class Command(QupostCommand):
    def syntax(self) -> str:
        return "[-n N] [--failures]"

    def short_desc(self) -> str:
        return "Show the last runs from the catalog (--failures: what failed, and why)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group("qupost runs")
        group.add_argument(
            "-n",
            "--last",
            type=int,
            default=DEFAULT_LAST,
            metavar="N",
            help=f"how many of the most recent runs (default {DEFAULT_LAST})",
        )
        group.add_argument(
            "--failures",
            action="store_true",
            help="the failed articles and images of those runs, by reason, with example ids",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if not 1 <= opts.last <= MAX_LAST:
            self.exitcode = fail(f"-n/--last: must be between 1 and {MAX_LAST}, got {opts.last}")
            return
        try:
            url = QupostConfig.from_settings(self.settings).database_url
        except ConfigError as exc:
            self.exitcode = fail(str(exc))
            return
        missing = missing_catalog(url)
        if missing:
            self.exitcode = fail(missing)
            return
        try:
            lines = self.lines(url, opts.last, opts.failures)
        except (StorageError, SQLAlchemyError, OSError) as exc:
            detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
            self.exitcode = fail(f"cannot read the run history from {catalog_name(url)}: {detail}")
            return
        print("\n".join(lines))

    @staticmethod
    def lines(url: str, last: int, failures: bool) -> list[str]:
        repo = Repository.open(url)
        try:
            with repo.reading() as tx:
                runs = tx.recent_runs(last)
                groups = tx.failure_groups([r.id for r in runs]) if failures else []
        finally:
            repo.close()
        name = catalog_name(url)
        if not runs:
            return [f"qupost runs: no runs recorded in {name} yet"]
        span = f"run {runs[0].id}" if len(runs) == 1 else f"runs {runs[0].id}-{runs[-1].id}"
        if not failures:
            return [
                f"qupost runs: the last {len(runs)} run(s) recorded in {name}",
                *runs_table(runs),
            ]
        if not groups:
            return [f"qupost runs: no failures recorded in {span} of {name}"]
        total = sum(g.count for g in groups)
        return [
            f"qupost runs: {total} failures in {span} of {name}, by reason",
            *failures_table(groups),
        ]
