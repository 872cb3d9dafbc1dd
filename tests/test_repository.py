"""Tests for storage.repository on a real SQLite file: the verbs the pipelines rely on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crawler.channels import CHANNELS
from storage.article import Article, ImageRecord, ImageRef
from storage.hexo import RenderOptions, front_matter
from storage.models import Post, PostImage
from storage.repository import Repository, StorageError, make_engine
from tests.conftest import read_article

T0 = datetime(2021, 12, 4, 13, 49, 12, tzinfo=UTC)
CRAWL1 = datetime(2021, 12, 5, 1, 0, tzinfo=UTC)
CRAWL2 = datetime(2021, 12, 6, 2, 0, tzinfo=UTC)
CRAWL3 = datetime(2021, 12, 7, 3, 0, tzinfo=UTC)
CDN = "http://static.1sapp.com/qupost/img/2021/12/04"


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog' / 'qupost.db'}"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    repository = Repository.open(db_url(tmp_path))
    yield repository
    repository.close()


def refs(*urls: str) -> tuple[ImageRef, ...]:
    return tuple(ImageRef(url) for url in urls)


def post(qupost_id: str = "1638625001", **changes: Any) -> Article:
    values: dict[str, Any] = {
        "qupost_id": qupost_id,
        "title": "“十四五”期间重庆将改造老旧小区住宅4.35万栋",
        "author": "封面新闻",
        "published_at": T0,
        "date_source": "list",
        "original_url": f"http://html2.qktoutiao.com/detail/2021/12/04/{qupost_id}.html",
        "body_html": f'<p>正文</p><p><img src="{CDN}/a.jpeg" data-size="600,240"></p>',
        "cover_url": f"{CDN}/cover.jpeg",
        "image_refs": refs(f"{CDN}/a.jpeg"),
        "channels": (1,),
        "crawled_at": CRAWL1,
    }
    values.update(changes)
    return Article(**values)


def upsert(repo: Repository, item: Article) -> str:
    with repo.transaction() as tx:
        return tx.upsert_article(item)


def tags(record: Article) -> list[str]:
    """The tag names a post of ``record`` gets, as the crawl renders them."""
    matter = front_matter(record, None, RenderOptions(tag_names=CHANNELS))
    return list(matter.get("tags", []))


def record_image(repo: Repository, image: ImageRecord, run_id: int | None) -> None:
    with repo.transaction() as tx:
        tx.record_images([image], run_id, CRAWL1)


def image(repo: Repository, url: str) -> ImageRecord | None:
    return repo.images_for([url]).get(url)


def stored_date(repo: Repository, qupost_id: str) -> tuple[datetime, str]:
    with repo.engine.connect() as conn:
        found = conn.execute(
            select(Post.published_at, Post.date_source).where(Post.qupost_id == qupost_id)
        ).one()
    return found[0], found[1]


def image_rows(repo: Repository, qupost_id: str) -> list[tuple[int, str]]:
    with repo.engine.connect() as conn:
        rows = conn.execute(
            select(PostImage.position, PostImage.url)
            .where(PostImage.qupost_id == qupost_id)
            .order_by(PostImage.position)
        )
        return [(r[0], r[1]) for r in rows]


# --- upsert_article -----------------------------------------------------------


def test_new_post_is_stored_and_read_back(repo: Repository, tmp_path: Path) -> None:
    assert upsert(repo, post()) == "new"
    assert (tmp_path / "catalog" / "qupost.db").is_file()
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.qupost_id == "1638625001"
    assert record.title == "“十四五”期间重庆将改造老旧小区住宅4.35万栋"
    assert record.author == "封面新闻"
    assert record.published_at == T0
    assert record.date_source == "list"
    assert record.original_url == "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html"
    assert record.body_html == post().body_html
    assert record.cover_url == f"{CDN}/cover.jpeg"
    assert record.crawled_at == CRAWL1
    assert record.updated_at is None
    assert record.deleted_at is None
    assert record.channels == (1,)
    assert tags(record) == ["热点"]
    assert record.images == {}
    assert image_rows(repo, "1638625001") == [(0, f"{CDN}/a.jpeg")]


def test_missing_post_loads_as_none(repo: Repository) -> None:
    assert read_article(repo, "404") is None


def test_an_article_without_publish_or_crawl_time_is_refused(repo: Repository) -> None:
    for missing in (post(published_at=None), post(crawled_at=None)):
        with pytest.raises(StorageError, match="no publish or crawl time"):
            upsert(repo, missing)
    assert repo.known_ids(["1638625001"]) == set()


def test_same_content_is_unchanged_and_sets_no_updated(repo: Repository) -> None:
    upsert(repo, post())
    assert upsert(repo, post(crawled_at=CRAWL2)) == "unchanged"
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.updated_at is None


def test_changed_content_is_updated_once(repo: Repository) -> None:
    upsert(repo, post())
    changed = post(body_html="<p>改写后的正文</p>", image_refs=(), crawled_at=CRAWL2)
    assert upsert(repo, changed) == "updated"
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.body_html == "<p>改写后的正文</p>"
    assert record.updated_at == CRAWL2
    assert image_rows(repo, "1638625001") == []
    # The same content again later is unchanged and keeps the first update time.
    assert upsert(repo, replace(changed, crawled_at=CRAWL3)) == "unchanged"
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.updated_at == CRAWL2


def test_title_change_is_an_update(repo: Repository) -> None:
    upsert(repo, post())
    assert upsert(repo, post(title="新标题", crawled_at=CRAWL2)) == "updated"
    record = read_article(repo, "1638625001")
    assert record is not None
    assert (record.title, record.updated_at) == ("新标题", CRAWL2)


def test_tags_only_change_is_not_an_update(repo: Repository) -> None:
    upsert(repo, post(channels=(6,)))
    assert upsert(repo, post(channels=(1,), crawled_at=CRAWL2)) == "unchanged"
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.channels == (1, 6)
    assert tags(record) == ["热点", "娱乐"]
    assert record.updated_at is None


def test_image_list_is_kept_in_order(repo: Repository) -> None:
    urls = [f"{CDN}/c.jpeg", f"{CDN}/a.jpeg", f"{CDN}/b.png"]
    upsert(repo, post(image_refs=refs(*urls)))
    assert image_rows(repo, "1638625001") == list(enumerate(urls))
    upsert(repo, post(body_html="<p>x</p>", image_refs=refs(*urls[::-1][:2]), crawled_at=CRAWL2))
    assert image_rows(repo, "1638625001") == [(0, f"{CDN}/b.png"), (1, f"{CDN}/a.jpeg")]


def test_a_repeated_body_image_is_linked_once(repo: Repository) -> None:
    urls = [f"{CDN}/a.jpeg", f"{CDN}/b.png", f"{CDN}/a.jpeg"]
    upsert(repo, post(image_refs=refs(*urls)))
    assert image_rows(repo, "1638625001") == [(0, f"{CDN}/a.jpeg"), (1, f"{CDN}/b.png")]


# --- deleted at the source ----------------------------------------------------


def test_deleted_article_back_with_the_same_content_is_restored_without_updated(
    repo: Repository,
) -> None:
    upsert(repo, post())
    with repo.transaction() as tx:
        assert tx.mark_deleted("1638625001", CRAWL2) is True
    gone = read_article(repo, "1638625001")
    assert gone is not None
    assert gone.deleted_at == CRAWL2 and gone.deleted
    assert repo.known_ids(["1638625001"]) == set()

    assert upsert(repo, post(crawled_at=CRAWL3)) == "updated"
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.deleted_at is None and not record.deleted
    assert record.updated_at is None
    assert repo.known_ids(["1638625001"]) == {"1638625001"}
    # Restored once: the same content again is plainly unchanged.
    assert upsert(repo, post(crawled_at=CRAWL3)) == "unchanged"


def test_deleted_article_back_with_changed_content_is_updated(repo: Repository) -> None:
    upsert(repo, post())
    with repo.transaction() as tx:
        tx.mark_deleted("1638625001", CRAWL2)
    changed = post(title="回来了", image_refs=(), crawled_at=CRAWL3)
    assert upsert(repo, changed) == "updated"
    record = read_article(repo, "1638625001")
    assert record is not None
    assert (record.title, record.updated_at, record.deleted_at) == ("回来了", CRAWL3, None)
    assert image_rows(repo, "1638625001") == []
    assert repo.known_ids(["1638625001"]) == {"1638625001"}


def test_iter_post_ids_leaves_out_deleted_articles_unless_asked(repo: Repository) -> None:
    ids = [str(1638625001 + n) for n in range(5)]
    for qupost_id in ids:
        upsert(repo, post(qupost_id))
    with repo.transaction() as tx:
        tx.mark_deleted(ids[1], CRAWL2)
        tx.mark_deleted(ids[4], CRAWL2)
    with repo.reading() as tx:
        # A batch smaller than the catalog pages through it.
        assert list(tx.iter_post_ids(batch=2)) == [ids[0], ids[2], ids[3]]
        assert list(tx.iter_post_ids()) == [ids[0], ids[2], ids[3]]
        assert list(tx.iter_post_ids(batch=2, deleted=True)) == ids
        assert list(tx.iter_post_ids(deleted=True)) == ids


# --- dates --------------------------------------------------------------------


def test_refresh_with_a_worse_date_source_keeps_the_better_date(repo: Repository) -> None:
    upsert(repo, post(published_at=T0, date_source="list"))
    worse = post(
        body_html="<p>changed</p>",
        published_at=CRAWL2,
        date_source="crawl",
        crawled_at=CRAWL2,
    )
    assert upsert(repo, worse) == "updated"
    assert stored_date(repo, "1638625001") == (T0, "list")
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.published_at == T0


def test_refresh_with_a_better_date_source_replaces_the_date(repo: Repository) -> None:
    upsert(repo, post(published_at=CRAWL1, date_source="crawl"))
    better = post(
        body_html="<p>changed</p>", published_at=T0, date_source="page", crawled_at=CRAWL2
    )
    assert upsert(repo, better) == "updated"
    assert stored_date(repo, "1638625001") == (T0, "page")


def test_unchanged_refresh_with_a_better_date_source_replaces_the_date(
    repo: Repository,
) -> None:
    upsert(repo, post(published_at=CRAWL1, date_source="page"))
    upsert(repo, post(published_at=T0, date_source="list", crawled_at=CRAWL2))
    assert stored_date(repo, "1638625001") == (T0, "list")


def test_published_at_is_stored_in_utc_and_read_back_aware(repo: Repository) -> None:
    shanghai = datetime(2021, 12, 4, 21, 49, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    upsert(repo, post(published_at=shanghai))
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.published_at == T0
    assert record.published_at.utcoffset() == timedelta(0)
    assert record.published_at.tzinfo is UTC
    stored, _ = stored_date(repo, "1638625001")
    assert (stored, stored.tzinfo) == (T0, UTC)
    with repo.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT published_at FROM posts").scalar_one()
    assert str(raw).startswith("2021-12-04 13:49:12")


def test_updated_at_is_read_back_aware(repo: Repository) -> None:
    upsert(repo, post())
    upsert(
        repo,
        post(title="x", crawled_at=datetime(2021, 12, 6, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))),
    )
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.updated_at == datetime(2021, 12, 6, 2, 0, tzinfo=UTC)
    assert record.updated_at is not None and record.updated_at.tzinfo is UTC


def test_naive_datetime_is_refused_and_nothing_is_stored(repo: Repository) -> None:
    with pytest.raises(StorageError, match="naive datetime"):
        upsert(repo, post(published_at=datetime(2021, 12, 4, 13, 49, 12)))
    assert repo.known_ids(["1638625001"]) == set()


# --- text fidelity ------------------------------------------------------------


def test_quotes_nul_and_emoji_round_trip(repo: Repository) -> None:
    title = "他说\"好\"，it's `x` ''y'' \\ 😀🎉 a\x00b"
    author = "作者\x00😀'\""
    body = "<p>a\x00b 😀 \"q\" 'q' {{ x }} {% y %}</p>\n<p>第二行</p>"
    upsert(repo, post(title=title, author=author, body_html=body))
    record = read_article(repo, "1638625001")
    assert record is not None
    assert (record.title, record.author, record.body_html) == (title, author, body)
    # Equal text means equal content: a second run is unchanged.
    assert upsert(repo, post(title=title, author=author, body_html=body)) == "unchanged"


# --- images -------------------------------------------------------------------


STORED = ImageRecord(
    url=f"{CDN}/a.jpeg",
    status="stored",
    path="2021/12/04/2556cdd5f11999c5de91dafdfc26bfe905d6db9a.jpeg",
    width=600,
    height=240,
    format="jpeg",
    size_bytes=12345,
)
FAILED = ImageRecord(url=f"{CDN}/a.jpeg", status="failed", reason="HTTP 404")


def test_stored_image_is_never_downgraded(repo: Repository) -> None:
    record_image(repo, STORED, 1)
    record_image(repo, FAILED, 2)
    assert image(repo, STORED.url) == replace(STORED, run_id=1)


def test_failed_image_can_be_stored_later(repo: Repository) -> None:
    record_image(repo, FAILED, 1)
    assert image(repo, FAILED.url) == replace(FAILED, run_id=1)
    record_image(repo, replace(FAILED, reason="timed out"), 2)
    assert image(repo, FAILED.url) == replace(FAILED, reason="timed out", run_id=2)
    record_image(repo, STORED, 3)
    assert image(repo, STORED.url) == replace(STORED, run_id=3)
    assert image(repo, STORED.url).stored  # type: ignore[union-attr]


def test_unknown_image_is_none(repo: Repository) -> None:
    assert image(repo, f"{CDN}/never.jpeg") is None
    assert repo.images_for([]) == {}


def test_load_article_carries_its_image_and_cover_records(repo: Repository) -> None:
    upsert(repo, post())
    cover = ImageRecord(url=f"{CDN}/cover.jpeg", status="failed", reason="HTTP 404")
    record_image(repo, STORED, None)
    record_image(repo, cover, None)
    record_image(repo, replace(STORED, url=f"{CDN}/unrelated.jpeg"), None)
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.images == {STORED.url: STORED, cover.url: cover}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        # A Beijing-time date with microseconds, no cover, no author, no images.
        {
            "published_at": datetime(2021, 12, 4, 21, 49, 12, 123456, ZoneInfo("Asia/Shanghai")),
            "cover_url": None,
            "author": "",
            "image_refs": (),
            "body_html": "<p>只有文字</p>",
        },
        # Two images and a cover that is also the first image; no channel of its own.
        {
            "image_refs": refs(f"{CDN}/a.jpeg", f"{CDN}/b.png"),
            "cover_url": f"{CDN}/a.jpeg",
            "channels": (),
        },
    ],
)
def test_stored_view_is_what_load_article_reads_back(
    repo: Repository, changes: dict[str, Any]
) -> None:
    # The storage pipeline renders a new post from stored_view(); it must
    # give exactly the record the catalog holds, or a rerun would rewrite it.
    item = post(**changes)
    with repo.transaction() as tx:
        tx.record_listing(6, [item.qupost_id])  # tagged by an earlier listing
        tx.record_images([STORED, replace(STORED, url=f"{CDN}/b.png")], None, CRAWL1)
        assert tx.upsert_article(item) == "new"
        fresh = tx.stored_view(item)
        assert fresh == tx.load_article(item.qupost_id)
    assert fresh == read_article(repo, item.qupost_id)
    assert 6 in fresh.channels
    assert "娱乐" in tags(fresh)
    assert fresh.published_at is not None and fresh.published_at.tzinfo is not None


# --- listings and ids ---------------------------------------------------------


def test_record_listing_returns_stored_posts_that_gained_the_channel(repo: Repository) -> None:
    upsert(repo, post("1638625001", channels=(1,)))
    upsert(repo, post("1638625002", channels=(6,)))
    with repo.transaction() as tx:
        gained = tx.record_listing(6, ["1638625002", "1638625001", "1638625003", "1638625001"])
    assert gained == ["1638625001"]
    with repo.transaction() as tx:
        assert tx.record_listing(6, ["1638625001", "1638625002"]) == []
        assert tx.record_listing(6, []) == []
    record = read_article(repo, "1638625001")
    assert record is not None
    assert tags(record) == ["热点", "娱乐"]
    # The membership of a post not stored yet is remembered for when it is.
    upsert(repo, post("1638625003", channels=()))
    later = read_article(repo, "1638625003")
    assert later is not None
    assert tags(later) == ["娱乐"]


def test_tags_are_ordered_by_channel_id(repo: Repository) -> None:
    upsert(repo, post(channels=(7,)))
    with repo.transaction() as tx:
        tx.record_listing(255, ["1638625001"])
        tx.record_listing(1, ["1638625001"])
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.channels == (1, 7, 255)
    assert tags(record) == ["热点", "科技", "推荐"]


def test_an_article_listed_under_several_channels_keeps_them_all(repo: Repository) -> None:
    assert upsert(repo, post(channels=(6, 1))) == "new"
    record = read_article(repo, "1638625001")
    assert record is not None
    assert record.channels == (1, 6)


def test_known_ids(repo: Repository) -> None:
    upsert(repo, post("1638625001"))
    upsert(repo, post("1638625002"))
    assert repo.known_ids(["1638625002", "1638625003", "1638625002"]) == {"1638625002"}
    assert repo.known_ids([]) == set()
    with repo.transaction() as tx:
        assert tx.mark_deleted("1638625001", CRAWL2) is True
        assert tx.mark_deleted("1638625001", CRAWL3) is False
        assert tx.mark_deleted("404", CRAWL3) is False
    assert repo.known_ids(["1638625001", "1638625002"]) == {"1638625002"}


def test_deleted_post_that_returns_is_updated(repo: Repository) -> None:
    upsert(repo, post())
    with repo.transaction() as tx:
        tx.mark_deleted("1638625001", CRAWL2)
    assert upsert(repo, post(crawled_at=CRAWL3)) == "updated"
    assert repo.known_ids(["1638625001"]) == {"1638625001"}


# --- runs ---------------------------------------------------------------------


def test_running_runs_lists_the_runs_not_finished(repo: Repository) -> None:
    with repo.reading() as tx:
        assert tx.running_runs() == []
    with repo.transaction() as tx:
        first = tx.start_run("worker-a", "cid=1", CRAWL1)
        second = tx.start_run("worker-b", "cid=6", CRAWL2)
        third = tx.start_run("worker-a", "", CRAWL3)
    assert len({first, second, third}) == 3
    with repo.transaction() as tx:
        tx.finish_run(second, {"status": "finished", "finished_at": CRAWL3})
    with repo.reading() as tx:
        assert sorted(tx.running_runs()) == sorted([(first, "worker-a"), (third, "worker-a")])
    with repo.transaction() as tx:
        tx.finish_run(first, {"status": "failed", "finished_at": CRAWL3})
        tx.finish_run(third, {"status": "finished", "finished_at": CRAWL3})
        assert tx.running_runs() == []


# --- engines ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("mysql://x", "unsupported database 'mysql'", id="mysql"),
        pytest.param("mysql+pymysql://u@h/db", "unsupported database 'mysql'", id="mysql-driver"),
        pytest.param("oracle://u@h/db", "unsupported database 'oracle'", id="oracle"),
        pytest.param("not a url", "not a database URL", id="malformed"),
        pytest.param("", "not a database URL", id="empty"),
        pytest.param(
            "postgresql+psycopg://u@h:notaport/db",
            "not a database URL",
            id="malformed-port",
        ),
    ],
)
def test_make_engine_refuses_other_databases_and_malformed_urls(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        make_engine(url)


def test_repository_open_refuses_an_unsupported_database() -> None:
    with pytest.raises(StorageError, match="unsupported database"):
        Repository.open("mysql://x")


def test_repository_open_reports_an_unusable_catalog_as_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-catalog.db"
    path.write_bytes(b"not a database " * 100)
    with pytest.raises(StorageError, match="not a database"):
        Repository.open(f"sqlite:///{path}")


# --- two handles on one file --------------------------------------------------


def test_two_repositories_on_one_file_stay_consistent(tmp_path: Path) -> None:
    first = Repository.open(db_url(tmp_path))
    second = Repository.open(db_url(tmp_path))
    try:
        assert upsert(first, post()) == "new"
        assert second.known_ids(["1638625001"]) == {"1638625001"}
        assert upsert(second, post()) == "unchanged"
        assert upsert(second, post(title="第二个写入", crawled_at=CRAWL2)) == "updated"
        record = read_article(first, "1638625001")
        assert record is not None
        assert (record.title, record.updated_at) == ("第二个写入", CRAWL2)

        record_image(second, STORED, 1)
        record_image(first, FAILED, 2)
        assert image(second, STORED.url) == replace(STORED, run_id=1)

        with first.transaction() as tx:
            assert tx.record_listing(6, ["1638625001"]) == ["1638625001"]
        with second.transaction() as tx:
            assert tx.record_listing(6, ["1638625001"]) == []
            assert len(list(tx.iter_post_ids(deleted=True))) == 1
        record = read_article(second, "1638625001")
        assert record is not None
        assert tags(record) == ["热点", "娱乐"]
    finally:
        first.close()
        second.close()


def test_a_failed_transaction_writes_nothing(repo: Repository) -> None:
    with pytest.raises(RuntimeError, match="boom"), repo.transaction() as tx:
        tx.upsert_article(post())
        raise RuntimeError("boom")
    assert repo.known_ids(["1638625001"]) == set()
