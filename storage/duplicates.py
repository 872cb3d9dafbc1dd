"""Near-duplicate stories in the catalog: the band index, learned boilerplate and the check.

When an article is stored for the first time, :class:`DuplicateIndex` looks
for a stored post that tells the same story (``storage.fingerprint`` says
how texts are compared).  The first post of a story is its canonical post:
its signature's band keys go into ``post_bands``.  A later article of the
same story is recorded with ``duplicate_of`` set to the canonical post's id
and indexes nothing; the ``QUPOST_DUPLICATES`` policy then decides whether
its post is kept, marked or left out, when it is rendered.

**The lookup** reads the ``post_bands`` rows of the new text's 32 band keys
through their primary-key index, at most :data:`PER_BAND` of them a key, so
it touches only posts that share a band, and a bounded number of them,
whatever the number stored.  The :data:`CANDIDATES` posts sharing most bands
are checked: first their stored signatures (a cheap estimate, which settles
it when they agree on at least :data:`ESTIMATE_SURE` of their bins), then
their texts exactly.  Two texts are the same story when the Jaccard similarity of
their shingle sets is at least :data:`SIMILARITY`, or when at least
:data:`CONTAINMENT` of the smaller text's shingles (at least
:data:`CONTAINMENT_MIN_SHINGLES` of them: about a sentence) are in the larger
one, as when a re-post drops paragraphs.

**Boilerplate a source repeats** (a slogan, an introduction, a footer no
pattern knows) is learned: every canonical post counts its first and last
:data:`EDGE_LINES` text lines in ``shared_lines`` under its source (the
post's author).  A line that :data:`SHARED_POSTS` canonical posts of a source
share is that source's boilerplate and is left out of signatures and
comparisons from then on.  Re-posts are not counted, so a story re-posted
many times does not turn into boilerplate.

**Two workers storing two copies of one story at once** end with one
canonical post: on PostgreSQL each new article takes a transaction-level
advisory lock on each of its band keys, in key order, before it looks, so
the second copy waits until the first is committed and then finds it; on
SQLite every write transaction holds the database's write lock.
"""

from __future__ import annotations

import functools
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import xxhash
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from storage.fingerprint import (
    BANDS,
    Sketch,
    band_keys,
    decode,
    encode,
    estimate,
    signature,
    sketch,
)
from storage.models import Post, PostBand, SharedLine

POSTS: Table = Post.__table__  # type: ignore[assignment]
POST_BANDS: Table = PostBand.__table__  # type: ignore[assignment]
SHARED_LINES: Table = SharedLine.__table__  # type: ignore[assignment]

SIMILARITY = 0.5
CONTAINMENT = 0.9
CONTAINMENT_MIN_SHINGLES = 50
CANDIDATES = 8
"""At most this many posts, those sharing most bands, are checked per lookup."""
PER_BAND = 64
"""At most this many posts, the latest, are read per band key.  A key many posts share (a
stock phrase winning the same bins everywhere) then costs a bounded read, whatever the
catalog's size; a re-post still meets its story in its other bands."""
ESTIMATE_FLOOR = 0.2
"""Posts whose signature agrees on fewer bins than this share are not compared exactly."""
ESTIMATE_SURE = 0.8
"""Posts whose signature agrees on this share of bins or more are the same story without an
exact comparison: for texts of similarity 0.5, 77 of 96 bins agree with probability 1e-9."""
EDGE_LINES = 3
SHARED_POSTS = 3


@dataclass(frozen=True)
class Story:
    """An article's text as the index sees it: sketch, its source's boilerplate, signature."""

    sketch: Sketch
    skip: frozenset[int]
    """Digests of the lines its source uses as boilerplate."""
    signature: tuple[int, ...] | None

    @property
    def fingerprint(self) -> str:
        return encode(self.signature)

    @property
    def keys(self) -> list[int]:
        return band_keys(self.signature) if self.signature is not None else []


@dataclass(frozen=True)
class Match:
    """A stored post that tells the same story."""

    qupost_id: str
    similarity: float
    """Jaccard similarity of the two shingle sets, boilerplate left out (or its estimate)."""
    containment: float
    """Share of the smaller set's shingles found in the larger one (or the estimate)."""


def same_story(ours: set[int], theirs: set[int]) -> tuple[bool, float, float]:
    """Whether two shingle sets are one story, with their similarity and containment."""
    if not ours or not theirs:
        return False, 0.0, 0.0
    common = len(ours & theirs)
    smaller = min(len(ours), len(theirs))
    similarity = common / (len(ours) + len(theirs) - common)
    containment = common / smaller
    same = similarity >= SIMILARITY or (
        containment >= CONTAINMENT and smaller >= CONTAINMENT_MIN_SHINGLES
    )
    return same, similarity, containment


def line_key(author: str, digest: int) -> int:
    """The ``shared_lines`` key of a line digest under a source: signed 64 bits."""
    key = xxhash.xxh64_intdigest(author.encode("utf-8") + b"\x00" + struct.pack("<Q", digest))
    return key - (1 << 64) if key >= 1 << 63 else key


class _SketchCache:
    """Sketches of stored posts, by id and content hash: a story re-posted often is parsed once."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.items: dict[tuple[str, str], Sketch] = {}

    def get(self, key: tuple[str, str]) -> Sketch | None:
        with self.lock:
            return self.items.get(key)

    def put(self, key: tuple[str, str], value: Sketch) -> None:
        with self.lock:
            if len(self.items) >= self.size:
                self.items.pop(next(iter(self.items)))
            self.items[key] = value


_CACHE = _SketchCache()


def _insert(dialect: str, table: Table) -> Any:
    return (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)


def _one_of_keys(column: Any, dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the ``keys`` parameter's values.

    On PostgreSQL one array parameter keeps the statement's text the same
    whatever the number of keys, so it is prepared once per connection.
    """
    if dialect == "postgresql":
        keys = bindparam("keys", type_=postgresql.ARRAY(BigInteger()))
        return column == any_(keys)  # type: ignore[no-any-return]
    return column.in_(bindparam("keys", expanding=True))  # type: ignore[no-any-return]


def _band_matches(dialect: str) -> Any:
    """The posts under each of the ``keys`` (one row a key and post), the latest PER_BAND a key.

    PostgreSQL joins the keys, one array parameter, to a LATERAL read of each; SQLite,
    which has no LATERAL, reads each of the ``k0``…``k31`` parameters' keys in its own branch.
    """
    if dialect == "postgresql":
        keys = bindparam("keys", type_=postgresql.ARRAY(BigInteger()))
        each = func.unnest(keys).table_valued("key").render_derived(name="k")
        latest = (
            select(POST_BANDS.c.post_id)
            .where(POST_BANDS.c.key == each.c.key)
            .order_by(POST_BANDS.c.post_id.desc())
            .limit(PER_BAND)
            .lateral("b")
        )
        return select(latest.c.post_id).select_from(each.join(latest, true())).subquery()
    per_band = [
        select(POST_BANDS.c.post_id)
        .where(POST_BANDS.c.key == bindparam(f"k{band}"))
        .order_by(POST_BANDS.c.post_id.desc())
        .limit(PER_BAND)
        .subquery()
        .select()
        for band in range(BANDS)
    ]
    return union_all(*per_band).subquery()


@functools.cache
def _queries(dialect: str) -> dict[str, Any]:
    """The index's statements for a dialect, built once: building costs more than running."""
    shared = _insert(dialect, SHARED_LINES)
    # The posts sharing most bands, ranked on the index alone: random collisions of
    # unrelated texts cost an index entry each, not a read of their (wide) posts rows.
    matched = _band_matches(dialect)
    hits = func.count().label("hits")
    top = (
        select(matched.c.post_id, hits)
        .group_by(matched.c.post_id)
        .order_by(hits.desc(), matched.c.post_id)
        .limit(2 * CANDIDATES)
        .subquery()
    )
    return {
        "learned": select(SHARED_LINES.c.key).where(
            _one_of_keys(SHARED_LINES.c.key, dialect),
            SHARED_LINES.c.posts >= bindparam("least"),
        ),
        "candidates": select(
            POSTS.c.qupost_id, POSTS.c.author, POSTS.c.content_hash, POSTS.c.fingerprint
        )
        .select_from(top.join(POSTS, POSTS.c.id == top.c.post_id))
        .where(POSTS.c.deleted_at.is_(None), POSTS.c.qupost_id != bindparam("exclude"))
        .order_by(top.c.hits.desc(), POSTS.c.id)
        .limit(CANDIDATES),
        "body": select(POSTS.c.body_html).where(POSTS.c.qupost_id == bindparam("qupost_id")),
        "count lines": shared.on_conflict_do_update(
            index_elements=["key"], set_={"posts": SHARED_LINES.c.posts + 1}
        ),
        "add bands": _insert(dialect, POST_BANDS).on_conflict_do_nothing(),
        "drop bands": delete(POST_BANDS).where(
            POST_BANDS.c.key.in_(bindparam("old", expanding=True)),
            POST_BANDS.c.post_id == bindparam("post"),
        ),
        "mark": update(POSTS)
        .where(POSTS.c.id == bindparam("post"))
        .values(duplicate_of=bindparam("canonical")),
    }


class DuplicateIndex:
    """The near-duplicate verbs, bound to one open write transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def story(self, text: Sketch | None, body_html: str, author: str) -> Story:
        """An article's story; its sketch is made here when the pipeline made none."""
        made = text if text is not None else sketch(body_html)
        skip = self.learned(author, [line.digest for line in made.lines])
        return Story(made, skip, signature(made.shingles(skip)))

    def learned(self, author: str, digests: Sequence[int]) -> frozenset[int]:
        """The digests among ``digests`` that are boilerplate of ``author``'s posts."""
        return self.learned_many([(author, digests)])[0]

    def learned_many(self, texts: Sequence[tuple[str, Sequence[int]]]) -> list[frozenset[int]]:
        """``learned`` for several (author, digests) at once, in one query."""
        owners: dict[int, list[tuple[int, int]]] = {}
        for i, (author, digests) in enumerate(texts):
            for d in digests:
                owners.setdefault(line_key(author, d), []).append((i, d))
        found: list[set[int]] = [set() for _ in texts]
        if owners:
            rows = self.conn.scalars(
                _queries(self.dialect)["learned"], {"keys": list(owners), "least": SHARED_POSTS}
            )
            for key in rows:
                for i, d in owners[key]:
                    found[i].add(d)
        return [frozenset(f) for f in found]

    def lock(self, story: Story) -> None:
        """Wait for every other transaction holding one of the story's band keys (PostgreSQL)."""
        keys = sorted(set(story.keys))
        if self.dialect != "postgresql" or not keys:
            return
        # In key order, so two transactions never wait on each other in a circle.
        self.conn.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(k)) "
                "FROM unnest(CAST(:keys AS BIGINT[])) WITH ORDINALITY AS t(k, n)"
            ),
            {"keys": keys},
        )

    def find(self, story: Story, *, exclude: str) -> Match | None:
        """The canonical post, not deleted at the source, that tells ``story``; None if none."""
        if story.signature is None:
            return None
        if self.dialect == "postgresql":
            keys: dict[str, Any] = {"keys": story.keys}
        else:
            keys = {f"k{band}": key for band, key in enumerate(story.keys)}
        rows = self.conn.execute(
            _queries(self.dialect)["candidates"], {**keys, "exclude": exclude}
        ).all()
        best: Match | None = None
        # Candidates the signatures leave in doubt, checked on their texts below.
        doubtful: list[tuple[Any, Sketch]] = []
        for row in rows:
            theirs = decode(row.fingerprint)
            agree = estimate(story.signature, theirs) if theirs is not None else 0.0
            if agree < ESTIMATE_FLOOR:
                continue
            if agree >= ESTIMATE_SURE:
                if best is None or agree > best.similarity:
                    best = Match(row.qupost_id, agree, agree)
                continue
            other = self._stored_sketch(row.qupost_id, row.content_hash)
            if other is not None:
                doubtful.append((row, other))
        # Their sources' learned boilerplate, read in one query for all of them.
        learned = self.learned_many(
            [(row.author or "", [line.digest for line in other.lines]) for row, other in doubtful]
        )
        for (row, other), theirs_learned in zip(doubtful, learned, strict=True):
            skip = story.skip | theirs_learned
            same, similarity, containment = same_story(
                story.sketch.shingles(skip), other.shingles(skip)
            )
            if same and (best is None or similarity > best.similarity):
                best = Match(row.qupost_id, similarity, containment)
        return best

    def _stored_sketch(self, qupost_id: str, content_hash: str) -> Sketch | None:
        key = (qupost_id, content_hash)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        body = self.conn.scalar(_queries(self.dialect)["body"], {"qupost_id": qupost_id})
        if body is None:
            return None
        made = sketch(body)
        _CACHE.put(key, made)
        return made

    def add(self, post_id: int, story: Story, author: str) -> None:
        """Index a canonical post's bands and count its edge lines under its source."""
        self.index(post_id, story, replacing="")
        lines = story.sketch.lines
        edges = {line.digest for line in (*lines[:EDGE_LINES], *lines[-EDGE_LINES:])}
        keys = sorted({line_key(author, d) for d in edges})
        if keys:
            self.conn.execute(
                _queries(self.dialect)["count lines"], [{"key": k, "posts": 1} for k in keys]
            )

    def index(self, post_id: int, story: Story, *, replacing: str) -> None:
        """Put a post's band keys in the index, in place of those of its stored fingerprint.

        ``replacing`` is the fingerprint the post's bands were made from ("" for none): the
        old rows are found by their keys, through the primary key.
        """
        queries = _queries(self.dialect)
        old = decode(replacing)
        if old is not None:
            self.conn.execute(queries["drop bands"], {"old": band_keys(old), "post": post_id})
        keys = sorted(set(story.keys))
        if keys:
            self.conn.execute(queries["add bands"], [{"key": k, "post_id": post_id} for k in keys])

    def mark(self, post_id: int, canonical: str) -> None:
        self.conn.execute(_queries(self.dialect)["mark"], {"post": post_id, "canonical": canonical})
