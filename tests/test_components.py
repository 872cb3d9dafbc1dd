"""In-process component tests, in the style of Scrapy's own pipeline tests.

Each component is built the production way (``get_crawler`` and
``build_from_crawler``) against a real SQLite catalog under ``tmp_path``;
faults are injected by subclassing.  No reactor is started and nothing is
fetched: responses are built by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    DropItem,
    IgnoreRequest,
)
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.pipelines.media import MediaPipeline
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler
from twisted.internet.error import ConnectionRefusedError as TxConnectionRefusedError
from twisted.internet.error import DNSLookupError
from twisted.internet.error import TimeoutError as TxTimeoutError
from twisted.python.failure import Failure

from crawler.catalog import CrawlCatalog, this_process
from crawler.failures import describe_failure
from crawler.items import ListingItem
from crawler.middlewares import IncrementalMiddleware
from crawler.safety import RefusedFetch
from crawler.spiders.qupost import ARTICLE_PRIORITY, DETAIL_PRIORITY, QupostSpider
from pipelines.images import ImageFailed, StoreAsIsPipeline, StoredImage, image_path
from pipelines.store import StoragePipeline
from storage.article import Article, ArticleSource, ImageRecord, ImageRef
from storage.hexo import HexoWriter
from storage.repository import Repository, RepoTx, StorageError
from tests.conftest import read_article, split_post

LIST_API = "http://api.1sapp.com/content/outList"
HOST = "http://html2.qktoutiao.com"
ID1, ID2, ID_VIDEO = "1638625001", "1638625002", "1638625003"
URL1 = f"{HOST}/detail/2021/12/04/{ID1}.html"
URL2 = f"{HOST}/detail/2021/12/04/{ID2}.html"
IMG_A = "http://img.example.com/2021/12/04/a.jpg"
IMG_B = "http://img.example.com/2021/12/04/b.png"
IMG_COVER = "http://img.example.com/2021/12/04/cover.jpg"


# --- building components ---------------------------------------------------------


@pytest.fixture
def make_crawler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Crawler]:
    """A crawler on a SQLite catalog under tmp_path, with its spider and CrawlCatalog.

    ``spider_args`` are the ``-a`` arguments; ``settings`` override QUPOST_* settings.
    """

    def make(spider_args: dict[str, str] | None = None, **settings: Any) -> Crawler:
        crawler = get_crawler(
            QupostSpider,
            settings_dict={
                "QUPOST_LIST_API": LIST_API,
                "QUPOST_DATABASE_URL": f"sqlite:///{tmp_path / 'qupost.db'}",
                "QUPOST_SOURCE_DIR": str(tmp_path / "source"),
                **settings,
            },
        )
        crawler.spider = QupostSpider.from_crawler(crawler, **(spider_args or {"cid": "1"}))
        catalog = build_from_crawler(CrawlCatalog, crawler)
        monkeypatch.setattr(
            crawler, "get_extension", lambda cls: catalog if cls is CrawlCatalog else None
        )
        return crawler

    return make


def catalog_of(crawler: Crawler) -> CrawlCatalog:
    return CrawlCatalog.of(crawler)


def stat(crawler: Crawler, key: str) -> Any:
    assert crawler.stats is not None
    return crawler.stats.get_value(key)


def db_path(crawler: Crawler) -> str:
    return catalog_of(crawler).config.database_url.removeprefix("sqlite:///")


def run_row(crawler: Crawler, run_id: int | None) -> tuple[Any, ...]:
    with sqlite3.connect(db_path(crawler)) as conn:
        row = conn.execute(
            "SELECT status, exit_status, articles_new FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
    assert row is not None
    return tuple(row)


def close_spider(crawler: Crawler, reason: str = "finished") -> None:
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason=reason)


def stored_article(qupost_id: str = ID1, crawled_at: datetime | None = None) -> Article:
    """An article as it reaches the storage pipeline: cleaned, dated, images measured."""
    url = f"{HOST}/detail/2021/12/04/{qupost_id}.html"
    return Article(
        qupost_id,
        url,
        ArticleSource(url=f"{url}?key=abc"),
        channels=(1,),
        crawled_at=crawled_at or datetime.now(UTC),
        title="市区新增就业岗位",
        author="封面新闻",
        published_at=datetime(2021, 12, 4, 13, 30, tzinfo=UTC),
        date_source="list",
        body_html=f'<p>近日，记者获悉。</p><p><img src="{IMG_A}"></p>',
        image_refs=(ImageRef(IMG_A, 640, 480),),
        images={
            IMG_A: ImageRecord(
                IMG_A,
                "stored",
                path="2021/12/04/aaaa.jpeg",
                width=640,
                height=480,
                format="jpeg",
                size_bytes=1234,
                run_id=None,
            )
        },
    )


def post_file(crawler: Crawler, qupost_id: str = ID1) -> Path:
    return catalog_of(crawler).config.source_dir / "_posts" / f"qupost-{qupost_id}.md"


# --- 1. spider callbacks -----------------------------------------------------------


def list_body() -> bytes:
    row1 = {
        "id": ID1,
        "type": "article",
        "content_type": "1",
        "title": "列表标题一",
        "source_name": "封面新闻",
        "publish_time": "1638625001000",
        "show_time": "1638625100",
        "cover": [f"{IMG_COVER}?imageView2/2/w/230/q/80"],
    }
    rows_text = [
        # An ad: neither id nor url.
        json.dumps({"title": "推广", "cover": ["http://ads.example.com/x.jpg"]}),
        # JSON-escaped slashes and HTML-escaped ampersands, as the site writes them.
        json.dumps(row1, ensure_ascii=False)[:-1]
        + r', "url": "http:\/\/html2.qktoutiao.com\/detail\/2021\/12\/04\/'
        + ID1
        + r'.html?content_type=1&amp;key=k1&amp;dtu=200"}',
        # Slashes escaped twice: the decoded string still holds "\/".
        json.dumps(
            {
                "id": int(ID2),
                "url": f"{HOST}/detail/2021/12/04/{ID2}.html?key=k2&amp;dtu=200".replace(
                    "/", "\\/"
                ),
                "title": "列表标题二",
                "nickname": "小编",
                "content_type": 1,
            },
            ensure_ascii=False,
        ),
        # The first row again.
        json.dumps({**row1, "url": f"{URL1}?key=k3"}, ensure_ascii=False),
        # A video.
        json.dumps(
            {"id": ID_VIDEO, "url": f"{HOST}/detail/2021/12/04/{ID_VIDEO}.html", "content_type": 3}
        ),
    ]
    return (
        '{"code": 0, "message": "成功", "data": {"min_time": "1638620000000", "data": ['
        + ", ".join(rows_text)
        + "]}}"
    ).encode()


def list_response(spider: QupostSpider, body: bytes, page: int = 1) -> TextResponse:
    request = spider.list_request(1, page=page, min_time=None)
    return TextResponse(request.url, body=body, encoding="utf-8", request=request)


def test_parse_list_yields_listing_articles_then_next_page(
    make_crawler: Callable[..., Crawler],
) -> None:
    crawler = make_crawler({"cid": "1", "pages": "2"})
    spider = crawler.spider
    body = list_body()
    assert b"\\/" in body and b"&amp;" in body

    outputs = list(spider.parse_list(list_response(spider, body), cid=1, page=1))

    assert outputs[0] == ListingItem(cid=1, qupost_ids=[ID1, ID2])
    requests = outputs[1:]
    assert all(isinstance(r, Request) for r in requests)
    articles, lists = requests[:-1], requests[-1:]
    assert [r.url for r in articles] == [URL1, URL2]
    assert [r.meta["qupost_kind"] for r in articles] == ["article", "article"]
    (next_list,) = lists
    assert next_list.meta["qupost_kind"] == "list"
    assert "page=2" in next_list.url and "min_time=1638620000000" in next_list.url
    assert next_list.cb_kwargs == {"cid": 1, "page": 2, "pages": 2, "limit": 20}
    assert all(r.priority == ARTICLE_PRIORITY > next_list.priority for r in articles)

    first, second = (r.cb_kwargs["article"] for r in articles)
    assert isinstance(first, Article) and isinstance(second, Article)
    assert (first.qupost_id, first.original_url, first.channels) == (ID1, URL1, (1,))
    assert first.source.url == f"{URL1}?content_type=1&key=k1&dtu=200"
    assert first.source.list_title == "列表标题一"
    assert first.source.list_author == "封面新闻"
    assert first.source.publish_time == "1638625001000"
    assert first.source.cover == f"{IMG_COVER}?imageView2/2/w/230/q/80"
    assert (second.qupost_id, second.original_url, second.channels) == (ID2, URL2, (1,))
    assert second.source.url == f"{URL2}?key=k2&dtu=200"
    assert second.source.list_author == "小编"

    assert stat(crawler, "qupost/articles/listed") == 2
    assert stat(crawler, "qupost/list/pages") == 1
    assert stat(crawler, "qupost/list/rows") == 5
    assert stat(crawler, "qupost/list/skipped/ad") == 1
    assert stat(crawler, "qupost/list/skipped/duplicate") == 1
    assert stat(crawler, "qupost/list/skipped/non_article") == 1


def test_a_list_request_pages_its_channel_as_it_was_asked(
    make_crawler: Callable[..., Crawler],
) -> None:
    # A distributed worker started with no -a (pages=1, limit=20) continues a
    # channel that `seed` queued with pages=3, limit=5.
    crawler = make_crawler()
    spider = crawler.spider
    seeded = spider.list_request(1, page=1, min_time=None, pages=3, limit=5)
    assert "limit=5" in seeded.url
    response = TextResponse(seeded.url, body=list_body(), encoding="utf-8", request=seeded)

    outputs = list(spider.parse_list(response, **seeded.cb_kwargs))

    (follow,) = [o for o in outputs if isinstance(o, Request) and o.meta["qupost_kind"] == "list"]
    assert follow.cb_kwargs == {"cid": 1, "page": 2, "pages": 3, "limit": 5}
    assert "limit=5" in follow.url and "page=2" in follow.url
    last = spider.list_request(1, page=3, min_time="1", pages=3, limit=5)
    response = TextResponse(last.url, body=list_body(), encoding="utf-8", request=last)
    assert not [
        o
        for o in spider.parse_list(response, **last.cb_kwargs)
        if isinstance(o, Request) and o.meta["qupost_kind"] == "list"
    ]


def test_parse_list_last_page_and_http_error(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler({"cid": "1", "pages": "1"})
    spider = crawler.spider
    outputs = list(spider.parse_list(list_response(spider, list_body()), cid=1, page=1))
    assert [o.meta["qupost_kind"] for o in outputs[1:]] == ["article", "article"]

    request = spider.list_request(1, page=1, min_time=None)
    failed = TextResponse(request.url, status=502, body=b"bad gateway", request=request)
    assert list(spider.parse_list(failed, cid=1, page=1)) == []
    assert stat(crawler, "qupost/list/error/http") == 1
    assert stat(crawler, "qupost/articles/listed") == 2


ARTICLE_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head>
<body><div class="article"><h1>页面标题</h1>
<div class="info"><span class="source">封面新闻</span> <span>2021-12-04 21:30</span></div>
<div class="content"><p>近日，记者获悉。</p><img src="{img}" width="640" height="480"></div>
</div></body></html>"""


def listed_article(detail_url: str | None = None) -> Article:
    return Article(
        ID1,
        URL1,
        ArticleSource(url=f"{URL1}?key=k1", list_title="列表标题", detail_url=detail_url),
        channels=(1,),
    )


def page_response(request: Request, body: str, status: int = 200) -> HtmlResponse:
    return HtmlResponse(
        request.url, status=status, body=body.encode(), encoding="utf-8", request=request
    )


def test_parse_article_with_content(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    spider = crawler.spider
    request = spider.article_request(listed_article())
    before = datetime.now(UTC)

    result = spider.parse_article(
        page_response(request, ARTICLE_PAGE.format(img=IMG_A)), **request.cb_kwargs
    )

    assert isinstance(result, Article)
    assert result.qupost_id == ID1
    assert result.source.list_title == "列表标题"
    assert result.source.page_title == "页面标题"
    assert result.source.page_author == "封面新闻"
    assert result.source.page_time == "2021-12-04 21:30"
    assert result.source.html.startswith('<div class="content">')
    assert IMG_A in result.source.html
    assert result.crawled_at is not None and result.crawled_at >= before
    assert result.deleted_at is None
    assert stat(crawler, "qupost/articles/fetched") == 1


@pytest.mark.parametrize(
    ("detail_url", "expected_url", "jsonp"),
    [
        (None, f"{HOST}/detail/jsonp/1638626/16386251/163862501/{ID1}.js", True),
        (f"{HOST}/detail/json/{ID1}.json", f"{HOST}/detail/json/{ID1}.json", False),
        # A detail URL off the allowed domains is not followed: the JSONP one is.
        (
            f"http://evil.example.net/{ID1}.json",
            f"{HOST}/detail/jsonp/1638626/16386251/163862501/{ID1}.js",
            True,
        ),
    ],
)
def test_parse_article_without_content_asks_for_detail(
    make_crawler: Callable[..., Crawler], detail_url: str | None, expected_url: str, jsonp: bool
) -> None:
    crawler = make_crawler()
    spider = crawler.spider
    request = spider.article_request(listed_article(detail_url))
    page = "<html><body><div class='article'><h1>页面标题</h1></div></body></html>"

    result = spider.parse_article(page_response(request, page), **request.cb_kwargs)

    assert isinstance(result, Request)
    assert result.url == expected_url
    assert result.priority == DETAIL_PRIORITY
    assert result.meta == {"qupost_kind": "detail", "qupost_id": ID1}
    assert result.cb_kwargs["jsonp"] is jsonp
    assert result.cb_kwargs["article"].source.page_title == "页面标题"
    assert stat(crawler, "qupost/articles/fallback/detail") == 1
    assert stat(crawler, "qupost/articles/fetched") is None


def test_parse_article_404_is_deleted(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    spider = crawler.spider
    request = spider.article_request(listed_article())

    result = spider.parse_article(
        page_response(request, "<html>Not Found</html>", status=404), **request.cb_kwargs
    )

    assert isinstance(result, Article)
    assert result.deleted and result.deleted_at is not None
    assert result.crawled_at == result.deleted_at
    assert result.source.html == ""
    assert stat(crawler, "qupost/articles/fetched") is None


def test_parse_detail_jsonp(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    spider = crawler.spider
    article = listed_article()
    article.source.page_title = "页面标题"
    request = spider.detail_request(article, jsonp=True)
    payload = {
        "title": "JSON标题",
        "sourceName": "新华社",
        "publish_info": "2021-12-04 21:30",
        "detail": "<p>正文在这里</p>",
    }
    body = f"cb({json.dumps(payload, ensure_ascii=False)});"
    response = TextResponse(request.url, body=body.encode(), encoding="utf-8", request=request)

    result = spider.parse_detail(response, **request.cb_kwargs)

    assert isinstance(result, Article)
    assert result.source.html == "<p>正文在这里</p>"
    assert result.source.page_title == "页面标题"  # the page's own title wins
    assert result.source.page_author == "新华社"
    assert result.source.page_time == "2021-12-04 21:30"
    assert result.crawled_at is not None
    assert stat(crawler, "qupost/articles/fetched") == 1


def test_article_failed_nosuchkey_is_deleted_other_errors_counted(
    make_crawler: Callable[..., Crawler],
) -> None:
    crawler = make_crawler()
    spider = crawler.spider
    request = spider.article_request(listed_article())
    nosuchkey = TextResponse(
        request.url,
        status=403,
        body=b"<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>",
        request=request,
    )
    failure = Failure(HttpError(nosuchkey, "Ignoring non-200 response"))
    failure.request = request  # type: ignore[attr-defined]

    result = spider.article_failed(failure)

    assert isinstance(result, Article) and result.deleted

    failure = Failure(DNSLookupError("html2.qktoutiao.com"))
    failure.request = spider.article_request(listed_article())  # type: ignore[attr-defined]
    assert spider.article_failed(failure) is None
    assert stat(crawler, "qupost/articles/failed/dns") == 1


# --- 2. storage pipeline on a real catalog ------------------------------------------


def storage_pipeline(crawler: Crawler) -> StoragePipeline:
    pipeline = build_from_crawler(StoragePipeline, crawler)
    pipeline.open_spider(crawler.spider)
    return pipeline


def test_new_then_unchanged_article(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    pipeline = storage_pipeline(crawler)
    catalog = catalog_of(crawler)

    article = stored_article()
    assert pipeline.process_item(article) is article

    assert stat(crawler, "qupost/articles/new") == 1
    assert stat(crawler, "qupost/posts/written") == 1
    path = post_file(crawler)
    matter, body = split_post(path.read_text("utf-8"))
    assert matter["title"] == "市区新增就业岗位"
    assert "近日，记者获悉。" in body
    image = catalog.repo.images_for([IMG_A])[IMG_A]
    assert (image.status, image.path, image.width, image.height) == (
        "stored",
        "2021/12/04/aaaa.jpeg",
        640,
        480,
    )
    assert image.run_id == catalog.run_id is not None
    assert catalog.repo.known_ids([ID1, ID2]) == {ID1}

    # Once more, a later crawl of the same content.
    old = 1_000_000_000
    os.utime(path, ns=(old, old))
    content = path.read_bytes()
    pipeline.process_item(stored_article(crawled_at=datetime.now(UTC) + timedelta(hours=1)))

    assert stat(crawler, "qupost/articles/unchanged") == 1
    assert stat(crawler, "qupost/articles/new") == 1
    assert stat(crawler, "qupost/posts/written") == 1
    assert path.stat().st_mtime_ns == old
    assert path.read_bytes() == content


class FullDiskWriter(HexoWriter):
    def write(self, post: Article) -> bool:
        raise OSError(28, "No space left on device")


def _failing_upsert(self: RepoTx, article: Article) -> str:
    raise StorageError("database is locked")


@pytest.mark.parametrize("fault", ["writer", "repository"])
def test_storage_failure_drops_item_and_fails_the_run(
    make_crawler: Callable[..., Crawler], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    crawler = make_crawler()
    pipeline = storage_pipeline(crawler)
    if fault == "writer":
        pipeline.writer = FullDiskWriter(
            pipeline.writer.source_dir, pipeline.writer.options, fsync=False
        )
    else:

        class FailingTx(RepoTx):
            upsert_article = _failing_upsert

        monkeypatch.setattr("storage.repository.RepoTx", FailingTx)

    with pytest.raises(DropItem, match=f"article {ID1}: not saved"):
        pipeline.process_item(stored_article())

    assert stat(crawler, "qupost/storage/error") == 1
    assert stat(crawler, "qupost/articles/failed/storage") == 1
    assert stat(crawler, "qupost/articles/new") is None
    catalog = catalog_of(crawler)
    # The transaction was rolled back: no row (and no image outcome) without its post.
    assert read_article(catalog.repo, ID1) is None
    assert catalog.repo.images_for([IMG_A]) == {}
    assert not post_file(crawler).exists()

    close_spider(crawler)

    assert stat(crawler, "qupost/exit_status") == 1
    assert catalog.exit_status == 1
    assert run_row(crawler, catalog.run_id) == ("finished", 1, 0)


def test_a_damaged_catalog_stops_the_crawl_once(
    make_crawler: Callable[..., Crawler], monkeypatch: pytest.MonkeyPatch
) -> None:
    crawler = make_crawler()
    pipeline = storage_pipeline(crawler)
    reasons: list[str] = []

    class Engine:
        async def close_spider_async(self, *, reason: str) -> None:
            reasons.append(reason)

    def malformed(self: RepoTx, article: Article) -> str:
        raise StorageError("database disk image is malformed")

    class DamagedTx(RepoTx):
        upsert_article = malformed

    def run_now(coroutine: Any) -> None:
        # No reactor here: run the engine call the way the reactor would.
        with contextlib.suppress(StopIteration):
            coroutine.send(None)

    monkeypatch.setattr(crawler, "_engine", Engine(), raising=False)
    monkeypatch.setattr("crawler.catalog.deferred_from_coro", run_now)
    monkeypatch.setattr("storage.repository.RepoTx", DamagedTx)
    for _ in range(2):
        with pytest.raises(DropItem):
            pipeline.process_item(stored_article())

    assert reasons == ["catalog_damaged"]
    assert catalog_of(crawler).damaged
    assert stat(crawler, "qupost/articles/failed/storage") == 2


def test_a_busy_catalog_does_not_stop_the_crawl(
    make_crawler: Callable[..., Crawler], monkeypatch: pytest.MonkeyPatch
) -> None:
    crawler = make_crawler()
    pipeline = storage_pipeline(crawler)

    class FailingTx(RepoTx):
        upsert_article = _failing_upsert

    monkeypatch.setattr("storage.repository.RepoTx", FailingTx)
    with pytest.raises(DropItem):
        pipeline.process_item(stored_article())
    assert not catalog_of(crawler).damaged


def test_successful_url_run_exits_zero(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler({"url": f"{URL1}?key=k1"})
    pipeline = storage_pipeline(crawler)
    pipeline.process_item(stored_article())
    close_spider(crawler)
    catalog = catalog_of(crawler)
    assert stat(crawler, "qupost/exit_status") == 0
    assert run_row(crawler, catalog.run_id) == ("finished", 0, 1)
    assert f"qupost run {catalog.run_id} finished" in catalog.summary


def deleted_record() -> Article:
    """What the spider yields for a 404: the listed record with deleted_at."""
    when = datetime.now(UTC)
    return Article(ID1, URL1, ArticleSource(url=f"{URL1}?key=k9"), channels=(1,), crawled_at=when,
                   deleted_at=when)  # fmt: skip


@pytest.mark.parametrize("policy", ["unpublish", "remove", "keep"])
def test_deleted_article_follows_policy(make_crawler: Callable[..., Crawler], policy: str) -> None:
    crawler = make_crawler(QUPOST_ON_DELETED=policy)
    pipeline = storage_pipeline(crawler)
    pipeline.process_item(stored_article())
    path = post_file(crawler)
    before = path.read_bytes()
    assert "published" not in split_post(before.decode())[0]

    pipeline.process_item(deleted_record())

    assert stat(crawler, "qupost/articles/deleted") == 1
    stored = read_article(catalog_of(crawler).repo, ID1)
    assert stored is not None and stored.deleted_at is not None
    assert catalog_of(crawler).repo.known_ids([ID1]) == set()
    if policy == "unpublish":
        matter, body = split_post(path.read_text("utf-8"))
        assert matter["published"] is False
        assert matter["title"] == "市区新增就业岗位"
        assert "近日，记者获悉。" in body
        assert stat(crawler, "qupost/posts/written") == 2
    elif policy == "remove":
        assert not path.exists()
        assert stat(crawler, "qupost/posts/removed") == 1
    else:
        assert path.read_bytes() == before
        assert stat(crawler, "qupost/posts/written") == 1


def test_deletion_that_fails_to_store_has_one_outcome(
    make_crawler: Callable[..., Crawler],
) -> None:
    crawler = make_crawler()
    pipeline = storage_pipeline(crawler)
    pipeline.process_item(stored_article())
    pipeline.writer = FullDiskWriter(pipeline.writer.source_dir, pipeline.writer.options)

    with pytest.raises(DropItem):
        pipeline.process_item(deleted_record())

    assert stat(crawler, "qupost/articles/failed/storage") == 1
    # Every article ends in exactly one outcome (crawler/stats.py).
    assert stat(crawler, "qupost/articles/deleted") is None


def test_deleted_article_not_stored_is_only_counted(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    pipeline = storage_pipeline(crawler)
    pipeline.process_item(deleted_record())
    assert stat(crawler, "qupost/articles/deleted") == 1
    assert read_article(catalog_of(crawler).repo, ID1) is None
    assert not post_file(crawler).exists()


def test_changed_article_is_updated_and_rewritten(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    pipeline = storage_pipeline(crawler)
    pipeline.process_item(stored_article())
    changed = stored_article(crawled_at=datetime.now(UTC) + timedelta(hours=1))
    changed.title = "标题改了"

    pipeline.process_item(changed)

    assert stat(crawler, "qupost/articles/updated") == 1
    assert stat(crawler, "qupost/posts/written") == 2
    assert split_post(post_file(crawler).read_text("utf-8"))[0]["title"] == "标题改了"
    stored = read_article(catalog_of(crawler).repo, ID1)
    assert stored is not None and stored.updated_at is not None


@pytest.mark.parametrize("policy", ["unpublish", "remove"])
def test_deleted_article_that_comes_back_is_restored(
    make_crawler: Callable[..., Crawler], policy: str
) -> None:
    crawler = make_crawler(QUPOST_ON_DELETED=policy)
    pipeline = storage_pipeline(crawler)
    pipeline.process_item(stored_article())
    original = post_file(crawler).read_bytes()
    pipeline.process_item(deleted_record())

    pipeline.process_item(stored_article(crawled_at=datetime.now(UTC) + timedelta(hours=1)))

    assert stat(crawler, "qupost/articles/updated") == 1
    assert post_file(crawler).read_bytes() == original
    assert catalog_of(crawler).repo.known_ids([ID1]) == {ID1}


def test_listing_retags_stored_post(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    pipeline = storage_pipeline(crawler)
    pipeline.process_item(stored_article())
    assert len(split_post(post_file(crawler).read_text("utf-8"))[0]["tags"]) == 1

    pipeline.process_item(ListingItem(cid=6, qupost_ids=[ID1, ID2]))

    assert stat(crawler, "qupost/posts/retagged") == 1
    assert len(split_post(post_file(crawler).read_text("utf-8"))[0]["tags"]) == 2
    # Listed again: nothing gained, nothing rewritten.
    pipeline.process_item(ListingItem(cid=6, qupost_ids=[ID1]))
    assert stat(crawler, "qupost/posts/retagged") == 1


def test_listing_storage_failure_is_counted_not_raised(
    make_crawler: Callable[..., Crawler],
) -> None:
    crawler = make_crawler()
    pipeline = storage_pipeline(crawler)
    pipeline.process_item(stored_article())
    pipeline.writer = FullDiskWriter(pipeline.writer.source_dir, pipeline.writer.options)
    item = ListingItem(cid=6, qupost_ids=[ID1])

    assert pipeline.process_item(item) is item

    assert stat(crawler, "qupost/storage/error") == 1
    assert stat(crawler, "qupost/posts/retagged") is None
    stored = read_article(catalog_of(crawler).repo, ID1)
    assert stored is not None and stored.channels == (1,)


# --- 3. run record --------------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dead_local_run_is_closed_as_interrupted(
    make_crawler: Callable[..., Crawler], tmp_path: Path
) -> None:
    dead = f"{socket.gethostname()}:{dead_pid()}"
    elsewhere = "build-host-elsewhere.example:1"
    repo = Repository.open(f"sqlite:///{tmp_path / 'qupost.db'}")
    with repo.transaction() as tx:
        dead_run = tx.start_run(dead, "cid=1", datetime.now(UTC))
        other_run = tx.start_run(elsewhere, "cid=1", datetime.now(UTC))
    repo.close()

    crawler = make_crawler({"cid": "1", "pages": "3"})
    catalog = catalog_of(crawler)
    catalog.repo  # noqa: B018 - opening the catalog starts this run

    assert run_row(crawler, dead_run)[0] == "interrupted"
    assert run_row(crawler, other_run)[0] == "running"
    assert catalog.run_id not in (None, dead_run, other_run)
    assert run_row(crawler, catalog.run_id)[0] == "running"
    with sqlite3.connect(db_path(crawler)) as conn:
        host, arguments = conn.execute(
            "SELECT host, arguments FROM runs WHERE id = ?", (catalog.run_id,)
        ).fetchone()
    assert host == this_process()
    assert arguments == "cid=1 pages=3"


# --- 4. incremental middleware ------------------------------------------------------


def store_one(crawler: Crawler, article: Article) -> None:
    with catalog_of(crawler).repo.transaction() as tx:
        tx.upsert_article(article)


def list_outputs(spider: QupostSpider) -> list[Any]:
    known = Article(ID1, URL1, ArticleSource(url=URL1), channels=(1,))
    fresh = Article(ID2, URL2, ArticleSource(url=URL2), channels=(1,))
    return [
        ListingItem(cid=1, qupost_ids=[ID1, ID2]),
        spider.article_request(known),
        spider.article_request(fresh),
        spider.list_request(1, page=2, min_time="1638620000000"),
    ]


def test_incremental_drops_stored_articles(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    store_one(crawler, stored_article())
    middleware = build_from_crawler(IncrementalMiddleware, crawler)
    outputs = list_outputs(crawler.spider)
    response = list_response(crawler.spider, b"{}")

    passed = list(middleware.process_spider_output(response, iter(outputs)))

    assert passed == [outputs[0], outputs[2], outputs[3]]
    assert stat(crawler, "qupost/articles/known") == 1


def test_incremental_async_drops_stored_articles(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    store_one(crawler, stored_article())
    middleware = build_from_crawler(IncrementalMiddleware, crawler)
    outputs = list_outputs(crawler.spider)
    response = list_response(crawler.spider, b"{}")

    async def collect() -> list[Any]:
        async def source() -> Any:
            for output in outputs:
                yield output

        return [o async for o in middleware.process_spider_output_async(response, source())]

    assert asyncio.run(collect()) == [outputs[0], outputs[2], outputs[3]]
    assert stat(crawler, "qupost/articles/known") == 1


def test_incremental_refresh_passes_everything(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler({"cid": "1", "refresh": "1"})
    store_one(crawler, stored_article())
    middleware = build_from_crawler(IncrementalMiddleware, crawler)
    outputs = list_outputs(crawler.spider)

    passed = list(
        middleware.process_spider_output(list_response(crawler.spider, b"{}"), iter(outputs))
    )

    assert passed == outputs
    assert stat(crawler, "qupost/articles/known") is None


def test_incremental_leaves_other_responses_alone(make_crawler: Callable[..., Crawler]) -> None:
    crawler = make_crawler()
    store_one(crawler, stored_article())
    middleware = build_from_crawler(IncrementalMiddleware, crawler)
    outputs = list_outputs(crawler.spider)
    request = crawler.spider.article_request(listed_article())
    response = page_response(request, ARTICLE_PAGE.format(img=IMG_A))

    passed = list(middleware.process_spider_output(response, iter(outputs)))

    assert len(passed) == len(outputs)
    assert all(a is b for a, b in zip(passed, outputs, strict=True))
    assert stat(crawler, "qupost/articles/known") is None


def test_incremental_unreadable_catalog_fetches_no_article(
    make_crawler: Callable[..., Crawler], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fetching an article whose storage is unknown could rewrite its post:
    # the list page's other outputs pass, its articles fail as "catalog".
    crawler = make_crawler()
    store_one(crawler, stored_article())

    def unreadable(self: Repository, ids: Any) -> set[str]:
        raise StorageError("disk I/O error")

    monkeypatch.setattr(Repository, "known_ids", unreadable)
    middleware = build_from_crawler(IncrementalMiddleware, crawler)
    outputs = list_outputs(crawler.spider)
    articles = [o for o in outputs if isinstance(o, Request) and o.meta["qupost_kind"] == "article"]

    passed = list(
        middleware.process_spider_output(list_response(crawler.spider, b"{}"), iter(outputs))
    )

    assert articles and passed == [o for o in outputs if o not in articles]
    assert stat(crawler, "qupost/storage/error") == 1
    assert stat(crawler, "qupost/articles/failed/catalog") == len(articles)


# --- 5. image pipeline hooks -------------------------------------------------------------


@pytest.fixture
def images(make_crawler: Callable[..., Crawler]) -> Iterator[StoreAsIsPipeline]:
    crawler = make_crawler()
    pipeline = build_from_crawler(StoreAsIsPipeline, crawler)
    pipeline.open_spider(crawler.spider)
    yield pipeline
    catalog_of(crawler).close()


def state_sizes(obj: object) -> dict[str, Any]:
    """Every attribute, with the size of those that are containers."""
    return {
        name: len(value) if isinstance(value, dict | list | set | tuple) else type(value)
        for name, value in vars(obj).items()
    }


def test_item_completed_maps_each_url_to_its_outcome(images: StoreAsIsPipeline) -> None:
    article = Article(
        ID1,
        URL1,
        body_html=f'<img src="{IMG_A}"><img src="{IMG_B}">',
        image_refs=(ImageRef(IMG_A, 640, 480), ImageRef(IMG_B)),
        cover_url=IMG_COVER,
    )
    assert article.all_image_urls == [IMG_A, IMG_B, IMG_COVER]
    # What Scrapy caches per image: no URL, no path (both follow from the article).
    downloaded = StoredImage("jpeg", 640, 480, 2048, None)
    uptodate = StoredImage("jpeg", 230, 160, 999, 3)
    results = [(True, downloaded), (False, Failure(ImageFailed("HTTP 404"))), (True, uptodate)]
    before = state_sizes(images)
    info = MediaPipeline.SpiderInfo(images.crawler.spider)

    assert images.item_completed(results, article, info) is article  # type: ignore[arg-type]

    assert article.images == {
        IMG_A: ImageRecord(
            IMG_A,
            "stored",
            path=image_path(IMG_A, "jpeg"),
            width=640,
            height=480,
            format="jpeg",
            size_bytes=2048,
            run_id=None,
        ),
        IMG_B: ImageRecord(IMG_B, "failed", reason="HTTP 404"),
        IMG_COVER: ImageRecord(
            IMG_COVER,
            "stored",
            path=image_path(IMG_COVER, "jpeg"),
            width=230,
            height=160,
            format="jpeg",
            size_bytes=999,
            run_id=3,
        ),
    }
    assert list(article.images) == [IMG_A, IMG_B, IMG_COVER]
    assert state_sizes(images) == before
    assert not any(value is article for value in vars(images).values())


def test_item_completed_describes_download_errors(images: StoreAsIsPipeline) -> None:
    article = Article(ID1, URL1, image_refs=(ImageRef(IMG_A),))
    results = [(False, Failure(TxTimeoutError()))]
    images.item_completed(results, article, MediaPipeline.SpiderInfo(images.crawler.spider))  # type: ignore[arg-type]
    assert article.images == {
        IMG_A: ImageRecord(IMG_A, "failed", reason="timed out (DOWNLOAD_TIMEOUT)")
    }


def image_request(record: ImageRecord | None) -> Request:
    return Request(record.url if record else IMG_A, meta={"qupost_known": record})


def test_media_to_download_reuses_stored_image(images: StoreAsIsPipeline) -> None:
    info = MediaPipeline.SpiderInfo(images.crawler.spider)
    record = ImageRecord(IMG_A, "stored", path=image_path(IMG_A, "jpeg"), width=640,
                         height=480, format="jpeg", size_bytes=2048, run_id=2)  # fmt: skip

    result = images.media_to_download(image_request(record), info)

    # The catalog's record comes back whole; run_id 2 says it needs no writing.
    assert result == StoredImage("jpeg", 640, 480, 2048, 2)
    assert result.record(IMG_A) == record
    assert stat(images.crawler, "qupost/images/reused") == 1


def test_media_to_download_failures(images: StoreAsIsPipeline) -> None:
    info = MediaPipeline.SpiderInfo(images.crawler.spider)
    run_id = images.catalog.run_id
    assert run_id is not None

    this_run = ImageRecord(IMG_A, "failed", reason="HTTP 404", run_id=run_id)
    with pytest.raises(ImageFailed) as raised:
        images.media_to_download(image_request(this_run), info)
    assert raised.value.reason == "HTTP 404"

    earlier = ImageRecord(IMG_A, "failed", reason="HTTP 404", run_id=run_id - 1)
    assert images.media_to_download(image_request(earlier), info) is None
    assert images.media_to_download(image_request(None), info) is None
    assert stat(images.crawler, "qupost/images/reused") is None


# --- 6. describing failures ---------------------------------------------------------------


def http_error(status: int) -> HttpError:
    response = Response("http://html2.qktoutiao.com/detail/x.html", status=status)
    return HttpError(response, "Ignoring non-200 response")


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (
            RefusedFetch("10.0.0.1 is a private, loopback or link-local address", "private"),
            "private",
            "not fetched: 10.0.0.1 is a private, loopback or link-local address",
        ),
        (http_error(503), "http_503", "HTTP 503"),
        (
            IgnoreRequest("Filtered offsite request to 'x.com'"),
            "offsite",
            "not fetched: x.com is not an allowed domain",
        ),
        (IgnoreRequest(), "ignored", "request ignored"),
        (TxTimeoutError(), "timeout", "timed out (DOWNLOAD_TIMEOUT)"),
        (DownloadTimeoutError("took 180s"), "timeout", "timed out (DOWNLOAD_TIMEOUT)"),
        (DNSLookupError("no such host x.com"), "dns", "DNS lookup failed"),
        (CannotResolveHostError("x.com"), "dns", "DNS lookup failed"),
        (TxConnectionRefusedError(), "connection", "connection failed"),
        (DownloadConnectionRefusedError(), "connection", "connection refused"),
        (
            ValueError("bad value\nat http://x.com/a"),
            "valueerror",
            "ValueError: bad value at http://x.com/a",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
def test_describe_failure(error: Exception, kind: str, text: str) -> None:
    assert describe_failure(error) == (kind, text)
    assert describe_failure(Failure(error)) == (kind, text)
    assert re.fullmatch(r"[a-z0-9_]+", kind), kind
    assert "/" not in kind and "x.com" not in kind and "http" not in kind.replace("http_", "")
