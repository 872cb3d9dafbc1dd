"""``qupost seed``: put the channel list requests into the shared scrapy-redis queue.

Distributed workers (``QUPOST_DISTRIBUTED=1``) do not list channels
themselves; one ``scrapy seed`` per scheduled run does, with the same
``-a cid/pages/limit`` arguments a single-machine crawl takes.  By default it
clears the shared dupefilter first, so the new run sees every article again
(the catalog still skips stored ones); ``--keep-seen`` keeps it.
"""

from __future__ import annotations

import argparse

from scrapy.crawler import Crawler
from scrapy.utils.misc import load_object

from crawler.cli import QupostCommand
from crawler.commands import fail
from crawler.config import ConfigError, QupostConfig
from crawler.profiles import distributed_settings
from crawler.spiders.qupost import QupostSpider


class Command(QupostCommand):
    def syntax(self) -> str:
        return "[-a cid=1,6] [-a pages=N] [-a limit=K] [--keep-seen]"

    def short_desc(self) -> str:
        return "Queue the channel list requests for distributed workers (scrapy-redis)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "-a",
            dest="spargs",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="spider argument (cid, pages, limit)",
        )
        parser.add_argument(
            "--keep-seen",
            action="store_true",
            help="keep the shared dupefilter instead of clearing it",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        spargs = dict(arg.split("=", 1) for arg in opts.spargs if "=" in arg)
        settings = self.settings.copy()
        try:
            config = QupostConfig.from_settings(settings)
            for key, value in distributed_settings(config.redis_prefix).items():
                settings.set(key, value, priority="spider")
            crawler = Crawler(QupostSpider, settings)
            spider = QupostSpider.from_crawler(crawler, **spargs)
        except ConfigError as exc:
            self.exitcode = fail(str(exc))
            return
        try:
            scheduler = load_object(settings["SCHEDULER"]).from_settings(settings)
            scheduler.open(spider)
        except Exception as exc:  # redis errors have no common base across versions
            self.exitcode = fail(f"cannot reach REDIS_URL {config.redis_url!r}: {exc}")
            return
        if not opts.keep_seen:
            scheduler.df.clear()
        queued = sum(bool(scheduler.enqueue_request(r)) for r in spider.start_requests_list())
        print(
            f"qupost seed: queued {queued} list requests for channels "
            f"{','.join(map(str, spider.args.channels))} ({len(scheduler)} requests waiting)"
        )
