"""Publishing part of the catalog: the export window and the crawl's rolling limit.

The catalog always keeps everything; only the tree changes.  In-process tests
build a small catalog directly; the end-to-end ones crawl the fake site.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from crawler.channels import CHANNELS
from crawler.config import ConfigError, parse_window
from fakesite.server import FakeServer
from fakesite.site import FakeArticle, build_site
from storage.article import Article, ImageRecord, ImageRef
from storage.check import check_catalog, repair_catalog
from storage.export import ExportResult, export_tree
from storage.hexo import RenderOptions
from storage.repository import POSTS, Repository, Window
from tests.conftest import export_catalog, run_crawl, split_post

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST = datetime(2021, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
CRAWLED = datetime(2021, 12, 20, tzinfo=UTC)
# Article i is published i days after FIRST, listed under channel 1 (even i) or 6 (odd i).
IDS = [str(1638300000 + i) for i in range(8)]


def image_path(qupost_id: str) -> str:
    return f"2021/12/01/{qupost_id}.jpeg"


def build_catalog(tmp_path: Path) -> tuple[Repository, Path]:
    repo = Repository.open(f"sqlite:///{tmp_path / 'qupost.db'}")
    store = tmp_path / "store"
    with repo.transaction() as tx:
        for i, qupost_id in enumerate(IDS):
            origin = f"http://static.1sapp.com/qupost/img/{qupost_id}.jpeg"
            record = ImageRecord(origin, "stored", image_path(qupost_id), 64, 48, "jpeg")
            (store / image_path(qupost_id)).parent.mkdir(parents=True, exist_ok=True)
            (store / image_path(qupost_id)).write_bytes(f"jpeg {qupost_id}".encode())
            tx.record_images([record], None, CRAWLED)
            article = Article(
                qupost_id,
                f"http://html2.qktoutiao.com/detail/2021/12/01/{qupost_id}.html",
                channels=(1 if i % 2 == 0 else 6,),
                crawled_at=CRAWLED,
                title=f"文章{i}",
                author="封面新闻",
                published_at=FIRST + timedelta(days=i),
                date_source="list",
                body_html=f'<p>正文{i}</p><p><img src="{origin}" data-size="64,48"></p>',
                image_refs=(ImageRef(origin, 64, 48),),
                images={origin: record},
            )
            assert tx.upsert_article(article) == "new"
    return repo, store


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[tuple[Repository, Path]]:
    repo, store = build_catalog(tmp_path)
    yield repo, store
    repo.close()


def in_tree(blog: Path) -> list[str]:
    return sorted(
        p.name[len("qupost-") : -len(".md")] for p in (blog / "_posts").glob("qupost-*.md")
    )


def export(
    repo: Repository, store: Path, blog: Path, window: Window, on_deleted: str = "unpublish"
) -> ExportResult:
    render = RenderOptions(tag_names=CHANNELS, on_deleted=on_deleted)
    return export_tree(repo, blog, render, store, window=window)


def test_since_and_until_choose_by_publish_date(
    catalog: tuple[Repository, Path], tmp_path: Path
) -> None:
    repo, store = catalog
    blog = tmp_path / "blog"
    window = parse_window(SHANGHAI, since="2021-12-03", until="2021-12-05")
    result = export(repo, store, blog, window)
    # 2021-12-03 10:00 through 2021-12-05 10:00 Shanghai time: articles 2, 3 and 4.
    assert in_tree(blog) == IDS[2:5]
    assert result.posts == result.posts_written == 3


def test_channels_and_max_posts(catalog: tuple[Repository, Path], tmp_path: Path) -> None:
    repo, store = catalog
    blog = tmp_path / "blog"
    export(repo, store, blog, parse_window(SHANGHAI, channels="娱乐"))
    assert in_tree(blog) == [IDS[i] for i in (1, 3, 5, 7)]
    export(repo, store, tmp_path / "newest", parse_window(SHANGHAI, max_posts="3"))
    assert in_tree(tmp_path / "newest") == IDS[5:]
    export(repo, store, tmp_path / "both", parse_window(SHANGHAI, channels="1", max_posts="2"))
    assert in_tree(tmp_path / "both") == [IDS[4], IDS[6]]


def test_posts_outside_a_narrower_window_leave_the_tree_and_nothing_else_does(
    catalog: tuple[Repository, Path], tmp_path: Path
) -> None:
    repo, store = catalog
    blog = tmp_path / "blog"
    export(repo, store, blog, Window())
    assert in_tree(blog) == IDS
    own = blog / "_posts" / "hello-world.md"
    own.write_text("---\ntitle: mine\n---\n", "utf-8")
    stranger = blog / "_posts" / "qupost-1999999999.md"  # not in this catalog
    stranger.write_text("---\ntitle: another catalog\n---\n", "utf-8")
    own_image = blog / "images" / "qupost" / "mine.png"
    own_image.write_bytes(b"png")

    result = export(repo, store, blog, parse_window(SHANGHAI, max_posts="2"))

    assert result.posts_outside == 6
    assert in_tree(blog) == sorted([*IDS[6:], "1999999999"])
    assert own.is_file() and own_image.is_file()
    # Copies only the removed posts used are gone; the store is untouched.
    copies = blog / "images" / "qupost"
    assert sorted(p.name for p in copies.rglob("*.jpeg")) == [f"{i}.jpeg" for i in IDS[6:]]
    assert result.images_pruned == 6
    assert all((store / image_path(i)).is_file() for i in IDS)
    with repo.reading() as tx:
        assert len(tx.select_post_ids(Window())) == len(IDS)

    # Widening the window again brings every post back.
    export(repo, store, blog, Window())
    assert in_tree(blog) == sorted([*IDS, "1999999999"])


def test_deleted_articles_do_not_count_towards_the_newest_n(
    catalog: tuple[Repository, Path], tmp_path: Path
) -> None:
    repo, store = catalog
    with repo.transaction() as tx:
        assert tx.mark_deleted(IDS[7], CRAWLED)
    newest_two = parse_window(SHANGHAI, max_posts="2")
    export(repo, store, tmp_path / "unpublish", newest_two)
    assert in_tree(tmp_path / "unpublish") == IDS[5:7]
    export(repo, store, tmp_path / "keep", newest_two, on_deleted="keep")
    assert in_tree(tmp_path / "keep") == IDS[6:]


def test_a_second_export_changes_no_byte_and_no_file_time(
    catalog: tuple[Repository, Path], tmp_path: Path
) -> None:
    repo, store = catalog
    blog = tmp_path / "blog"
    window = parse_window(SHANGHAI, since="2021-12-02")
    first = export(repo, store, blog, window)
    assert first.images_linked + first.images_copied == first.images == 7
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in blog.rglob("*") if p.is_file()}
    time.sleep(0.02)
    again = export(repo, store, blog, window)
    assert (again.posts_written, again.images_linked, again.images_copied) == (0, 0, 0)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in blog.rglob("*") if p.is_file()}
    assert after == before


def test_images_are_hard_linked_from_the_store_on_the_same_file_system(
    catalog: tuple[Repository, Path], tmp_path: Path
) -> None:
    repo, store = catalog
    blog = tmp_path / "blog"
    result = export(repo, store, blog, Window())
    assert result.images_linked == len(IDS) and result.images_copied == 0
    copy = blog / "images" / "qupost" / image_path(IDS[0])
    assert os.path.samefile(copy, store / image_path(IDS[0]))


def test_images_are_copied_when_links_are_refused(
    catalog: tuple[Repository, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    repo, store = catalog
    blog = tmp_path / "blog"
    result = export(repo, store, blog, Window())
    assert result.images_copied == len(IDS) and result.images_linked == 0
    copy = blog / "images" / "qupost" / image_path(IDS[0])
    assert copy.read_bytes() == (store / image_path(IDS[0])).read_bytes()
    assert not os.path.samefile(copy, store / image_path(IDS[0]))
    assert export(repo, store, blog, Window()).images_copied == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"since": "yesterday"}, "--since: expected a date"),
        ({"until": "2021-13-01"}, "--until: expected a date"),
        ({"since": "2021-12-05", "until": "2021-12-04"}, "must come after --since"),
        ({"channels": "不存在"}, "--channels: unknown channel"),
        ({"max_posts": "0"}, "--max-posts: must be at least 1"),
        ({"max_posts": "ten"}, "--max-posts: expected a whole number"),
    ],
)
def test_bad_window_options_are_one_line_errors(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_window(SHANGHAI, **options)


def test_window_dates_take_the_zone_unless_they_carry_one() -> None:
    window = parse_window(SHANGHAI, since="2021-12-03T08:00", until="2021-12-04T00:00+00:00")
    assert window.since == datetime(2021, 12, 3, 0, 0, tzinfo=UTC)
    assert window.until == datetime(2021, 12, 4, 0, 0, tzinfo=UTC)
    # A bare --until date takes in that whole day.
    day = parse_window(SHANGHAI, until="2021-12-04").until
    assert day == datetime(2021, 12, 5, tzinfo=SHANGHAI)


@pytest.mark.e2e
def test_export_command_window_and_its_errors(tmp_path: Path) -> None:
    site = build_site(6, channels=(1, 6))
    with FakeServer(site) as server:
        crawl = run_crawl(server, tmp_path, "cid=1,6")
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    db = tmp_path / "qupost.db"
    out = tmp_path / "export"
    result = export_catalog(db, crawl.source, out, "--max-posts", "2", "--channels", "热点")
    assert result.returncode == 0, result.stderr
    hot = sorted(
        (a for a in site.articles.values() if a.channels == [1]),
        key=lambda a: a.published,
        reverse=True,
    )
    assert in_tree(out) == sorted(a.id for a in hot[:2])
    for name in (out / "_posts").iterdir():
        matter, _ = split_post(name.read_text("utf-8"))
        assert matter["tags"] == ["热点"]

    bad = export_catalog(db, crawl.source, out, "--since", "last week")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "qupost: error: --since: expected a date such as 2021-12-04 or 2021-12-04T08:00, "
        "got 'last week'"
    ]
    assert in_tree(out) == sorted(a.id for a in hot[:2])


@pytest.mark.e2e
def test_keep_posts_trims_the_crawl_tree_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    site = build_site(8, channels=(1,))
    newest = sorted(site.articles.values(), key=lambda a: a.published, reverse=True)
    with FakeServer(site) as server:
        first = run_crawl(server, tmp_path, "cid=1", QUPOST_KEEP_POSTS=3)
        assert first.returncode == 0, first.stderr[-3000:]
        assert in_tree(first.source) == sorted(a.id for a in newest[:3])
        repo = Repository.open(first.db_url)
        try:
            with repo.reading() as tx:
                assert len(tx.select_post_ids(Window())) == 8
        finally:
            repo.close()
        before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.posts.iterdir()}

        time.sleep(0.02)
        second = run_crawl(server, tmp_path, "cid=1", QUPOST_KEEP_POSTS=3)
        assert second.returncode == 0, second.stderr[-3000:]
        after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in second.posts.iterdir()}
        assert after == before

        # A newer article arrives: it joins the tree and the oldest kept one leaves.
        fresh = site.add_article(
            FakeArticle(
                id="1638700001",
                title="最新的一篇",
                published=newest[0].published + timedelta(hours=1),
                body=[("p", "新的正文。")],
            )
        )
        third = run_crawl(server, tmp_path, "cid=1", QUPOST_KEEP_POSTS=3)
    assert third.returncode == 0, third.stderr[-3000:]
    assert in_tree(third.source) == sorted([fresh.id, newest[0].id, newest[1].id])


def test_catalog_check_and_repair_respect_the_rolling_limit(
    catalog: tuple[Repository, Path], tmp_path: Path
) -> None:
    repo, store = catalog
    blog = tmp_path / "blog"
    export(repo, store, blog, parse_window(SHANGHAI, max_posts="3"))
    url = f"sqlite:///{tmp_path / 'qupost.db'}"
    options = RenderOptions(tag_names=CHANNELS)

    assert check_catalog(url, blog, None, options, keep_posts=3).ok
    # Without the limit, the five older posts are missing from the tree.
    assert check_catalog(url, blog, None, options).rows_without_post == IDS[:5]

    (blog / "_posts" / f"qupost-{IDS[7]}.md").unlink()
    report = check_catalog(url, blog, None, options, keep_posts=3)
    assert report.rows_without_post == [IDS[7]]
    tag_ids = {name: cid for cid, name in CHANNELS.items()}
    repaired = repair_catalog(url, blog, options, tag_ids, keep_posts=3)
    assert repaired.posts_rendered == 1
    assert in_tree(blog) == IDS[5:]


def test_hugo_export_takes_the_same_window_and_changes_nothing_twice(
    catalog: tuple[Repository, Path], tmp_path: Path
) -> None:
    repo, store = catalog
    site = tmp_path / "site"
    options = RenderOptions(tag_names=CHANNELS)
    first = export_tree(repo, site, options, store, generator="hugo")
    posts = site / "content" / "posts"
    assert sorted(p.name for p in posts.iterdir()) == [f"qupost-{i}.html" for i in IDS]
    assert (first.posts_written, first.images_linked) == (len(IDS), len(IDS))
    static = site / "static" / "images" / "qupost"
    assert (static / image_path(IDS[0])).read_bytes() == (store / image_path(IDS[0])).read_bytes()

    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file()}
    again = export_tree(repo, site, options, store, generator="hugo")
    assert (again.posts_written, again.images_linked, again.images_copied) == (0, 0, 0)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file()} == (
        before
    )

    window = parse_window(SHANGHAI, channels="热点", max_posts="2")
    narrowed = export_tree(repo, site, options, store, window=window, generator="hugo")
    assert sorted(p.name for p in posts.iterdir()) == [f"qupost-{IDS[i]}.html" for i in (4, 6)]
    assert narrowed.posts_outside == len(IDS) - 2
    assert sorted(p.name for p in static.rglob("*.jpeg")) == [f"{IDS[i]}.jpeg" for i in (4, 6)]


def mark_repost(repo: Repository, repost: str, story: str) -> None:
    with repo.transaction() as tx:
        tx.conn.execute(update(POSTS).where(POSTS.c.qupost_id == repost).values(duplicate_of=story))


@pytest.mark.parametrize("policy", ["keep", "mark", "skip"])
def test_reposts_follow_the_duplicate_policy_in_both_generators_and_the_newest_n(
    catalog: tuple[Repository, Path], tmp_path: Path, policy: str
) -> None:
    repo, store = catalog
    mark_repost(repo, IDS[7], IDS[6])
    options = RenderOptions(tag_names=CHANNELS, duplicates=policy)
    newest_two = parse_window(SHANGHAI, max_posts="2")
    blog, site = tmp_path / "blog", tmp_path / "site"
    export_tree(repo, blog, options, store, window=newest_two)
    export_tree(repo, site, options, store, window=newest_two, generator="hugo")
    hugo_posts = site / "content" / "posts"
    if policy == "keep":
        assert in_tree(blog) == IDS[6:]
        hexo, _ = split_post((blog / "_posts" / f"qupost-{IDS[7]}.md").read_text("utf-8"))
        hugo, _ = split_post((hugo_posts / f"qupost-{IDS[7]}.html").read_text("utf-8"))
        assert "duplicate_of" not in hexo and "published" not in hexo
        assert hugo["draft"] is False and "duplicate_of" not in hugo["params"]  # type: ignore[operator]
    else:
        # A hidden or missing re-post is not one of the newest posts.
        assert in_tree(blog) == IDS[5:7]
        assert sorted(p.name for p in hugo_posts.iterdir()) == [
            f"qupost-{i}.html" for i in IDS[5:7]
        ]
        everything = tmp_path / "all"
        export_tree(repo, everything, options, store, generator="hugo")
        export_tree(repo, everything / "hexo", options, store)
        repost_hugo = everything / "content" / "posts" / f"qupost-{IDS[7]}.html"
        repost_hexo = everything / "hexo" / "_posts" / f"qupost-{IDS[7]}.md"
        if policy == "skip":
            assert not repost_hugo.exists() and not repost_hexo.exists()
        else:
            hugo, _ = split_post(repost_hugo.read_text("utf-8"))
            hexo, _ = split_post(repost_hexo.read_text("utf-8"))
            assert hugo["draft"] is True and hugo["params"]["duplicate_of"] == IDS[6]  # type: ignore[index]
            assert hexo["published"] is False and hexo["duplicate_of"] == IDS[6]
