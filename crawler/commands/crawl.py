"""``qupost crawl`` (or ``scrapy crawl qupost``), with argument checks up front and a
meaningful exit status.

Scrapy's own command exits 0 whatever happened inside the crawl.  This one
exits 2 on bad arguments or settings and 1 when the catalog cannot be opened
(each with one error line, before any request), and otherwise with the run's
status: non-zero when the list API could not be read at all, when storage
failed, or when the site's pages seem to have changed (see ``crawler.catalog``).
"""

from __future__ import annotations

import argparse

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from sqlalchemy.exc import SQLAlchemyError

from crawler import stats as keys
from crawler.catalog import EXIT_STORAGE_FAILED, damaged_catalog_line
from crawler.cli import StrictOptions
from crawler.commands import EXIT_BAD_INPUT, fail
from crawler.config import ConfigError, CrawlArgs, QupostConfig
from storage.repository import Repository, StorageError


class Command(StrictOptions, ScrapyCrawlCommand):
    positional = 1  # the spider's name, qupost's only spider by default
    problem: str | None = None
    problem_status = EXIT_BAD_INPUT

    def syntax(self) -> str:
        return "[qupost] [-a NAME=VALUE ...] [-s NAME=VALUE ...]"

    def short_desc(self) -> str:
        return "Crawl Qutoutiao into Hexo posts, images and the catalog"

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args or args[0].startswith("-"):
            args.insert(0, "qupost")
        super().process_options(args, opts)
        if args[0] != "qupost":
            self.refuse(f"unknown spider {args[0]!r}; qupost's spider is qupost")
        self.check(opts.spargs)
        if self.problem:
            # Scrapy would build the crawler process next, which starts logging
            # with its banner: the error line is to be the only one.
            self.requires_crawler_process = False

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if self.problem:
            # Under Scrapyd the job's own log file says why it did not start.
            self.exitcode = fail(self.problem, self.problem_status, self.settings)
            return
        assert self.crawler_process is not None
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        status = crawler.stats.get_value(keys.EXIT_STATUS) if crawler.stats else None
        self.exitcode = int(status or 0)

    def check(self, spargs: dict[str, str]) -> None:
        """Find the first bad argument or setting (exit 2), or an unusable catalog (exit 1)."""
        assert self.settings is not None
        try:
            config = QupostConfig.from_settings(self.settings)
            CrawlArgs.from_spider_kwargs(dict(spargs))
        except ConfigError as exc:
            self.problem = str(exc)
            return
        self.problem = open_problem(config.database_url)
        # The settings are right but the catalog cannot be used now (locked,
        # unreachable, a full disk): that is a storage failure, as in a run.
        self.problem_status = EXIT_STORAGE_FAILED


def open_problem(url: str) -> str | None:
    """Why the catalog at ``url`` cannot be used (opened, brought up to date, sound), or None."""
    try:
        repo = Repository.open(url)
    except (StorageError, SQLAlchemyError, OSError, ImportError) as exc:
        detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
        if isinstance(exc, StorageError) and exc.damaged:
            return damaged_catalog_line(url, detail)
        return f"cannot open QUPOST_DATABASE_URL {url!r}: {detail}"
    try:
        damage = repo.integrity_problem()
    finally:
        repo.close()
    if damage is None:
        return None
    # Crawling on would read garbage as stored articles and rewrite their posts.
    return damaged_catalog_line(url, damage)
