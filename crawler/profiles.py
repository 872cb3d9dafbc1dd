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


class Profiles:
    """Scrapy add-on that applies the profile named by QUPOST_PROFILE."""

    def update_settings(self, settings: BaseSettings) -> None:
        name = (settings.get("QUPOST_PROFILE") or "").strip().lower()
        if not name:
            return
        if name not in PROFILES:
            raise UsageError(
                f"QUPOST_PROFILE={name!r} is unknown; choose one of: {', '.join(sorted(PROFILES))}"
            )
        for key, value in PROFILES[name].items():
            settings.set(key, value, priority=_PROFILE_PRIORITY)
