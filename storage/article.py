"""The article record: the one shape an article has from parsing to the post file.

The spider fills :class:`ArticleSource` with what the site served, as served.
The pipelines fill the normalised fields of :class:`Article` beside it (title,
author, date, cleaned body, image outcomes).  The repository stores the
normalised fields whose dataclass field is marked as a column, and reads them
back into the same record; the renderers take the record as it is.  A new
front-matter field is therefore a source field and a stored field here (a
text field declares its sources with :func:`text_from`), a column in
``storage.models`` with its migration, a line in the parser that finds it
and a line in the renderer that writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.fingerprint import Sketch

# Marks a field of Article that the catalog stores in a ``posts`` column of the same name.
COLUMN: dict[str, Any] = {"column": True}


def text_from(*names: str) -> dict[str, Any]:
    """A stored text field filled from the first non-empty of these source fields.

    The cleaner (``pipelines.clean.normalise``) folds its whitespace and
    removes control characters; nothing else needs to know the field.
    """
    return {**COLUMN, "text_from": names}


@dataclass
class ArticleSource:
    """What the site served about one article, before any cleaning.

    List fields come from the list API row, page fields from the article
    page or its detail JSON; empty means "not served".
    """

    url: str = ""
    """The article URL as listed, with its rotating ``key=`` query."""
    detail_url: str | None = None
    list_title: str = ""
    page_title: str = ""
    list_author: str = ""
    """``source_name``, else ``nickname``, from the list row."""
    page_author: str = ""
    """The source named in the page's ``.info`` or the detail JSON's ``sourceName``."""
    publish_time: str | None = None
    """The list row's ``publish_time``: epoch milliseconds, as digits."""
    page_time: str | None = None
    """The page's ``.info`` time or the detail JSON's ``publish_info``, as written."""
    show_time: str | None = None
    """The list row's ``show_time``: epoch seconds, often when the list was served."""
    cover: str | None = None
    """The list row's ``cover[0]``, as written."""
    introduction: str = ""
    """The list row's ``introduction``: the site's own summary, often empty."""
    html: str = ""
    """The body HTML, before cleaning; emptied once the body is cleaned."""

    def merged(self, other: ArticleSource) -> ArticleSource:
        """This source with its empty fields taken from ``other``."""
        missing = {
            f.name: getattr(other, f.name)
            for f in fields(self)
            if not getattr(self, f.name) and getattr(other, f.name)
        }
        return replace(self, **missing) if missing else self


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image of an article body, with the size the page claims for it."""

    url: str
    declared_width: int | None = None
    declared_height: int | None = None


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """What became of one image URL: stored (with its measured size) or failed (with why)."""

    url: str
    status: str
    path: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    reason: str | None = None
    size_bytes: int | None = None
    run_id: int | None = None

    @property
    def stored(self) -> bool:
        return self.status == "stored" and bool(self.path)


@dataclass
class Article:
    """One article: its source fields, its normalised fields and its images.

    ``channels`` are the channel ids it was listed under: the one channel of
    the list page during a crawl, every channel on record when read from the
    catalog.  ``images`` maps each image URL to its outcome: set by the image
    pipeline during a crawl, read from the catalog otherwise.
    """

    qupost_id: str = field(metadata=COLUMN)
    original_url: str = field(metadata=COLUMN)
    """The canonical article URL: the listed URL without its query."""
    source: ArticleSource = field(default_factory=ArticleSource)
    channels: tuple[int, ...] = ()
    crawled_at: datetime | None = None
    title: str = field(default="", metadata=COLUMN)
    author: str = field(default="", metadata=text_from("list_author", "page_author"))
    published_at: datetime | None = field(default=None, metadata=COLUMN)
    date_source: str = field(default="", metadata=COLUMN)
    """Where ``published_at`` came from: list, page, show_time or crawl."""
    body_html: str = field(default="", metadata=COLUMN)
    """The cleaned body; image sources are origin URLs, rewritten when rendered."""
    description: str = field(default="", metadata=text_from("introduction"))
    """A plain-text summary: the list's introduction, else the start of the body text."""
    cover_url: str | None = field(default=None, metadata=COLUMN)
    """The list cover, resolved to an absolute original-quality URL."""
    image_refs: tuple[ImageRef, ...] = ()
    """The body's images in order, as the cleaner found them."""
    images: dict[str, ImageRecord] = field(default_factory=dict)
    fingerprint: str = field(default="", metadata=COLUMN)
    """The text's MinHash signature, hex (``storage.fingerprint``); "" when too short to tell."""
    duplicate_of: str | None = field(default=None, metadata=COLUMN)
    """The id of the post that told this story first, when this one tells it again."""
    sketch: Sketch | None = None
    """The text's lines and shingle hashes (``pipelines.fingerprint``); the fingerprint's source."""
    updated_at: datetime | None = None
    """When a refresh last found changed content; None until then."""
    deleted_at: datetime | None = None
    """When the source answered that the article is gone; None while it exists."""

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The fields stored in ``posts`` columns of the same name."""
        return tuple(f.name for f in fields(cls) if f.metadata.get("column"))

    def column_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.columns()}

    @property
    def image_urls(self) -> list[str]:
        """The body's image URLs in order, each once."""
        return list(dict.fromkeys(ref.url for ref in self.image_refs))

    @property
    def all_image_urls(self) -> list[str]:
        """The body's image URLs, then the cover's: everything the image pipeline fetches."""
        urls = self.image_urls
        if self.cover_url:
            urls.append(self.cover_url)
        return list(dict.fromkeys(urls))

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None
