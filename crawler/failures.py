"""Failures in words, in the stats and in the run history.

Scrapy hands errbacks one exception class per cause (recent versions wrap
Twisted's own in ``scrapy.exceptions``; both are understood).  The spider and
the image pipeline both log and count failures through
:func:`describe_failure`, so a stat name never carries a URL or a host and
the log line never is a bare class name.

Every failed article is counted with :func:`article_failed` and every failed
image download with :func:`image_failed`; both also hand the failure to
:class:`FailureLog`, which writes them to the catalog's ``failures`` table in
batches (``qupost runs --failures`` reads them back).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.error import TimeoutError as TxTimeoutError

from crawler import stats as keys
from crawler.catalog import CrawlCatalog
from crawler.safety import RefusedFetch
from storage.repository import FailureRecord, StorageError

logger = logging.getLogger(__name__)

_OFFSITE = re.compile(r"Filtered offsite request to '([^']*)'")

# (class name, kind, text): matched by name, so Scrapy versions that lack
# one of these classes still import this module.
_BY_NAME = (
    ("DownloadTimeoutError", "timeout", "timed out (DOWNLOAD_TIMEOUT)"),
    ("CannotResolveHostError", "dns", "DNS lookup failed"),
    ("DownloadConnectionRefusedError", "connection", "connection refused"),
    ("ResponseDataLossError", "data_loss", "response cut short"),
    ("UnsupportedURLSchemeError", "scheme", "URL scheme not supported"),
)


def describe_failure(error: Any) -> tuple[str, str]:
    """``(kind, text)`` for a failed request: e.g. ``("http_503", "HTTP 503")``."""
    error = getattr(error, "value", error)  # a twisted Failure or the exception
    if isinstance(error, RefusedFetch):
        return error.kind, f"not fetched: {error.reason}"
    if isinstance(error, HttpError):
        status = error.response.status
        return f"http_{status}", f"HTTP {status}"
    if isinstance(error, IgnoreRequest):
        offsite = _OFFSITE.search(str(error))
        if offsite:
            return "offsite", f"not fetched: {offsite.group(1)} is not an allowed domain"
        if str(error) == "max redirections reached":
            return "redirects", "more than REDIRECT_MAX_TIMES redirects"
        if str(error).startswith("Forbidden by robots.txt"):
            return "robots", "not fetched: robots.txt disallows it"
        if "DOWNLOAD_MAXSIZE" in str(error):
            # Scrapy's decompression guard (a gzip bomb, or just a large body).
            return "too_large", "larger than DOWNLOAD_MAXSIZE once decompressed"
        return "ignored", f"not fetched: {error}" if str(error) else "request ignored"
    for name, kind, text in _BY_NAME:
        if any(cls.__name__ == name for cls in type(error).__mro__):
            return kind, text
    if type(error).__name__ == "DownloadCancelledError" or isinstance(error, CancelledError):
        if "max size" in str(error):
            return "too_large", "larger than DOWNLOAD_MAXSIZE"
        return "cancelled", "download cancelled"
    if isinstance(error, TxTimeoutError):
        return "timeout", "timed out (DOWNLOAD_TIMEOUT)"
    if isinstance(error, DNSLookupError):
        return "dns", "DNS lookup failed"
    if isinstance(error, ConnectError):
        return "connection", "connection failed"
    name = type(error).__name__
    detail = " ".join(str(error).split())
    return _slug(name), f"{name}: {detail}"[:200] if detail else name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "other"


ROBOTS_LOGGER = "scrapy.downloadermiddlewares.robotstxt"


class OneLineRobotsErrors(logging.Filter):
    """Make Scrapy's "Error downloading" line for an unusable robots.txt one line.

    The middleware logs it with the whole traceback, and has no hook to say
    it otherwise, so this filter rewrites the record: the host, the cause in
    words, and what happens next (Scrapy then crawls the host as if its
    robots.txt allowed everything). Any other record passes unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or not str(record.msg).startswith("Error downloading"):
            return True
        try:
            request = record.args.get("request") if isinstance(record.args, dict) else None
            host = urlsplit(str(getattr(request, "url", ""))).netloc or "a host"
            cause = describe_failure(error)[1]
        except Exception:  # a filter must never raise into the middleware's except block
            return True
        record.msg = "robots.txt of %s unusable (%s); crawling it as if it allowed everything"
        record.args = (host, cause)
        record.exc_info = None
        record.exc_text = None
        return True


def install_log_filters() -> None:
    """Add qupost's log filters once per process."""
    logger = logging.getLogger(ROBOTS_LOGGER)
    if not any(isinstance(f, OneLineRobotsErrors) for f in logger.filters):
        logger.addFilter(OneLineRobotsErrors())


# --- the run history ---------------------------------------------------------


def article_failed(crawler: Crawler, reason: str, qupost_id: str | None, url: str) -> None:
    """Count an article that failed for ``reason`` and keep it for the run history."""
    assert crawler.stats is not None
    crawler.stats.inc_value(keys.failed(reason))
    _note(crawler, "article", reason, qupost_id, url)


def image_failed(crawler: Crawler, reason: str, qupost_id: str | None, url: str) -> None:
    """Count an image download that failed for ``reason`` and keep it for the run history."""
    assert crawler.stats is not None
    crawler.stats.inc_value(keys.IMAGES_FAILED)
    crawler.stats.inc_value(keys.IMAGES_FAILED_BY + reason)
    _note(crawler, "image", reason, qupost_id, url)


def _note(crawler: Crawler, kind: str, reason: str, qupost_id: str | None, url: str) -> None:
    try:
        log = crawler.get_extension(FailureLog)
    except RuntimeError:  # a component built outside a crawl (unit tests)
        return
    if log is not None:
        log.add(kind, reason, qupost_id, url)


class FailureLog:
    """The run's failed articles and images, written to the ``failures`` table in batches.

    A failure is kept in memory until ``BATCH`` of them are waiting, then
    written in one short transaction; the rest are written when the spider
    closes.  Writing never fails the crawl: the stats and the log lines
    already have every failure, so a catalog that cannot take them costs one
    ERROR line.
    """

    BATCH = 200

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.pending: list[tuple[str, str, str | None, str, datetime]] = []
        self.written = 0
        self.lost = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        log = cls(crawler)
        crawler.signals.connect(log.flush, signal=signals.spider_closed)
        return log

    def add(self, kind: str, reason: str, qupost_id: str | None, url: str) -> None:
        self.pending.append((kind, reason, qupost_id, url[:2000], datetime.now(UTC)))
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the waiting failures (they belong to the run the catalog started)."""
        if not self.pending:
            return
        catalog = CrawlCatalog.of(self.crawler)
        if catalog.run_id is None:
            return  # the catalog was never opened: no run to attach them to
        batch, self.pending = self.pending, []
        records = [FailureRecord(catalog.run_id, *failure) for failure in batch]
        try:
            with catalog.repo.transaction() as tx:
                tx.record_failures(records)
        except StorageError as exc:
            if not self.lost:
                logger.error("could not record failures in the run history: %s", exc)
            self.lost += len(records)
            return
        self.written += len(records)
