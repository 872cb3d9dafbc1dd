"""qupost's stat keys, named once, and the article counts built from them.

Every listed article ends in exactly one outcome, so the counts of one run
add up: ``listed == new + updated + unchanged + deleted + failed + skipped``.
Near-duplicates are counted apart, as a part of the new.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "qupost/"

LIST_PAGES = "qupost/list/pages"
LIST_ROWS = "qupost/list/rows"
LIST_SKIPPED = "qupost/list/skipped/"  # + the kind of row: ad, duplicate, invalid…
LIST_ERROR = "qupost/list/error/"  # + the reason
# The list's shape, for the changed-site alarm (crawler/sitecheck.py): rows
# that should hold an article (not ads, not videos), and those of them that
# carry no id or no URL at all; a list page URL that had such rows.
LIST_ARTICLE_ROWS = "qupost/list/article_rows"
LIST_ROWS_WITHOUT_ID_URL = "qupost/list/rows_without_id_url"
LIST_EXAMPLE_WITHOUT_ID_URL = "qupost/list/example/rows_without_id_url"

ARTICLES_LISTED = "qupost/articles/listed"
ARTICLES_FETCHED = "qupost/articles/fetched"
ARTICLES_DETAIL_FALLBACK = "qupost/articles/fallback/detail"
ARTICLES_REFUSED_DETAIL_URL = "qupost/articles/refused_detail_url"
# The outcomes: each listed article gets exactly one.
ARTICLES_NEW = "qupost/articles/new"
ARTICLES_UPDATED = "qupost/articles/updated"
ARTICLES_UNCHANGED = "qupost/articles/unchanged"
ARTICLES_KNOWN = "qupost/articles/known"  # stored already, so not fetched: unchanged
ARTICLES_DELETED = "qupost/articles/deleted"
ARTICLES_FAILED = "qupost/articles/failed/"  # + the reason
# Listed again in the same run (another channel lists it too): counted by
# crawler.dupefilter when the duplicate filter drops the second request.
ARTICLES_SKIPPED = "qupost/articles/skipped"
# Not an outcome of its own: new articles that tell a story a stored post told
# first (storage.duplicates). They are among the new, whatever QUPOST_DUPLICATES says.
ARTICLES_DUPLICATE = "qupost/articles/duplicate"

# Article pages read to the end (page, then detail JSON or JSONP when needed;
# deleted pages, videos and failed downloads are not counted), and those that
# gave no title or no body: the changed-site alarm's measure of the pages.
PAGES_READ = "qupost/pages/read"
PAGES_NO_TITLE = "qupost/pages/no_title"
PAGES_NO_BODY = "qupost/pages/no_body"
PAGES_EXAMPLE = "qupost/pages/example/"  # + no_title or no_body: one such page's URL
SITE_CHANGED = "qupost/site_changed"

DATES = "qupost/dates/"  # + the date source used

IMAGES_DOWNLOADED = "qupost/images/downloaded"
IMAGES_REUSED = "qupost/images/reused"
IMAGES_FAILED = "qupost/images/failed"
IMAGES_FAILED_BY = "qupost/images/failed/"  # + the reason

POSTS_WRITTEN = "qupost/posts/written"
POSTS_RETAGGED = "qupost/posts/retagged"
POSTS_REMOVED = "qupost/posts/removed"

STORAGE_ERROR = "qupost/storage/error"
REFUSED_FETCH = "qupost/refused_fetch"
REFUSED_REDIRECT = "qupost/refused_redirect"
REFUSED_ADDRESS = "qupost/refused_address"
EXIT_STATUS = "qupost/exit_status"


def failed(reason: str) -> str:
    """The stat of an article that failed for ``reason`` (a short word)."""
    return ARTICLES_FAILED + reason


def _get(stats: Mapping[str, Any], key: str) -> int:
    return int(stats.get(key, 0) or 0)


def article_failures(stats: Mapping[str, Any]) -> int:
    return sum(int(v) for k, v in stats.items() if k.startswith(ARTICLES_FAILED))


def article_counts(stats: Mapping[str, Any]) -> dict[str, int]:
    """The run's article and image counts, named like the ``runs`` columns."""
    return {
        "articles_listed": _get(stats, ARTICLES_LISTED),
        "articles_new": _get(stats, ARTICLES_NEW),
        "articles_updated": _get(stats, ARTICLES_UPDATED),
        "articles_unchanged": _get(stats, ARTICLES_UNCHANGED) + _get(stats, ARTICLES_KNOWN),
        "articles_deleted": _get(stats, ARTICLES_DELETED),
        "articles_failed": article_failures(stats),
        "articles_skipped": _get(stats, ARTICLES_SKIPPED),
        "articles_duplicate": _get(stats, ARTICLES_DUPLICATE),
        "images_downloaded": _get(stats, IMAGES_DOWNLOADED),
        "images_failed": _get(stats, IMAGES_FAILED),
    }
