"""The repository: the few verbs the pipelines and commands use to reach the catalog.

Writes are SQLAlchemy Core statements, which cost a fraction of ORM sessions
per article, and idempotent: ``INSERT … ON CONFLICT`` on SQLite and
PostgreSQL, the two databases qupost supports.  Reads go through
:meth:`Repository.reading`, which takes no write lock.  Nothing outside
``storage/`` writes SQL.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from storage.article import Article, ImageRecord
from storage.duplicates import DuplicateIndex, Story
from storage.models import Failure, Image, Post, PostChannel, PostImage, Run

logger = logging.getLogger(__name__)

POSTS: Table = Post.__table__  # type: ignore[assignment]
POST_CHANNELS: Table = PostChannel.__table__  # type: ignore[assignment]
IMAGES: Table = Image.__table__  # type: ignore[assignment]
POST_IMAGES: Table = PostImage.__table__  # type: ignore[assignment]
RUNS: Table = Run.__table__  # type: ignore[assignment]
FAILURES: Table = Failure.__table__  # type: ignore[assignment]

SUPPORTED_BACKENDS = ("sqlite", "postgresql")

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
        "ignore:post_channels": _insert_ignoring(dialect, POST_CHANNELS),
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
        "cids": select(POST_CHANNELS.c.cid)
        .where(POST_CHANNELS.c.qupost_id == qupost_id)
        .order_by(POST_CHANNELS.c.cid),
        "image_urls": select(POST_IMAGES.c.url)
        .where(POST_IMAGES.c.qupost_id == qupost_id)
        .order_by(POST_IMAGES.c.position),
        "images": select(IMAGES).where(IMAGES.c.url.in_(bindparam("urls", expanding=True))),
    }


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """One article or image a run could not store, for the ``failures`` table."""

    run_id: int
    kind: str  # "article" or "image"
    reason: str  # the short reason of the crawl's stats: http_503, timeout, empty, ...
    qupost_id: str | None
    url: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A row of ``runs``, as the run history shows it."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    exit_status: int | None
    host: str
    arguments: str
    counts: dict[str, int]

    @classmethod
    def from_row(cls, row: Any) -> RunSummary:
        mapping = row._mapping
        return cls(
            id=int(row.id),
            started_at=row.started_at,
            finished_at=row.finished_at,
            status=str(row.status),
            exit_status=row.exit_status,
            host=str(row.host or ""),
            arguments=str(row.arguments or ""),
            counts={
                name: int(mapping[name] or 0)
                for name in mapping.keys()  # noqa: SIM118 - a RowMapping, not a dict
                if name.startswith(("articles_", "images_"))
            },
        )


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """The failures of one kind and reason over some runs, with a few examples."""

    kind: str
    reason: str
    count: int
    runs: int
    last_run: int
    example_ids: tuple[str, ...]
    example_url: str


# Lower is better: a refresh never replaces a date with a worse-sourced one.
DATE_SOURCE_RANK = {"list": 0, "page": 1, "show_time": 2, "crawl": 3}


class StorageError(Exception):
    """The catalog could not be read or written; the item was not saved."""

    @property
    def damaged(self) -> bool:
        """Whether the database file itself is damaged, as opposed to busy or unreachable."""
        text = str(self).lower()
        return "malformed" in text or "not a database" in text or "corrupt" in text


def content_hash(title: str, body_html: str) -> str:
    return hashlib.sha256(f"{title}\x00{body_html}".encode()).hexdigest()


class RepoTx:
    """The verbs, bound to one open transaction (or one read-only connection)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    # --- posts ---------------------------------------------------------------
    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """The ids among ``ids`` that are stored and not deleted at the source."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return set()
        query = select(POSTS.c.qupost_id).where(
            POSTS.c.qupost_id.in_(wanted), POSTS.c.deleted_at.is_(None)
        )
        return set(self.conn.scalars(query))

    def upsert_article(self, article: Article) -> str:
        """Store an article; return "new", "updated" or "unchanged".

        A deleted article that comes back is restored: "updated", and its
        ``updated_at`` moves only when its content changed.  A new article
        that tells a story a stored post told first gets ``duplicate_of``
        (see ``storage.duplicates``), on the record and in its row; one that
        already says what it duplicates (a post file read back) keeps that.
        """
        if article.published_at is None or article.crawled_at is None:
            raise StorageError(f"article {article.qupost_id} has no publish or crawl time")
        self._insert_ignore(
            POST_CHANNELS, [{"qupost_id": article.qupost_id, "cid": c} for c in article.channels]
        )
        digest = content_hash(article.title, article.body_html)
        index = DuplicateIndex(self.conn)
        story = index.story(article.sketch, article.body_html, article.author)
        article.fingerprint = story.fingerprint
        # Insert first: for a new article (the common case) that is the only statement.
        post_id = self._insert_post(self._new_post_row(article, digest))
        if post_id is not None:
            # Just inserted, so it has no old image links to trim.
            self._replace_images(article, trim=False)
            if article.duplicate_of is None:
                self._place(index, post_id, article, story)
            return "new"
        current = self._post_row(article.qupost_id)
        if current is None:
            raise StorageError(f"post {article.qupost_id} neither inserted nor found")
        article.duplicate_of = current.duplicate_of
        if current.content_hash == digest:
            self._fill_in(article, current, index, story)
            return "unchanged" if current.deleted_at is None else "updated"
        self.conn.execute(
            update(POSTS)
            .where(POSTS.c.qupost_id == article.qupost_id)
            .values(self._changed_post_values(article, digest, current))
        )
        if current.duplicate_of is None:
            index.lock(story)
            index.index(current.id, story, replacing=current.fingerprint)
        self._replace_images(article)
        return "updated"

    @staticmethod
    def _place(index: DuplicateIndex, post_id: int, article: Article, story: Story) -> None:
        """Record a new post as a duplicate of the story's canonical post, or as its canonical."""
        index.lock(story)
        match = index.find(story, exclude=article.qupost_id)
        if match is not None:
            index.mark(post_id, match.qupost_id)
            article.duplicate_of = match.qupost_id
        else:
            index.add(post_id, story, article.author)

    def _post_row(self, qupost_id: str) -> Any:
        return self.conn.execute(_reads()["post"], {"qupost_id": qupost_id}).first()

    def _cids(self, qupost_id: str) -> tuple[int, ...]:
        return tuple(self.conn.scalars(_reads()["cids"], {"qupost_id": qupost_id}))

    def _fill_in(self, article: Article, current: Any, index: DuplicateIndex, story: Story) -> None:
        """Take better metadata from an unchanged article, without marking it updated.

        A ``url=`` crawl knows less than a listing: a later listing may bring
        the list's publish time, author or cover for the same text.  An
        article that was deleted at the source and came back is restored.  A
        post stored before fingerprints existed gets its fingerprint, and
        its bands when it is a canonical post.
        """
        values: dict[str, Any] = {}
        if not current.fingerprint and story.signature is not None:
            values["fingerprint"] = story.fingerprint
            if current.duplicate_of is None:
                index.add(current.id, story, current.author or article.author)
        if _rank(article.date_source) < _rank(current.date_source):
            values.update(published_at=article.published_at, date_source=article.date_source)
        if article.author and not current.author:
            values["author"] = article.author
        if article.cover_url and not current.cover_url:
            values["cover_url"] = article.cover_url
        if current.deleted_at is not None:
            values["deleted_at"] = None
        if values:
            self.conn.execute(
                update(POSTS).where(POSTS.c.qupost_id == article.qupost_id).values(values)
            )

    @staticmethod
    def _new_post_row(article: Article, digest: str) -> dict[str, Any]:
        return {
            **article.column_values(),
            "content_hash": digest,
            "first_seen_at": article.crawled_at,
            "crawled_at": article.crawled_at,
        }

    @staticmethod
    def _changed_post_values(article: Article, digest: str, current: Any) -> dict[str, Any]:
        values = RepoTx._new_post_row(article, digest)
        # Whether it duplicates another post was decided when it was first stored.
        del values["qupost_id"], values["first_seen_at"], values["duplicate_of"]
        values["updated_at"] = article.crawled_at
        values["deleted_at"] = None
        if _rank(current.date_source) <= _rank(article.date_source):
            values["published_at"] = current.published_at
            values["date_source"] = current.date_source
        return values

    def _replace_images(self, article: Article, *, trim: bool = True) -> None:
        # Upsert by position, then trim: two workers storing the same article
        # at once cannot collide on the primary key this way.
        urls = article.image_urls
        rows = [
            {"qupost_id": article.qupost_id, "position": i, "url": url}
            for i, url in enumerate(urls)
        ]
        if rows:
            self.conn.execute(_statements(self.dialect)["post_images"], rows)
        if trim:
            self.conn.execute(
                sql_delete(POST_IMAGES).where(
                    POST_IMAGES.c.qupost_id == article.qupost_id,
                    POST_IMAGES.c.position >= len(rows),
                )
            )

    def mark_deleted(self, qupost_id: str, when: datetime) -> bool:
        """Record that the source deleted a stored article; False if unknown or already so."""
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
                select(POST_CHANNELS.c.qupost_id).where(
                    POST_CHANNELS.c.cid == cid, POST_CHANNELS.c.qupost_id.in_(wanted)
                )
            )
        )
        missing = [i for i in wanted if i not in present]
        if not missing:
            return []
        self._insert_ignore(POST_CHANNELS, [{"qupost_id": i, "cid": cid} for i in missing])
        return sorted(self.known_ids(missing))

    def load_article(self, qupost_id: str) -> Article | None:
        """The stored article with its channels and image outcomes, or None.

        ``image_refs`` stays empty: the body keeps each image's URL and
        declared size, and the catalog its outcome.
        """
        row = self._post_row(qupost_id)
        if row is None:
            return None
        article = Article(
            **{name: getattr(row, name) for name in Article.columns()},
            channels=self._cids(qupost_id),
            crawled_at=row.crawled_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
        )
        body_urls = list(self.conn.scalars(_reads()["image_urls"], {"qupost_id": qupost_id}))
        article.images = self.images_for([*body_urls, *filter(None, [article.cover_url])])
        return article

    def load_articles(self, ids: Sequence[str]) -> list[Article]:
        """``load_article`` for many ids in four queries; missing ids are left out, order kept."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        rows = {r.qupost_id: r for r in self.conn.execute(POSTS.select().where(_in(POSTS, wanted)))}
        cids: dict[str, list[int]] = {}
        query = select(POST_CHANNELS.c.qupost_id, POST_CHANNELS.c.cid).where(
            _in(POST_CHANNELS, wanted)
        )
        for qupost_id, cid in self.conn.execute(query.order_by(POST_CHANNELS.c.cid)):
            cids.setdefault(qupost_id, []).append(cid)
        body_urls: dict[str, list[str]] = {}
        query = select(POST_IMAGES.c.qupost_id, POST_IMAGES.c.url).where(_in(POST_IMAGES, wanted))
        for qupost_id, url in self.conn.execute(query.order_by(POST_IMAGES.c.position)):
            body_urls.setdefault(qupost_id, []).append(url)
        covers = [r.cover_url for r in rows.values() if r.cover_url]
        every_url = [u for urls in body_urls.values() for u in urls] + covers
        images = self.images_for(every_url)
        articles = []
        for qupost_id in wanted:
            row = rows.get(qupost_id)
            if row is None:
                continue
            own = [*body_urls.get(qupost_id, ()), *filter(None, [row.cover_url])]
            articles.append(
                Article(
                    **{name: getattr(row, name) for name in Article.columns()},
                    channels=tuple(cids.get(qupost_id, ())),
                    crawled_at=row.crawled_at,
                    updated_at=row.updated_at,
                    deleted_at=row.deleted_at,
                    images={u: images[u] for u in own if u in images},
                )
            )
        return articles

    def stored_ids(self, ids: Sequence[str]) -> list[str]:
        """The ids among ``ids`` that the catalog holds, deleted ones included."""
        found: list[str] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            found += self.conn.scalars(select(POSTS.c.qupost_id).where(_in(POSTS, chunk)))
        return found

    def stored_image_paths(self) -> set[str]:
        """The store paths of every stored image."""
        query = select(IMAGES.c.path).where(IMAGES.c.status == "stored", IMAGES.c.path.isnot(None))
        return set(self.conn.scalars(query))

    def select_post_ids(
        self, window: Window, *, deleted: bool = True, duplicates: bool = True
    ) -> list[str]:
        """The ids inside ``window``, newest first (ties by id).

        With ``deleted`` false, articles deleted at the source are left out
        (and do not count towards ``max_posts``); with ``duplicates`` false,
        so are re-posts of a story another post told first.
        """
        query = select(POSTS.c.qupost_id)
        if not deleted:
            query = query.where(POSTS.c.deleted_at.is_(None))
        if not duplicates:
            query = query.where(POSTS.c.duplicate_of.is_(None))
        if window.since is not None:
            query = query.where(POSTS.c.published_at >= window.since)
        if window.until is not None:
            query = query.where(POSTS.c.published_at < window.until)
        if window.channels:
            listed = select(POST_CHANNELS.c.qupost_id).where(
                POST_CHANNELS.c.cid.in_(window.channels)
            )
            query = query.where(POSTS.c.qupost_id.in_(listed))
        query = query.order_by(POSTS.c.published_at.desc(), POSTS.c.qupost_id.desc())
        if window.max_posts is not None:
            query = query.limit(window.max_posts)
        return list(self.conn.scalars(query))

    def stored_view(self, article: Article) -> Article:
        """What ``load_article`` would read for an article ``upsert_article`` just inserted.

        Built from the article itself: only its channels (a listing may have
        tagged the id earlier) and its image outcomes are read.
        """
        assert article.published_at is not None and article.crawled_at is not None
        # Dates come back from the catalog in UTC; so do they here.
        values = {**article.column_values(), "published_at": article.published_at.astimezone(UTC)}
        return Article(
            **values,
            channels=self._cids(article.qupost_id),
            crawled_at=article.crawled_at.astimezone(UTC),
            images=self.images_for(article.all_image_urls),
        )

    def count_posts(self) -> int:
        """How many posts the catalog holds, deleted at the source included."""
        return int(self.conn.scalar(select(func.count()).select_from(POSTS)) or 0)

    def count_stored_images(self) -> int:
        """How many images the catalog has a stored file for."""
        query = select(func.count()).select_from(IMAGES).where(IMAGES.c.status == "stored")
        return int(self.conn.scalar(query) or 0)

    def iter_post_ids(self, batch: int = 500, *, deleted: bool = False) -> Iterator[str]:
        """Every stored id in order; articles deleted at the source only with ``deleted``."""
        last = ""
        while True:
            query = select(POSTS.c.qupost_id).where(POSTS.c.qupost_id > last)
            if not deleted:
                query = query.where(POSTS.c.deleted_at.is_(None))
            ids = list(self.conn.scalars(query.order_by(POSTS.c.qupost_id).limit(batch)))
            if not ids:
                return
            yield from ids
            last = ids[-1]

    # --- images --------------------------------------------------------------
    def images_for(self, urls: Sequence[str]) -> dict[str, ImageRecord]:
        wanted = list(dict.fromkeys(urls))
        if not wanted:
            return {}
        rows = self.conn.execute(_reads()["images"], {"urls": wanted})
        return {r.url: _image_record(r) for r in rows}

    def record_images(
        self, records: Iterable[ImageRecord], run_id: int | None, when: datetime
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
        if rows:
            self.conn.execute(_statements(self.dialect)["images"], rows)

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

    def running_runs(self) -> list[tuple[int, str]]:
        """``(id, host)`` of every run recorded as still running."""
        rows = self.conn.execute(select(RUNS.c.id, RUNS.c.host).where(RUNS.c.status == "running"))
        return [(int(r.id), str(r.host)) for r in rows]

    # --- run history ---------------------------------------------------------
    def record_failures(self, failures: Sequence[FailureRecord]) -> None:
        """Add failed articles and images of a run to ``failures``, in one statement."""
        rows = [
            {
                "run_id": f.run_id,
                "kind": f.kind[:16],
                "reason": f.reason[:64],
                "qupost_id": f.qupost_id[:32] if f.qupost_id else None,
                "url": f.url,
                "at": f.at,
            }
            for f in failures
        ]
        if rows:
            self.conn.execute(FAILURES.insert(), rows)

    def recent_runs(self, last: int) -> list[RunSummary]:
        """The ``last`` most recent runs, oldest first."""
        query = select(RUNS).order_by(RUNS.c.id.desc()).limit(last)
        rows = list(self.conn.execute(query))
        return [RunSummary.from_row(r) for r in reversed(rows)]

    def failure_groups(self, run_ids: Sequence[int], examples: int = 3) -> list[FailureGroup]:
        """The failures of ``run_ids`` by kind and reason, most frequent first."""
        if not run_ids:
            return []
        where = FAILURES.c.run_id.in_(list(run_ids))
        counts = self.conn.execute(
            select(
                FAILURES.c.kind,
                FAILURES.c.reason,
                func.count().label("total"),
                func.count(func.distinct(FAILURES.c.run_id)).label("runs"),
                func.max(FAILURES.c.run_id).label("last_run"),
            )
            .where(where)
            .group_by(FAILURES.c.kind, FAILURES.c.reason)
            .order_by(func.count().desc(), FAILURES.c.kind, FAILURES.c.reason)
        )
        groups = []
        for row in counts:
            found = self.conn.execute(
                select(FAILURES.c.qupost_id, FAILURES.c.url)
                .where(where, FAILURES.c.kind == row.kind, FAILURES.c.reason == row.reason)
                .order_by(FAILURES.c.run_id.desc(), FAILURES.c.id)
                .limit(examples * 4)
            )
            ids: list[str] = []
            url = ""
            for qupost_id, failed_url in found:
                url = url or failed_url
                if qupost_id and qupost_id not in ids and len(ids) < examples:
                    ids.append(qupost_id)
            groups.append(
                FailureGroup(
                    kind=row.kind,
                    reason=row.reason,
                    count=int(row.total),
                    runs=int(row.runs),
                    last_run=int(row.last_run),
                    example_ids=tuple(ids),
                    example_url=url,
                )
            )
        return groups

    # --- helpers -------------------------------------------------------------
    def _insert_post(self, row: dict[str, Any]) -> int | None:
        """Insert a post row unless its id is stored; the new row's primary key, or None."""
        result = self.conn.execute(_statements(self.dialect)["ignore:posts"], row)
        if self.dialect == "postgresql":
            keys = result.all()
            return int(keys[0][0]) if keys else None
        return int(result.lastrowid) if result.rowcount > 0 else None

    def _insert_ignore(self, table: Table, rows: list[dict[str, Any]]) -> int:
        """Insert rows that do not exist yet; return how many were inserted."""
        statement = _statements(self.dialect)[f"ignore:{table.name}"]
        inserted = 0
        for row in rows:
            result = self.conn.execute(statement, row)
            if self.dialect == "postgresql":
                inserted += len(result.all())
            else:
                inserted += max(result.rowcount, 0)
        return inserted


def _in(table: Table, ids: list[str]) -> Any:
    return table.c.qupost_id.in_(ids)


@dataclass(frozen=True)
class Window:
    """Which posts an export or a tree holds: a publish-date range, channels, the newest N.

    ``since`` is inclusive and ``until`` exclusive; empty ``channels`` means
    every channel; ``max_posts`` None means no limit.
    """

    since: datetime | None = None
    until: datetime | None = None
    channels: tuple[int, ...] = ()
    max_posts: int | None = None

    @property
    def everything(self) -> bool:
        return self == Window()


def _rank(date_source: str) -> int:
    return DATE_SOURCE_RANK.get(date_source, len(DATE_SOURCE_RANK))


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
    """A handle on the catalog: an engine plus short transactions.

    ``transaction()`` is for writes: on SQLite it takes the write lock at
    once.  ``reading()`` is for reads: it takes no lock, so a long read (an
    export) never blocks a crawl that writes.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> Repository:
        repo = cls(make_engine(url))
        if create:
            try:
                repo.create_schema()
            except SQLAlchemyError as exc:
                repo.close()
                raise StorageError(_one_line(exc)) from exc
        return repo

    def integrity_problem(self) -> str | None:
        """What SQLite's ``quick_check`` finds wrong with the file, or None when it is sound.

        It reads the whole file: about 0.7 s for a catalog of 100,000 posts
        (530 MB) on a 2-core machine.  PostgreSQL checks its own pages, so
        nothing is done there.
        """
        try:
            rows = self.quick_check()
        except StorageError as exc:
            return str(exc)
        if rows == ["ok"]:
            return None
        found = [" ".join(str(r).replace("*", " ").split()) for r in rows[:3]]
        return "; ".join(f for f in found if f)[:300]

    def quick_check(self) -> list[str]:
        """SQLite's ``PRAGMA quick_check`` rows (``["ok"]`` when sound); ``["ok"]`` elsewhere."""
        if self.engine.dialect.name != "sqlite":
            return ["ok"]
        with self.reading() as tx:
            return [str(r) for r in tx.conn.exec_driver_sql("PRAGMA quick_check").scalars()]

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

    # Single-verb reads, each on its own connection.
    def known_ids(self, ids: Iterable[str]) -> set[str]:
        with self.reading() as tx:
            return tx.known_ids(ids)

    def images_for(self, urls: Sequence[str]) -> dict[str, ImageRecord]:
        with self.reading() as tx:
            return tx.images_for(urls)


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return " ".join(text.split())[:300]


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names (relative to the current directory), else None.

    None too for PostgreSQL, in-memory and ``file:`` URI databases, and for
    a URL that does not parse.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def catalog_name(url: str) -> str:
    """How messages name a catalog: an SQLite file's absolute path, else the URL sans password."""
    path = sqlite_file(url)
    if path is not None:
        return str(path.resolve())
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def make_engine(url: str) -> Engine:
    """An engine tuned for qupost: WAL and a busy timeout on SQLite.

    Raises StorageError for a URL that is malformed or names a database
    other than SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except (ArgumentError, ValueError) as exc:
        raise StorageError(f"not a database URL: {url!r}") from exc
    if backend not in SUPPORTED_BACKENDS:
        raise StorageError(
            f"unsupported database {backend!r}; use sqlite:/// or postgresql+psycopg://"
        )
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the catalog folder {str(folder)!r}: {exc}") from exc
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
