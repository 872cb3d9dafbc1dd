"""The ``qupost`` spider: list channels, follow article pages, yield items.

Parsing lives in ``crawler.pages``; this module only decides which requests
follow which response.  Known articles are filtered by
``crawler.middlewares.IncrementalMiddleware`` before they are scheduled.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.channels import parse_channels
from crawler.failures import describe_failure, install_log_filters
from crawler.items import ArticleItem, ListingItem
from crawler.pages import (
    ArticlePage,
    ListEntry,
    ListPage,
    PageError,
    is_deleted,
    parse_article,
    parse_detail_json,
    parse_list,
)
from crawler.safety import FetchPolicy, trusted_hosts_from
from crawler.urls import (
    article_id_from_url,
    canonical_url,
    is_http_url,
    jsonp_url,
    list_url,
)

logger = logging.getLogger(__name__)

MAX_LIMIT = 100


class ArgumentError(ValueError):
    """A bad ``-a`` argument; the message is the one line the user sees."""


@dataclass(frozen=True)
class CrawlArgs:
    channels: tuple[int, ...] = (1,)
    pages: int = 1
    limit: int = 20
    urls: tuple[str, ...] = ()
    refresh: bool = False

    @classmethod
    def parse(
        cls, cid: str = "1", pages: str = "1", limit: str = "20", url: str = "", refresh: str = "0"
    ) -> CrawlArgs:
        try:
            channels = tuple(parse_channels(str(cid)))
        except ValueError as exc:
            raise ArgumentError(f"-a cid: {exc}") from None
        return cls(
            channels=channels,
            pages=_positive("pages", pages, 10_000),
            limit=_positive("limit", limit, MAX_LIMIT),
            urls=_article_urls(url),
            refresh=_flag("refresh", refresh),
        )


def _positive(name: str, value: Any, maximum: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ArgumentError(f"-a {name}: expected a whole number, got {value!r}") from None
    if not 1 <= number <= maximum:
        raise ArgumentError(f"-a {name}: must be between 1 and {maximum}, got {number}")
    return number


def _flag(name: str, value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ArgumentError(f"-a {name}: expected 1 or 0, got {value!r}")


def _article_urls(value: str) -> tuple[str, ...]:
    urls: list[str] = []
    for raw in str(value or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        if not is_http_url(raw) or article_id_from_url(raw) is None:
            raise ArgumentError(
                f"-a url: {raw!r} is not an article page URL like "
                "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html"
            )
        urls.append(raw)
    return tuple(dict.fromkeys(urls))


class QupostSpider(Spider):
    name = "qupost"
    DEFAULT_ALLOWED = ("qutoutiao.net", "qktoutiao.com", "1sapp.com")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        known = {
            k: kwargs.pop(k) for k in ("cid", "pages", "limit", "url", "refresh") if k in kwargs
        }
        super().__init__(*args, **kwargs)
        self.arguments: dict[str, str] = {k: str(v) for k, v in known.items()}
        self.args = CrawlArgs.parse(**{k: str(v) for k, v in known.items()})

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        install_log_filters()
        settings = crawler.settings
        spider.list_api = settings.get("QUPOST_LIST_API")
        domains = list(settings.getlist("QUPOST_ALLOWED_DOMAINS", list(cls.DEFAULT_ALLOWED)))
        list_host = urlsplit(spider.list_api).hostname
        if list_host and list_host not in domains:
            domains.append(list_host)
        spider.allowed_domains = domains  # type: ignore[attr-defined]
        spider.policy = FetchPolicy(trusted_hosts_from(settings), tuple(domains))
        return spider

    list_api: str = ""
    policy: FetchPolicy = FetchPolicy()

    async def start(self) -> AsyncIterator[Any]:
        for request in self.start_requests_list():
            yield request

    def start_requests_list(self) -> Iterator[Request]:
        if self.args.urls:
            for url in self.args.urls:
                qupost_id = article_id_from_url(url)
                assert qupost_id is not None
                entry = ListEntry(qupost_id=qupost_id, url=url, canonical_url=canonical_url(url))
                if self._refused(entry) is None:
                    yield self.article_request(entry, cid=None)
            return
        for cid in self.args.channels:
            yield self.list_request(cid, page=1, min_time=None)

    # --- list --------------------------------------------------------------
    def list_request(self, cid: int, page: int, min_time: str | None) -> Request:
        return Request(
            list_url(self.list_api, cid, page, self.args.limit, min_time),
            callback=self.parse_list,
            errback=self.list_failed,
            cb_kwargs={"cid": cid, "page": page},
            meta={"qupost_kind": "list"},
            dont_filter=True,
        )

    def parse_list(self, response: Response, cid: int, page: int) -> Iterator[Any]:
        stats = self._stats()
        if response.status != 200:
            self._list_error(cid, page, f"HTTP {response.status}")
            return
        try:
            listing = parse_list(response.body)
        except PageError as exc:
            self._list_error(cid, page, str(exc), reason=exc.reason)
            return
        stats.inc_value("qupost/list/pages")
        stats.inc_value("qupost/list/rows", listing.rows)
        for kind, count in listing.skipped.items():
            stats.inc_value(f"qupost/list/skipped/{kind}", count)
        self._log_skipped_rows(cid, page, listing)
        if not listing.entries:
            logger.info("channel %s: page %s is empty; this channel is done", cid, page)
            return
        stats.inc_value("qupost/articles/listed", len(listing.entries))
        yield ListingItem(cid=cid, qupost_ids=[e.qupost_id for e in listing.entries])
        for entry in listing.entries:
            if self._refused(entry) is None:
                yield self.article_request(entry, cid)
        if page < self.args.pages and listing.min_time:
            yield self.list_request(cid, page + 1, listing.min_time)

    def _log_skipped_rows(self, cid: int, page: int, listing: ListPage) -> None:
        invalid = listing.skipped.get("invalid", 0)
        duplicate = listing.skipped.get("duplicate", 0)
        if invalid:
            logger.warning(
                "channel %s page %s: skipped %d row(s) without a usable id and URL (ids: %s)",
                cid,
                page,
                invalid,
                ", ".join(listing.rejected_ids),
            )
        if duplicate:
            logger.info("channel %s page %s: skipped %d duplicated row(s)", cid, page, duplicate)

    def _refused(self, entry: ListEntry) -> str | None:
        """Why an article URL from the list (or ``-a url``) will not be fetched."""
        refusal = self.policy.refusal(entry.canonical_url, offsite=True)
        if refusal is None:
            return None
        self._stats().inc_value(f"qupost/articles/failed/{refusal.kind}")
        logger.warning("article %s: not fetched: %s", entry.qupost_id, refusal.reason)
        return refusal.reason

    def _list_error(self, cid: int, page: int, message: str, reason: str = "http") -> None:
        self._stats().inc_value(f"qupost/list/error/{reason}")
        logger.error("channel %s page %s: list API unusable: %s", cid, page, message)

    def list_failed(self, failure: Any) -> None:
        request = failure.request
        kind, text = describe_failure(failure)
        self._list_error(
            request.cb_kwargs.get("cid"), request.cb_kwargs.get("page"), text, reason=kind
        )

    # --- articles ----------------------------------------------------------
    def article_request(self, entry: ListEntry, cid: int | None) -> Request:
        return Request(
            entry.canonical_url,
            callback=self.parse_article,
            errback=self.article_failed,
            cb_kwargs={"entry": entry, "cid": cid},
            meta={"qupost_kind": "article", "qupost_id": entry.qupost_id},
        )

    def parse_article(self, response: Response, entry: ListEntry, cid: int | None) -> Any:
        if self._deleted(response, entry):
            return None
        page = parse_article(_text(response))
        if page.body_html is not None:
            return self.build_item(entry, cid, page)
        self._stats().inc_value("qupost/articles/fallback/detail")
        return self.detail_request(entry, cid, page, jsonp=entry.detail_url is None)

    def detail_request(
        self, entry: ListEntry, cid: int | None, page: ArticlePage, jsonp: bool
    ) -> Request:
        url = jsonp_url(entry.canonical_url, entry.qupost_id) if jsonp else entry.detail_url
        assert url is not None
        if not jsonp and self.policy.refusal(url, offsite=True) is not None:
            # A detail URL pointing elsewhere is not followed; the JSONP
            # endpoint lives on the article page's own host.
            self._stats().inc_value("qupost/articles/refused_detail_url")
            return self.detail_request(entry, cid, page, jsonp=True)
        return Request(
            url,
            callback=self.parse_detail,
            errback=self.article_failed,
            cb_kwargs={"entry": entry, "cid": cid, "page": page, "jsonp": jsonp},
            meta={"qupost_kind": "detail", "qupost_id": entry.qupost_id},
        )

    def parse_detail(
        self, response: Response, entry: ListEntry, cid: int | None, page: ArticlePage, jsonp: bool
    ) -> Any:
        if self._deleted(response, entry):
            return None
        try:
            detail = parse_detail_json(response.body)
        except PageError as exc:
            if not jsonp:
                return self.detail_request(entry, cid, page, jsonp=True)
            self._stats().inc_value(f"qupost/articles/failed/{exc.reason}")
            logger.warning(
                "article %s: no body on page, detail or JSONP (%s)", entry.qupost_id, exc
            )
            return None
        merged = ArticlePage(
            title=page.title or detail.title,
            source=page.source or detail.source,
            time_text=page.time_text or detail.time_text,
            body_html=detail.body_html,
        )
        return self.build_item(entry, cid, merged)

    def build_item(self, entry: ListEntry, cid: int | None, page: ArticlePage) -> ArticleItem:
        self._stats().inc_value("qupost/articles/fetched")
        return ArticleItem(
            qupost_id=entry.qupost_id,
            original_url=entry.canonical_url,
            title=entry.title or page.title,
            author=entry.author or page.source,
            cid=cid,
            publish_time=entry.publish_time,
            page_time=page.time_text or None,
            show_time=entry.show_time,
            raw_html=page.body_html or "",
            cover_url=entry.cover_url,
            crawled_at=datetime.now(UTC),
        )

    def _deleted(self, response: Response, entry: ListEntry | None) -> bool:
        if entry is None or not is_deleted(response.status, response.body):
            return False
        self._stats().inc_value("qupost/articles/deleted")
        logger.info(
            "article %s was deleted at the source (%s)",
            entry.qupost_id,
            "404" if response.status == 404 else "NoSuchKey",
        )
        return True

    def article_failed(self, failure: Any) -> None:
        request = failure.request
        entry = request.cb_kwargs.get("entry")
        # The object store's NoSuchKey body means "deleted" whatever the status.
        if isinstance(failure.value, HttpError) and self._deleted(failure.value.response, entry):
            return
        kind, text = describe_failure(failure)
        self._stats().inc_value(f"qupost/articles/failed/{kind}")
        logger.warning(
            "article %s: could not fetch %s: %s",
            getattr(entry, "qupost_id", "?"),
            request.url[:200],
            text,
        )

    def _stats(self) -> Any:
        assert self.crawler.stats is not None
        return self.crawler.stats


def _text(response: Response) -> str:
    try:
        return str(response.text)
    except AttributeError:
        return response.body.decode("utf-8", errors="replace")
