"""Scheduled runs: incremental, idempotent, crash-safe, concurrent, and the export command."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import build_site
from tests.conftest import ROOT, crawl_command, export_catalog, run_crawl, split_post

pytestmark = pytest.mark.e2e


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and its mtime in nanoseconds."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def row_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("posts", "images", "post_images", "post_channels")
        }
    finally:
        conn.close()


def test_rerun_fetches_nothing_and_touches_nothing(tmp_path: Path) -> None:
    site = build_site(10, channels=(1, 6))
    # The same article listed in two channels: one post, both tags.
    shared = site.articles[sorted(site.articles)[0]]
    shared.channels = [1, 6]
    with FakeServer(site) as server:
        first = run_crawl(server, tmp_path, "cid=1,6", "pages=2", "limit=5")
        assert first.returncode == 0, first.stderr[-3000:]
        before = snapshot(first.source)
        counts = row_counts(tmp_path / "qupost.db")
        server.site.reset_log()
        time.sleep(0.05)
        second = run_crawl(server, tmp_path, "cid=1,6", "pages=2", "limit=5")
        assert second.returncode == 0, second.stderr[-3000:]
        assert server.site.requests_to("/detail/") == 0
        assert server.site.requests_to("/qupost/") == 0
        assert server.site.requests_to("/content/outList") > 0
    assert snapshot(first.source) == before
    assert row_counts(tmp_path / "qupost.db") == counts
    assert len(first.post_files()) == 10
    matter, _ = first.post(shared.id)
    assert matter["tags"] == ["热点", "娱乐"]
    assert "10 unchanged" not in second.stderr and "0 new" in second.stderr


def test_tags_union_grows_without_refetching(tmp_path: Path) -> None:
    site = build_site(3, channels=(1,))
    target = site.articles[sorted(site.articles)[0]]
    with FakeServer(site) as server:
        assert run_crawl(server, tmp_path, "cid=1").returncode == 0
        target.channels = [1, 7]
        server.site.reset_log()
        result = run_crawl(server, tmp_path, "cid=7")
        assert result.returncode == 0, result.stderr[-3000:]
        assert server.site.requests_to("/detail/") == 0
    matter, _ = result.post(target.id)
    assert matter["tags"] == ["热点", "科技"]
    assert matter["updated"] == matter["date"]


def test_refresh_rewrites_only_the_changed_post(tmp_path: Path) -> None:
    site = build_site(5)
    ids = sorted(site.articles)
    with FakeServer(site) as server:
        first = run_crawl(server, tmp_path, "cid=1")
        assert first.returncode == 0, first.stderr[-3000:]
        before = snapshot(first.source)
        conn = sqlite3.connect(tmp_path / "qupost.db")
        rows_before = conn.execute("SELECT * FROM posts ORDER BY qupost_id").fetchall()
        conn.close()
        changed = site.articles[ids[2]]
        changed.body = [("p", "更正：这是修改后的正文。"), *changed.body]
        server.site.reset_log()
        time.sleep(0.05)
        second = run_crawl(server, tmp_path, "cid=1", "refresh=1")
        assert second.returncode == 0, second.stderr[-3000:]
        assert server.site.requests_to("/detail/") == 5
        assert server.site.requests_to("/qupost/") == 0
    after = snapshot(first.source)
    differing = {name for name in after if after[name] != before.get(name)}
    assert differing == {f"_posts/qupost-{ids[2]}.md"}
    matter, body = first.post(ids[2])
    assert "更正" in body
    assert matter["updated"] and matter["updated"] != matter["date"]
    conn = sqlite3.connect(tmp_path / "qupost.db")
    rows_after = conn.execute("SELECT * FROM posts ORDER BY qupost_id").fetchall()
    conn.close()
    changed_rows = [a[1] for a, b in zip(rows_after, rows_before, strict=True) if a != b]
    assert changed_rows == [ids[2]]
    assert "1 updated, 4 unchanged" in second.stderr


def test_kill_9_mid_run_then_rerun_completes(tmp_path: Path) -> None:
    site = build_site(300, images_per_article=1, paragraphs=3)
    with FakeServer(site) as server:
        proc = subprocess.Popen(
            crawl_command(server, tmp_path, "cid=1", "pages=3", "limit=100"),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        posts = tmp_path / "source" / "_posts"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if posts.exists() and len(list(posts.glob("*.md"))) >= 40:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the crawl ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        survivors = sorted(posts.glob("*.md"))
        assert 40 <= len(survivors) < 300
        for path in survivors:
            matter, body = split_post(path.read_text("utf-8"))
            assert matter["qupost_id"] == path.stem.removeprefix("qupost-")
            assert body.endswith("</div>\n")
        conn = sqlite3.connect(tmp_path / "qupost.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()

        result = run_crawl(server, tmp_path, "cid=1", "pages=3", "limit=100")
        assert result.returncode == 0, result.stderr[-3000:]
    names = [p.name for p in result.post_files()]
    assert names == sorted(f"qupost-{i}.md" for i in site.articles)
    assert not [p for p in posts.iterdir() if not p.name.endswith(".md")]
    counts = row_counts(tmp_path / "qupost.db")
    assert counts["posts"] == 300 and counts["images"] == 300 and counts["post_images"] == 300


def test_two_crawls_at_once_on_one_database(tmp_path: Path) -> None:
    site = build_site(120, channels=(1, 6), images_per_article=1)
    with FakeServer(site) as server:
        procs = [
            subprocess.Popen(
                crawl_command(server, tmp_path, "cid=1,6", "pages=2", "limit=50"),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err
    files = sorted((tmp_path / "source" / "_posts").glob("*.md"))
    assert len(files) == 120
    for path in files:
        split_post(path.read_text("utf-8"))
    counts = row_counts(tmp_path / "qupost.db")
    assert counts["posts"] == 120 and counts["post_images"] == 120
    conn = sqlite3.connect(tmp_path / "qupost.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    runs = conn.execute("SELECT status, exit_status FROM runs").fetchall()
    conn.close()
    assert runs == [("finished", 0), ("finished", 0)]


def export(db: Path, target: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return export_catalog(db, db.parent / "source", target, *options)


def test_export_equals_the_crawl_tree_and_rerenders_for_butterfly(tmp_path: Path) -> None:
    site = build_site(6, channels=(1, 6))
    with FakeServer(site) as server:
        crawl = run_crawl(server, tmp_path / "run", "cid=1,6")
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    db = tmp_path / "run" / "qupost.db"
    target = tmp_path / "exported"
    first = export(db, target)
    assert first.returncode == 0, first.stderr
    assert {k: v[0] for k, v in snapshot(target).items()} == {
        k: v[0] for k, v in snapshot(crawl.source).items()
    }
    before = snapshot(target)
    again = export(db, target)
    assert again.returncode == 0 and "(0 written," in again.stdout
    assert snapshot(target) == before

    themed = tmp_path / "butterfly"
    result = export(db, themed, "--date-format", "iso", "--cover-keys", "cover,top_img")
    assert result.returncode == 0, result.stderr
    for path in crawl.post_files():
        plain, plain_body = split_post(path.read_text("utf-8"))
        other, other_body = split_post((themed / "_posts" / path.name).read_text("utf-8"))
        assert other_body == plain_body
        assert other.pop("cover") == other.pop("top_img") == plain.pop("headimg")
        assert plain.pop("thumbnail")
        assert other.pop("date") != plain.pop("date")
        assert other.pop("updated") != plain.pop("updated")
        assert other == plain
