"""Articles deleted at the source: QUPOST_ON_DELETED in a crawl, in an export, and on return."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import build_site
from tests.conftest import export_catalog, run_crawl, split_post
from tests.test_progress import summary_of

pytestmark = pytest.mark.e2e

IMG_SRC = re.compile(r'<img [^>]*src="([^"]+)"')


def files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def deleted_at(db: Path) -> dict[str, str | None]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT qupost_id, deleted_at FROM posts").fetchall())
    finally:
        conn.close()


def export(db: Path, source: Path, to: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return export_catalog(db, source, to, **settings)


@pytest.mark.parametrize("policy", ["keep", "unpublish", "remove"])
def test_deleted_articles_under_each_policy(tmp_path: Path, policy: str) -> None:
    site = build_site(4)
    ids = sorted(site.articles)
    gone, nokey = site.articles[ids[1]], site.articles[ids[2]]
    out = tmp_path / "out"
    with FakeServer(site) as server:
        first = run_crawl(server, out, "cid=1", QUPOST_ON_DELETED=policy)
        assert first.returncode == 0, first.stderr[-3000:]
        assert len(first.post_files()) == 4
        before = files(first.source)
        images_before = {name for name in before if name.startswith("images/")}
        assert images_before

        gone.mode = "deleted"
        nokey.mode = "nosuchkey"
        time.sleep(0.05)
        second = run_crawl(server, out, "cid=1", "refresh=1", QUPOST_ON_DELETED=policy)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "Traceback" not in second.stderr, second.stderr[-3000:]
        _, numbers = summary_of(second.stderr)
        new, updated, unchanged, deleted, failed, skipped, listed = numbers[:7]
        assert (new, updated, unchanged, deleted, failed, skipped, listed) == (0, 0, 2, 2, 0, 0, 4)

        marks = deleted_at(out / "qupost.db")
        assert marks[gone.id] and marks[nokey.id], marks
        assert marks[ids[0]] is None and marks[ids[3]] is None, marks

        after = files(second.source)
        names = {f"_posts/qupost-{gone.id}.md", f"_posts/qupost-{nokey.id}.md"}
        untouched = {name: data for name, data in before.items() if name not in names}
        # Every other file (other posts, all images) is exactly as before, under every policy.
        assert {name: after.get(name) for name in untouched} == untouched
        if policy == "keep":
            assert after == before
        elif policy == "unpublish":
            for name in names:
                matter, body = split_post(after[name].decode("utf-8"))
                old_matter, old_body = split_post(before[name].decode("utf-8"))
                assert matter["published"] is False, matter
                assert matter["updated"] == matter["date"]
                assert body == old_body
                assert {k: v for k, v in matter.items() if k != "published"} == old_matter
            assert set(after) == set(before)
        else:
            assert not any(name in after for name in names), sorted(after)
            assert images_before <= set(after)

        # The export renders the same catalog under the same policy.
        exported = tmp_path / "exported"
        done = export(out / "qupost.db", second.source, exported, QUPOST_ON_DELETED=policy)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        in_export = files(exported)
        assert {k: v for k, v in in_export.items() if k.startswith("_posts/")} == {
            k: v for k, v in after.items() if k.startswith("_posts/")
        }
        # Every image a post in the export shows is there too.
        for key, data in in_export.items():
            if key.startswith("_posts/"):
                for src in IMG_SRC.findall(data.decode("utf-8")):
                    assert src.startswith("/images/qupost/"), src
                    assert src.removeprefix("/") in in_export, (key, src)

        # The article comes back, unchanged: the original post again.
        gone.mode = "page"
        time.sleep(0.05)
        third = run_crawl(server, out, "cid=1", "refresh=1", QUPOST_ON_DELETED=policy)
    assert third.returncode == 0, third.stderr[-3000:]
    name = f"_posts/qupost-{gone.id}.md"
    back = (third.source / name).read_text("utf-8")
    matter, _ = split_post(back)
    assert "published" not in matter, matter
    assert matter["updated"] == matter["date"], matter
    assert back.encode("utf-8") == before[name]
    marks = deleted_at(out / "qupost.db")
    assert marks[gone.id] is None, marks
    assert marks[nokey.id], marks


def test_url_mode_marks_a_deleted_article(tmp_path: Path) -> None:
    site = build_site(2)
    ids = sorted(site.articles)
    target = site.articles[ids[0]]
    with FakeServer(site) as server:
        first = run_crawl(server, tmp_path, "cid=1")
        assert first.returncode == 0, first.stderr[-3000:]
        target.mode = "deleted"
        result = run_crawl(server, tmp_path, f"url={server.base_url}{target.page_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    _, numbers = summary_of(result.stderr)
    assert numbers[3] == 1, numbers  # deleted
    marks = deleted_at(tmp_path / "qupost.db")
    assert marks[target.id], marks
    assert marks[ids[1]] is None, marks
    matter, _ = result.post(target.id)
    assert matter["published"] is False  # the default policy: unpublish
