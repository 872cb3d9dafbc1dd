"""Setting profiles, switched on with ``-s QUPOST_PROFILE=<name>``, and distributed mode's settings.

``crawler.addons.Profiles`` applies them.

A profile only fills in settings the user did not give on the command line,
so ``-s QUPOST_PROFILE=fast -s CONCURRENT_REQUESTS=8`` keeps the 8.
"""

from __future__ import annotations

from typing import Any

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
PROFILE_PRIORITY = "spider"


def redis_keys(prefix: str) -> dict[str, str]:
    """The scrapy-redis keys for one deployment; ``%(spider)s`` is filled by scrapy-redis."""
    prefix = prefix.strip(":") or "qupost"
    return {
        "SCHEDULER_QUEUE_KEY": f"{prefix}:%(spider)s:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"{prefix}:%(spider)s:dupefilter",
    }


def distributed_settings(redis_prefix: str) -> dict[str, Any]:
    """What ``QUPOST_DISTRIBUTED=1`` switches on: scrapy-redis' scheduler and dupefilter."""

    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "crawler.redis_dupefilter.AccountingRedisDupeFilter",
        # Keep the queue and the seen-set when a worker stops, so the others
        # (or the next worker started) carry on with its requests.
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
        **redis_keys(redis_prefix),
    }
