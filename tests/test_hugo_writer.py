"""Tests for storage.hugo: the Hugo content file, its front matter, deletions and the export.

``tests/data/golden/hugo/default.html`` is the exact expected file for one
article, written by hand from the README's Hugo post format.  The real-Hugo
build of a crawled catalog is ``tests/test_hugo.py``.
"""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crawler.channels import CHANNELS
from storage.article import Article, ImageRecord
from storage.export import site_writer
from storage.hexo import RenderOptions
from storage.hugo import (
    HugoWriter,
    hugo_date,
    hugo_post_path,
    literal_text,
    render_hugo_post,
)
from tests.conftest import data_file, run_scrapy, split_post

IMAGE_URL = "http://static.1sapp.com/qupost/image/1d0e.jpeg"
IMAGE_PATH = "2021/12/04/1d0e.jpeg"
OPTIONS = RenderOptions(tag_names=CHANNELS)
# Hugo's keys in the order qupost writes them; optional keys are simply absent.
KEY_ORDER = (
    "title", "slug", "date", "lastmod", "draft", "categories", "tags", "summary",
    "description", "images", "isCJKLanguage", "params",
)  # fmt: skip


def article(**changes: object) -> Article:
    base = Article(
        qupost_id="1638625001",
        original_url="http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html",
        title="“十四五”期间重庆将改造老旧小区住宅4.35万栋",
        author="封面新闻",
        published_at=datetime(2021, 12, 4, 13, 49, 12, tzinfo=UTC),
        date_source="list",
        body_html=(
            "<p>封面新闻 {{ page.title }} {{&lt; x &gt;}}</p>"
            f'<p><img src="{IMAGE_URL}" data-size="600,200"></p>'
        ),
        description="重庆将改造老旧小区<住宅>4.35万栋.",
        channels=(1, 7),
        images={IMAGE_URL: ImageRecord(IMAGE_URL, "stored", IMAGE_PATH, 600, 240, "jpeg")},
        updated_at=datetime(2021, 12, 6, 1, 2, 3, tzinfo=UTC),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_golden_post() -> None:
    want = data_file("golden/hugo/default.html").read_text("utf-8")
    assert render_hugo_post(article(), OPTIONS) == want


def test_front_matter_keys_and_order() -> None:
    matter, _ = split_post(render_hugo_post(article(), OPTIONS))
    assert list(matter) == list(KEY_ORDER)
    matter, _ = split_post(
        render_hugo_post(article(updated_at=None, description="", channels=(), images={}), OPTIONS)
    )
    # Without a stored summary (a row stored before summaries existed) the body gives one.
    assert list(matter) == [k for k in KEY_ORDER if k not in ("lastmod", "tags", "images")]
    assert matter["description"].startswith("封面新闻 {{ page.title }}")


@pytest.mark.parametrize(
    ("zone", "want"),
    [
        (ZoneInfo("Asia/Shanghai"), "2021-12-04T21:49:12+08:00"),
        (ZoneInfo("UTC"), "2021-12-04T13:49:12+00:00"),
        (ZoneInfo("America/New_York"), "2021-12-04T08:49:12-05:00"),
        (timezone(timedelta(hours=5, minutes=30)), "2021-12-04T19:19:12+05:30"),
    ],
)
def test_dates_are_rfc3339_with_the_offset_of_the_time_zone(zone: ZoneInfo, want: str) -> None:
    options = replace(OPTIONS, timezone=zone, date_format="%Y")  # the Hexo format is not used
    published = datetime(2021, 12, 4, 13, 49, 12, 999999, tzinfo=UTC)
    assert hugo_date(published, options) == want
    matter, _ = split_post(render_hugo_post(article(published_at=published), options))
    assert matter["date"] == want
    assert datetime.fromisoformat(str(matter["date"])) == published.replace(microsecond=0)


def test_no_cover_no_images_key() -> None:
    failed = {IMAGE_URL: ImageRecord(IMAGE_URL, "failed", reason="HTTP 404")}
    matter, body = split_post(render_hugo_post(article(images=failed), OPTIONS))
    assert "images" not in matter
    assert f'src="{IMAGE_URL}" data-size="600,200"' in body


def test_proxy_mode_cover_and_body_use_the_proxy() -> None:
    options = replace(OPTIONS, image_mode="proxy", image_proxy="https://proxy.example/?")
    matter, body = split_post(render_hugo_post(article(), options))
    assert matter["images"] == ["https://proxy.example/?" + IMAGE_URL]
    assert f'src="https://proxy.example/?{IMAGE_URL}"' in body


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "**粗** _斜_ # 标题 1. 列表 - 项 > 引用 [链](http://x/) `码` ![图](x.png)",
        "&amp; &lt; &#123; {{< x >}} {{% y %}}",
        '"引号" -- ... \\ | ~ ^ @ $',
    ],
)
def test_literal_text_leaves_no_ascii_punctuation(text: str) -> None:
    escaped = literal_text(text)
    assert html.unescape(escaped) == text
    assert not any(c in escaped.replace("&#", "").replace(";", "") for c in "<>*_#[]`{}\\&|~")
    assert literal_text("中文，全角标点。") == "中文，全角标点。"


def test_emoji_are_written_as_they_are() -> None:
    text = render_hugo_post(article(author="作者😀", title="标题😀"), OPTIONS)
    assert "author: 作者😀" in text and "title: 标题😀" in text
    assert "\\U" not in text


@pytest.mark.parametrize(
    ("policy", "draft"), [("keep", False), ("unpublish", True), ("remove", None)]
)
def test_deleted_articles(tmp_path: Path, policy: str, draft: bool | None) -> None:
    options = replace(OPTIONS, on_deleted=policy)
    writer = HugoWriter(tmp_path, options)
    path = hugo_post_path(tmp_path, "1638625001")
    assert path == tmp_path / "content" / "posts" / "qupost-1638625001.html"
    assert writer.write(article()) is True
    assert writer.write(article()) is False
    gone = article(deleted_at=datetime(2021, 12, 8, tzinfo=UTC))
    changed = writer.write(gone)
    if draft is None:
        assert changed and not path.exists()
        assert writer.write(gone) is False
    else:
        assert changed is draft
        assert split_post(path.read_text("utf-8"))[0]["draft"] is draft
    # An article that comes back is published again (under keep, it never left).
    assert writer.write(article()) is (policy != "keep")
    assert split_post(path.read_text("utf-8"))[0]["draft"] is False


def test_unsafe_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsafe post id"):
        HugoWriter(tmp_path, OPTIONS).write(article(qupost_id="../x"))


def test_generators() -> None:
    target = Path("/blog")
    hexo, images = site_writer("hexo", target, OPTIONS)
    assert (hexo.posts_dir, images) == (target / "_posts", target / "images" / "qupost")
    assert (
        hexo.path("1") == hexo.posts_dir / f"qupost-1{hexo.suffix}" == target / "_posts/qupost-1.md"
    )
    hugo, images = site_writer("hugo", target, OPTIONS)
    assert (hugo.posts_dir, images) == (target / "content/posts", target / "static/images/qupost")
    assert hugo.path("1") == hugo.posts_dir / f"qupost-1{hugo.suffix}"
    assert hugo.path("1") == target / "content/posts/qupost-1.html"
    with pytest.raises(ValueError, match="unknown site generator"):
        site_writer("jekyll", target, OPTIONS)


def test_export_command_refuses_an_unknown_target(tmp_path: Path) -> None:
    proc = run_scrapy(
        "export", "--to", str(tmp_path / "out"), "--target", "jekyll",
        QUPOST_DATABASE_URL=f"sqlite:///{tmp_path / 'q.db'}",
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "qupost: error: --target: expected one of hexo, hugo, got 'jekyll'"
    ]
    assert not (tmp_path / "out").exists() and not (tmp_path / "q.db").exists()
