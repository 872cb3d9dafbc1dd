"""scrapy-redis' shared duplicate filter with qupost's accounting (see ``crawler.dupefilter``).

A module of its own: scrapy-redis is needed only in distributed mode.
"""

from __future__ import annotations

from scrapy import Request, Spider
from scrapy_redis.dupefilter import RFPDupeFilter

from crawler.dupefilter import account_for


class AccountingRedisDupeFilter(RFPDupeFilter):  # type: ignore[misc]
    def log(self, request: Request, spider: Spider) -> None:
        account_for(request, spider)
        super().log(request, spider)
