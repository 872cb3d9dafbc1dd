"""Progress lines while a crawl runs: what was listed, fetched, written, and how fast."""

from __future__ import annotations

import logging
import time
from typing import Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector
from twisted.internet import task

logger = logging.getLogger("qupost.progress")


def failures(stats: dict[str, Any]) -> int:
    return sum(
        int(v)
        for k, v in stats.items()
        if k.startswith("qupost/articles/failed/") or k == "qupost/storage/error"
    )


class Progress:
    """Logs one progress line every ``QUPOST_PROGRESS_INTERVAL`` seconds (0 turns it off)."""

    def __init__(self, stats: StatsCollector, interval: float) -> None:
        self.stats = stats
        self.interval = interval
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        interval = crawler.settings.getfloat("QUPOST_PROGRESS_INTERVAL", 10.0)
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
        done = sum(int(s.get(f"qupost/articles/{k}", 0)) for k in ("new", "updated", "unchanged"))
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return (
            f"listed {s.get('qupost/articles/listed', 0)}, "
            f"known {s.get('qupost/articles/known', 0)}, "
            f"fetched {s.get('qupost/articles/fetched', 0)}, "
            f"stored {done} ({s.get('qupost/posts/written', 0)} posts written), "
            f"images {s.get('qupost/images/downloaded', 0)} stored / "
            f"{s.get('qupost/images/failed', 0)} failed, "
            f"failures {failures(s)}, {done / elapsed:.1f} articles/s"
        )

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
