"""The crawl's side of the catalog: opening it, the run record, the summary and the exit status.

:class:`CrawlCatalog` is an extension, so there is exactly one per crawler;
pipelines and middlewares reach it with ``CrawlCatalog.of(crawler)``.  The
catalog is opened by the first component that needs it (in its
``open_spider``), and a run record is started then.  When the spider closes,
the run's counts go to that record and to one summary line, and the exit
status is decided; the catalog is closed when the engine stops, after every
``spider_closed`` handler has written.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro

from crawler import stats as keys
from crawler.config import QupostConfig
from crawler.metrics import RunReport, push_run
from crawler.sitecheck import check_site
from storage.repository import Repository, StorageError

logger = logging.getLogger(__name__)
summary_logger = logging.getLogger("qupost.summary")

EXIT_OK = 0
EXIT_STORAGE_FAILED = 1
EXIT_LIST_UNREADABLE = 2
EXIT_SITE_CHANGED = 3


def exit_status(stats: dict[str, Any], listing: bool, site_changed: bool = False) -> int:
    """0 worked; 1 storage failed; 2 no list page read; 3 the site seems to have changed."""
    if int(stats.get(keys.STORAGE_ERROR, 0)):
        return EXIT_STORAGE_FAILED
    if listing and not int(stats.get(keys.LIST_PAGES, 0)):
        return EXIT_LIST_UNREADABLE
    if site_changed:
        return EXIT_SITE_CHANGED
    return EXIT_OK


def summary_line(
    run_id: int | None,
    counts: dict[str, int],
    status: int,
    reason: str,
    seconds: float,
    duplicates: str = "keep",
) -> str:
    """The run's one line; near-duplicates (a part of the new) are named when there are any."""
    found = counts.get("articles_duplicate", 0)
    among_new = f"{found} of the new are near-duplicates ({duplicates}); " if found else ""
    return (
        f"qupost run {run_id if run_id is not None else '-'} {reason} in {seconds:.1f}s: "
        f"{counts['articles_new']} new, {counts['articles_updated']} updated, "
        f"{counts['articles_unchanged']} unchanged, {counts['articles_deleted']} deleted, "
        f"{counts['articles_failed']} failed, {counts['articles_skipped']} skipped "
        f"(of {counts['articles_listed']} listed); {among_new}"
        f"images {counts['images_downloaded']} downloaded, {counts['images_failed']} failed; "
        f"exit status {status}"
    )


def this_process() -> str:
    """How a run record names the process that runs it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dead_here(process: str) -> bool:
    """Whether ``process`` (``host:pid``) ran on this machine and has exited."""
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class CrawlCatalog:
    def __init__(self, crawler: Crawler, config: QupostConfig) -> None:
        self.crawler = crawler
        self.config = config
        self._repo: Repository | None = None
        self.run_id: int | None = None
        self.started_at: datetime | None = None
        self.exit_status = EXIT_OK
        self.summary = ""
        self.damaged = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        catalog = cls(crawler, QupostConfig.of(crawler))
        crawler.signals.connect(catalog.spider_closed, signal=signals.spider_closed)
        # engine_stopped comes after spider_closed, whose handlers still write.
        crawler.signals.connect(catalog.close, signal=signals.engine_stopped)
        return catalog

    @classmethod
    def of(cls, crawler: Crawler) -> CrawlCatalog:
        catalog = crawler.get_extension(cls)
        if catalog is None:
            raise NotConfigured("qupost needs the crawler.catalog.CrawlCatalog extension enabled")
        return catalog

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            self._repo = self._open()
        return self._repo

    def _open(self) -> Repository:
        repo = Repository.open(self.config.database_url)
        self.started_at = datetime.now(UTC)
        arguments = " ".join(f"{k}={v}" for k, v in sorted(_spider_args(self.crawler.spider)))
        with repo.transaction() as tx:
            for run_id, process in tx.running_runs():
                if is_dead_here(process):
                    tx.finish_run(run_id, {"status": "interrupted"})
                    logger.info("run %s of %s was interrupted; recorded as such", run_id, process)
            self.run_id = tx.start_run(this_process(), arguments, self.started_at)
        return repo

    def storage_failed(self, exc: StorageError) -> None:
        """Stop the crawl at the first sign that the catalog file is damaged.

        Going on would read garbage as stored articles: posts rewritten with
        ``updated:``, articles fetched again. One ERROR line says what to do.
        """
        if not exc.damaged or self.damaged:
            return
        self.damaged = True
        logger.error(damaged_catalog_line(self.config.database_url, str(exc)))
        assert self.crawler.engine is not None
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="catalog_damaged"))

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def spider_closed(self, spider: Spider, reason: str) -> None:
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        counts = keys.article_counts(stats)
        site_changed = check_site(self.crawler.stats, self.config)
        self.exit_status = exit_status(stats, self._lists_channels(), site_changed)
        started = self.started_at or datetime.now(UTC)
        finished = datetime.now(UTC)
        self._finish_run(
            {**counts, "finished_at": finished, "status": reason, "exit_status": self.exit_status}
        )
        self.crawler.stats.set_value(keys.EXIT_STATUS, self.exit_status)
        self.summary = summary_line(
            self.run_id,
            counts,
            self.exit_status,
            reason,
            (finished - started).total_seconds(),
            self.config.render.duplicates,
        )
        log_always(
            summary_logger, logging.ERROR if self.exit_status else logging.INFO, self.summary
        )
        seconds = (finished - started).total_seconds()
        push_run(
            self.config,
            RunReport(counts, seconds, self.exit_status, reason, finished, site_changed),
        )

    def _lists_channels(self) -> bool:
        # Distributed workers list what `seed` queued; a url= crawl lists nothing.
        args = getattr(self.crawler.spider, "args", None)
        return not getattr(args, "urls", ()) and not self.config.distributed

    def _finish_run(self, values: dict[str, Any]) -> None:
        if self._repo is None or self.run_id is None:
            return
        try:
            with self._repo.transaction() as tx:
                tx.finish_run(self.run_id, values)
        except StorageError as exc:
            logger.error("could not record the end of run %s: %s", self.run_id, exc)


def damaged_catalog_line(url: str, detail: str) -> str:
    return (
        f"the catalog {url!r} is damaged ({' '.join(detail.split())[:160]}); "
        "stopped before it could rewrite posts. "
        "Run 'qupost catalog --check' to see what is affected and 'qupost catalog --repair' "
        "to rebuild it from the posts"
    )


def log_always(target: logging.Logger, level: int, message: str) -> None:
    """Log ``message`` at ``level``, shown even when ``LOG_LEVEL`` hides that level.

    Scrapy applies LOG_LEVEL on its root handler; a run's summary is what a
    quiet cron job still has to print, without dressing it as a warning.
    """
    record = target.makeRecord(target.name, level, __file__, 0, message, (), None)
    for handler in logging.getLogger().handlers:
        handler.handle(record)
    if not logging.getLogger().handlers:
        target.handle(record)


def _spider_args(spider: Spider | None) -> list[tuple[str, Any]]:
    args = getattr(spider, "arguments", None)
    return list(args.items()) if isinstance(args, dict) else []
