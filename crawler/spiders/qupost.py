"""The ``qupost`` spider: list channels, follow article pages, yield items.

Parsing lives in ``crawler.pages``; this module only decides which requests
follow which response.  Known articles are filtered by
``crawler.middlewares.IncrementalMiddleware`` before they are scheduled.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Self

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError

from crawler import stats as keys
from crawler.config import CrawlArgs, QupostConfig
from crawler.failures import article_failed, describe_failure, install_log_filters
from crawler.items import ListingItem
from crawler.pages import (
    ListPage,
    PageError,
    is_deleted,
    parse_article,
    parse_detail_json,
    parse_list,
)
from crawler.safety import FetchPolicy
from crawler.sitecheck import note_page, note_page_read
from crawler.urls import article_id_from_url, canonical_url, jsonp_url, list_url
from storage.article import Article, ArticleSource

logger = logging.getLogger(__name__)

# Scrapy takes higher priorities first: an article's pages go before the next
# list page, so list pages are read only as fast as articles are fetched and
# the queue never holds more than a few list pages' worth of articles.
ARTICLE_PRIORITY = 10
DETAIL_PRIORITY = 20


class QupostSpider(Spider):
    """List channels (or take ``-a url=`` pages), fetch each article, yield its record."""

    name = "qupost"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        known = {k: kwargs.pop(k) for k in CrawlArgs.KNOWN if k in kwargs}
        super().__init__(*args, **kwargs)
        self.arguments: dict[str, str] = {k: str(v) for k, v in known.items()}
        self.args = CrawlArgs.from_spider_kwargs(known)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        install_log_filters()
        config = QupostConfig.of(crawler)
        spider.list_api = config.list_api
        spider.allowed_domains = list(config.allowed_domains)  # type: ignore[attr-defined]
        spider.policy = FetchPolicy(config.trusted_hosts, config.allowed_domains)
        return spider

    list_api: str = ""
    policy: FetchPolicy = FetchPolicy()

    async def start(self) -> AsyncIterator[Any]:
        for request in self.start_requests_list():
            yield request

    def start_requests_list(self) -> Iterator[Request]:
        if self.args.urls:
            self._stats().inc_value(keys.ARTICLES_LISTED, len(self.args.urls))
            for url in self.args.urls:
                qupost_id = article_id_from_url(url)
                assert qupost_id is not None
                article = Article(qupost_id, canonical_url(url), ArticleSource(url=url))
                if self._refused(article) is None:
                    yield self.article_request(article)
            return
        for cid in self.args.channels:
            yield self.list_request(cid, page=1, min_time=None)

    # --- list --------------------------------------------------------------
    def list_request(
        self,
        cid: int,
        page: int,
        min_time: str | None,
        pages: int | None = None,
        limit: int | None = None,
    ) -> Request:
        """One list page; the request carries its channel's paging (pages, limit).

        In distributed mode a worker continues a channel from a request that
        ``seed`` queued, so the paging must travel with the request rather
        than come from the worker's own arguments.
        """
        pages = self.args.pages if pages is None else pages
        limit = self.args.limit if limit is None else limit
        return Request(
            list_url(self.list_api, cid, page, limit, min_time),
            callback=self.parse_list,
            errback=self.list_failed,
            cb_kwargs={"cid": cid, "page": page, "pages": pages, "limit": limit},
            meta={"qupost_kind": "list"},
            dont_filter=True,
        )

    def parse_list(
        self,
        response: Response,
        cid: int,
        page: int,
        pages: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Any]:
        stats = self._stats()
        if response.status != 200:
            self._list_error(cid, page, f"HTTP {response.status}")
            return
        try:
            listing = parse_list(response.body)
        except PageError as exc:
            self._list_error(cid, page, str(exc), reason=exc.reason)
            return
        stats.inc_value(keys.LIST_PAGES)
        stats.inc_value(keys.LIST_ROWS, listing.rows)
        stats.inc_value(keys.LIST_ARTICLE_ROWS, listing.article_rows)
        if listing.without_id_url:
            stats.inc_value(keys.LIST_ROWS_WITHOUT_ID_URL, listing.without_id_url)
            if stats.get_value(keys.LIST_EXAMPLE_WITHOUT_ID_URL) is None:
                stats.set_value(keys.LIST_EXAMPLE_WITHOUT_ID_URL, response.url)
        for kind, count in listing.skipped.items():
            stats.inc_value(keys.LIST_SKIPPED + kind, count)
        self._log_skipped_rows(cid, page, listing)
        if not listing.entries:
            logger.info("channel %s: page %s is empty; this channel is done", cid, page)
            return
        stats.inc_value(keys.ARTICLES_LISTED, len(listing.entries))
        yield ListingItem(cid=cid, qupost_ids=[a.qupost_id for a in listing.entries])
        for article in listing.entries:
            article.channels = (cid,)
            if self._refused(article) is None:
                yield self.article_request(article)
        pages = self.args.pages if pages is None else pages
        if page < pages and listing.min_time:
            yield self.list_request(cid, page + 1, listing.min_time, pages, limit)

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

    def _refused(self, article: Article) -> str | None:
        """Why an article URL from the list (or ``-a url``) will not be fetched."""
        refusal = self.policy.refusal(article.original_url, offsite=True)
        if refusal is None:
            return None
        article_failed(self.crawler, refusal.kind, article.qupost_id, article.original_url)
        logger.warning("article %s: not fetched: %s", article.qupost_id, refusal.reason)
        return refusal.reason

    def _list_error(self, cid: int, page: int, message: str, reason: str = "http") -> None:
        self._stats().inc_value(keys.LIST_ERROR + reason)
        logger.error("channel %s page %s: list API unusable: %s", cid, page, message)

    def list_failed(self, failure: Any) -> None:
        request = failure.request
        kind, text = describe_failure(failure)
        self._list_error(
            request.cb_kwargs.get("cid"), request.cb_kwargs.get("page"), text, reason=kind
        )

    # --- articles ----------------------------------------------------------
    def article_request(self, article: Article) -> Request:
        return Request(
            article.original_url,
            callback=self.parse_article,
            errback=self.article_failed,
            cb_kwargs={"article": article},
            meta={"qupost_kind": "article", "qupost_id": article.qupost_id},
            priority=ARTICLE_PRIORITY,
        )

    def parse_article(self, response: Response, article: Article) -> Any:
        if self._deleted(response, article):
            return self.deleted_item(article)
        article.source = article.source.merged(parse_article(_text(response)))
        if article.source.html:
            return self.fetched(article)
        self._stats().inc_value(keys.ARTICLES_DETAIL_FALLBACK)
        return self.detail_request(article, jsonp=article.source.detail_url is None)

    def detail_request(self, article: Article, jsonp: bool) -> Request:
        url = (
            jsonp_url(article.original_url, article.qupost_id)
            if jsonp
            else article.source.detail_url
        )
        assert url is not None
        if not jsonp and self.policy.refusal(url, offsite=True) is not None:
            # A detail URL pointing elsewhere is not followed; the JSONP
            # endpoint lives on the article page's own host.
            self._stats().inc_value(keys.ARTICLES_REFUSED_DETAIL_URL)
            return self.detail_request(article, jsonp=True)
        return Request(
            url,
            callback=self.parse_detail,
            errback=self.article_failed,
            cb_kwargs={"article": article, "jsonp": jsonp},
            meta={"qupost_kind": "detail", "qupost_id": article.qupost_id},
            priority=DETAIL_PRIORITY,
        )

    def parse_detail(self, response: Response, article: Article, jsonp: bool) -> Any:
        if self._deleted(response, article):
            return self.deleted_item(article)
        try:
            detail = parse_detail_json(response.body)
        except PageError as exc:
            if not jsonp:
                return self.detail_request(article, jsonp=True)
            article_failed(self.crawler, exc.reason, article.qupost_id, response.url)
            logger.warning(
                "article %s: no body on page, detail or JSONP (%s)", article.qupost_id, exc
            )
            if exc.reason != "video":
                note_page_read(self._stats(), article)
                note_page(self._stats(), keys.PAGES_NO_BODY, article.original_url)
            return None
        # The page's own title, source and time win over the detail JSON's.
        article.source = replace(article.source, html="").merged(detail)
        return self.fetched(article)

    def fetched(self, article: Article) -> Article:
        self._stats().inc_value(keys.ARTICLES_FETCHED)
        note_page_read(self._stats(), article)
        article.crawled_at = datetime.now(UTC)
        return article

    def deleted_item(self, article: Article) -> Article:
        """The record of an article the source says is gone; storage applies QUPOST_ON_DELETED."""
        article.deleted_at = datetime.now(UTC)
        article.crawled_at = article.deleted_at
        return article

    def _deleted(self, response: Response, article: Article | None) -> bool:
        if article is None or not is_deleted(response.status, response.body):
            return False
        logger.info(
            "article %s was deleted at the source (%s)",
            article.qupost_id,
            "404" if response.status == 404 else "NoSuchKey",
        )
        return True

    def article_failed(self, failure: Any) -> Any:
        request = failure.request
        article = request.cb_kwargs.get("article")
        # The object store's NoSuchKey body means "deleted" whatever the status.
        if isinstance(failure.value, HttpError) and self._deleted(failure.value.response, article):
            return self.deleted_item(article)
        kind, text = describe_failure(failure)
        article_failed(self.crawler, kind, getattr(article, "qupost_id", None), request.url)
        logger.warning(
            "article %s: could not fetch %s: %s",
            getattr(article, "qupost_id", "?"),
            request.url[:200],
            text,
        )
        return None

    def _stats(self) -> Any:
        assert self.crawler.stats is not None
        return self.crawler.stats


def _text(response: Response) -> str:
    try:
        return str(response.text)
    except AttributeError:
        return response.body.decode("utf-8", errors="replace")
