"""``scrapy catalog --check`` and ``--repair``: the catalog held against the post files."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crawler.channels import CHANNELS
from fakesite.server import FakeServer
from fakesite.site import build_site
from storage.article import Article
from storage.check import check_catalog, parse_date, parse_post_file, repair_catalog
from storage.hexo import RenderOptions, render_post
from storage.repository import Repository
from tests.conftest import run_crawl, run_scrapy
from tests.test_incremental import snapshot

pytestmark = pytest.mark.e2e

TAG_IDS = {name: cid for cid, name in CHANNELS.items()}
# The end-to-end case crawls 300 articles (about 18 s on a 2-core machine).
E2E_ARTICLES = 300


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One consistent crawl of 12 articles in two channels; tests work on copies of it."""
    out = tmp_path_factory.mktemp("crawled")
    with FakeServer(build_site(12, channels=(1, 6))) as server:
        result = run_crawl(server, out, "cid=1,6")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(result.post_files()) == 12
    return out


@pytest.fixture
def tree(crawled: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(crawled, target)
    return target


def settings(out: Path) -> dict[str, Any]:
    return {
        "QUPOST_DATABASE_URL": f"sqlite:///{out / 'qupost.db'}",
        "QUPOST_SOURCE_DIR": str(out / "source"),
    }


def catalog(out: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return run_scrapy("catalog", mode, **settings(out))


def drop_catalog(out: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (out / f"qupost.db{suffix}").unlink(missing_ok=True)


def test_a_consistent_crawl_checks_clean(tree: Path) -> None:
    result = catalog(tree, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary: consistent: 12 rows, 12 post files, 24 stored images" in result.stdout
    assert "catalog integrity: ok" in result.stdout
    assert result.stderr == ""


def test_missing_and_stray_posts_are_named_then_repaired(tree: Path) -> None:
    posts = tree / "source" / "_posts"
    files = sorted(posts.glob("qupost-*.md"))
    gone = {p.name: p.read_bytes() for p in files[3:5]}
    for name in gone:
        (posts / name).unlink()
    stray = (
        files[0]
        .read_text("utf-8")
        .replace(f"qupost_id: '{files[0].stem.removeprefix('qupost-')}'", "qupost_id: '999'")
    )
    assert "qupost_id: '999'" in stray
    (posts / "qupost-999.md").write_text(stray, "utf-8")

    check = catalog(tree, "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    missing_line = next(line for line in lines if "rows without a post file" in line)
    assert "rows without a post file: 2 " in missing_line
    for name in gone:
        assert name.removeprefix("qupost-").removesuffix(".md") in missing_line
    assert any("post files without a row: 1 (e.g. _posts/qupost-999.md)" in line for line in lines)
    assert "Traceback" not in check.stderr

    stray_before = (posts / "qupost-999.md").stat().st_mtime_ns
    repair = catalog(tree, "--repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "rows rebuilt from post files: 1" in repair.stdout
    assert "posts rendered again from the catalog: 2" in repair.stdout
    for name, data in gone.items():
        assert (posts / name).read_bytes() == data
    assert (posts / "qupost-999.md").stat().st_mtime_ns == stray_before
    again = catalog(tree, "--check")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_garbage_catalog_is_reported_then_moved_aside(tree: Path) -> None:
    drop_catalog(tree)
    garbage = b"this is not a SQLite database\n" * 200
    (tree / "qupost.db").write_bytes(garbage)
    posts_before = snapshot(tree / "source" / "_posts")

    check = catalog(tree, "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    integrity = [line for line in check.stdout.splitlines() if "integrity" in line]
    assert len(integrity) == 1
    assert "unreadable" in integrity[0] and "not a database" in integrity[0]
    assert "Traceback" not in check.stderr + check.stdout
    assert (tree / "qupost.db").read_bytes() == garbage

    repair = catalog(tree, "--repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "rows rebuilt from post files: 12" in repair.stdout
    aside = list(tree.glob("qupost.db.damaged-*"))
    assert [p.read_bytes() for p in aside] == [garbage]
    assert snapshot(tree / "source" / "_posts") == posts_before
    assert catalog(tree, "--check").returncode == 0


def test_bad_input_exits_2_with_one_line(tree: Path) -> None:
    both = run_scrapy("catalog", "--check", "--repair", **settings(tree))
    assert both.returncode == 2
    bad = run_scrapy("catalog", "--check", **{**settings(tree), "QUPOST_ON_DELETED": "shred"})
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert bad.stderr.startswith("qupost: error: QUPOST_ON_DELETED")


def test_rebuilt_catalog_makes_the_rerun_fetch_and_touch_nothing(tmp_path: Path) -> None:
    site = build_site(E2E_ARTICLES, channels=(1, 6), images_per_article=1, paragraphs=2)
    pages = ("pages=2", f"limit={E2E_ARTICLES // 4}")
    with FakeServer(site) as server:
        first = run_crawl(server, tmp_path, "cid=1,6", *pages, timeout=300)
        assert first.returncode == 0, first.stderr[-3000:]
        assert len(first.post_files()) == E2E_ARTICLES
        before = snapshot(first.source)
        drop_catalog(tmp_path)

        repair = catalog(tmp_path, "--repair")
        assert repair.returncode == 0, repair.stdout + repair.stderr
        assert f"rows rebuilt from post files: {E2E_ARTICLES}" in repair.stdout
        assert snapshot(first.source) == before

        server.site.reset_log()
        time.sleep(0.05)
        second = run_crawl(server, tmp_path, "cid=1,6", *pages, timeout=300)
        assert second.returncode == 0, second.stderr[-3000:]
        assert server.site.requests_to("/content/outList") > 0
        assert server.site.requests_to("/detail/") == 0
        assert server.site.requests_to("/qupost/") == 0
        assert snapshot(first.source) == before
        # Fetching the articles again finds their images where their URLs put
        # them: measured from disk, not downloaded again.
        refreshed = run_crawl(server, tmp_path, "cid=1,6", *pages, "refresh=1", timeout=300)
        assert refreshed.returncode == 0, refreshed.stderr[-3000:]
        assert server.site.requests_to("/detail/") == E2E_ARTICLES
        assert server.site.requests_to("/qupost/") == 0


# --- in-process: storage.check ---------------------------------------------------------


def test_missing_image_files_and_removed_posts(tree: Path) -> None:
    url = settings(tree)["QUPOST_DATABASE_URL"]
    source = tree / "source"
    images = source / "images" / "qupost"
    victim = sorted(images.rglob("*.jpeg"))[0]
    victim.unlink()
    report = check_catalog(url, source, images, RenderOptions())
    assert report.images_missing == [str(victim.relative_to(images))]
    assert not report.ok

    post = sorted((source / "_posts").glob("*.md"))[0]
    qupost_id = post.stem.removeprefix("qupost-")
    repo = Repository.open(url)
    with repo.transaction() as tx:
        assert tx.mark_deleted(qupost_id, datetime.now(UTC))
    repo.close()
    post.unlink()
    kept = check_catalog(url, source, images, RenderOptions(on_deleted="unpublish"))
    assert kept.rows_without_post == [qupost_id]
    removed = check_catalog(url, source, images, RenderOptions(on_deleted="remove"))
    assert removed.rows_without_post == []


@pytest.mark.parametrize("date_format", ["rfc1123", "iso", "%Y年%m月%d日 %H:%M"])
def test_a_post_file_reads_back_into_the_same_post(tmp_path: Path, date_format: str) -> None:
    options = RenderOptions(date_format=date_format, tag_names=CHANNELS)
    article = Article(
        qupost_id="1638600042",
        original_url="http://html2.qktoutiao.com/detail/2021/12/04/1638600042.html",
        channels=(1, 7),
        title="1e3: 标题 {{ x }}",
        author="某某",
        published_at=datetime(2021, 12, 4, 5, 6, 7, tzinfo=UTC),
        body_html='<p>正文</p>\n<img src="/images/qupost/2021/12/04/ab.jpeg" data-size="1,2">',
        updated_at=datetime(2021, 12, 5, 1, 2, 3, tzinfo=UTC),
    )
    path = tmp_path / "_posts" / "qupost-1638600042.md"
    path.parent.mkdir()
    text = render_post(article, options)
    path.write_text(text, "utf-8")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    back = parse_post_file(path, TAG_IDS, options, now)
    assert back.channels == (1, 7) and back.title == article.title
    assert back.date_source == "crawl" and back.crawled_at == now
    if date_format == "%Y年%m月%d日 %H:%M":  # unreadable: the file's time instead
        assert back.published_at == datetime.fromtimestamp(path.stat().st_mtime, UTC)
    else:
        assert back.published_at == article.published_at
        assert render_post(back, options) == text


def test_parse_date_forms() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    want = datetime(2021, 12, 4, 5, 6, 7, tzinfo=UTC)
    assert parse_date("Sat, 04 Dec 2021 05:06:07 GMT", zone) == want
    assert parse_date("2021-12-04T13:06:07+08:00", zone) == want
    assert parse_date(datetime(2021, 12, 4, 13, 6, 7), zone) == want
    assert parse_date(want.astimezone(timezone(timedelta(hours=8))), zone) == want
    assert parse_date("yesterday", zone) is None


def test_repair_rebuilds_a_lost_catalog_in_process(tree: Path) -> None:
    drop_catalog(tree)
    url = settings(tree)["QUPOST_DATABASE_URL"]
    source = tree / "source"
    options = RenderOptions(tag_names=CHANNELS)
    assert check_catalog(url, source, None, options).integrity.startswith("missing")
    assert not (tree / "qupost.db").exists()
    report = repair_catalog(url, source, options, TAG_IDS)
    assert report.created and report.rows_rebuilt == 12 and report.posts_rendered == 0
    ids = {p.stem.removeprefix("qupost-") for p in (source / "_posts").glob("*.md")}
    repo = Repository.open(url)
    try:
        assert repo.known_ids(ids) == ids
        with repo.reading() as tx:
            channels = {tx.load_article(i).channels for i in ids}  # type: ignore[union-attr]
    finally:
        repo.close()
    assert channels == {(1,), (6,)}
