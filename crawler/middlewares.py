"""Middlewares: skip articles already in the catalog, and refuse unsafe fetches."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Iterator
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from storage.catalog import Catalog
from storage.repository import StorageError

logger = logging.getLogger(__name__)


class IncrementalMiddleware:
    """Drop requests for articles the catalog already has, unless ``refresh=1``.

    The list API is still read on every run: only the article pages (and so
    their images) are skipped.  Ids are checked one list page at a time, so
    memory does not grow with the size of the catalog.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_spider_output(
        self, response: Response, result: Iterable[Any], spider: Spider | None = None
    ) -> Iterator[Any]:
        if response.meta.get("qupost_kind") != "list" or self._refresh():
            yield from result
            return
        outputs = list(result)
        ids = [o.meta["qupost_id"] for o in outputs if _is_article_request(o)]
        known = self._known(ids)
        for output in outputs:
            if _is_article_request(output) and output.meta["qupost_id"] in known:
                self._inc("qupost/articles/known")
                continue
            yield output

    async def process_spider_output_async(
        self, response: Response, result: Any, spider: Spider | None = None
    ) -> Any:
        outputs = [o async for o in result]
        for output in self.process_spider_output(response, outputs):
            yield output

    def _refresh(self) -> bool:
        args = getattr(self.crawler.spider, "args", None)
        return bool(getattr(args, "refresh", False))

    def _known(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        try:
            return Catalog.of(self.crawler).repo.known_ids(ids)
        except StorageError as exc:
            self._inc("qupost/storage/error")
            logger.error("catalog unreadable, fetching every listed article: %s", exc)
            return set()

    def _inc(self, key: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key)


def _is_article_request(output: Any) -> bool:
    return isinstance(output, Request) and output.meta.get("qupost_kind") == "article"


_BLOCKED_NETWORKS = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
    )
]  # fmt: skip


def is_private_address(host: str) -> bool:
    """True for loopback, private, link-local, metadata and other non-public IPs."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _BLOCKED_NETWORKS)


def trusted_hosts(crawler: Crawler) -> set[str]:
    """The list API's host and the hosts named in ``QUPOST_TRUSTED_HOSTS``."""
    settings = crawler.settings
    hosts = {h.strip().lower() for h in settings.getlist("QUPOST_TRUSTED_HOSTS") if h.strip()}
    list_host = urlsplit(settings.get("QUPOST_LIST_API") or "").hostname
    if list_host:
        hosts.add(list_host.lower())
    return hosts


class SafeFetchMiddleware:
    """Refuse requests to non-http(s) schemes and to private or loopback hosts.

    URLs in article content (images, redirects) are not trusted: without this
    a page could make the crawler fetch from its own network (SSRF).  The list
    API's host and ``QUPOST_TRUSTED_HOSTS`` are exempt.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.trusted = trusted_hosts(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        reason = self.refusal(request.url)
        if reason is None:
            return
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("qupost/refused_fetch")
        logger.warning("refused to fetch %s: %s", request.url[:200], reason)
        raise IgnoreRequest(reason)

    def refusal(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return f"scheme {parts.scheme or '(none)'!r} is not http(s)"
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            return "no host"
        if host in self.trusted:
            return None
        if host == "localhost" or host.endswith(".localhost"):
            return "localhost is not fetched"
        if is_private_address(host):
            return f"{host} is a private or loopback address"
        return None
