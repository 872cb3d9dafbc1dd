"""Near-duplicate stories end to end: crawls of a site that re-posts its stories.

``build_story_site`` serves different stories and re-posts of some of them
under other ids (re-titled, edited, re-framed), each re-post listed right
after its story, so their pages are fetched at about the same time.  The
crawl is run under each ``QUPOST_DUPLICATES`` policy, by one worker and by
three distributed workers sharing PostgreSQL and Redis; ``scrapy export``
applies the same policies to the catalog.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import FakeSite
from fakesite.stories import build_story_site
from tests.conftest import ROOT, export_catalog, run_crawl, run_scrapy, split_post
from tests.test_distributed import (
    distributed_settings,
    redis_prefix,  # noqa: F401 - a fixture
    scrapy,
    start_worker,
    wait_for_runs,
)
from tests.test_progress import assert_adds_up, summary_of

pytestmark = pytest.mark.e2e

STORIES, REPOSTS = 24, 16
POLICIES = ("keep", "mark", "skip")
AMONG_NEW = re.compile(r"(\d+) of the new are near-duplicates \((\w+)\)")


@pytest.fixture(scope="module")
def story_site() -> FakeSite:
    return build_story_site(STORIES, REPOSTS, channels=(1, 6))


def groups(site: FakeSite) -> dict[str, set[str]]:
    """Each story's id with the ids of its re-posts."""
    found: dict[str, set[str]] = {i: {i} for i in site.articles if i not in site.duplicate_of}
    for copy, story in site.duplicate_of.items():
        found[story].add(copy)
    return found


def posts(folder: Path) -> dict[str, dict[str, object]]:
    """Every post file's front matter, by id."""
    return {
        path.name.removeprefix("qupost-").removesuffix(".md"): split_post(path.read_text("utf-8"))[
            0
        ]
        for path in sorted((folder / "_posts").glob("*.md"))
    }


def duplicate_column(rows: list[tuple[str, str | None]], site: FakeSite) -> dict[str, str]:
    """Check one canonical post per story in the catalog rows; return {duplicate: canonical}."""
    recorded = dict(rows)
    assert set(recorded) == set(site.articles)
    for members in groups(site).values():
        canonical = [i for i in members if recorded[i] is None]
        assert len(canonical) == 1, {i: recorded[i] for i in members}
        assert all(recorded[i] == canonical[0] for i in members - set(canonical))
    duplicates = {i: c for i, c in recorded.items() if c is not None}
    assert len(duplicates) == REPOSTS
    return duplicates


def assert_posts_follow(
    policy: str, found: dict[str, dict[str, object]], dups: dict[str, str]
) -> None:
    """The post files a policy leaves: all (keep), all with re-posts marked (mark), or only
    each story's canonical post (skip)."""
    canonical = set(found) - set(dups)
    if policy == "skip":
        assert set(found) == canonical and len(found) == STORIES
        return
    assert len(found) == STORIES + REPOSTS
    for qupost_id, matter in found.items():
        if policy == "mark" and qupost_id in dups:
            assert matter["duplicate_of"] == dups[qupost_id]
            assert matter["published"] is False
        else:
            assert "duplicate_of" not in matter and "published" not in matter, matter


@pytest.mark.parametrize("policy", POLICIES)
def test_one_worker_keeps_marks_or_skips_re_posts(
    tmp_path: Path, story_site: FakeSite, policy: str
) -> None:
    with FakeServer(story_site) as server:
        result = run_crawl(server, tmp_path, "cid=1,6", "limit=50", QUPOST_DUPLICATES=policy)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    _, numbers = summary_of(result.stderr)
    assert_adds_up(numbers)
    assert numbers[0] == STORIES + REPOSTS  # duplicates are among the new
    assert AMONG_NEW.findall(result.stderr) == [(str(REPOSTS), policy)]

    db = sqlite3.connect(tmp_path / "qupost.db")
    rows = db.execute("SELECT qupost_id, duplicate_of FROM posts").fetchall()
    run = db.execute("SELECT articles_new, articles_duplicate FROM runs").fetchall()
    db.close()
    dups = duplicate_column(rows, story_site)
    assert run == [(STORIES + REPOSTS, REPOSTS)]
    assert_posts_follow(policy, posts(result.source), dups)

    # A second run lists the same ids: nothing new, no duplicates counted again.
    with FakeServer(story_site) as server:
        again = run_crawl(server, tmp_path, "cid=1,6", "limit=50", QUPOST_DUPLICATES=policy)
    assert again.returncode == 0 and not AMONG_NEW.search(again.stderr)
    assert_posts_follow(policy, posts(again.source), dups)


def test_export_applies_each_policy_to_one_catalog(tmp_path: Path, story_site: FakeSite) -> None:
    with FakeServer(story_site) as server:
        crawl = run_crawl(server, tmp_path / "crawl", "cid=1,6", "limit=50")
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    db = crawl.out / "qupost.db"
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT qupost_id, duplicate_of FROM posts").fetchall()
    conn.close()
    dups = duplicate_column(rows, story_site)
    # The crawl ran under the default, keep: every post is there as it was.
    assert_posts_follow("keep", posts(crawl.source), dups)
    for policy in POLICIES:
        target = tmp_path / f"export-{policy}"
        result = export_catalog(db, crawl.source, target, QUPOST_DUPLICATES=policy)
        assert result.returncode == 0, result.stderr
        assert f"{REPOSTS} of the posts tell a story another post told first" in result.stdout
        assert_posts_follow(policy, posts(target), dups)
    # The option wins over the setting, and skip removes the files a keep export wrote.
    target = tmp_path / "export-keep"
    result = export_catalog(db, crawl.source, target, "--duplicates", "skip")
    assert result.returncode == 0, result.stderr
    assert_posts_follow("skip", posts(target), dups)


def test_a_bad_policy_is_refused_before_any_request(tmp_path: Path, story_site: FakeSite) -> None:
    story_site.reset_log()
    with FakeServer(story_site) as server:
        result = run_crawl(server, tmp_path, "cid=1", QUPOST_DUPLICATES="hide")
        assert server.site.log == []
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("qupost: error:")]
    assert errors == [
        "qupost: error: QUPOST_DUPLICATES: expected one of keep, mark, skip, got 'hide'"
    ]
    exported = run_scrapy("export", "--to", str(tmp_path / "x"), "--duplicates", "hide")
    assert exported.returncode == 2 and "QUPOST_DUPLICATES" in exported.stderr


@pytest.mark.services
@pytest.mark.parametrize("policy", POLICIES)
def test_three_workers_end_with_one_canonical_post_per_story(
    tmp_path: Path,
    pg_url: str,
    redis_prefix: str,  # noqa: F811 - the fixture imported above
    policy: str,
) -> None:
    site = build_story_site(STORIES, REPOSTS, channels=(1, 6, 7), seed=23)
    settings = distributed_settings(pg_url, redis_prefix, tmp_path / "shared-images")
    settings.update(QUPOST_WORKER_IDLE_TIMEOUT="8", QUPOST_DUPLICATES=policy)
    settings["QUPOST_WRITE_POSTS"] = "1"
    with FakeServer(site) as server:
        common = {**settings, "QUPOST_LIST_API": server.list_api, "QUPOST_PROFILE": "fast"}
        workers = [start_worker(server, tmp_path / f"w{i}", settings) for i in range(3)]
        wait_for_runs(pg_url, 3)
        seeded = scrapy("seed", "-a", "cid=1,6,7", "-a", "limit=50", settings=common)
        assert seeded.returncode == 0, seeded.stderr
        errors = [w.communicate(timeout=300)[1] for w in workers]
    for worker, err in zip(workers, errors, strict=True):
        assert worker.returncode == 0, err[-3000:]
        assert "Traceback" not in err
    counted = [int(m.group(1)) for err in errors for m in AMONG_NEW.finditer(err)]
    assert sum(counted) == REPOSTS, counted

    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT qupost_id, duplicate_of FROM posts").all()
        recorded = conn.exec_driver_sql("SELECT sum(articles_duplicate) FROM runs").scalar()
    engine.dispose()
    dups = duplicate_column([(r[0], r[1]) for r in rows], site)
    assert recorded == REPOSTS
    # Each worker wrote the posts of the articles it stored: together, the policy's tree.
    written: dict[str, dict[str, object]] = {}
    for i in range(3):
        written.update(posts(tmp_path / f"w{i}" / "source"))
    assert_posts_follow(policy, written, dups)
    exported = tmp_path / "exported"
    result = scrapy("export", "--to", str(exported), settings=settings)
    assert result.returncode == 0, result.stderr
    assert posts(exported) == written


def test_the_lookup_benchmark_runs_and_reports(tmp_path: Path) -> None:
    """``bench/duplicates.py --smoke`` completes; its timings are printed, never asserted."""
    proc = subprocess.run(
        [sys.executable, "bench/duplicates.py", "--smoke", "--backends", "sqlite",
         "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for label in (
        "sqlite          200 stored: lookup new story",
        "sqlite        1,000 stored: lookup new story",
        "found 40/40 re-posts, 0 false matches",
        "sketch (in the pipeline, CPU)",
        "storing an article, SQLite (median)",
        "target sqlite lookup < 1 ms at 1,000",
    ):
        assert label in proc.stdout, (label, proc.stdout)
