"""Scrapy's duplicate filter, saying what became of each article request it drops.

Left alone, the filter drops a request at DEBUG level and the article it was
for vanishes from the run's counts.  An article listed again (under a second
channel) is ``skipped``: its first request does the work.  An article whose
redirect leads to a page this run already fetched is a failure, named in one
line.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request, Spider
from scrapy.dupefilters import RFPDupeFilter

from crawler import stats as keys
from crawler.failures import article_failed

logger = logging.getLogger(__name__)


def account_for(request: Request, spider: Spider) -> None:
    """Count (and, for a failure, log) the article outcome of a dropped duplicate."""
    if request.meta.get("qupost_kind") not in ("article", "detail"):
        return
    stats: Any = spider.crawler.stats
    if not request.meta.get("redirect_urls"):
        stats.inc_value(keys.ARTICLES_SKIPPED)
        return
    article_failed(spider.crawler, "redirect_to_seen", request.meta.get("qupost_id"), request.url)
    logger.warning(
        "article %s: not fetched: redirected to %s, a page this run already fetched",
        request.meta.get("qupost_id", "?"),
        request.url[:200],
    )


class AccountingDupeFilter(RFPDupeFilter):
    def log(self, request: Request, spider: Spider) -> None:
        account_for(request, spider)
        super().log(request, spider)
