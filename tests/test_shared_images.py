"""Images shared by many articles: one download each, one catalog row, every post local."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import FakeSite, Fault, build_site
from tests.conftest import CrawlResult, run_crawl

pytestmark = pytest.mark.e2e

SHARED = [f"/qupost/img/2021/12/04/shared{k:02d}.jpeg" for k in range(10)]
IMG_SRC = re.compile(r'<img [^>]*src="([^"]+)"')


def share_images(site: FakeSite, paths: list[str]) -> None:
    """Point every article's two body images (and cover) at ``paths``: two distinct ones each."""
    for k, path in enumerate(paths):
        site.add_image(path, 640, 360, seed=1000 + k)
    for n, article in enumerate(sorted(site.articles.values(), key=lambda a: a.id)):
        chosen = iter([paths[n % len(paths)], paths[(n + 3) % len(paths)]])
        article.body = [
            ("img", next(chosen), "640,360") if part[0] == "img" else part for part in article.body
        ]
        article.cover = article.body[1][1]
    # The per-article images build_site made are no longer referenced.
    for path in list(site.images):
        if path not in paths:
            del site.images[path]


def body_sources(result: CrawlResult, qupost_id: str) -> list[str]:
    _, body = result.post(qupost_id)
    return IMG_SRC.findall(body)


def test_sixty_articles_ten_shared_images(tmp_path: Path) -> None:
    site = build_site(60, images_per_article=2)
    share_images(site, SHARED)
    ids = sorted(site.articles)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1", "pages=1", "limit=60")
        served = {path: site.counts[path] for path in SHARED}
    assert result.returncode == 0, result.stderr[-3000:]
    assert "KeyError" not in result.stderr, result.stderr[-3000:]
    assert "image not stored" not in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    # Each shared image fetched from the site exactly once in the whole run.
    assert served == dict.fromkeys(SHARED, 1), served
    assert len(result.post_files()) == 60
    for qupost_id in ids:
        sources = body_sources(result, qupost_id)
        assert len(sources) == 2, (qupost_id, sources)
        for src in sources:
            assert src.startswith("/images/qupost/"), (qupost_id, src)
            local = result.source / src.lstrip("/")
            assert local.is_file(), (qupost_id, src)
        matter, _ = result.post(qupost_id)
        assert str(matter["headimg"]).startswith("/images/qupost/"), matter
    # Ten local files, one per shared image.
    stored = sorted((result.source / "images" / "qupost").rglob("*.*"))
    assert len(stored) == 10, stored
    conn = sqlite3.connect(tmp_path / "qupost.db")
    try:
        images = conn.execute("SELECT url, status, path FROM images").fetchall()
        links = conn.execute("SELECT qupost_id, url FROM post_images").fetchall()
        distinct_links = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT qupost_id, url FROM post_images)"
        ).fetchone()[0]
    finally:
        conn.close()
    assert len(images) == 10, images
    assert all(status == "stored" and path for _, status, path in images), images
    assert {url.split("?", 1)[0].split("://", 1)[1].split("/", 1)[1] for url, _, _ in images} == {
        p.lstrip("/") for p in SHARED
    }
    # One row per (post, image): 60 posts x 2 distinct images, no duplicates, no gaps.
    assert len(links) == 120, len(links)
    assert distinct_links == 120
    assert {qid for qid, _ in links} == set(ids)
    image_urls = {url for url, _, _ in images}
    assert {url for _, url in links} == image_urls


def test_image_first_used_by_an_article_that_was_not_saved(tmp_path: Path) -> None:
    """The first article to use an image fails to save; the next one still gets the local copy."""
    site = build_site(3, images_per_article=1)
    special = "/qupost/img/2021/12/04/special.jpeg"
    site.add_image(special, 320, 200, seed=99)
    ids = sorted(site.articles)
    first, later = site.articles[ids[2]], site.articles[ids[0]]
    for article in (first, later):
        article.body = [
            ("p", "共用图片的文章。"),
            ("img", special, "320,200"),
            ("p", "结尾。"),
        ]
        article.cover = special
    # The first article's post cannot be written: a directory sits at its path.
    blocker = tmp_path / "source" / "_posts" / f"qupost-{first.id}.md"
    blocker.mkdir(parents=True)
    (blocker / "keep").write_text("x")
    with FakeServer(site) as server:
        # The later article's page arrives well after the first article was handled.
        site.faults[later.page_path] = Fault(
            status=200,
            body=site.page_html(later),
            headers={"Content-Type": "text/html"},
            times=1,
            delay=2.0,
        )
        result = run_crawl(server, tmp_path, "cid=1")
        special_served = site.counts[special]
    assert "KeyError" not in result.stderr, result.stderr[-3000:]
    assert f"article {first.id}: not saved" in result.stderr, result.stderr[-3000:]
    assert special_served == 1
    sources = body_sources(result, later.id)
    assert len(sources) == 1 and sources[0].startswith("/images/qupost/"), sources
    assert (result.source / sources[0].lstrip("/")).is_file()
    matter, _ = result.post(later.id)
    assert matter["headimg"] == sources[0]
    conn = sqlite3.connect(tmp_path / "qupost.db")
    try:
        rows = conn.execute(
            "SELECT status, path FROM images WHERE url LIKE ?", (f"%{special}",)
        ).fetchall()
        links = conn.execute(
            "SELECT qupost_id FROM post_images WHERE url LIKE ?", (f"%{special}",)
        ).fetchall()
    finally:
        conn.close()
    assert len(rows) == 1 and rows[0][0] == "stored" and rows[0][1], rows
    assert links == [(later.id,)]
