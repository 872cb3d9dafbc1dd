"""``qupost export --to DIR``: render the catalog, or a window of it, into a Hexo source folder.

Format options override the QUPOST_* settings for this export only, so the
same catalog can be rendered for another theme without crawling again.
Window options (``--since``, ``--until``, ``--channels``, ``--max-posts``)
choose which posts the tree holds; the catalog keeps everything.  It says
which catalog and which images folder it reads; a catalog that does not
exist or holds no posts is one error line, not an empty export.
``--target hugo`` renders it into a Hugo site instead (``DIR`` is the site's root).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scrapy.settings import SETTINGS_PRIORITIES
from sqlalchemy.exc import SQLAlchemyError

from crawler.cli import QupostCommand
from crawler.commands import fail, missing_catalog
from crawler.config import ConfigError, QupostConfig, parse_window
from storage.export import GENERATORS, export_tree
from storage.repository import Repository, StorageError, catalog_name, sqlite_file
from storage.themes import PRESETS

# The catalog holds nothing to export, or its images are not where they should be.
EXIT_NOTHING_TO_EXPORT = 1

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
    "duplicates": "QUPOST_DUPLICATES",
}


class Command(QupostCommand):
    def syntax(self) -> str:
        return "--to DIR [options]"

    def short_desc(self) -> str:
        return "Render every post in the catalog into a Hexo source/ folder or a Hugo site"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group("qupost export")
        group.add_argument(
            "--to", required=True, help="Hexo source/ folder (or Hugo site root) to write into"
        )
        group.add_argument(
            "--target", default="hexo", help="site generator: hexo (the default) or hugo"
        )
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
        group.add_argument("--duplicates", help="keep, mark or skip posts of re-posted stories")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if opts.target not in GENERATORS:
            self.exitcode = fail(
                f"--target: expected one of {', '.join(GENERATORS)}, got {opts.target!r}"
            )
            return
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
        missing = missing_catalog(url)
        if missing:
            self.exitcode = fail(missing)
            return
        try:
            repo = Repository.open(url)
        except (StorageError, SQLAlchemyError, OSError) as exc:
            self.exitcode = fail(f"cannot open QUPOST_DATABASE_URL {url!r}: {exc}")
            return
        try:
            images_dir = self.images_dir(config)
            problem = source_problem(repo, url, config, images_dir)
            if problem:
                self.exitcode = fail(problem, EXIT_NOTHING_TO_EXPORT)
                return
            result = export_tree(
                repo,
                Path(opts.to),
                config.render,
                images_dir,
                window=window,
                fsync=config.fsync,
                generator=opts.target,
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
            f"{result.images_copied} copied, {result.images_missing} missing) "
            f"into {Path(opts.to).resolve()}"
        )
        if result.duplicates:
            print(
                f"qupost export: {result.duplicates} of the posts tell a story another post "
                f"told first (QUPOST_DUPLICATES={config.render.duplicates})"
            )
        if result.images_missing:
            examples = ", ".join(str(p) for p in result.missing_examples)
            print(
                f"qupost export: {result.images_missing} image file(s) missing from "
                f"{images_dir} (e.g. {examples}); their posts point at files that are not there",
                file=sys.stderr,
            )
            self.exitcode = 1

    def images_dir(self, config: QupostConfig) -> Path | None:
        """Where the catalog's images are read from.

        Unless QUPOST_SOURCE_DIR or IMAGES_STORE is given, an SQLite catalog's
        images are looked for beside it, in the layout every crawl writes
        (``<folder>/qupost.db`` and ``<folder>/source/images/qupost``): giving
        only the database URL of ``demo/`` then reads the demo's images.
        """
        assert self.settings is not None
        given = max(
            self.settings.getpriority("QUPOST_SOURCE_DIR") or 0,
            self.settings.getpriority("IMAGES_STORE") or 0,
        )
        catalog = sqlite_file(config.database_url)
        if given > SETTINGS_PRIORITIES["project"] or catalog is None:
            return config.local_images_dir
        beside = catalog.parent / "source" / "images" / "qupost"
        return beside if beside.is_dir() else config.local_images_dir


def source_problem(
    repo: Repository, url: str, config: QupostConfig, images_dir: Path | None
) -> str | None:
    """Why this catalog cannot be exported (no posts, no images folder), or None.

    Prints the catalog and the images folder that are read, as one line.
    """
    with repo.reading() as tx:
        posts = tx.count_posts()
        stored = tx.count_stored_images()
    name = catalog_name(url)
    if not posts:
        return f"the catalog {name} holds no posts; nothing to export (is it the crawl's?)"
    copying = config.render.image_mode == "local" and images_dir is not None and stored
    if copying and images_dir is not None and not images_dir.is_dir():
        return (
            f"the catalog {name} has {stored} stored images but their folder "
            f"{images_dir.resolve()} does not exist; "
            "set QUPOST_SOURCE_DIR (or IMAGES_STORE) to the crawl's"
        )
    where = f", images from {images_dir.resolve()}" if copying and images_dir is not None else ""
    print(f"qupost export: reading {posts} posts from the catalog {name}{where}")
    return None
