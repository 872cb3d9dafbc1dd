"""The near-duplicate lookup's cost per article as the catalog grows, on SQLite and PostgreSQL.

    python bench/duplicates.py [--sizes 10000,100000] [--queries 300] [--scans 5]
                               [--backends sqlite,postgresql] [--workdir DIR] [--json out.json]
    python bench/duplicates.py --smoke      # sizes 200,1000, 40 queries: keeps the script working

Generated stories (``fakesite.stories``: eight topics, nine sources, so
stories share names, phrases and frames) are fingerprinted and stored as
canonical posts, with their band keys and their sources' edge lines, in a
fresh catalog of each backend.  When the catalog holds each size, the same
queries are timed:

- **new story**: a story the catalog does not hold (the common case: the
  lookup finds nothing);
- **re-post**: a re-post (every edit kind in turn) of a story stored among the
  first ones, found and checked exactly against the stored text;
- **full scan**: for comparison, what a lookup without the index would cost:
  reading every stored fingerprint and comparing signatures.

A lookup is what storing a new article adds: the source's learned lines, the
band query and the check of its candidates (``DuplicateIndex.story`` and
``find``); the article's sketch is made before, in the pipeline, and timed
apart.  Last, ``RepoTx.upsert_article`` itself is timed on a fresh SQLite
catalog, one transaction per article as the crawl does it, with detection
and with ``DuplicateIndex`` stubbed out: what detection adds to storing.

Figures are medians over the queries; the ratios between sizes matter,
absolute times depend on the machine's load.  Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402

from fakesite.stories import EDITS, SOURCES, TOPICS, Story, StoryWriter, repost  # noqa: E402
from storage import duplicates  # noqa: E402
from storage.duplicates import (  # noqa: E402
    EDGE_LINES,
    POST_BANDS,
    POSTS,
    SHARED_LINES,
    DuplicateIndex,
    line_key,
)
from storage.fingerprint import decode, encode, estimate, signature, sketch  # noqa: E402
from storage.repository import Repository, content_hash  # noqa: E402

PG_ADMIN = os.environ.get("QUPOST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
KINDS = [*EDITS, "re-aggregated"]
CHUNK = 5000
WHEN = datetime(2021, 12, 4, 13, 0, tzinfo=UTC)


@dataclass
class Timing:
    median_ms: float
    mean_ms: float
    p95_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Timing:
        ms = sorted(s * 1000 for s in seconds)
        return cls(statistics.median(ms), statistics.fmean(ms), ms[int(0.95 * (len(ms) - 1))])


@dataclass
class Point:
    backend: str
    stored: int
    new_story: Timing
    re_post: Timing
    full_scan: Timing
    re_posts_found: int
    new_stories_matched: int
    queries: int
    band_rows: int
    rows_per_lookup: float
    """Band rows a new story's keys match, on average: posts sharing a band by chance."""
    rows_read: float
    """Of those, the rows a lookup reads (at most ``PER_BAND`` a key), on average."""


@dataclass
class Report:
    started: str
    sketch_cpu_ms: float = 0.0
    points: list[Point] = field(default_factory=list)
    store_with_ms: float = 0.0
    store_without_ms: float = 0.0
    stored_articles: int = 0


def stories(seed: int) -> Iterator[tuple[Story, Any]]:
    """An endless, deterministic stream of different stories, each with its topic."""
    rng = random.Random(seed)
    writer = StoryWriter(rng)
    while True:
        topic = rng.choice(TOPICS)
        yield writer.story(topic, rng.choice(SOURCES)), topic


@dataclass
class Prepared:
    rows: list[dict[str, Any]]
    bands: list[dict[str, Any]]
    lines: Counter[int]


def prepare(batch: list[Story], first_id: int) -> Prepared:
    """Post rows, band rows and edge-line counts for stories stored as canonical posts."""
    rows: list[dict[str, Any]] = []
    bands: list[dict[str, Any]] = []
    lines: Counter[int] = Counter()
    for offset, story in enumerate(batch):
        post_id = first_id + offset
        body = story.html()
        made = sketch(body)
        sig = signature(made.shingles())
        rows.append(
            {
                "id": post_id,
                "qupost_id": str(1_600_000_000 + post_id),
                "title": story.title,
                "author": story.source,
                "published_at": WHEN,
                "date_source": "list",
                "original_url": f"http://html2.qktoutiao.com/detail/{post_id}.html",
                "body_html": body,
                "cover_url": None,
                "description": "",
                "content_hash": content_hash(story.title, body),
                "fingerprint": encode(sig),
                "first_seen_at": WHEN,
                "crawled_at": WHEN,
            }
        )
        if sig is not None:
            bands.extend({"key": k, "post_id": post_id} for k in set(duplicates.band_keys(sig)))
        edges = {line.digest for line in (*made.lines[:EDGE_LINES], *made.lines[-EDGE_LINES:])}
        lines.update(line_key(story.source, d) for d in edges)
    return Prepared(rows, bands, lines)


def store(repo: Repository, prepared: Prepared) -> None:
    dialect = repo.engine.dialect.name
    upsert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(SHARED_LINES)
    with repo.transaction() as tx:
        tx.conn.execute(insert(POSTS), prepared.rows)
        tx.conn.execute(insert(POST_BANDS), prepared.bands)
        tx.conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["key"], set_={"posts": SHARED_LINES.c.posts + upsert.excluded.posts}
            ),
            [{"key": k, "posts": n} for k, n in prepared.lines.items()],
        )


def lookup(repo: Repository, queries: list[tuple[str, str, Any]]) -> tuple[list[float], int]:
    """Time each query's lookup; return the times and how many found a stored post."""
    times: list[float] = []
    found = 0
    with repo.reading() as tx:
        index = DuplicateIndex(tx.conn)
        for qupost_id, author, made in queries:
            start = time.perf_counter()
            match = index.find(index.story(made, "", author), exclude=qupost_id)
            times.append(time.perf_counter() - start)
            found += match is not None
    return times, found


def full_scan(repo: Repository, queries: list[tuple[str, str, Any]]) -> list[float]:
    """What the lookup would cost without the index: every stored signature compared."""
    times: list[float] = []
    with repo.reading() as tx:
        for _, _, made in queries:
            start = time.perf_counter()
            ours = signature(made.shingles())
            assert ours is not None
            best = 0.0
            for text in tx.conn.scalars(select(POSTS.c.fingerprint)).yield_per(5000):
                theirs = decode(text)
                if theirs is not None:
                    best = max(best, estimate(ours, theirs))
            times.append(time.perf_counter() - start)
    return times


@contextmanager
def catalogs(backends: list[str], workdir: Path) -> Iterator[dict[str, Repository]]:
    """A fresh, migrated catalog per backend; PostgreSQL databases are dropped after."""
    repos: dict[str, Repository] = {}
    created: list[str] = []
    admin: Any = None
    try:
        for backend in backends:
            if backend == "sqlite":
                repos[backend] = Repository.open(f"sqlite:///{workdir / 'bench-duplicates.db'}")
                continue
            import psycopg

            admin = admin or psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
            name = f"qupost_bench_{uuid.uuid4().hex[:10]}"
            admin.execute(f'CREATE DATABASE "{name}"')
            created.append(name)
            base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            repos[backend] = Repository.open(f"{base}/{name}")
        yield repos
    finally:
        for repo in repos.values():
            repo.close()
        for name in created:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if admin is not None:
            admin.close()


def analyse_tables(repo: Repository) -> None:
    """Fresh planner statistics, as a catalog that grew over many runs has."""
    with repo.transaction() as tx:
        tx.conn.exec_driver_sql("ANALYZE")


def rows_matched(repo: Repository, queries: list[tuple[str, str, Any]]) -> tuple[float, float]:
    """How many index rows the new stories' band keys match, and how many a lookup reads
    (at most ``PER_BAND`` a key), on average; not timed."""
    matched, read = [], []
    with repo.reading() as tx:
        index = DuplicateIndex(tx.conn)
        for _, author, made in queries:
            keys = index.story(made, "", author).keys
            per_key = tx.conn.execute(
                select(POST_BANDS.c.key, func.count())
                .where(POST_BANDS.c.key.in_(keys))
                .group_by(POST_BANDS.c.key)
            ).all()
            matched.append(sum(n for _, n in per_key))
            read.append(sum(min(n, duplicates.PER_BAND) for _, n in per_key))
    return statistics.fmean(matched), statistics.fmean(read)


def band_rows(repo: Repository) -> int:
    with repo.reading() as tx:
        return int(tx.conn.scalar(select(func.count()).select_from(POST_BANDS)) or 0)


def run(args: argparse.Namespace) -> Report:
    sizes = sorted(int(s) for s in args.sizes.split(","))
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    report = Report(started=datetime.now(UTC).isoformat(timespec="seconds"))
    source = stories(seed=1)
    # The stories re-posted by the queries are among the first stored, so every size holds them.
    kept: list[tuple[Story, Any]] = []
    fresh = stories(seed=2)
    new_queries = []
    for n in range(args.queries):
        story, _ = next(fresh)
        new_queries.append((str(9_000_000 + n), story.source, sketch(story.html())))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="qupost-bench-dups-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with catalogs(backends, workdir) as repos:
        stored = 0
        for size in sizes:
            while stored < size:
                count = min(CHUNK, size - stored)
                batch = []
                for _ in range(count):
                    story, topic = next(source)
                    if len(kept) < args.queries:
                        kept.append((story, topic))
                    batch.append(story)
                prepared = prepare(batch, stored + 1)
                for repo in repos.values():
                    store(repo, prepared)
                stored += count
                print(f"  stored {stored:,} of {sizes[-1]:,}", file=sys.stderr, flush=True)
            rng = random.Random(3)
            writer = StoryWriter(rng)
            re_posts = [
                (
                    str(8_000_000 + n),
                    copy.source,
                    sketch(copy.html()),
                )
                for n, (story, topic) in enumerate(kept)
                for copy in [repost(rng, story, KINDS[n % len(KINDS)], writer, topic)]
            ]
            for backend, repo in repos.items():
                analyse_tables(repo)
                lookup(repo, new_queries[: args.queries // 5])  # warm the caches
                duplicates._CACHE.items.clear()
                new_times, new_found = lookup(repo, new_queries)
                duplicates._CACHE.items.clear()
                re_times, re_found = lookup(repo, re_posts)
                scan = full_scan(repo, new_queries[: args.scans])
                matched, read = rows_matched(repo, new_queries)
                point = Point(
                    backend=backend,
                    stored=size,
                    new_story=Timing.of(new_times),
                    re_post=Timing.of(re_times),
                    full_scan=Timing.of(scan),
                    re_posts_found=re_found,
                    new_stories_matched=new_found,
                    queries=len(new_queries),
                    band_rows=band_rows(repo),
                    rows_per_lookup=matched,
                    rows_read=read,
                )
                report.points.append(point)
                print(line(point), flush=True)
    report.sketch_cpu_ms = sketch_cost([s for s, _ in kept])
    report.stored_articles = args.store
    report.store_with_ms, report.store_without_ms = store_cost(args.store, workdir)
    return report


class _NoDetection:
    """``DuplicateIndex`` with nothing to do: storing as before near-duplicates were detected."""

    def __init__(self, conn: Any) -> None:
        pass

    def story(self, text: Any, body_html: str, author: str) -> duplicates.Story:
        return duplicates.Story(text, frozenset(), None)

    def lock(self, story: Any) -> None:
        pass

    def find(self, story: Any, *, exclude: str) -> None:
        return None

    def add(self, post_id: int, story: Any, author: str) -> None:
        pass

    def index(self, post_id: int, story: Any, *, replacing: str) -> None:
        pass


def store_cost(count: int, workdir: Path) -> tuple[float, float]:
    """Median ms of ``upsert_article`` per article (one transaction each), with and without
    detection, on fresh SQLite catalogs: ``count`` stories and a re-post of every fourth."""
    import storage.repository as repository
    from pipelines.clean import normalise
    from storage.article import Article, ArticleSource

    rng = random.Random(4)
    writer = StoryWriter(rng)
    source = stories(seed=5)
    texts: list[Story] = []
    for n in range(count):
        story, topic = next(source)
        texts.append(story)
        if n % 4 == 3:
            texts.append(repost(rng, story, KINDS[n % len(KINDS)], writer, topic))

    def articles() -> list[Article]:
        out = []
        for n, story in enumerate(texts):
            item = Article(
                str(1_700_000_000 + n),
                f"http://html2.qktoutiao.com/detail/{n}.html",
                ArticleSource(list_title=story.title, list_author=story.source, html=story.html()),
                channels=(1,),
                crawled_at=WHEN,
                published_at=WHEN,
                date_source="list",
            )
            normalise(item)
            item.sketch = sketch(item.body_html)
            out.append(item)
        return out

    results = []
    for detect, name in ((True, "with"), (False, "without")):
        repo = Repository.open(f"sqlite:///{workdir / f'store-{name}.db'}")
        real = repository.DuplicateIndex
        if not detect:
            repository.DuplicateIndex = _NoDetection  # type: ignore[misc,assignment]
        try:
            times = []
            for item in articles():
                start = time.perf_counter()
                with repo.transaction() as tx:
                    tx.upsert_article(item)
                times.append(time.perf_counter() - start)
        finally:
            repository.DuplicateIndex = real  # type: ignore[misc]
            repo.close()
        results.append(statistics.median(times) * 1000)
    return results[0], results[1]


def sketch_cost(batch: list[Story]) -> float:
    """CPU ms to sketch one article (the pipeline's share), median of three passes."""
    bodies = [s.html() for s in batch]
    passes = []
    for _ in range(3):
        start = time.process_time()
        for body in bodies:
            sketch(body)
        passes.append((time.process_time() - start) / len(bodies) * 1000)
    return statistics.median(passes)


def line(p: Point) -> str:
    return (
        f"{p.backend:<10} {p.stored:>8,} stored: lookup new story {p.new_story.median_ms:6.3f} ms "
        f"(mean {p.new_story.mean_ms:.3f}, p95 {p.new_story.p95_ms:.3f}), "
        f"re-post {p.re_post.median_ms:6.3f} ms (mean {p.re_post.mean_ms:.3f}, "
        f"p95 {p.re_post.p95_ms:.3f}); full scan {p.full_scan.median_ms:9.1f} ms; "
        f"found {p.re_posts_found}/{p.queries} re-posts, {p.new_stories_matched} false matches; "
        f"{p.band_rows:,} band rows, {p.rows_per_lookup:.1f} matched and {p.rows_read:.1f} read "
        f"per new story"
    )


def summary(report: Report) -> list[str]:
    out = [
        f"sketch (in the pipeline, CPU)       : {report.sketch_cpu_ms:.3f} ms/article",
        f"storing an article, SQLite (median) : {report.store_with_ms:.3f} ms with detection, "
        f"{report.store_without_ms:.3f} ms without "
        f"({report.stored_articles:,} stories and a re-post of every fourth)",
    ]
    by_backend: dict[str, list[Point]] = {}
    for point in report.points:
        by_backend.setdefault(point.backend, []).append(point)
    target: Callable[[bool], str] = lambda ok: "PASS" if ok else "MISS"  # noqa: E731
    for backend, points in by_backend.items():
        small, large = points[0], points[-1]
        growth = large.stored / small.stored
        for name, get in (
            ("new story", lambda p: p.new_story.median_ms),
            ("re-post", lambda p: p.re_post.median_ms),
            ("full scan", lambda p: p.full_scan.median_ms),
        ):
            ratio = get(large) / get(small)
            out.append(
                f"{backend:<10} {name:<10} {large.stored:,} / {small.stored:,} stored "
                f"(x{growth:g}): {ratio:.2f}x the time"
            )
        out.append(
            f"target {backend} lookup < 1 ms at {large.stored:,}"
            f"{max(large.new_story.median_ms, large.re_post.median_ms):>12.3f} ms   "
            f"{target(max(large.new_story.median_ms, large.re_post.median_ms) < 1)}"
        )
        lookup_growth = large.new_story.median_ms / small.new_story.median_ms
        out.append(
            f"target {backend} lookup grows far less than the catalog "
            f"(< {growth / 4:g}x for x{growth:g})      {lookup_growth:.2f}x   "
            f"{target(lookup_growth < growth / 4)}"
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--scans", type=int, default=5)
    parser.add_argument("--store", type=int, default=2000, help="stories for the storing cost")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--json", default="")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.queries, args.scans, args.store = "200,1000", 40, 2, 100
    report = run(args)
    for text in summary(report):
        print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
