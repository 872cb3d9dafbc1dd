"""``qupost fakesite``: serve the fake Qutoutiao on loopback and print how to crawl it.

The same site as ``qupost demo`` (and ``python -m fakesite``), served until
Ctrl-C, so ``-a url=``, ``-a cid=`` and the README's examples can be tried
with no network.
"""

from __future__ import annotations

import argparse

from crawler.cli import QupostCommand, invocation
from crawler.commands import fail


class Command(QupostCommand):
    requires_project = False

    def syntax(self) -> str:
        return "[--port PORT] [--articles N]"

    def short_desc(self) -> str:
        return "Serve the fake Qutoutiao site on loopback, for trying qupost offline"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        from fakesite.launcher import add_arguments

        super().add_options(parser)
        add_arguments(parser)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from fakesite.launcher import check, serve

        problem = check(opts)
        if problem:
            self.exitcode = fail(problem)
            return
        self.exitcode = serve(opts.port, opts.articles, invocation())
