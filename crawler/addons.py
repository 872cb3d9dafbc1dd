"""The Scrapy add-on that applies ``QUPOST_PROFILE`` and ``QUPOST_DISTRIBUTED`` to the settings."""

from __future__ import annotations

from scrapy.settings import BaseSettings

from crawler.config import QupostConfig
from crawler.profiles import PROFILE_PRIORITY, PROFILES, distributed_settings


class Profiles:
    """Scrapy add-on that applies QUPOST_PROFILE and QUPOST_DISTRIBUTED.

    It runs before the crawler's settings are frozen, so it reads the
    configuration from them once here; the commands have already refused
    bad values with one line.
    """

    def update_settings(self, settings: BaseSettings) -> None:
        config = QupostConfig.from_settings(settings)
        if config.distributed:
            for key, value in distributed_settings(config.redis_prefix).items():
                settings.set(key, value, priority=PROFILE_PRIORITY)
        for key, value in PROFILES.get(config.profile, {}).items():
            settings.set(key, value, priority=PROFILE_PRIORITY)
