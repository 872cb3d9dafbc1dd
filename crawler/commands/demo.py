"""``qupost demo``: see qupost work with no network, and what to do next.

Starts the project's fake Qutoutiao site on loopback (the seed article plus
generated ones), crawls it with the fast profile into ``--out`` (default
``demo/``), prints where the posts and images landed, then the exact commands
that preview them with Hexo, export them for another theme and crawl again.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any, ClassVar

from crawler import stats as keys
from crawler.cli import QupostCommand, invocation
from crawler.commands import fail
from crawler.config import ConfigError, QupostConfig
from fakesite.launcher import DEFAULT_ARTICLES

# scripts/hexo-preview, present in a clone of the repository (the README's install).
HEXO_PREVIEW = Path(__file__).resolve().parents[2] / "scripts" / "hexo-preview"


class Command(QupostCommand):
    requires_crawler_process = True
    default_settings: ClassVar[dict[str, Any]] = {}

    def syntax(self) -> str:
        return "[--out DIR] [--articles N]"

    def short_desc(self) -> str:
        return "Crawl a bundled fake Qutoutiao site on loopback into a demo folder"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--out", default="demo", help="output folder (default: demo)")
        parser.add_argument(
            "--articles", type=int, default=DEFAULT_ARTICLES, help="generated articles"
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from fakesite.launcher import demo_site
        from fakesite.server import FakeServer

        if not 0 <= opts.articles <= 5000:
            self.exitcode = fail("--articles must be between 0 and 5000")
            return
        out = Path(opts.out).resolve()
        server = FakeServer(demo_site(opts.articles)).start()
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
        status = int(crawler.stats.get_value(keys.EXIT_STATUS, 0)) if crawler.stats else 1
        self.exitcode = status
        posts = out / "source" / "_posts"
        print(
            f"\nqupost demo: {len(list(posts.glob('*.md')))} posts in {posts}\n"
            f"  images in {out / 'source' / 'images' / 'qupost'}\n"
            f"  catalog {out / 'qupost.db'}\n"
        )
        print("\n".join(next_steps(out, opts.articles)))


def next_steps(out: Path, articles: int) -> list[str]:
    """What to do with the demo's output: each step a line of text, then its command."""
    qupost = invocation()
    catalog = "sqlite:///" + str(out / "qupost.db")
    settings = (
        f"-s QUPOST_DATABASE_URL={shlex.quote(catalog)} "
        f"-s QUPOST_SOURCE_DIR={shlex.quote(str(out / 'source'))}"
    )
    again = f"{qupost} demo --out {shlex.quote(str(out))}"
    if articles != DEFAULT_ARTICLES:
        again += f" --articles {articles}"
    lines = ["next:"]
    if HEXO_PREVIEW.is_file():
        lines += [
            "  see the posts rendered by Hexo (needs npm), then open the address it prints:",
            f"    python3 {shlex.quote(str(HEXO_PREVIEW))} "
            f"{shlex.quote(str(out / 'source'))} --serve",
        ]
    else:
        lines += [
            f"  see the posts rendered: copy {out / 'source'} into a Hexo blog's source/ folder",
        ]
    lines += [
        "  render the same catalog for the Butterfly theme, without crawling again:",
        f"    {qupost} export --to {shlex.quote(str(out / 'butterfly'))} "
        f"--cover-keys cover,top_img {settings}",
        "  crawl the fake site again into the same folder (only new articles are fetched):",
        f"    {again}",
    ]
    return lines
