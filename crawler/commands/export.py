"""``scrapy export --to DIR``: render every post in the catalog into a Hexo source folder.

Format options override the QUPOST_* settings for this export only, so the
same catalog can be rendered for another theme without crawling again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, ClassVar

from scrapy.commands import ScrapyCommand
from sqlalchemy.exc import SQLAlchemyError

from crawler.commands import fail
from crawler.config import ConfigError, QupostConfig
from storage.export import export_tree
from storage.repository import Repository, StorageError

OVERRIDES = {
    "date_format": "QUPOST_DATE_FORMAT",
    "timezone": "QUPOST_TIMEZONE",
    "image_mode": "QUPOST_IMAGE_MODE",
    "image_proxy": "QUPOST_IMAGE_PROXY",
    "image_url_base": "QUPOST_IMAGE_URL_BASE",
    "cover_keys": "QUPOST_COVER_KEYS",
    "categories": "QUPOST_CATEGORIES",
    "duplicates": "QUPOST_DUPLICATES",
}


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "--to DIR [options]"

    def short_desc(self) -> str:
        return "Render every post in the catalog into a Hexo source/ folder"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group("qupost export")
        group.add_argument("--to", required=True, help="Hexo source/ folder to write into")
        group.add_argument("--date-format", help="rfc1123, iso or a strftime pattern")
        group.add_argument("--timezone", help="zone for iso and strftime dates")
        group.add_argument("--image-mode", help="local, proxy or origin")
        group.add_argument("--image-proxy", help="proxy prefix for --image-mode proxy")
        group.add_argument("--image-url-base", help="URL the blog serves images from")
        group.add_argument("--cover-keys", help='comma list, e.g. "cover,top_img" (Butterfly)')
        group.add_argument("--categories", help='comma list, e.g. "新媒体,趣头条,分类"')
        group.add_argument("--duplicates", help="keep, mark or skip posts of re-posted stories")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        for option, setting in OVERRIDES.items():
            value = getattr(opts, option, None)
            if value is not None:
                if setting in ("QUPOST_COVER_KEYS", "QUPOST_CATEGORIES"):
                    value = json.dumps([v.strip() for v in value.split(",") if v.strip()])
                self.settings.set(setting, value, priority="cmdline")
        try:
            config = QupostConfig.from_settings(self.settings)
        except ConfigError as exc:
            self.exitcode = fail(str(exc))
            return
        url = config.database_url
        try:
            repo = Repository.open(url)
        except (StorageError, SQLAlchemyError, OSError) as exc:
            self.exitcode = fail(f"cannot open QUPOST_DATABASE_URL {url!r}: {exc}")
            return
        try:
            result = export_tree(
                repo, Path(opts.to), config.render, config.local_images_dir, fsync=config.fsync
            )
        except (StorageError, OSError, ValueError) as exc:
            self.exitcode = fail(f"export failed: {exc}")
            return
        finally:
            repo.close()
        print(
            f"qupost export: {result.posts} posts ({result.posts_written} written, "
            f"{result.posts_removed} removed as deleted at the source), "
            f"{result.images} images ({result.images_copied} copied, "
            f"{result.images_missing} missing) into {opts.to}"
        )
        if result.duplicates:
            print(
                f"qupost export: {result.duplicates} posts tell a story another post told first "
                f"(QUPOST_DUPLICATES={config.render.duplicates})"
            )
        if result.images_missing:
            self.exitcode = 1
