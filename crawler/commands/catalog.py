"""``qupost catalog --check | --repair``: hold the catalog against the post files and images.

``--check`` changes nothing and exits 1 when anything is out of line;
``--repair`` renders missing posts again, gives post files without a row
their row back (moving a damaged SQLite catalog aside first) and exits 0.
The work is done by ``storage.check``; this adapts it to Scrapy.
"""

from __future__ import annotations

import argparse

from sqlalchemy.exc import SQLAlchemyError

from crawler.channels import CHANNELS
from crawler.cli import QupostCommand
from crawler.commands import fail
from crawler.config import ConfigError, QupostConfig
from storage.check import check_catalog, repair_catalog
from storage.repository import StorageError

EXIT_INCONSISTENT = 1


class Command(QupostCommand):
    def syntax(self) -> str:
        return "--check | --repair [options]"

    def short_desc(self) -> str:
        return "Check the catalog against the post files and images, or repair it"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group("qupost catalog")
        modes = group.add_mutually_exclusive_group(required=True)
        modes.add_argument(
            "--check", action="store_true", help="report what is out of line; change nothing"
        )
        modes.add_argument(
            "--repair",
            action="store_true",
            help="render missing posts, rebuild rows from post files, replace a damaged catalog",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            config = QupostConfig.from_settings(self.settings)
        except ConfigError as exc:
            self.exitcode = fail(str(exc))
            return
        try:
            if opts.check:
                report = check_catalog(
                    config.database_url,
                    config.source_dir,
                    config.local_images_dir,
                    config.render,
                    keep_posts=config.keep_posts,
                )
                lines = report.lines()
                status = 0 if report.ok else EXIT_INCONSISTENT
            else:
                tag_ids = {name: cid for cid, name in CHANNELS.items()}
                repaired = repair_catalog(
                    config.database_url,
                    config.source_dir,
                    config.render,
                    tag_ids,
                    fsync=config.fsync,
                    keep_posts=config.keep_posts,
                )
                lines = repaired.lines()
                status = 0
        except (StorageError, SQLAlchemyError, OSError, ValueError) as exc:
            self.exitcode = fail(f"catalog {'check' if opts.check else 'repair'} failed: {exc}")
            return
        mode = "check" if opts.check else "repair"
        for line in lines:
            print(f"qupost catalog {mode}: {line}")
        self.exitcode = status
