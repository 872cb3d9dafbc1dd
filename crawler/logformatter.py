"""Log lines for item outcomes: a dropped article is one line, not one line plus its repr.

Scrapy's stock message for a dropped item is the reason, a line break and
the whole item, body HTML included.  Every ``DropItem`` qupost raises already
names the article and says why, so that reason alone is the line.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.http import Response
from scrapy.logformatter import LogFormatter, LogFormatterResult
from twisted.python.failure import Failure


class QupostLogFormatter(LogFormatter):
    def dropped(
        self,
        item: Any,
        exception: BaseException,
        response: Response | Failure | None,
        spider: Spider,
    ) -> LogFormatterResult:
        result = super().dropped(item, exception, response, spider)
        return {**result, "msg": "Dropped: %(exception)s", "args": {"exception": exception}}
