"""``scrapy demo``: see qupost work with no network.

Starts the project's fake Qutoutiao site on loopback (the seed article plus
generated ones), crawls it with the fast profile into ``--out`` (default
``demo/``), and prints where the posts and images landed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scrapy.commands import ScrapyCommand

from crawler.commands import fail
from crawler.config import ConfigError, QupostConfig


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = True

    def syntax(self) -> str:
        return "[--out DIR] [--articles N]"

    def short_desc(self) -> str:
        return "Crawl a bundled fake Qutoutiao site on loopback into a demo folder"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--out", default="demo", help="output folder (default: demo)")
        parser.add_argument("--articles", type=int, default=24, help="generated articles")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from fakesite.seed import add_seed_article
        from fakesite.server import FakeServer
        from fakesite.site import build_site

        if not 0 <= opts.articles <= 5000:
            self.exitcode = fail("--articles must be between 0 and 5000")
            return
        out = Path(opts.out).resolve()
        site = build_site(opts.articles, channels=(1, 6, 7), images_per_article=2)
        add_seed_article(site, channels=[1, 6])
        server = FakeServer(site).start()
        assert self.settings is not None and self.crawler_process is not None
        for key, value in {
            "QUPOST_LIST_API": server.list_api,
            "QUPOST_PROFILE": "fast",
            "QUPOST_DATABASE_URL": f"sqlite:///{out / 'qupost.db'}",
            "QUPOST_SOURCE_DIR": str(out / "source"),
        }.items():
            self.settings.set(key, value, priority="cmdline")
        try:
            QupostConfig.from_settings(self.settings)
        except ConfigError as exc:
            server.stop()
            self.exitcode = fail(str(exc))
            return
        crawler = self.crawler_process.create_crawler("qupost")
        self.crawler_process.crawl(crawler, cid="1,6,7", pages="2", limit="20")
        try:
            self.crawler_process.start()
        finally:
            server.stop()
        status = int(crawler.stats.get_value("qupost/exit_status", 0)) if crawler.stats else 1
        self.exitcode = status
        print(
            f"\nqupost demo: {len(list((out / 'source' / '_posts').glob('*.md')))} posts in "
            f"{out / 'source' / '_posts'}\n  images in {out / 'source' / 'images' / 'qupost'}\n"
            f"  catalog {out / 'qupost.db'}\n"
            f"  see them rendered by Hexo: python3 scripts/hexo-preview {out / 'source'}"
        )
