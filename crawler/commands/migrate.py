"""``scrapy migrate``: bring QUPOST_DATABASE_URL to the newest schema revision.

Every crawl does this on start; the command exists for upgrading a shared
PostgreSQL catalog once, before starting many workers, and for checking.
"""

from __future__ import annotations

import argparse

from sqlalchemy.exc import SQLAlchemyError

from crawler.cli import QupostCommand
from crawler.commands import fail
from crawler.config import ConfigError, QupostConfig
from storage.migrations import current_revision, head_revision, upgrade_schema
from storage.repository import StorageError, make_engine


class Command(QupostCommand):
    def short_desc(self) -> str:
        return "Create or upgrade the catalog schema (Alembic) at QUPOST_DATABASE_URL"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            url = QupostConfig.from_settings(self.settings).database_url
        except ConfigError as exc:
            self.exitcode = fail(str(exc))
            return
        try:
            engine = make_engine(url)
            with engine.connect() as conn:
                before = current_revision(conn)
            upgrade_schema(engine)
            engine.dispose()
        except (StorageError, SQLAlchemyError, OSError) as exc:
            self.exitcode = fail(f"cannot migrate {url!r}: {' '.join(str(exc).split())[:200]}")
            return
        print(f"qupost migrate: {before or 'empty'} -> {head_revision()} at {url}")
