"""Middlewares: skip articles already in the catalog, and refuse unsafe fetches."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse, Response
from scrapy.utils.response import get_meta_refresh
from w3lib.url import canonicalize_url, safe_url_string

from crawler import stats as keys
from crawler.catalog import CrawlCatalog
from crawler.config import QupostConfig
from crawler.failures import article_failed, describe_failure
from crawler.resolver import refusal_for
from crawler.safety import FetchPolicy, RefusedFetch, host_of
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
            if not _is_article_request(output):
                yield output
            elif known is None:
                # Unknown whether it is stored: fetching it could rewrite its post.
                article_failed(self.crawler, "catalog", output.meta["qupost_id"], output.url)
            elif output.meta["qupost_id"] in known:
                self._inc(keys.ARTICLES_KNOWN)
            else:
                yield output

    async def process_spider_output_async(
        self, response: Response, result: Any, spider: Spider | None = None
    ) -> Any:
        if response.meta.get("qupost_kind") != "list" or self._refresh():
            # Article pages stream straight through; only list pages are batched.
            async for output in result:
                yield output
            return
        outputs = [o async for o in result]
        for output in self.process_spider_output(response, outputs):
            yield output

    def _refresh(self) -> bool:
        args = getattr(self.crawler.spider, "args", None)
        return bool(getattr(args, "refresh", False))

    def _known(self, ids: list[str]) -> set[str] | None:
        """The stored ids among ``ids``; None when the catalog cannot tell."""
        if not ids:
            return set()
        catalog = CrawlCatalog.of(self.crawler)
        try:
            return catalog.repo.known_ids(ids)
        except StorageError as exc:
            self._inc(keys.STORAGE_ERROR)
            logger.error(
                "catalog unreadable, %d listed article(s) not fetched (ids %s): %s",
                len(ids),
                ", ".join(ids[:5]) + (", …" if len(ids) > 5 else ""),
                exc,
            )
            catalog.storage_failed(exc)
            return None

    def _inc(self, key: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key)


def _is_article_request(output: Any) -> bool:
    return isinstance(output, Request) and output.meta.get("qupost_kind") == "article"


class SafeFetchMiddleware:
    """Refuse requests to non-http(s) schemes and to private or loopback hosts.

    URLs in article content (images, redirects) are not trusted: without this
    a page could make the crawler fetch from its own network (SSRF).  The list
    API's host and ``QUPOST_TRUSTED_HOSTS`` are exempt.  Host names that
    resolve to such addresses are refused by ``crawler.resolver.SafeResolver``.

    The refusal reaches the request's errback as a :class:`RefusedFetch`,
    whose owner (the spider, the image pipeline) logs the one line.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.policy = FetchPolicy(QupostConfig.of(crawler).trusted_hosts)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        refusal = self.policy.refusal(request.url)
        if refusal is None:
            return
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(keys.REFUSED_FETCH)
        logger.debug("refused to fetch %s: %s", request.url[:200], refusal.reason)
        raise refusal


_REDIRECT_CODES = {301, 302, 303, 307, 308}


def _loops(request: Request, target: str) -> bool:
    """Whether ``target`` is a page this request's redirect chain already visited."""
    try:
        wanted = canonicalize_url(target)
        chain = [*request.meta.get("redirect_urls", ()), request.url]
        return any(canonicalize_url(url) == wanted for url in chain)
    except ValueError:
        return False


class TargetGuardMiddleware:
    """Check where a request really ends up: a redirect's target, a name's address.

    It sits just outside Scrapy's redirect (600) and retry (550) middlewares,
    so it sees a 3xx, or a connection error, before they act on it.

    - A redirect to a non-http(s) scheme, a private address or, for requests
      that obey the offsite rule, a host outside ``allowed_domains`` is
      refused with its reason.  Left to Scrapy, an offsite redirect of an
      article page would be dropped without a word.
    - A host name that ``crawler.resolver.SafeResolver`` refused (it resolves
      to a private address) fails as a plain DNS error; the reason is put
      back here, and the request is not retried.

    Either way the request's errback gets a :class:`RefusedFetch` and its
    owner logs the one line.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.trusted = QupostConfig.of(crawler).trusted_hosts
        self.enabled = settings.getbool("REDIRECT_ENABLED", True)
        self.meta_refresh = settings.getbool("METAREFRESH_ENABLED", True)
        self.meta_refresh_max_delay = settings.getfloat("METAREFRESH_MAXDELAY", 100)
        self.meta_refresh_ignore_tags = settings.getlist("METAREFRESH_IGNORE_TAGS", ["noscript"])

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        if not self.enabled or request.meta.get("dont_redirect"):
            return response
        target = self._target(request, response)
        if target is None:
            return response
        if _loops(request, target):
            # Scrapy's duplicate filter would drop the request back to a page
            # of this chain without a word, and the article would vanish.
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value(keys.REFUSED_REDIRECT)
            raise RefusedFetch(f"redirect loop back to {target[:200]}", "redirect_loop")
        refusal = self._policy().refusal(target, offsite=self._obeys_offsite(request))
        if refusal is None:
            return response
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(keys.REFUSED_REDIRECT)
        raise RefusedFetch(f"redirect to {target[:200]} refused: {refusal.reason}", refusal.kind)

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> None:
        if describe_failure(exception)[0] != "dns":
            return
        refusal = refusal_for(host_of(request.url))
        if refusal is None:
            return
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(keys.REFUSED_ADDRESS)
        raise RefusedFetch(refusal.reason, refusal.kind) from exception

    def _target(self, request: Request, response: Response) -> str | None:
        location = response.headers.get("Location")
        if response.status in _REDIRECT_CODES and location:
            # Resolved the way Scrapy's RedirectMiddleware will resolve it.
            try:
                target = safe_url_string(location)
                if location.startswith(b"//"):
                    target = f"{urlsplit(request.url).scheme}://{target.lstrip('/')}"
                return urljoin(request.url, target)
            except ValueError:  # "http://[broken": refused below as malformed
                return location.decode("latin-1")
        if self.meta_refresh and isinstance(response, HtmlResponse) and request.method != "HEAD":
            delay, url = get_meta_refresh(response, ignore_tags=self.meta_refresh_ignore_tags)
            if url and (delay or 0) < self.meta_refresh_max_delay:
                return str(url)
        return None

    def _obeys_offsite(self, request: Request) -> bool:
        return not (request.dont_filter or request.meta.get("allow_offsite"))

    def _policy(self) -> FetchPolicy:
        domains = getattr(self.crawler.spider, "allowed_domains", None) or None
        return FetchPolicy(self.trusted, tuple(domains) if domains else None)
