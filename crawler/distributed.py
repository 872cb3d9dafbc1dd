"""Distributed mode: several workers share one scrapy-redis queue and one catalog.

Switched on with ``QUPOST_DISTRIBUTED=1`` (see ``crawler/profiles.py``).
``scrapy seed`` puts the channel list requests in the shared queue; workers
started with ``scrapy crawl qupost`` and the same settings take requests from
it, deduplicated by the shared Redis dupefilter (article requests are
canonical URLs, so the rotating ``key=`` cannot defeat it).  A worker waits
``QUPOST_WORKER_IDLE_TIMEOUT`` seconds for new work before it finishes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Self

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured

from crawler.config import QupostConfig

logger = logging.getLogger(__name__)


class WorkerStart:
    """Spider middleware: a worker does not list channels itself; ``scrapy seed`` does.

    Without it every worker would fetch every list page.  Article requests
    given with ``-a url=`` still go through.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not QupostConfig.of(crawler).distributed:
            raise NotConfigured
        return cls()

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item_or_request in start:
            if (
                isinstance(item_or_request, Request)
                and item_or_request.meta.get("qupost_kind") == "list"
            ):
                continue
            yield item_or_request


class WorkerIdle:
    """Keep a worker alive while the shared queue may still receive work.

    An idle Scrapy engine looks at its scheduler again only on its 5-second
    heartbeat, so a worker waiting on an empty shared queue would join work
    seeded meanwhile up to 5 s late, while a busy worker drains the queue.
    While idle, this wakes the engine every ``QUPOST_WORKER_POLL_INTERVAL``
    seconds instead.
    """

    def __init__(self, crawler: Crawler, timeout: float, poll: float) -> None:
        self.crawler = crawler
        self.timeout = timeout
        self.poll = poll
        self.last_activity = time.monotonic()
        self._wake_call: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        config = QupostConfig.of(crawler)
        if not config.distributed:
            raise NotConfigured
        ext = cls(crawler, config.worker_idle_timeout, config.worker_poll_interval)
        for signal in (signals.request_scheduled, signals.response_received, signals.item_scraped):
            crawler.signals.connect(ext.active, signal=signal)
        crawler.signals.connect(ext.idle, signal=signals.spider_idle)
        return ext

    def active(self, *args: Any, **kwargs: Any) -> None:
        self.last_activity = time.monotonic()

    def idle(self, spider: Spider) -> None:
        waited = time.monotonic() - self.last_activity
        if waited < self.timeout:
            self._schedule_wake()
            raise DontCloseSpider
        logger.info("worker idle for %.0fs with an empty shared queue; finishing", waited)

    def _schedule_wake(self) -> None:
        if self.poll <= 0 or (self._wake_call is not None and self._wake_call.active()):
            return
        from twisted.internet import reactor

        self._wake_call = reactor.callLater(self.poll, self._wake)  # type: ignore[arg-type]

    def _wake(self) -> None:
        # The engine's next-request call, which its heartbeat runs; Scrapy has
        # no public way to ask for it. Without it, the heartbeat still works.
        slot = getattr(self.crawler.engine, "_slot", None)
        nextcall = getattr(slot, "nextcall", None)
        if nextcall is not None:
            nextcall.schedule()
