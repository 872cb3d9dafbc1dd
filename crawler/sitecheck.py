"""The changed-site alarm: most pages or list rows no longer read as the parsers expect.

Scrapers of this kind stop working when the site changes its pages: the
parsers in ``crawler/pages.py`` then find no title, no body, or list rows
without ids and URLs, and a run that stores nothing looks like a quiet one.
While crawling, the spider and the clean pipeline count what they read
(:func:`note_page_read`, :func:`note_page`; the list counts come with
``crawler.pages.ListPage``).  When the run closes, :func:`site_change_line`
(through :func:`check_site`) holds those counts against ``QUPOST_SITE_CHANGED_SHARE`` and
``QUPOST_SITE_CHANGED_MIN``: when a measure has at least the minimum number of
pages (or rows) and at least that share of them is missing what it should
carry, the run logs one ERROR line and exits with its own status
(``crawler.catalog.EXIT_SITE_CHANGED``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crawler import stats as keys
from crawler.config import QupostConfig
from storage.article import Article

logger = logging.getLogger(__name__)

# Rounding slack for share * total (0.3 * 10 is 3.0000000000000004).
_EPSILON = 1e-9


def note_page_read(stats: Any, article: Article) -> None:
    """Count an article page read to the end; one without a title is noted as such."""
    stats.inc_value(keys.PAGES_READ)
    if not article.source.page_title.strip():
        note_page(stats, keys.PAGES_NO_TITLE, article.original_url)


def note_page(stats: Any, key: str, url: str) -> None:
    """Count a page under ``key`` (``PAGES_NO_TITLE``, ``PAGES_NO_BODY``); keep the first URL."""
    stats.inc_value(key)
    example = keys.PAGES_EXAMPLE + key.rsplit("/", 1)[-1]
    if stats.get_value(example) is None:
        stats.set_value(example, url)


@dataclass(frozen=True)
class Finding:
    """One measure over its threshold: ``count`` of ``total`` lacked ``what``."""

    count: int
    total: int
    what: str
    example: str

    def __str__(self) -> str:
        return f"{self.count} of {self.total} {self.what} (e.g. {self.example})"


def _int(stats: Mapping[str, Any], key: str) -> int:
    return int(stats.get(key, 0) or 0)


def _example(stats: Mapping[str, Any], key: str) -> str:
    text = " ".join(str(stats.get(key) or "-").split())
    return text[:200]


def findings(stats: Mapping[str, Any], share: float, minimum: int) -> list[Finding]:
    """The measures of this run's stats that cross the thresholds (none when share is 0)."""
    if share <= 0:
        return []
    pages = _int(stats, keys.PAGES_READ)
    rows = _int(stats, keys.LIST_ARTICLE_ROWS)
    measures = (
        (keys.PAGES_NO_TITLE, pages, "article pages gave no title",
         keys.PAGES_EXAMPLE + "no_title"),
        (keys.PAGES_NO_BODY, pages, "article pages gave no body",
         keys.PAGES_EXAMPLE + "no_body"),
        (keys.LIST_ROWS_WITHOUT_ID_URL, rows, "list rows carried no article id or URL",
         keys.LIST_EXAMPLE_WITHOUT_ID_URL),
    )  # fmt: skip
    found: list[Finding] = []
    for key, total, what, example in measures:
        count = _int(stats, key)
        if count and total >= minimum and count >= share * total - _EPSILON:
            found.append(Finding(count, total, what, _example(stats, example)))
    return found


def alarm_line(found: list[Finding], share: float, minimum: int) -> str:
    """The one ERROR line of a run whose site seems to have changed."""
    return (
        "the site's pages may have changed: "
        + "; ".join(str(f) for f in found)
        + ". qupost's parsers (crawler/pages.py) may need updating for a new layout "
        f"(alarm at QUPOST_SITE_CHANGED_SHARE={share:g} of at least "
        f"QUPOST_SITE_CHANGED_MIN={minimum})"
    )


def site_change_line(stats: Mapping[str, Any], share: float, minimum: int) -> str | None:
    """The alarm line for this run's stats, or None when nothing crosses the thresholds."""
    found = findings(stats, share, minimum)
    return alarm_line(found, share, minimum) if found else None


def check_site(stats: Any, config: QupostConfig) -> bool:
    """Log the alarm line (and set its stat) when the run's counts cross the thresholds."""
    line = site_change_line(stats.get_stats(), config.site_changed_share, config.site_changed_min)
    if line is None:
        return False
    stats.set_value(keys.SITE_CHANGED, 1)
    logger.error(line)
    return True
