"""SQLAlchemy models: the catalog that is qupost's source of truth.

Table and column names (``posts``, ``images``, the post → image link
``post_images`` and the run records ``runs``) are a public interface: other
tools query them, so they change only through a migration in
``storage/alembic/versions``.  The ``posts`` columns named like fields of
``storage.article.Article`` are read and written through that record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC and always read back aware, SQLite included."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone first")
        value = value.astimezone(UTC)
        # SQLite has no zone type: store naive UTC, reattach the zone on read.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Post(Base):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    qupost_id: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime]
    # Which source the date came from: list, page, show_time or crawl.
    date_source: Mapped[str] = mapped_column(String(16))
    original_url: Mapped[str] = mapped_column(Text)
    # Cleaned body; image sources are origin URLs, rewritten at render time.
    body_html: Mapped[str] = mapped_column(Text)
    cover_url: Mapped[str | None] = mapped_column(Text)
    # Plain-text summary for index pages and <meta name="description">.
    description: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    # The text's MinHash signature (storage.fingerprint), hex; "" when too short to tell.
    fingerprint: Mapped[str] = mapped_column(Text, default="")
    # The post that told this story first, when this one tells it again (storage.duplicates).
    duplicate_of: Mapped[str | None] = mapped_column(String(32))
    first_seen_at: Mapped[datetime]
    crawled_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class PostChannel(Base):
    """Every channel an article was listed under: the post's tags."""

    __tablename__ = "post_channels"

    qupost_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cid: Mapped[int] = mapped_column(Integer, primary_key=True)


class PostBand(Base):
    """The band keys of every post that tells a story first: the near-duplicate index.

    A lookup reads the rows of the new text's band keys, so its cost follows
    the number of posts sharing a band, not the number stored.
    """

    __tablename__ = "post_bands"
    __table_args__ = ({"sqlite_with_rowid": False},)

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    post_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )


class SharedLine(Base):
    """How many first-telling posts of a source open or close with a line (its boilerplate)."""

    __tablename__ = "shared_lines"
    __table_args__ = ({"sqlite_with_rowid": False},)

    # A hash of the source (the post's author) and the folded line.
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    posts: Mapped[int] = mapped_column(Integer, default=0)


class Image(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    # Relative to IMAGES_STORE; None unless stored.
    path: Mapped[str | None] = mapped_column(Text)
    width: Mapped[int | None]
    height: Mapped[int | None]
    format: Mapped[str | None] = mapped_column(String(8))
    size_bytes: Mapped[int | None]
    # "stored" or "failed"; reason says why a failure happened.
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None]
    fetched_at: Mapped[datetime]


class PostImage(Base):
    """The images of a post's body, in order."""

    __tablename__ = "post_images"

    qupost_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("posts.qupost_id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)


class Run(Base):
    """One crawl run, for auditing scheduled jobs."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(32), default="running")
    exit_status: Mapped[int | None]
    host: Mapped[str] = mapped_column(Text, default="")
    arguments: Mapped[str] = mapped_column(Text, default="")
    articles_listed: Mapped[int] = mapped_column(default=0)
    articles_new: Mapped[int] = mapped_column(default=0)
    articles_updated: Mapped[int] = mapped_column(default=0)
    articles_unchanged: Mapped[int] = mapped_column(default=0)
    articles_deleted: Mapped[int] = mapped_column(default=0)
    articles_failed: Mapped[int] = mapped_column(default=0)
    # Listed again in the same run (another channel, a redirect back to a
    # page already fetched): no work of its own.
    articles_skipped: Mapped[int] = mapped_column(default=0)
    # Near-duplicates of a story already stored (QUPOST_DUPLICATES).
    articles_duplicate: Mapped[int] = mapped_column(default=0)
    images_downloaded: Mapped[int] = mapped_column(default=0)
    images_failed: Mapped[int] = mapped_column(default=0)


class Failure(Base):
    """One article or image a run could not turn into a post or a file, and why."""

    __tablename__ = "failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    # "article" or "image".
    kind: Mapped[str] = mapped_column(String(16))
    # The short reason, as in the crawl's stats: http_503, timeout, empty, ...
    reason: Mapped[str] = mapped_column(String(64))
    qupost_id: Mapped[str | None] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]
