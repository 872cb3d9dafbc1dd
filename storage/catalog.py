"""The crawl's handle on the catalog, shared by every component of one crawler.

It is an extension so that there is exactly one per crawler: pipelines and
middlewares reach it with ``Catalog.of(crawler)``.  The database is opened on
first use (inside a component's ``open_spider``), a run record is started
then, and everything is closed on ``spider_closed``, after the pipelines.
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

from storage.repository import Repository, StorageError

logger = logging.getLogger(__name__)


class Catalog:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.url: str = crawler.settings.get("QUPOST_DATABASE_URL") or ""
        if not self.url:
            raise NotConfigured("QUPOST_DATABASE_URL is empty")
        self._repo: Repository | None = None
        self.run_id: int | None = None
        self.started_at: datetime | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        catalog = cls(crawler)
        # engine_stopped comes after spider_closed, whose handlers still write.
        crawler.signals.connect(catalog.close, signal=signals.engine_stopped)
        return catalog

    @classmethod
    def of(cls, crawler: Crawler) -> Catalog:
        catalog = crawler.get_extension(cls)
        if catalog is None:
            raise NotConfigured("qupost needs the storage.catalog.Catalog extension enabled")
        return catalog

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            self._repo = self._open()
        return self._repo

    def _open(self) -> Repository:
        repo = Repository.open(self.url)
        self.started_at = datetime.now(UTC)
        spider = self.crawler.spider
        arguments = " ".join(f"{k}={v}" for k, v in sorted(_spider_args(spider).items()))
        with repo.transaction() as tx:
            self.run_id = tx.start_run(
                f"{socket.gethostname()}:{os.getpid()}", arguments, self.started_at
            )
        return repo

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def finish_run(self, values: dict[str, Any]) -> None:
        if self._repo is None or self.run_id is None:
            return
        try:
            with self._repo.transaction() as tx:
                tx.finish_run(self.run_id, values)
        except StorageError as exc:
            logger.error("could not record the end of run %s: %s", self.run_id, exc)


def _spider_args(spider: Spider | None) -> dict[str, Any]:
    if spider is None:
        return {}
    args = getattr(spider, "arguments", None)
    return dict(args) if isinstance(args, dict) else {}
