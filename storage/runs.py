"""Run records: each crawl's counts go to the catalog and to one summary line.

The summary decides the process exit status too (see ``crawler.commands.crawl``):
non-zero when the list API could not be read at all, or when storage failed,
so that cron and Scrapyd can alert.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler

from crawler.progress import failures
from storage.catalog import Catalog

logger = logging.getLogger("qupost.summary")

EXIT_OK = 0
EXIT_STORAGE_FAILED = 1
EXIT_LIST_UNREADABLE = 2


def run_counts(stats: dict[str, Any]) -> dict[str, int]:
    def get(key: str) -> int:
        return int(stats.get(f"qupost/{key}", 0))

    return {
        "articles_listed": get("articles/listed"),
        "articles_new": get("articles/new"),
        "articles_updated": get("articles/updated"),
        "articles_unchanged": get("articles/unchanged"),
        "articles_deleted": get("articles/deleted"),
        "articles_failed": failures(stats),
        "images_downloaded": get("images/downloaded"),
        "images_failed": get("images/failed"),
    }


def exit_status(stats: dict[str, Any], listing: bool) -> int:
    if int(stats.get("qupost/storage/error", 0)):
        return EXIT_STORAGE_FAILED
    if listing and not int(stats.get("qupost/list/pages", 0)):
        return EXIT_LIST_UNREADABLE
    return EXIT_OK


def summary_line(
    run_id: int | None, counts: dict[str, int], status: int, reason: str, seconds: float
) -> str:
    return (
        f"qupost run {run_id if run_id is not None else '-'} {reason} in {seconds:.1f}s: "
        f"{counts['articles_new']} new, {counts['articles_updated']} updated, "
        f"{counts['articles_unchanged']} unchanged, {counts['articles_deleted']} deleted, "
        f"{counts['articles_failed']} failed (of {counts['articles_listed']} listed); "
        f"images {counts['images_downloaded']} downloaded, {counts['images_failed']} failed; "
        f"exit status {status}"
    )


class RunRecorder:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.exit_status = EXIT_OK
        self.summary = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        recorder = cls(crawler)
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    def spider_closed(self, spider: Spider, reason: str) -> None:
        catalog = Catalog.of(self.crawler)
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        # Distributed workers list nothing themselves: `scrapy seed` does.
        listing = not getattr(getattr(self.crawler.spider, "args", None), "urls", ()) and (
            not self.crawler.settings.getbool("QUPOST_DISTRIBUTED")
        )
        counts = run_counts(stats)
        self.exit_status = exit_status(stats, listing)
        started = catalog.started_at or datetime.now(UTC)
        finished = datetime.now(UTC)
        catalog.finish_run(
            {
                **counts,
                "finished_at": finished,
                "status": reason,
                "exit_status": self.exit_status,
            }
        )
        self.crawler.stats.set_value("qupost/exit_status", self.exit_status)
        self.summary = summary_line(
            catalog.run_id,
            counts,
            self.exit_status,
            reason,
            (finished - started).total_seconds(),
        )
        quiet = _level(self.crawler.settings.get("LOG_LEVEL")) > logging.INFO
        logger.log(logging.WARNING if quiet or self.exit_status else logging.INFO, self.summary)


def _level(value: object) -> int:
    """LOG_LEVEL as a number; Scrapy applies it to its handler, not to the loggers."""
    if isinstance(value, int):
        return value
    number = logging.getLevelName(str(value or "DEBUG").upper())
    return number if isinstance(number, int) else logging.DEBUG
