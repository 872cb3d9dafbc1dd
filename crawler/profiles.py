"""Setting profiles, switched on with ``-s QUPOST_PROFILE=<name>``.

A profile only fills in settings the user did not give on the command line,
so ``-s QUPOST_PROFILE=fast -s CONCURRENT_REQUESTS=8`` keeps the 8.
"""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import UsageError
from scrapy.settings import BaseSettings

PROFILES: dict[str, dict[str, Any]] = {
    # For the offline demo, tests and benchmarks against a local site: no
    # politeness delays, more parallelism.  Never point it at the real site.
    "fast": {
        "ROBOTSTXT_OBEY": False,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "CONCURRENT_REQUESTS": 32,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 32,
        "QUPOST_IMAGE_CONCURRENCY": 32,
        "RETRY_TIMES": 2,
        "DOWNLOAD_TIMEOUT": 15,
        "REACTOR_THREADPOOL_MAXSIZE": 4,
    },
    # The real site, politely: the defaults in crawler/settings.py.
    "polite": {},
}

# Settings given with -s have "cmdline" priority; a profile sits just below.
_PROFILE_PRIORITY = "spider"


def distributed_settings(settings: BaseSettings) -> dict[str, Any]:
    """What ``QUPOST_DISTRIBUTED=1`` switches on: scrapy-redis' scheduler and dupefilter."""
    from crawler.distributed import redis_keys

    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        # Keep the queue and the seen-set when a worker stops, so the others
        # (or the next worker started) carry on with its requests.
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
        **redis_keys(settings.get("QUPOST_REDIS_PREFIX") or "qupost"),
    }


class Profiles:
    """Scrapy add-on that applies QUPOST_PROFILE and QUPOST_DISTRIBUTED."""

    def update_settings(self, settings: BaseSettings) -> None:
        if settings.getbool("QUPOST_DISTRIBUTED"):
            for key, value in distributed_settings(settings).items():
                settings.set(key, value, priority=_PROFILE_PRIORITY)
        name = (settings.get("QUPOST_PROFILE") or "").strip().lower()
        if not name:
            return
        if name not in PROFILES:
            raise UsageError(
                f"QUPOST_PROFILE={name!r} is unknown; choose one of: {', '.join(sorted(PROFILES))}"
            )
        for key, value in PROFILES[name].items():
            settings.set(key, value, priority=_PROFILE_PRIORITY)
