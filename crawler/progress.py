"""Progress lines while a crawl runs: what was listed, fetched, written, and how fast."""

from __future__ import annotations

import logging
import time
from typing import Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector
from twisted.internet import task

from crawler import stats as keys
from crawler.config import QupostConfig

logger = logging.getLogger("qupost.progress")


class Progress:
    """Logs one progress line every ``QUPOST_PROGRESS_INTERVAL`` seconds (0 turns it off)."""

    def __init__(self, stats: StatsCollector, interval: float) -> None:
        self.stats = stats
        self.interval = interval
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        interval = QupostConfig.of(crawler).progress_interval
        if interval <= 0:
            raise NotConfigured
        assert crawler.stats is not None
        ext = cls(crawler.stats, interval)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        self.loop = task.LoopingCall(self.log)
        self.loop.start(self.interval, now=False)

    def log(self) -> None:
        logger.info("progress: %s", self.line())

    def line(self) -> str:
        s = self.stats.get_stats()
        stored = [keys.ARTICLES_NEW, keys.ARTICLES_UPDATED, keys.ARTICLES_UNCHANGED]
        done = sum(int(s.get(k, 0)) for k in stored)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return (
            f"listed {s.get(keys.ARTICLES_LISTED, 0)}, "
            f"known {s.get(keys.ARTICLES_KNOWN, 0)}, "
            f"fetched {s.get(keys.ARTICLES_FETCHED, 0)}, "
            f"stored {done} ({s.get(keys.POSTS_WRITTEN, 0)} posts written), "
            f"images {s.get(keys.IMAGES_DOWNLOADED, 0)} stored / "
            f"{s.get(keys.IMAGES_FAILED, 0)} failed, "
            f"failures {keys.article_failures(s)}, {done / elapsed:.1f} articles/s"
        )

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
