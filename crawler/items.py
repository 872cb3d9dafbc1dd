"""Items that flow from the spider through the pipelines: plain dataclasses.

Pipelines read and write them through ``ItemAdapter``; none of them holds a
Response, a session or any other live object, so they pickle and log cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ImageRef:
    """One image referenced by an article body or its cover."""

    url: str
    declared_width: int | None = None
    declared_height: int | None = None


@dataclass
class ArticleItem:
    """One article, from its list row and its page, on its way to storage."""

    qupost_id: str
    original_url: str
    title: str = ""
    author: str = ""
    cid: int | None = None
    # Raw date sources, in the order of preference documented in the SPEC.
    publish_time: str | None = None
    page_time: str | None = None
    show_time: str | None = None
    raw_html: str = ""
    cover_url: str | None = None
    crawled_at: datetime | None = None
    # Filled by the pipelines.
    body_html: str = ""
    images: list[ImageRef] = field(default_factory=list)
    published_at: datetime | None = None
    date_source: str = ""
    image_results: list[dict[str, object]] = field(default_factory=list)
    # Image outcomes (storage.repository.ImageRecord) to save with the article.
    image_records: list[object] = field(default_factory=list)


@dataclass
class ListingItem:
    """The article ids one list page showed for one channel.

    Storage records these memberships so tags are the union of every channel
    an article was listed under, even when its page is not fetched again.
    """

    cid: int
    qupost_ids: list[str] = field(default_factory=list)
