"""The benchmark's baselines: bare Scrapy spiders over the same pages qupost fetches.

``python bench/bare.py --list-api URL --pages P --variant plain`` fetches the
list pages (paging with ``min_time`` like qupost), every article page and
every original image, and does nothing else.  ``--variant images`` hands the
image URLs to Scrapy's stock ``ImagesPipeline`` instead (``--store DIR``).

The settings are qupost's fast profile and the base settings that change how
fast Scrapy runs (reactor, cookies, telnet, sizes), read from the project
itself so the comparison stays fair when either changes.  No project settings
module is loaded: no qupost middleware, pipeline or extension runs here.
At the end one ``BENCH-RESULT {json}`` line goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response

# The same list URLs as qupost's spider asks for (a pure function: no qupost component runs).
from crawler.urls import list_url

# Base settings (crawler/settings.py) that matter for speed; the rest are qupost's own.
_BASE_KEYS = (
    "TWISTED_REACTOR",
    "COOKIES_ENABLED",
    "TELNETCONSOLE_ENABLED",
    "REMOTE_CONTROL_ENABLED",
    "LOGSTATS_INTERVAL",
    "DOWNLOAD_MAXSIZE",
    "DOWNLOAD_WARNSIZE",
    "USER_AGENT",
    "RETRY_HTTP_CODES",
)


def fast_settings() -> dict[str, Any]:
    """qupost's fast profile plus its speed-relevant base settings, minus QUPOST_* keys."""
    from crawler import settings as project
    from crawler.profiles import PROFILES

    values: dict[str, Any] = {k: getattr(project, k) for k in _BASE_KEYS if hasattr(project, k)}
    values.update({k: v for k, v in PROFILES["fast"].items() if not k.startswith("QUPOST_")})
    return values


def _original(url: str) -> str:
    # The CDN's ?imageView2/... asks for a rendition; qupost fetches the original.
    return url.split("?", 1)[0]


class BareSpider(Spider):
    """(a): list pages, article pages and original images; nothing else."""

    name = "bare"

    def __init__(self, list_api: str, pages: int, limit: int = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.list_api = list_api
        self.pages = int(pages)
        self.limit = int(limit)

    async def start(self) -> AsyncIterator[Request]:
        yield self.list_request(1, None)

    def list_request(self, page: int, min_time: str | None) -> Request:
        return Request(
            list_url(self.list_api, 1, page, self.limit, min_time),
            callback=self.parse_list,
            cb_kwargs={"page": page},
            dont_filter=True,
        )

    def parse_list(self, response: Response, page: int) -> Iterator[Request]:
        data = json.loads(response.body)["data"]
        rows = [row for row in data["data"] if row.get("id") and row.get("url")]
        for row in rows:
            url = row["url"].replace("&amp;", "&").split("?", 1)[0]
            yield Request(url, callback=self.parse_article)
        if rows and page < self.pages:
            yield self.list_request(page + 1, data["min_time"])

    def parse_article(self, response: Response) -> Iterator[Any]:
        self._inc("bench/articles")
        for url in self.image_urls(response):
            yield Request(url, callback=self.parse_image)

    def image_urls(self, response: Response) -> list[str]:
        sources = response.css("div.content img::attr(data-src)").getall()
        return [_original(response.urljoin(src)) for src in sources]

    def parse_image(self, response: Response) -> None:
        self._inc("bench/images")

    def closed(self, reason: str) -> None:
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        result = {
            "reason": reason,
            "articles": stats.get("bench/articles", 0),
            "images": stats.get("bench/images", 0) or stats.get("file_count", 0),
            "requests": stats.get("downloader/request_count", 0),
            "errors": stats.get("log_count/ERROR", 0),
        }
        print("BENCH-RESULT " + json.dumps(result), flush=True)

    def _inc(self, key: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key)


class BareImagesSpider(BareSpider):
    """(b): the same spider, its images handed to Scrapy's stock ImagesPipeline."""

    name = "bare_images"

    def parse_article(self, response: Response) -> Iterator[Any]:
        self._inc("bench/articles")
        yield {"image_urls": self.image_urls(response)}


SPIDERS: dict[str, type[BareSpider]] = {"plain": BareSpider, "images": BareImagesSpider}


def settings_for(variant: str, store: str | None, log_level: str) -> dict[str, Any]:
    settings = fast_settings()
    settings["LOG_LEVEL"] = log_level
    if variant == "images":
        if not store:
            raise SystemExit("bare.py: --variant images needs --store DIR")
        settings["ITEM_PIPELINES"] = {"scrapy.pipelines.images.ImagesPipeline": 1}
        settings["IMAGES_STORE"] = store
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list-api", required=True)
    parser.add_argument("--pages", type=int, required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--variant", choices=("plain", "images"), default="plain")
    parser.add_argument("--store", help="IMAGES_STORE for --variant images")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    process = CrawlerProcess(settings_for(args.variant, args.store, args.log_level))
    process.crawl(SPIDERS[args.variant], list_api=args.list_api, pages=args.pages, limit=args.limit)
    process.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
