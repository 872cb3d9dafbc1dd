"""``scrapy crawl``, with argument checks up front and a meaningful exit status.

Scrapy's own command exits 0 whatever happened inside the crawl.  This one
exits 2 on bad arguments or settings (with one error line, before any
request), and otherwise with the run's status: non-zero when the list API
could not be read at all or when storage failed (see ``storage.runs``).
"""

from __future__ import annotations

import argparse

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from crawler.commands import fail
from crawler.spiders.qupost import ArgumentError as SpiderArgumentError
from crawler.spiders.qupost import CrawlArgs
from storage.config import render_options
from storage.hexo import RenderError
from storage.repository import Repository, StorageError


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            super().run(args, opts)
            return
        if args[0] == "qupost":
            problem = self.check(opts.spargs)
            if problem:
                self.exitcode = fail(problem)
                return
        assert self.crawler_process is not None
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        status = crawler.stats.get_value("qupost/exit_status") if crawler.stats else None
        self.exitcode = int(status or 0)

    def check(self, spargs: dict[str, str]) -> str | None:
        """One line describing the first bad argument or setting, or None."""
        assert self.settings is not None
        # Scrapyd adds its own "_job" argument; underscore names are not ours to judge.
        known = {"cid", "pages", "limit", "url", "refresh"}
        unknown = sorted(k for k in spargs if k not in known and not k.startswith("_"))
        if unknown:
            return f"unknown spider argument(s): {', '.join(unknown)}; see README"
        try:
            CrawlArgs.parse(**{k: v for k, v in spargs.items() if k in known})
            render_options(self.settings)
        except (SpiderArgumentError, RenderError) as exc:
            return str(exc)
        url = self.settings.get("QUPOST_DATABASE_URL") or ""
        try:
            Repository.open(url).close()
        except (StorageError, SQLAlchemyError, ArgumentError, OSError, ImportError) as exc:
            detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
            return f"cannot open QUPOST_DATABASE_URL {url!r}: {detail}"
        return None
