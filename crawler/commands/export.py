"""``scrapy export --to DIR``: render the catalog, or a window of it, into a Hexo source folder.

Format options override the QUPOST_* settings for this export only, so the
same catalog can be rendered for another theme without crawling again.
Window options (``--since``, ``--until``, ``--channels``, ``--max-posts``)
choose which posts the tree holds; the catalog keeps everything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, ClassVar

from scrapy.commands import ScrapyCommand
from sqlalchemy.exc import SQLAlchemyError

from crawler.commands import fail
from crawler.config import ConfigError, QupostConfig, parse_window
from storage.export import export_tree
from storage.repository import Repository, StorageError
from storage.themes import PRESETS

OVERRIDES = {
    "date_format": "QUPOST_DATE_FORMAT",
    "timezone": "QUPOST_TIMEZONE",
    "image_mode": "QUPOST_IMAGE_MODE",
    "image_proxy": "QUPOST_IMAGE_PROXY",
    "image_url_base": "QUPOST_IMAGE_URL_BASE",
    "cover_keys": "QUPOST_COVER_KEYS",
    "categories": "QUPOST_CATEGORIES",
    "theme": "QUPOST_THEME",
    "abbrlink": "QUPOST_ABBRLINK",
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
        group.add_argument("--theme", help=f"front-matter keys for a theme: {', '.join(PRESETS)}")
        group.add_argument("--abbrlink", help="1 writes abbrlink: <article id>")
        window = parser.add_argument_group("window (default: every post)")
        window.add_argument("--since", help="posts published on or after this date (2021-12-01)")
        window.add_argument("--until", help="posts published up to this date, that day included")
        window.add_argument("--channels", help="posts listed under these channels: 1,6,科技")
        window.add_argument("--max-posts", help="only the newest N posts")

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
            window = parse_window(
                config.render.timezone, opts.since, opts.until, opts.channels, opts.max_posts
            )
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
                repo,
                Path(opts.to),
                config.render,
                config.local_images_dir,
                window=window,
                fsync=config.fsync,
            )
        except (StorageError, OSError, ValueError) as exc:
            self.exitcode = fail(f"export failed: {exc}")
            return
        finally:
            repo.close()
        outside = (
            f", {result.posts_outside} outside the window removed" if result.posts_outside else ""
        )
        print(
            f"qupost export: {result.posts} posts ({result.posts_written} written, "
            f"{result.posts_removed} removed as deleted at the source{outside}), "
            f"{result.images} images ({result.images_linked} linked, "
            f"{result.images_copied} copied, {result.images_missing} missing) into {opts.to}"
        )
        if result.images_missing:
            self.exitcode = 1
