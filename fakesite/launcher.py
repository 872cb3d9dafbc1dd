"""Run the fake Qutoutiao on its own, for trying qupost's commands offline.

``python -m fakesite`` and ``qupost fakesite`` serve the demo's site (the
seed article plus generated ones in channels 1, 6 and 7) on loopback until
Ctrl-C, and print the settings that point any qupost command at it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from fakesite.seed import SEED_ID, add_seed_article
from fakesite.server import FakeServer
from fakesite.site import FakeSite, build_site

DEFAULT_PORT = 8765
DEFAULT_ARTICLES = 24
CHANNELS = (1, 6, 7)
# Where the printed settings send a crawl of the fake site: apart from a real crawl's output/.
OUTPUT = "fakesite-output"


def demo_site(articles: int = DEFAULT_ARTICLES) -> FakeSite:
    """The site the demo crawls: ``articles`` generated articles and the seed article."""
    site = build_site(articles, channels=CHANNELS, images_per_article=2)
    add_seed_article(site, channels=[1, 6])
    return site


def crawl_settings(server: FakeServer, output: str = OUTPUT) -> str:
    """The ``-s`` settings that point a qupost command at ``server``."""
    return (
        f"-s QUPOST_LIST_API={server.list_api} -s QUPOST_PROFILE=fast "
        f"-s QUPOST_DATABASE_URL=sqlite:///{output}/qupost.db "
        f"-s QUPOST_SOURCE_DIR={output}/source"
    )


def describe(server: FakeServer, qupost: str = "qupost") -> list[str]:
    """What is served, and the commands that crawl it."""
    site = server.site
    seed = site.articles[SEED_ID]
    return [
        f"fake Qutoutiao at {server.base_url}: {len(site.articles)} articles in channels "
        f"{', '.join(map(str, CHANNELS))}; Ctrl-C stops it",
        f"settings that crawl it, into ./{OUTPUT} (apart from a real crawl's output/):",
        f'  S="{crawl_settings(server)}"',
        "then, for example:",
        f"  {qupost} crawl -a cid=1,6 -a pages=2 $S",
        f"  {qupost} crawl -a url={server.base_url}{seed.page_path} $S",
        f"  {qupost} runs $S",
    ]


def serve(port: int, articles: int, qupost: str = "qupost") -> int:
    """Serve until SIGINT or SIGTERM; 0 then, 1 when the port cannot be had."""
    site = demo_site(articles)
    try:
        server = FakeServer(site, "127.0.0.1", port)
    except OSError as exc:
        print(
            f"fakesite: error: cannot listen on 127.0.0.1:{port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    stop = threading.Event()

    def finish(*_: Any) -> None:
        stop.set()

    # Before the lines are printed: whoever reads them may stop the site at once.
    signal.signal(signal.SIGINT, finish)
    signal.signal(signal.SIGTERM, finish)
    server.start()
    print("\n".join(describe(server, qupost)), flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--articles",
        type=int,
        default=DEFAULT_ARTICLES,
        help=f"generated articles besides the seed article (default {DEFAULT_ARTICLES})",
    )


def check(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, or None."""
    if not 0 <= args.port <= 65535:
        return f"--port must be between 0 and 65535, got {args.port}"
    if not 0 <= args.articles <= 5000:
        return f"--articles must be between 0 and 5000, got {args.articles}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fakesite", description="Serve the fake Qutoutiao on loopback."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    problem = check(args)
    if problem:
        parser.error(problem)
    return serve(args.port, args.articles)
