"""Tests for storage.hexo: golden posts, YAML round trips, dates and atomic writes.

Golden cases live in tests/data/golden/: ``<case>.json`` holds an article (its
tags as channel names) and RenderOptions overrides, ``<case>.md`` the exact
expected post.  The .md files were written by hand from the post format in the README,
not dumped from the code.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

import storage.hexo
from crawler.channels import CHANNELS
from storage.article import Article, ImageRecord, ImageRef
from storage.export import ExportResult, export_tree
from storage.hexo import (
    HexoWriter,
    RenderError,
    RenderOptions,
    format_date,
    front_matter,
    post_path,
    remove_stale_temp_files,
    render_post,
    write_if_changed,
)
from storage.repository import Repository
from tests.conftest import DATA, data_file, split_post

CHANNEL_IDS = {name: cid for cid, name in CHANNELS.items()}

GOLDEN_CASES = (
    "cover_fallback",
    "fluid_abbrlink_intro",
    "default",
    "failed_image",
    "iso_butterfly",
    "no_stored_images",
    "origin",
    "proxy",
    "strftime",
    "updated",
)
# The post format's key order; optional keys are simply absent.
KEY_ORDER = (
    "title", "categories", "tags", "index_img", "banner_img", "photos", "cover", "top_img",
    "headimg", "author", "comments", "published", "date", "updated", "thumbnail", "description",
    "excerpt", "title_display", "original_url", "qupost_id", "abbrlink", "disableNunjucks",
)  # fmt: skip
DELETED_AT = datetime(2021, 12, 8, 4, 0, tzinfo=UTC)


# --- golden files -------------------------------------------------------------


def load_case(name: str) -> tuple[Article, RenderOptions]:
    spec = json.loads(data_file(f"golden/{name}.json").read_text("utf-8"))
    return post_from_json(spec["post"]), options_from_json(spec["options"])


def load_expected(name: str) -> bytes:
    """The expected post; a missing expectation is a failure, never a silent pass."""
    path = DATA / "golden" / f"{name}.md"
    if not path.is_file():
        pytest.fail(
            f"golden expectation {path} is missing: write it by hand from the README's post format"
        )
    return path.read_bytes()


def post_from_json(raw: dict[str, Any]) -> Article:
    return Article(
        qupost_id=raw["qupost_id"],
        title=raw["title"],
        author=raw["author"],
        published_at=datetime.fromisoformat(raw["published_at"]),
        original_url=raw["original_url"],
        body_html=raw["body_html"],
        cover_url=raw["cover_url"],
        description=raw.get("description", ""),
        updated_at=datetime.fromisoformat(raw["updated_at"]) if raw["updated_at"] else None,
        channels=tuple(CHANNEL_IDS[name] for name in raw["tags"]),
        images={url: ImageRecord(url=url, **fields) for url, fields in raw["images"].items()},
    )


def options_from_json(raw: dict[str, Any]) -> RenderOptions:
    values: dict[str, Any] = {"tag_names": CHANNELS}
    for key, value in raw.items():
        if key == "timezone":
            values[key] = ZoneInfo(value)
        elif isinstance(value, list):
            values[key] = tuple(value)
        else:
            values[key] = value
    return RenderOptions(**values)


def test_every_golden_input_is_a_listed_case() -> None:
    inputs = sorted(p.stem for p in (DATA / "golden").glob("*.json"))
    assert inputs == sorted(GOLDEN_CASES)


def test_missing_expectation_fails_loudly() -> None:
    with pytest.raises(pytest.fail.Exception, match="missing"):
        load_expected("no-such-case")


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_post(name: str) -> None:
    post, options = load_case(name)
    expected = load_expected(name)
    assert render_post(post, options).encode("utf-8") == expected


@pytest.mark.parametrize("deleted", [False, True], ids=["live", "deleted"])
@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_front_matter_keeps_the_spec_key_order(name: str, deleted: bool) -> None:
    # The renderer's own output, not the hand-written expectation: a deleted
    # article (unpublished by default) shows where ``published`` goes.
    post, options = load_case(name)
    if deleted:
        post = replace(post, deleted_at=DELETED_AT)
    matter, body = split_post(render_post(post, options))
    keys = list(matter)
    assert keys == [k for k in KEY_ORDER if k in keys]
    assert {"title", "categories", "author", "comments", "date"} <= set(keys)
    assert ("published" in keys) is deleted
    assert matter["qupost_id"] == "1638625001"
    assert matter["comments"] is False
    assert matter["disableNunjucks"] is True
    assert body.startswith("<div>\n") and body.endswith("\n</div>\n")


def test_golden_seed_shape_is_kept() -> None:
    """The default golden post has the seed's layout, minus the seed's defects."""
    text = load_expected("default").decode("utf-8")
    assert "categories:\n- 新媒体\n- 趣头条\n- 分类\n" in text
    assert "\t" not in text


# --- YAML round trip ----------------------------------------------------------


def record(title: str = "t", **changes: Any) -> Article:
    values: dict[str, Any] = {
        "qupost_id": "1638625001",
        "title": title,
        "author": "封面新闻",
        "published_at": datetime(2021, 12, 4, 13, 49, 12, tzinfo=UTC),
        "original_url": "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html",
        "body_html": "<p>x</p>",
        "cover_url": None,
        "updated_at": None,
    }
    values.update(changes)
    return Article(**values)


TITLES = [
    "a: b",
    "a:b",
    ": lead colon",
    "it's",
    "'quoted'",
    'say "hi"',
    '"',
    "back\\slash",
    "# hash",
    "a #b",
    "{x}",
    "[y]",
    "a | b",
    "|",
    "> gt",
    ">",
    "---",
    "--- x",
    "...",
    "''",
    "- lead dash",
    "-",
    "* star",
    "&anchor",
    "!tag",
    "%pct",
    "@at",
    "`tick",
    "?",
    "? q",
    "a\tb",
    "\tlead tab",
    "x" * 1000,
    "长" * 1000,
    "😀 emoji 🎉",
    "“十四五”期间重庆将改造老旧小区住宅4.35万栋",
    "标题：a/b|c",
    "yes",
    "No",
    "null",
    "~",
    "123",
    "1.5",
    "1e3",
    "0x1A",
    ".inf",
    "2021-12-04",
    "true",
    " padded ",
    "",
]


@pytest.mark.parametrize("title", TITLES, ids=[f"t{i}" for i in range(len(TITLES))])
def test_title_round_trips_through_yaml(title: str) -> None:
    text = render_post(record(title), RenderOptions())
    matter, _ = split_post(text)
    assert matter["title"] == title
    assert next(iter(matter)) == "title"


def test_front_matter_with_every_special_character_parses_back() -> None:
    title = ": ' \" \\ # { } [ ] | > --- '' - * & ! % @ \t 😀"
    post = record(title, author="a: b # c", channels=(1, 99999))
    options = RenderOptions(tag_names={**CHANNELS, 99999: "- x"})
    matter, _ = split_post(render_post(post, options))
    assert matter["title"] == title
    assert matter["author"] == "a: b # c"
    assert matter["tags"] == ["热点", "- x"]


@pytest.mark.skipif(not hasattr(yaml, "CSafeDumper"), reason="PyYAML without libyaml")
def test_yaml_output_does_not_depend_on_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    post = record("😀 emoji 🎉")
    with_libyaml = render_post(post, RenderOptions())
    monkeypatch.setattr(storage.hexo, "_Dumper", yaml.SafeDumper)
    assert render_post(post, RenderOptions()) == with_libyaml


# --- front matter rules -------------------------------------------------------


def test_front_matter_defaults() -> None:
    matter = front_matter(record(author=""), None, RenderOptions())
    assert matter == {
        "title": "t",
        "categories": ["新媒体", "趣头条", "分类"],
        "author": "趣头条",
        "comments": False,
        "date": "Sat, 04 Dec 2021 13:49:12 GMT",
        "updated": "Sat, 04 Dec 2021 13:49:12 GMT",
        "description": "x",
        "excerpt": "<p>x</p>",
        "title_display": True,
        "original_url": "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html",
        "qupost_id": "1638625001",
        "disableNunjucks": True,
    }


def test_custom_cover_keys_follow_tags_and_replace_the_defaults() -> None:
    options = RenderOptions(cover_keys=("thumbnail", "cover"), tag_names=CHANNELS)
    matter = front_matter(record(channels=(1,)), "/c.jpeg", options)
    assert matter["tags"] == ["热点"]
    assert list(matter) == [
        "title", "categories", "tags", "cover", "author", "comments", "date", "updated",
        "thumbnail", "description", "excerpt", "title_display", "original_url", "qupost_id",
        "disableNunjucks",
    ]  # fmt: skip
    assert matter["cover"] == matter["thumbnail"] == "/c.jpeg"


def test_custom_categories() -> None:
    matter = front_matter(record(), None, RenderOptions(categories=("a", "b")))
    assert matter["categories"] == ["a", "b"]


def test_tags_are_channel_names_and_an_unnamed_channel_is_its_number() -> None:
    post = record(channels=(1, 6, 4242))
    named, _ = split_post(render_post(post, RenderOptions(tag_names=CHANNELS)))
    assert named["tags"] == ["热点", "娱乐", "4242"]
    # Without names every tag is the id, written as text (not a YAML number).
    unnamed, _ = split_post(render_post(post, RenderOptions()))
    assert unnamed["tags"] == ["1", "6", "4242"]
    assert "tags" not in front_matter(record(channels=()), None, RenderOptions(tag_names=CHANNELS))


def test_a_deleted_article_is_unpublished_by_default_right_after_comments() -> None:
    assert RenderOptions().on_deleted == "unpublish"
    matter = front_matter(record(deleted_at=DELETED_AT), None, RenderOptions())
    keys = list(matter)
    assert matter["published"] is False
    assert keys[keys.index("comments") + 1] == "published"
    assert keys[keys.index("published") + 1] == "date"
    parsed, _ = split_post(render_post(record(deleted_at=DELETED_AT), RenderOptions()))
    assert parsed["published"] is False
    assert "published" not in front_matter(record(), None, RenderOptions())


@pytest.mark.parametrize("on_deleted", ["keep", "remove"])
def test_a_deleted_article_renders_as_a_live_one_unless_unpublished(on_deleted: str) -> None:
    # Under remove the writer deletes the file; the renderer itself adds nothing.
    options = RenderOptions(on_deleted=on_deleted)
    deleted = render_post(record(deleted_at=DELETED_AT), options)
    assert deleted == render_post(record(), options)
    assert "published" not in split_post(deleted)[0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"image_mode": "remote"}, "QUPOST_IMAGE_MODE", id="mode"),
        pytest.param({"image_mode": "proxy"}, "QUPOST_IMAGE_PROXY", id="proxy-empty"),
        pytest.param({"date_format": "unix"}, "QUPOST_DATE_FORMAT", id="date-format"),
        pytest.param({"on_deleted": "hide"}, "QUPOST_ON_DELETED", id="on-deleted"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        RenderOptions(**options)


# --- dates --------------------------------------------------------------------

SHANGHAI_EVENING = datetime(2021, 12, 4, 21, 49, 12, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        pytest.param(SHANGHAI_EVENING, RenderOptions(), "Sat, 04 Dec 2021 13:49:12 GMT", id="rfc"),
        pytest.param(
            datetime(2021, 12, 4, 13, 49, 12, tzinfo=UTC),
            RenderOptions(date_format="iso"),
            "2021-12-04T21:49:12+08:00",
            id="iso-shanghai",
        ),
        pytest.param(
            datetime(2021, 12, 4, 13, 49, 12, 999999, tzinfo=UTC),
            RenderOptions(date_format="iso", timezone=UTC),
            "2021-12-04T13:49:12+00:00",
            id="iso-utc-no-microseconds",
        ),
        pytest.param(
            datetime(2021, 12, 4, 17, 0, tzinfo=UTC),
            RenderOptions(date_format="%Y-%m-%d %H:%M"),
            "2021-12-05 01:00",
            id="strftime-next-day-in-shanghai",
        ),
        pytest.param(
            datetime(2021, 12, 4, 13, 49, 12, tzinfo=timezone(timedelta(hours=-5))),
            RenderOptions(),
            "Sat, 04 Dec 2021 18:49:12 GMT",
            id="rfc-from-other-offset",
        ),
    ],
)
def test_format_date(value: datetime, options: RenderOptions, expected: str) -> None:
    assert format_date(value, options) == expected


# --- post paths ---------------------------------------------------------------


def test_post_path(tmp_path: Path) -> None:
    assert post_path(tmp_path, "1638625001") == tmp_path / "_posts" / "qupost-1638625001.md"


@pytest.mark.parametrize(
    "qupost_id",
    ["../1", "1/2", "..", "", "abc", "1.md", "12a", " 1", "1\n", "1" * 21, "-1"],
)
def test_post_path_refuses_unsafe_ids(tmp_path: Path, qupost_id: str) -> None:
    with pytest.raises(ValueError, match="unsafe post id"):
        post_path(tmp_path, qupost_id)


@pytest.mark.parametrize("qupost_id", ["١٢٣", "１２３"])
def test_post_path_refuses_non_ascii_digits(tmp_path: Path, qupost_id: str) -> None:
    with pytest.raises(ValueError, match="unsafe post id"):
        post_path(tmp_path, qupost_id)


# --- atomic writes ------------------------------------------------------------


def test_write_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "source" / "_posts" / "qupost-1.md"
    assert write_if_changed(path, "标题\n".encode()) is True
    assert path.read_bytes() == "标题\n".encode()
    assert os.listdir(path.parent) == ["qupost-1.md"]


def test_equal_bytes_are_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "qupost-1.md"
    path.write_bytes(b"same")
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = os.stat(path)
    assert write_if_changed(path, b"same") is False
    after = os.stat(path)
    assert after.st_mtime_ns == before.st_mtime_ns == 1_000_000_000_000_000_000
    assert after.st_ino == before.st_ino
    assert os.listdir(tmp_path) == ["qupost-1.md"]


def test_changed_bytes_replace_the_file_by_rename(tmp_path: Path) -> None:
    path = tmp_path / "qupost-1.md"
    path.write_bytes(b"old")
    other_name = tmp_path / "link.md"
    os.link(path, other_name)  # a hard link still sees the old inode after a rename
    assert write_if_changed(path, b"new!") is True
    assert path.read_bytes() == b"new!"
    assert other_name.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["link.md", "qupost-1.md"]


def test_same_length_different_bytes_are_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "qupost-1.md"
    path.write_bytes(b"abcd")
    assert write_if_changed(path, b"abce") is True
    assert path.read_bytes() == b"abce"


def test_failed_rename_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "qupost-1.md"
    path.write_bytes(b"old")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(storage.hexo.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk went away"):
        write_if_changed(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["qupost-1.md"]


def test_fsync_flushes_the_file_and_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(storage.hexo.os, "fsync", counting_fsync)
    assert write_if_changed(tmp_path / "a.md", b"x", fsync=True) is True
    assert len(synced) == 2
    synced.clear()
    assert write_if_changed(tmp_path / "b.md", b"x") is True
    assert synced == []


def test_written_file_is_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "qupost-1.md"
    write_if_changed(path, b"x")
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_stale_temp_files_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".qupost-1.md.abc.tmp").write_bytes(b"half")
    (tmp_path / "qupost-1.md").write_bytes(b"whole")
    assert remove_stale_temp_files(tmp_path) == 1
    assert os.listdir(tmp_path) == ["qupost-1.md"]
    assert remove_stale_temp_files(tmp_path / "missing") == 0


def test_rendered_post_written_twice_changes_nothing(tmp_path: Path) -> None:
    post, options = load_case("default")
    path = post_path(tmp_path, post.qupost_id)
    assert write_if_changed(path, render_post(post, options).encode("utf-8")) is True
    first = os.stat(path)
    assert write_if_changed(path, render_post(post, options).encode("utf-8")) is False
    assert os.stat(path).st_mtime_ns == first.st_mtime_ns
    assert path.read_bytes() == load_expected("default")


# --- articles deleted at the source -------------------------------------------

CDN = "http://static.1sapp.com/qupost/img/2021/12/04"
LIVE_ID, GONE_ID = "1638625001", "1638625002"


def article(qupost_id: str = LIVE_ID, **changes: Any) -> Article:
    """An article as the crawl hands it to storage, with one body image of its own."""
    image_url = f"{CDN}/{qupost_id}.jpeg"
    values: dict[str, Any] = {
        "qupost_id": qupost_id,
        "original_url": f"http://html2.qktoutiao.com/detail/2021/12/04/{qupost_id}.html",
        "title": f"标题 {qupost_id}",
        "author": "封面新闻",
        "published_at": datetime(2021, 12, 4, 13, 49, 12, tzinfo=UTC),
        "date_source": "list",
        "body_html": f'<p>正文</p><p><img src="{image_url}" data-size="600,240"></p>',
        "image_refs": (ImageRef(image_url),),
        "channels": (1,),
        "crawled_at": datetime(2021, 12, 5, 1, 0, tzinfo=UTC),
    }
    values.update(changes)
    return Article(**values)


def image_path(qupost_id: str) -> str:
    return f"2021/12/04/{qupost_id}.jpeg"


def writer(tmp_path: Path, on_deleted: str) -> HexoWriter:
    return HexoWriter(tmp_path / "source", RenderOptions(on_deleted=on_deleted))


def test_writer_unpublishes_a_deleted_article(tmp_path: Path) -> None:
    hexo = writer(tmp_path, "unpublish")
    path = post_path(hexo.source_dir, LIVE_ID)
    assert hexo.write(article()) is True
    assert "published" not in split_post(path.read_text("utf-8"))[0]
    assert hexo.write(article(deleted_at=DELETED_AT)) is True
    matter, _ = split_post(path.read_text("utf-8"))
    assert matter["published"] is False
    assert hexo.write(article(deleted_at=DELETED_AT)) is False
    # Back at the source: published again.
    assert hexo.write(article()) is True
    assert "published" not in split_post(path.read_text("utf-8"))[0]


def test_writer_keeps_a_deleted_article_as_it_was(tmp_path: Path) -> None:
    hexo = writer(tmp_path, "keep")
    path = post_path(hexo.source_dir, LIVE_ID)
    assert hexo.write(article()) is True
    live = path.read_bytes()
    assert hexo.write(article(deleted_at=DELETED_AT)) is False
    assert path.read_bytes() == live
    assert b"published" not in live


def test_writer_removes_the_post_of_a_deleted_article(tmp_path: Path) -> None:
    hexo = writer(tmp_path, "remove")
    path = post_path(hexo.source_dir, LIVE_ID)
    other = post_path(hexo.source_dir, GONE_ID)
    assert hexo.write(article()) is True
    assert hexo.write(article(GONE_ID)) is True
    assert path.is_file()
    assert hexo.write(article(deleted_at=DELETED_AT)) is True
    assert not path.exists()
    assert hexo.write(article(deleted_at=DELETED_AT)) is False
    assert not path.exists()
    assert other.is_file()
    assert os.listdir(path.parent) == [other.name]


def catalog(tmp_path: Path) -> Repository:
    """A catalog with a live article and one deleted at the source, each with a stored image."""
    repo = Repository.open(f"sqlite:///{tmp_path / 'qupost.db'}")
    images = tmp_path / "images"
    crawled = datetime(2021, 12, 5, 1, 0, tzinfo=UTC)
    with repo.transaction() as tx:
        for qupost_id in (LIVE_ID, GONE_ID):
            item = article(qupost_id)
            stored = ImageRecord(
                url=item.image_refs[0].url,
                status="stored",
                path=image_path(qupost_id),
                width=600,
                height=240,
                format="jpeg",
            )
            tx.record_images([stored], None, crawled)
            assert tx.upsert_article(item) == "new"
            (images / image_path(qupost_id)).parent.mkdir(parents=True, exist_ok=True)
            (images / image_path(qupost_id)).write_bytes(f"jpeg {qupost_id}".encode())
    return repo


def export(repo: Repository, tmp_path: Path, on_deleted: str) -> ExportResult:
    options = RenderOptions(on_deleted=on_deleted, tag_names=CHANNELS)
    return export_tree(repo, tmp_path / "blog", options, tmp_path / "images")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def mark_gone(repo: Repository) -> None:
    with repo.transaction() as tx:
        assert tx.mark_deleted(GONE_ID, DELETED_AT) is True


@pytest.mark.parametrize("on_deleted", ["keep", "unpublish"])
def test_export_writes_deleted_articles_unless_removed(tmp_path: Path, on_deleted: str) -> None:
    repo = catalog(tmp_path)
    try:
        mark_gone(repo)
        result = export(repo, tmp_path, on_deleted)
        assert result == ExportResult(
            posts=2, posts_written=2, posts_removed=0, images=2, images_linked=2
        )
        posts = tmp_path / "blog" / "_posts"
        live, _ = split_post((posts / f"qupost-{LIVE_ID}.md").read_text("utf-8"))
        gone, _ = split_post((posts / f"qupost-{GONE_ID}.md").read_text("utf-8"))
        assert "published" not in live
        assert live["tags"] == gone["tags"] == ["热点"]
        if on_deleted == "unpublish":
            assert gone["published"] is False
        else:
            assert "published" not in gone
        assert (tmp_path / "blog" / "images" / "qupost" / image_path(GONE_ID)).is_file()

        before = snapshot(tmp_path / "blog")
        again = export(repo, tmp_path, on_deleted)
        assert again == ExportResult(posts=2, images=2)
        assert snapshot(tmp_path / "blog") == before
    finally:
        repo.close()


def test_export_removes_the_posts_of_deleted_articles(tmp_path: Path) -> None:
    repo = catalog(tmp_path)
    try:
        # Exported while both were live: both posts are there.
        assert export(repo, tmp_path, "remove").posts_written == 2
        posts = tmp_path / "blog" / "_posts"
        assert sorted(os.listdir(posts)) == [f"qupost-{LIVE_ID}.md", f"qupost-{GONE_ID}.md"]

        mark_gone(repo)
        result = export(repo, tmp_path, "remove")
        assert result == ExportResult(posts=2, posts_written=0, posts_removed=1, images=1)
        assert os.listdir(posts) == [f"qupost-{LIVE_ID}.md"]

        before = snapshot(tmp_path / "blog")
        again = export(repo, tmp_path, "remove")
        assert again == ExportResult(posts=2, posts_written=0, posts_removed=0, images=1)
        assert snapshot(tmp_path / "blog") == before
    finally:
        repo.close()


def test_export_with_remove_copies_no_image_of_a_deleted_article(tmp_path: Path) -> None:
    repo = catalog(tmp_path)
    try:
        mark_gone(repo)
        result = export(repo, tmp_path, "remove")
        assert result == ExportResult(posts=2, posts_written=1, images=1, images_linked=1)
        copied = tmp_path / "blog" / "images" / "qupost"
        assert (copied / image_path(LIVE_ID)).is_file()
        assert not (copied / image_path(GONE_ID)).exists()
        assert os.listdir(tmp_path / "blog" / "_posts") == [f"qupost-{LIVE_ID}.md"]
    finally:
        repo.close()


def test_export_publishes_a_restored_article_again(tmp_path: Path) -> None:
    repo = catalog(tmp_path)
    try:
        mark_gone(repo)
        export(repo, tmp_path, "unpublish")
        path = tmp_path / "blog" / "_posts" / f"qupost-{GONE_ID}.md"
        assert split_post(path.read_text("utf-8"))[0]["published"] is False
        with repo.transaction() as tx:
            assert tx.upsert_article(article(GONE_ID)) == "updated"
        result = export(repo, tmp_path, "unpublish")
        assert (result.posts_written, result.posts_removed) == (1, 0)
        assert "published" not in split_post(path.read_text("utf-8"))[0]
    finally:
        repo.close()
