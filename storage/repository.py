"""The repository: the few verbs the pipelines and commands use to reach the catalog.

Writes are SQLAlchemy Core statements (cheap next to ORM sessions, see
PERF-FACTS) and idempotent: ``ON CONFLICT`` on SQLite and PostgreSQL, a
savepoint-guarded insert elsewhere.  Nothing outside ``storage/`` writes SQL.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from crawler.channels import channel_name
from storage.models import Base, Image, Post, PostChannel, PostImage, Run

logger = logging.getLogger(__name__)

POSTS: Table = Post.__table__  # type: ignore[assignment]
CHANNELS: Table = PostChannel.__table__  # type: ignore[assignment]
IMAGES: Table = Image.__table__  # type: ignore[assignment]
POST_IMAGES: Table = PostImage.__table__  # type: ignore[assignment]
RUNS: Table = Run.__table__  # type: ignore[assignment]

IMAGE_COLUMNS = (
    "url", "path", "width", "height", "format", "size_bytes", "status", "reason", "run_id",
    "fetched_at",
)  # fmt: skip


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """Upsert statements for a dialect, built once: building them costs more than running them."""
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    images = insert(IMAGES)
    post_images = insert(POST_IMAGES)
    return {
        "ignore:posts": _insert_ignoring(dialect, POSTS),
        "ignore:post_channels": _insert_ignoring(dialect, CHANNELS),
        # A stored image is never downgraded to failed by a later attempt.
        "images": images.on_conflict_do_update(
            index_elements=["url"],
            set_={c: images.excluded[c] for c in IMAGE_COLUMNS if c != "url"},
            where=or_(IMAGES.c.status != "stored", images.excluded.status == "stored"),
        ),
        "post_images": post_images.on_conflict_do_update(
            index_elements=["qupost_id", "position"], set_={"url": post_images.excluded.url}
        ),
    }


@functools.cache
def _reads() -> dict[str, Any]:
    """The reads made for every article, built once like the upserts above."""
    qupost_id: Any = bindparam("qupost_id")
    return {
        "post": select(POSTS).where(POSTS.c.qupost_id == qupost_id),
        "cids": select(CHANNELS.c.cid)
        .where(CHANNELS.c.qupost_id == qupost_id)
        .order_by(CHANNELS.c.cid),
        "image_urls": select(POST_IMAGES.c.url)
        .where(POST_IMAGES.c.qupost_id == qupost_id)
        .order_by(POST_IMAGES.c.position),
        "images": select(IMAGES).where(IMAGES.c.url.in_(bindparam("urls", expanding=True))),
    }


# Dialects with INSERT ... ON CONFLICT; others take a savepoint-guarded insert.
_UPSERT_DIALECTS = ("sqlite", "postgresql")

# Lower is better: a refresh never replaces a date with a worse-sourced one.
DATE_SOURCE_RANK = {"list": 0, "page": 1, "show_time": 2, "crawl": 3}


class StorageError(Exception):
    """The catalog could not be read or written; the item was not saved."""


@dataclass(frozen=True)
class ImageRecord:
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
class PostInput:
    """What the crawl learned about one article."""

    qupost_id: str
    title: str
    author: str
    published_at: datetime
    date_source: str
    original_url: str
    body_html: str
    cover_url: str | None
    image_urls: list[str]
    cid: int | None
    crawled_at: datetime


@dataclass
class PostRecord:
    """Everything the renderer needs for one post, as the catalog has it."""

    qupost_id: str
    title: str
    author: str
    published_at: datetime
    original_url: str
    body_html: str
    cover_url: str | None
    updated_at: datetime | None
    tags: list[str] = field(default_factory=list)
    images: dict[str, ImageRecord] = field(default_factory=dict)


def content_hash(title: str, body_html: str) -> str:
    return hashlib.sha256(f"{title}\x00{body_html}".encode()).hexdigest()


class RepoTx:
    """The verbs, bound to one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    # --- posts ---------------------------------------------------------------
    def known_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return set()
        query = select(POSTS.c.qupost_id).where(
            POSTS.c.qupost_id.in_(wanted), POSTS.c.deleted_at.is_(None)
        )
        return set(self.conn.scalars(query))

    def upsert_post(self, post: PostInput) -> str:
        """Store an article; return "new", "updated" or "unchanged"."""
        if post.cid is not None:
            self._insert_ignore(CHANNELS, [{"qupost_id": post.qupost_id, "cid": post.cid}])
        digest = content_hash(post.title, post.body_html)
        current = None
        if self.dialect not in _UPSERT_DIALECTS:
            # Elsewhere a failed duplicate insert may lock the row (InnoDB):
            # two workers refreshing one article would deadlock. Read first.
            current = self._post_row(post.qupost_id)
        if current is None:
            # On SQLite and PostgreSQL, insert first: for a new article (the
            # common case) that is the only statement.
            if self._insert_ignore(POSTS, [self._new_post_row(post, digest)]):
                # Just inserted, so it has no old image links to trim.
                self._replace_images(post, trim=False)
                return "new"
            current = self._post_row(post.qupost_id)
        if current is None:
            raise StorageError(f"post {post.qupost_id} neither inserted nor found")
        if current.content_hash == digest and current.deleted_at is None:
            self._fill_in(post, current)
            return "unchanged"
        self.conn.execute(
            update(POSTS)
            .where(POSTS.c.qupost_id == post.qupost_id)
            .values(self._changed_post_values(post, digest, current))
        )
        self._replace_images(post)
        return "updated"

    def _post_row(self, qupost_id: str) -> Any:
        return self.conn.execute(_reads()["post"], {"qupost_id": qupost_id}).first()

    def _cids(self, qupost_id: str) -> list[int]:
        return list(self.conn.scalars(_reads()["cids"], {"qupost_id": qupost_id}))

    def _fill_in(self, post: PostInput, current: Any) -> None:
        """Take better metadata from an unchanged article, without marking it updated.

        A ``url=`` crawl knows less than a listing: a later listing may bring
        the list's publish time, author or cover for the same text.
        """
        values: dict[str, Any] = {}
        if DATE_SOURCE_RANK.get(post.date_source, 9) < DATE_SOURCE_RANK.get(current.date_source, 9):
            values.update(published_at=post.published_at, date_source=post.date_source)
        if post.author and not current.author:
            values["author"] = post.author
        if post.cover_url and not current.cover_url:
            values["cover_url"] = post.cover_url
        if values:
            self.conn.execute(
                update(POSTS).where(POSTS.c.qupost_id == post.qupost_id).values(values)
            )

    @staticmethod
    def _new_post_row(post: PostInput, digest: str) -> dict[str, Any]:
        return {
            "qupost_id": post.qupost_id,
            "title": post.title,
            "author": post.author,
            "published_at": post.published_at,
            "date_source": post.date_source,
            "original_url": post.original_url,
            "body_html": post.body_html,
            "cover_url": post.cover_url,
            "content_hash": digest,
            "first_seen_at": post.crawled_at,
            "crawled_at": post.crawled_at,
        }

    @staticmethod
    def _changed_post_values(post: PostInput, digest: str, current: Any) -> dict[str, Any]:
        values = RepoTx._new_post_row(post, digest)
        del values["qupost_id"], values["first_seen_at"]
        values["updated_at"] = post.crawled_at
        values["deleted_at"] = None
        if DATE_SOURCE_RANK.get(current.date_source, 9) <= DATE_SOURCE_RANK.get(
            post.date_source, 9
        ):
            values["published_at"] = current.published_at
            values["date_source"] = current.date_source
        return values

    def _replace_images(self, post: PostInput, *, trim: bool = True) -> None:
        # Upsert by position, then trim: two workers storing the same article
        # at once cannot collide on the primary key this way.
        rows = [
            {"qupost_id": post.qupost_id, "position": i, "url": url}
            for i, url in enumerate(post.image_urls)
        ]
        if rows and self.dialect in ("sqlite", "postgresql"):
            self.conn.execute(_statements(self.dialect)["post_images"], rows)
        for row in rows if self.dialect not in ("sqlite", "postgresql") else []:
            if not self._insert_ignore(POST_IMAGES, [row]):
                self.conn.execute(
                    update(POST_IMAGES)
                    .where(
                        POST_IMAGES.c.qupost_id == post.qupost_id,
                        POST_IMAGES.c.position == row["position"],
                    )
                    .values(url=row["url"])
                )
        if trim:
            self.conn.execute(
                sql_delete(POST_IMAGES).where(
                    POST_IMAGES.c.qupost_id == post.qupost_id, POST_IMAGES.c.position >= len(rows)
                )
            )

    def mark_deleted(self, qupost_id: str, when: datetime) -> bool:
        result = self.conn.execute(
            update(POSTS)
            .where(POSTS.c.qupost_id == qupost_id, POSTS.c.deleted_at.is_(None))
            .values(deleted_at=when)
        )
        return bool(result.rowcount)

    def record_listing(self, cid: int, ids: Sequence[str]) -> list[str]:
        """Remember that ``cid`` listed ``ids``; return stored posts that gained the tag."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        present = set(
            self.conn.scalars(
                select(CHANNELS.c.qupost_id).where(
                    CHANNELS.c.cid == cid, CHANNELS.c.qupost_id.in_(wanted)
                )
            )
        )
        missing = [i for i in wanted if i not in present]
        if not missing:
            return []
        self._insert_ignore(CHANNELS, [{"qupost_id": i, "cid": cid} for i in missing])
        return sorted(self.known_ids(missing))

    def load_post(self, qupost_id: str) -> PostRecord | None:
        row = self._post_row(qupost_id)
        if row is None:
            return None
        cids = self._cids(qupost_id)
        urls = list(self.conn.scalars(_reads()["image_urls"], {"qupost_id": qupost_id}))
        if row.cover_url:
            urls.append(row.cover_url)
        return PostRecord(
            qupost_id=row.qupost_id,
            title=row.title,
            author=row.author,
            published_at=row.published_at,
            original_url=row.original_url,
            body_html=row.body_html,
            cover_url=row.cover_url,
            updated_at=row.updated_at,
            tags=[channel_name(c) for c in cids],
            images=self.images_for(urls),
        )

    def inserted_post(self, post: PostInput) -> PostRecord:
        """The record of a post that ``upsert_post`` has just reported "new".

        The same as ``load_post`` gives, built from what was inserted: only the
        channels (a listing may have tagged the id earlier) and the images are read.
        """
        cids = self._cids(post.qupost_id)
        urls = [*post.image_urls, *([post.cover_url] if post.cover_url else [])]
        return PostRecord(
            qupost_id=post.qupost_id,
            title=post.title,
            author=post.author,
            published_at=post.published_at.astimezone(UTC),
            original_url=post.original_url,
            body_html=post.body_html,
            cover_url=post.cover_url,
            updated_at=None,
            tags=[channel_name(c) for c in cids],
            images=self.images_for(urls),
        )

    def iter_post_ids(self, batch: int = 500) -> Iterator[str]:
        last = ""
        while True:
            ids = list(
                self.conn.scalars(
                    select(POSTS.c.qupost_id)
                    .where(POSTS.c.qupost_id > last, POSTS.c.deleted_at.is_(None))
                    .order_by(POSTS.c.qupost_id)
                    .limit(batch)
                )
            )
            if not ids:
                return
            yield from ids
            last = ids[-1]

    def count_posts(self) -> int:
        return int(self.conn.scalar(select(func.count()).select_from(POSTS)) or 0)

    # --- images --------------------------------------------------------------
    def images_for(self, urls: Sequence[str]) -> dict[str, ImageRecord]:
        wanted = list(dict.fromkeys(urls))
        if not wanted:
            return {}
        rows = self.conn.execute(_reads()["images"], {"urls": wanted})
        return {r.url: _image_record(r) for r in rows}

    def image(self, url: str) -> ImageRecord | None:
        return self.images_for([url]).get(url)

    def record_images(
        self, records: Sequence[ImageRecord], run_id: int | None, when: datetime
    ) -> None:
        """Upsert image outcomes; a stored image is never downgraded to failed."""
        rows = [
            {
                "url": r.url, "path": r.path, "width": r.width, "height": r.height,
                "format": r.format, "size_bytes": r.size_bytes, "status": r.status,
                "reason": r.reason, "run_id": run_id, "fetched_at": when,
            }
            for r in records
        ]  # fmt: skip
        if not rows:
            return
        if self.dialect in ("sqlite", "postgresql"):
            self.conn.execute(_statements(self.dialect)["images"], rows)
            return
        for row in rows:
            if not self._insert_ignore(IMAGES, [row]):
                query = update(IMAGES).where(IMAGES.c.url == row["url"])
                if row["status"] != "stored":
                    query = query.where(IMAGES.c.status != "stored")
                self.conn.execute(query.values({k: v for k, v in row.items() if k != "url"}))

    def record_image(self, record: ImageRecord, run_id: int | None, when: datetime) -> None:
        self.record_images([record], run_id, when)

    # --- runs ----------------------------------------------------------------
    def start_run(self, host: str, arguments: str, when: datetime) -> int:
        result = self.conn.execute(
            RUNS.insert().values(started_at=when, status="running", host=host, arguments=arguments)
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def finish_run(self, run_id: int, values: dict[str, Any]) -> None:
        self.conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(values))

    # --- helpers -------------------------------------------------------------
    def _insert_ignore(self, table: Table, rows: list[dict[str, Any]]) -> int:
        """Insert rows that do not exist yet; return how many were inserted."""
        if not rows:
            return 0
        if self.dialect in ("sqlite", "postgresql"):
            stmt = _statements(self.dialect).get(f"ignore:{table.name}")
            if stmt is None:
                stmt = _insert_ignoring(self.dialect, table)
            inserted = 0
            for row in rows:
                result = self.conn.execute(stmt, row)
                if self.dialect == "postgresql":
                    inserted += len(result.all())
                else:
                    inserted += max(result.rowcount, 0)
            return inserted
        inserted = 0
        for row in rows:
            savepoint = self.conn.begin_nested()
            try:
                self.conn.execute(table.insert().values(row))
                savepoint.commit()
                inserted += 1
            except IntegrityError:
                savepoint.rollback()
        return inserted


def _insert_ignoring(dialect: str, table: Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` that tells whether the row went in.

    psycopg reports a rowcount of -1 for it, so on PostgreSQL the inserted
    primary keys come back with RETURNING; SQLite's rowcount is exact.
    """
    # A post conflicts on its qupost_id only: a clash on anything else is an error.
    target = ["qupost_id"] if table is POSTS else None
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=target)
    return (
        postgresql.insert(table)
        .on_conflict_do_nothing(index_elements=target)
        .returning(*table.primary_key.columns)
    )


def _image_record(row: Any) -> ImageRecord:
    return ImageRecord(
        url=row.url,
        status=row.status,
        path=row.path,
        width=row.width,
        height=row.height,
        format=row.format,
        reason=row.reason,
        size_bytes=row.size_bytes,
        run_id=row.run_id,
    )


class Repository:
    """A handle on the catalog: an engine plus short transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> Repository:
        engine = make_engine(url)
        repo = cls(engine)
        if create:
            repo.create_schema()
        return repo

    def create_schema(self) -> None:
        from storage.migrations import upgrade_schema

        upgrade_schema(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[RepoTx]:
        try:
            with self.engine.begin() as conn:
                yield RepoTx(conn)
        except SQLAlchemyError as exc:
            raise StorageError(_one_line(exc)) from exc

    @contextmanager
    def reading(self) -> Iterator[RepoTx]:
        """Reads without a transaction: no lock is taken, so concurrent writers never wait."""
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield RepoTx(conn)
        except SQLAlchemyError as exc:
            raise StorageError(_one_line(exc)) from exc

    def close(self) -> None:
        self.engine.dispose()

    # Single-verb conveniences, each its own transaction.
    def known_ids(self, ids: Iterable[str]) -> set[str]:
        with self.reading() as tx:
            return tx.known_ids(ids)

    def image(self, url: str) -> ImageRecord | None:
        with self.reading() as tx:
            return tx.image(url)

    def images_for(self, urls: Sequence[str]) -> dict[str, ImageRecord]:
        with self.reading() as tx:
            return tx.images_for(urls)

    def record_image(self, record: ImageRecord, run_id: int | None) -> None:
        with self.transaction() as tx:
            tx.record_image(record, run_id, datetime.now(UTC))

    def load_post(self, qupost_id: str) -> PostRecord | None:
        with self.transaction() as tx:
            return tx.load_post(qupost_id)


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return " ".join(text.split())[:300]


def make_engine(url: str) -> Engine:
    """An engine tuned for qupost: WAL and a busy timeout on SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60, "isolation_level": None})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    for attempt in range(50):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except Exception as exc:  # sqlite3.OperationalError while another process holds a lock
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.1)
    # WAL with synchronous=NORMAL keeps the database consistent after a kill;
    # only the last commits may be lost on power failure.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    # Take the write lock up front: a deferred transaction that later writes
    # fails at once with "database is locked" when another process wrote first.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


__all__ = [
    "Base",
    "ImageRecord",
    "OperationalError",
    "PostInput",
    "PostRecord",
    "ProgrammingError",
    "RepoTx",
    "Repository",
    "StorageError",
    "content_hash",
    "make_engine",
]
