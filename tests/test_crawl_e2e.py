"""End-to-end: ``scrapy crawl qupost`` as a real process against the fake site."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest
from sqlalchemy import create_engine, select

from fakesite.server import FakeServer
from fakesite.site import BEIJING, FakeArticle, FakeSite, build_site
from storage.models import Image, Post
from tests.conftest import run_crawl

pytestmark = pytest.mark.e2e


def images_in(body: str) -> list[lxml.html.HtmlElement]:
    return list(lxml.html.fragment_fromstring(body.strip()).iter("img"))


def test_one_post_per_article_with_every_field(tmp_path: Path) -> None:
    site = build_site(12, channels=(1, 6), images_per_article=2)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1,6", "pages=3", "limit=4")
        listed = server.site.requests_to("/content/outList")
    assert result.returncode == 0, result.stderr[-3000:]
    assert listed >= 4
    files = result.post_files()
    assert [f.name for f in files] == sorted(f"qupost-{i}.md" for i in site.articles)
    for qupost_id, article in site.articles.items():
        matter, body = result.post(qupost_id)
        assert matter["title"] == article.title
        assert matter["categories"] == ["新媒体", "趣头条", "分类"]
        assert matter["tags"] == ["热点" if article.channels == [1] else "娱乐"]
        assert matter["author"] == (article.source_name or article.nickname)
        assert matter["comments"] is False
        expected_date = article.published.strftime("%a, %d %b %Y %H:%M:%S GMT")
        assert matter["date"] == expected_date
        # Never refreshed: the updated date a theme shows is the publish date.
        assert matter["updated"] == expected_date
        assert matter["original_url"] == f"{server.base_url}{article.page_path}"
        assert matter["qupost_id"] == qupost_id
        assert matter["disableNunjucks"] is True
        imgs = images_in(body)
        assert len(imgs) == 2
        assert matter["headimg"] == matter["thumbnail"] == imgs[0].get("src")
        assert list(matter)[:4] == ["title", "categories", "tags", "headimg"]


def test_stored_bytes_and_measured_sizes(tmp_path: Path) -> None:
    site = FakeSite()
    day = "2021/12/04"
    site.add_image(f"/qupost/img/{day}/a.jpeg", 800, 600, seed=1)
    # Stored 400x300 but EXIF says rotate 90°: displayed 300x400.
    from fakesite.images import make_image

    rotated = make_image(400, 300, "jpeg", seed=2, exif_orientation=6)
    site.add_image(f"/qupost/img/{day}/b.jpeg", 300, 400, data=rotated)
    # A PNG served under a .jpeg name: the stored file must say .png.
    site.add_image(f"/qupost/img/{day}/c.jpeg", 120, 80, fmt="png", content_type="image/jpeg")
    site.add_article(
        FakeArticle(
            id="1638625100",
            title="尺寸测试",
            published=datetime(2021, 12, 4, 5, 0, tzinfo=UTC),
            body=[
                ("p", "正文"),
                ("img", f"/qupost/img/{day}/a.jpeg", "100,100"),  # the page lies
                ("img", f"/qupost/img/{day}/b.jpeg", "400,300"),
                ("img", f"/qupost/img/{day}/c.jpeg", None),
            ],
        )
    )
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
    assert result.returncode == 0, result.stderr[-3000:]
    _, body = result.post("1638625100")
    imgs = images_in(body)
    assert [i.get("data-size") for i in imgs] == ["800,600", "300,400", "120,80"]
    assert imgs[2].get("src").endswith(".png")
    for img, path in zip(imgs, ["a", "b", "c"], strict=True):
        stored = (result.source / img.get("src").lstrip("/")).read_bytes()
        assert stored == site.images[f"/qupost/img/{day}/{path}.jpeg"].data

    engine = create_engine(result.db_url)
    with engine.connect() as conn:
        rows = {r.url.rsplit("/", 1)[1]: r for r in conn.execute(select(Image.__table__))}
    assert (rows["a.jpeg"].width, rows["a.jpeg"].height, rows["a.jpeg"].status) == (
        800,
        600,
        "stored",
    )
    assert rows["c.jpeg"].format == "png"


def test_database_rows_match_posts(tmp_path: Path) -> None:
    site = build_site(5)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
    assert result.returncode == 0, result.stderr[-3000:]
    engine = create_engine(result.db_url)
    with engine.connect() as conn:
        posts = {r.qupost_id: r for r in conn.execute(select(Post.__table__))}
        link_count = conn.exec_driver_sql("SELECT count(*) FROM post_images").scalar()
        runs = conn.exec_driver_sql("SELECT status, articles_new FROM runs").all()
    assert set(posts) == set(site.articles)
    for qupost_id, row in posts.items():
        matter, _ = result.post(qupost_id)
        assert row.title == matter["title"]
        assert row.original_url == matter["original_url"]
        assert row.published_at.tzinfo is not None
        assert row.published_at == site.articles[qupost_id].published
        assert row.date_source == "list"
    assert link_count == 10
    assert runs == [("finished", 5)]
    # The raw column is UTC text on SQLite: no local-time surprises for other readers.
    raw = sqlite3.connect(tmp_path / "qupost.db").execute("SELECT published_at FROM posts")
    assert all(str(v[0]).startswith("2021-12-04") for v in raw)


def test_list_quirks_ads_video_detail_and_jsonp_fallbacks(tmp_path: Path) -> None:
    site = build_site(4)
    ids = sorted(site.articles)
    site.articles[ids[0]].mode = "detail"
    site.articles[ids[1]].mode = "jsonp"
    site.articles[ids[2]].mode = "video"
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
        jsonp_hits = server.site.requests_to("/detail/jsonp/")
        detail_hits = server.site.requests_to("/detail/json/")
    assert result.returncode == 0, result.stderr[-3000:]
    names = {f.name for f in result.post_files()}
    assert names == {f"qupost-{ids[0]}.md", f"qupost-{ids[1]}.md", f"qupost-{ids[3]}.md"}
    assert jsonp_hits == 1 and detail_hits == 1
    for qupost_id in (ids[0], ids[1]):
        _, body = result.post(qupost_id)
        assert "第1段" in body and len(images_in(body)) == 2
    assert "'qupost/list/skipped/non_article': 1" in result.stderr
    assert "'qupost/list/skipped/ad': 1" in result.stderr


def test_deleted_articles_give_no_post_one_line_and_a_stat(tmp_path: Path) -> None:
    site = build_site(3)
    ids = sorted(site.articles)
    site.articles[ids[0]].mode = "deleted"
    site.articles[ids[1]].mode = "nosuchkey"
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [f.name for f in result.post_files()] == [f"qupost-{ids[2]}.md"]
    assert f"article {ids[0]} was deleted at the source (404)" in result.stderr
    assert f"article {ids[1]} was deleted at the source (NoSuchKey)" in result.stderr
    assert "'qupost/articles/deleted': 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_url_mode_and_date_fallbacks(tmp_path: Path) -> None:
    site = FakeSite()
    published = datetime(2021, 12, 5, 0, 30, tzinfo=BEIJING)
    site.add_article(
        FakeArticle(
            id="1638640000",
            title="标题里有''引号''和\n换行",
            published=published,
            info_time="2021年12月05日 00:30",
            body=[("p", "正文")],
        )
    )
    with FakeServer(site) as server:
        url = f"{server.base_url}/detail/2021/12/05/1638640000.html?key=abc&x=1"
        result = run_crawl(server, tmp_path, f"url={url}")
    assert result.returncode == 0, result.stderr[-3000:]
    matter, _ = result.post("1638640000")
    assert "tags" not in matter
    # No list row in url= mode: the page's Chinese .info time, read in Asia/Shanghai.
    assert matter["date"] == "Sat, 04 Dec 2021 16:30:00 GMT"
    assert matter["title"] == '标题里有"引号"和 换行'
    assert matter["author"] == "封面新闻"
    assert "headimg" not in matter and "thumbnail" not in matter


def test_iso_dates_butterfly_keys_and_origin_mode(tmp_path: Path) -> None:
    site = build_site(2)
    with FakeServer(site) as server:
        result = run_crawl(
            server,
            tmp_path,
            "cid=1",
            QUPOST_DATE_FORMAT="iso",
            QUPOST_COVER_KEYS='["cover", "top_img"]',
            QUPOST_IMAGE_MODE="origin",
        )
    assert result.returncode == 0, result.stderr[-3000:]
    article = site.articles[sorted(site.articles)[0]]
    matter, body = result.post(article.id)
    local = article.published.astimezone(BEIJING).isoformat()
    assert matter["date"] == local
    assert list(matter)[3:5] == ["cover", "top_img"]
    assert "headimg" not in matter and "thumbnail" not in matter
    first = images_in(body)[0].get("src")
    assert first.startswith(server.base_url + "/qupost/img/") and "imageView2" not in first
    assert matter["cover"] == first
    # Every mode downloads: the stored copy exists even though src is the origin.
    assert any((result.source / "images" / "qupost").rglob("*.jpeg"))


def test_bad_arguments_give_one_line_and_exit_2(tmp_path: Path) -> None:
    site = build_site(1)
    with FakeServer(site) as server:
        for arg, fragment in [
            ("cid=不存在", "unknown channel"),
            ("pages=0", "-a pages"),
            ("url=http://example.com/x", "-a url"),
            ("bogus=1", "unknown spider argument"),
        ]:
            result = run_crawl(server, tmp_path, arg)
            assert result.returncode == 2, (arg, result.stderr[-2000:])
            lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
            assert len(lines) == 1 and fragment in lines[0], (arg, lines)
            assert lines[0].startswith("qupost: error: ")
            assert "Traceback" not in result.stderr
        result = run_crawl(server, tmp_path, "cid=1", QUPOST_IMAGE_MODE="bogus")
        assert result.returncode == 2 and "QUPOST_IMAGE_MODE" in result.stderr
        assert not (tmp_path / "source" / "_posts").exists()


def test_list_api_unreadable_exits_nonzero(tmp_path: Path) -> None:
    site = build_site(1)
    with FakeServer(site) as server:
        from fakesite.site import Fault

        site.faults["/content/outList"] = Fault(status=200, body=b"<html>maintenance</html>")
        result = run_crawl(server, tmp_path, "cid=1")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "list API unusable" in result.stderr
    assert "exit status 2" in result.stderr


def test_timezone_setting_reads_naive_page_times(tmp_path: Path) -> None:
    site = FakeSite()
    site.add_article(
        FakeArticle(
            id="1638650000",
            title="时区",
            published=datetime(2021, 12, 5, 8, 0, tzinfo=UTC),
            list_publish_time=False,
            info_time="2021-12-05 08:00",
            body=[("p", "x")],
        )
    )
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1", QUPOST_TIMEZONE="UTC")
    assert result.returncode == 0, result.stderr[-3000:]
    matter, _ = result.post("1638650000")
    assert matter["date"] == "Sun, 05 Dec 2021 08:00:00 GMT"


def test_list_pages_are_read_only_as_fast_as_articles_are_fetched(tmp_path: Path) -> None:
    # As on the real site, the list API has a host of its own (here "localhost",
    # the articles on 127.0.0.1). List pages must not run ahead of the articles
    # they list, or every article of a long crawl waits in memory.
    site = build_site(120, images_per_article=0)
    limit, concurrency = 10, 2
    with FakeServer(site) as server:
        port = server.base_url.rsplit(":", 1)[1]
        result = run_crawl(
            server,
            tmp_path,
            "cid=1",
            "pages=12",
            f"limit={limit}",
            QUPOST_LIST_API=server.list_api.replace("127.0.0.1", "localhost"),
            QUPOST_ALLOWED_DOMAINS="127.0.0.1",
            QUPOST_TRUSTED_HOSTS=f"127.0.0.1:{port}",
            CONCURRENT_REQUESTS=concurrency,
            CONCURRENT_REQUESTS_PER_DOMAIN=concurrency,
        )
        log = [path for path, _ in site.log]
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(result.post_files()) == 120
    articles_before = [
        sum(1 for p in log[:i] if p.startswith("/detail/"))
        for i, path in enumerate(log)
        if path.startswith("/content/outList")
    ]
    # Page k+1 is asked for only once page k's articles have (nearly all) been.
    for page, fetched in enumerate(articles_before[1:], start=1):
        assert fetched >= page * limit - concurrency, articles_before
