"""Tests for crawler.pages and crawler.urls: list envelopes, article pages, detail JSON, URLs.

Realistic responses come from the fake site (fakesite.site), which mimics the
real one's warts; hostile rows are added by hand in the same envelope shape.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from scrapy.http import HtmlResponse

from crawler.pages import (
    PageError,
    is_deleted,
    parse_article,
    parse_detail_json,
    parse_list,
)
from crawler.urls import canonical_url, jsonp_url, resolve_image_url
from fakesite.site import FakeArticle, FakeSite, build_site
from storage.article import Article, ArticleSource

HOST = "http://html2.qktoutiao.com"
PAGE = f"{HOST}/detail/2021/12/04/1638625001.html"
CDN = "http://static.1sapp.com/qupost/img/2021/12/04"
NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message></Error>"
)


def envelope(rows: list[Any], **data: Any) -> bytes:
    """A list API answer as the real API writes it: PHP-style escaped slashes."""
    doc = {
        "code": 0,
        "message": "成功",
        "showErr": 0,
        "currentTime": 1638626000,
        "data": {
            "min_time": "1638625752000",
            "max_time": "1638625752000",
            "show_time": 1638626000,
            "data": rows,
            "top": [],
            **data,
        },
    }
    return json.dumps(doc, ensure_ascii=False).replace("/", "\\/").encode("utf-8")


def row(qupost_id: Any = "1638625001", **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": qupost_id,
        "title": "“十四五”期间重庆将改造老旧小区住宅4.35万栋",
        "url": f"{HOST}/detail/2021/12/04/{qupost_id}.html?content_type=1&amp;key=k1&amp;dtu=200",
        "detail_url": f"{HOST}/detail/json/{qupost_id}.json?key=k1",
        "publish_time": "1638625752000",
        "show_time": "1638626000",
        "source_name": "封面新闻",
        "nickname": "趣友",
        "introduction": "",
        "cover": [f"{CDN}/0f93.jpeg?imageView2/2/w/230/q/80"],
        "content_type": "1",
        "type": "article",
    }
    values.update(changes)
    return values


def ad_row() -> dict[str, Any]:
    return {
        "type": "ad",
        "title": "限时优惠",
        "cover": ["http://a.1sapp.com/b.jpg"],
        "slot_id": "7001",
    }


def entry(qupost_id: str = "1638625001", **changes: Any) -> Article:
    """The article record ``parse_list`` makes of ``row(qupost_id)``; changes are source fields."""
    values: dict[str, Any] = {
        "url": f"{HOST}/detail/2021/12/04/{qupost_id}.html?content_type=1&key=k1&dtu=200",
        "list_title": "“十四五”期间重庆将改造老旧小区住宅4.35万栋",
        "detail_url": f"{HOST}/detail/json/{qupost_id}.json?key=k1",
        "publish_time": "1638625752000",
        "show_time": "1638626000",
        "list_author": "封面新闻",
        "cover": f"{CDN}/0f93.jpeg?imageView2/2/w/230/q/80",
    }
    values.update(changes)
    return Article(
        qupost_id=qupost_id,
        original_url=f"{HOST}/detail/2021/12/04/{qupost_id}.html",
        source=ArticleSource(**values),
    )


# --- list API -----------------------------------------------------------------


def test_parse_list_on_the_fake_site() -> None:
    site = build_site(3, channels=(1,))
    body = site.list_json("cid=1&tn=1&page=1&limit=10")
    assert b"\\/" in body and b"&amp;" in body
    raw_rows = json.loads(body)["data"]["data"]
    page = parse_list(body)
    assert page.rows == 4
    assert page.skipped == {"ad": 1}
    assert page.min_time == "1638621960000"
    assert [e.qupost_id for e in page.entries] == ["1638600000", "1638600001", "1638600002"]
    first = page.entries[0]
    article = site.articles["1638600000"]
    assert "&amp;key=" in raw_rows[0]["url"]
    source = first.source
    assert source.url == raw_rows[0]["url"].replace("&amp;", "&")
    assert source.url.startswith(
        "http://127.0.0.1/detail/2021/12/04/1638600000.html?content_type=1&key="
    )
    assert first.original_url == "http://127.0.0.1/detail/2021/12/04/1638600000.html"
    assert source.list_title == article.title
    assert source.publish_time == str(article.publish_ms) == "1638622800000"
    assert source.show_time == raw_rows[0]["show_time"]
    assert source.list_author == (article.source_name or article.nickname)
    assert source.detail_url is not None
    assert source.detail_url.startswith("http://127.0.0.1/detail/json/1638600000.json?key=")
    assert source.cover == f"http://127.0.0.1{article.cover}?imageView2/2/w/230/q/80"


def test_parse_list_unescapes_urls() -> None:
    page = parse_list(envelope([row()]))
    assert page.entries == [entry()]
    assert page.rows == 1
    assert page.skipped == {}
    assert page.min_time == "1638625752000"


def test_ad_rows_are_skipped_and_counted() -> None:
    rows = [ad_row(), row(), {"title": "无 id 无 url", "cover": []}, ad_row()]
    page = parse_list(envelope(rows))
    assert page.entries == [entry()]
    assert page.rows == 4
    assert page.skipped == {"ad": 3}


@pytest.mark.parametrize("content_type", ["3", "2", 3])
def test_video_and_other_rows_are_not_articles(content_type: Any) -> None:
    page = parse_list(envelope([row("1638625002", content_type=content_type), row()]))
    assert page.entries == [entry()]
    assert page.skipped == {"non_article": 1}


def test_integer_content_type_and_id_are_read() -> None:
    page = parse_list(envelope([row(1638625001, content_type=1)]))
    assert [e.qupost_id for e in page.entries] == ["1638625001"]


def test_duplicated_ids_keep_the_first_row() -> None:
    rows = [row(), row(title="second copy"), row("1638625002"), row()]
    page = parse_list(envelope(rows))
    assert page.entries == [entry(), entry("1638625002")]
    assert page.skipped == {"duplicate": 2}


@pytest.mark.parametrize(
    "bad_id",
    ["../1", "1/2", "..", "abc", "1.5", "-1", "1e9", "１６３８", "١٢٣", "1" * 21, True, None, 1.5],
)
def test_unusable_ids_are_rejected(bad_id: Any) -> None:
    bad = row(bad_id, url=f"{HOST}/detail/2021/12/04/1638625009.html")
    page = parse_list(envelope([bad, row()]))
    assert page.entries == [entry()]
    assert page.skipped == {"invalid": 1}


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "/detail/2021/12/04/1638625002.html", "ftp://h/x.html", ""],
)
def test_rows_without_an_http_url_are_rejected(url: str) -> None:
    page = parse_list(envelope([row("1638625002", url=url), row()]))
    assert page.entries == [entry()]
    assert page.skipped == {"invalid": 1}


def test_non_object_rows_are_rejected() -> None:
    page = parse_list(envelope(["x", 1, None, [], row()]))
    assert page.entries == [entry()]
    assert page.skipped == {"invalid": 4}


def test_optional_fields_fall_back() -> None:
    raw = row(
        publish_time="0",
        show_time="",
        source_name="",
        nickname="趣友小王",
        cover=[],
        detail_url="javascript:x",
    )
    page = parse_list(envelope([raw]))
    assert page.entries == [
        entry(
            publish_time=None,
            show_time=None,
            list_author="趣友小王",
            cover=None,
            detail_url=None,
        )
    ]


@pytest.mark.parametrize("code", [0, "0"])
def test_success_codes(code: Any) -> None:
    doc = json.loads(envelope([row()]))
    doc["code"] = code
    assert parse_list(json.dumps(doc).encode()).entries == [entry()]


def test_empty_page_has_no_entries() -> None:
    page = parse_list(envelope([], min_time="0"))
    assert (page.entries, page.rows, page.skipped) == ([], 0, {})


def test_null_data_list_is_an_empty_page() -> None:
    doc = json.loads(envelope([]))
    doc["data"]["data"] = None
    page = parse_list(json.dumps(doc).encode())
    assert (page.entries, page.rows) == ([], 0)


def test_utf8_bom_is_accepted() -> None:
    assert parse_list(b"\xef\xbb\xbf" + envelope([row()])).entries == [entry()]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b'{"code": 1, "message": "\\u9519\\u8bef", "data": {}}', "api_error", id="1"),
        pytest.param(b'{"code": -1, "data": {"data": []}}', "api_error", id="minus-1"),
        pytest.param(b'{"message": "ok", "data": {"data": []}}', "api_error", id="no-code"),
        pytest.param(b'{"code": 0, "data": {"data": [', "bad_json", id="truncated"),
        pytest.param(b"{'code': 0}", "bad_json", id="single-quotes"),
        pytest.param(b"[" * 100_000, "bad_json", id="nested-too-deep"),
        pytest.param(b"<html><body>502 Bad Gateway</body></html>", "not_json", id="html"),
        pytest.param(b"  <!DOCTYPE html>", "not_json", id="doctype"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b" \r\n ", "empty", id="blank"),
        pytest.param(b"[]", "bad_envelope", id="list"),
        pytest.param(b"null", "bad_envelope", id="null"),
        pytest.param(b'{"code": 0}', "bad_envelope", id="no-data"),
        pytest.param(b'{"code": 0, "data": []}', "bad_envelope", id="data-list"),
        pytest.param(b'{"code": 0, "data": {"data": {}}}', "bad_envelope", id="rows-object"),
    ],
)
def test_unreadable_list_pages_raise_page_error(body: bytes, reason: str) -> None:
    with pytest.raises(PageError) as raised:
        parse_list(body)
    assert raised.value.reason == reason


# --- article pages ------------------------------------------------------------


def fake_article(**changes: Any) -> FakeArticle:
    values: dict[str, Any] = {
        "id": "1638625001",
        "title": "“十四五”期间重庆将改造老旧小区住宅4.35万栋",
        "published": datetime(2021, 12, 4, 13, 49, 12, tzinfo=UTC),
        "source_name": "封面新闻",
        "body": [
            ("p", "封面新闻见习记者 曹钰"),
            ("img", "/qupost/img/2021/12/04/0f93.jpeg", "600,240"),
            ("html", "<strong>重庆老旧小区加装电梯</strong>"),
        ],
    }
    values.update(changes)
    return FakeArticle(**values)


EXPECTED_CONTENT = (
    '<div class="content"><p>封面新闻见习记者 曹钰</p>'
    '<p><img src="/static/img/placeholder.gif" '
    'data-src="http://127.0.0.1/qupost/img/2021/12/04/0f93.jpeg?imageView2/2/w/640" '
    'data-size="600,240" class="lazy"></p><p><strong>重庆老旧小区加装电梯</strong></p></div>'
)


def as_text(body: bytes, url: str = "http://127.0.0.1/detail/2021/12/04/1638625001.html") -> str:
    """Decode a page the way the spider does: Scrapy's response, no charset header."""
    return str(HtmlResponse(url=url, body=body, headers={"Content-Type": "text/html"}).text)


def test_parse_article_on_a_fake_page() -> None:
    site = FakeSite()
    article = site.add_article(fake_article())
    page = parse_article(as_text(site.page_html(article)))
    assert page == ArticleSource(
        page_title="“十四五”期间重庆将改造老旧小区住宅4.35万栋",
        page_author="封面新闻",
        page_time="2021-12-04 21:49",
        html=EXPECTED_CONTENT,
    )


def test_gbk_page_is_decoded_by_its_meta_charset() -> None:
    site = FakeSite()
    article = site.add_article(fake_article(charset="gbk"))
    body = site.page_html(article)
    assert "“十四五”".encode("gbk") in body
    assert parse_article(body.decode("utf-8", errors="replace")).page_title != article.title
    page = parse_article(as_text(body))
    assert page.page_title == "“十四五”期间重庆将改造老旧小区住宅4.35万栋"
    assert page.page_author == "封面新闻"
    assert page.html == EXPECTED_CONTENT


def test_page_without_content_leaves_the_body_to_the_detail_json() -> None:
    site = FakeSite()
    article = site.add_article(fake_article(mode="detail", info_time="昨天 13:49"))
    page = parse_article(as_text(site.page_html(article)))
    # No div.content: the body is empty ("" now, None before), for the detail JSON to fill.
    assert page == ArticleSource(
        page_title="“十四五”期间重庆将改造老旧小区住宅4.35万栋",
        page_author="封面新闻",
        page_time="昨天 13:49",
        html="",
    )


@pytest.mark.parametrize(
    ("info", "source", "time_text"),
    [
        ("来源：新华社 2021年12月05日 08:30", "新华社", "2021年12月05日 08:30"),
        ("新华社 3小时前", "新华社", "3小时前"),
        ("昨天 13:49 封面新闻", "封面新闻", "昨天 13:49"),
        ("中国新闻网 12月05日 08:30", "中国新闻网", "12月05日 08:30"),
        ("", "", None),
    ],
)
def test_info_line_forms(info: str, source: str, time_text: str | None) -> None:
    text = f'<div class="article"><h1>T</h1><div class="info">{info}</div></div>'
    page = parse_article(text)
    assert (page.page_title, page.page_author, page.page_time) == ("T", source, time_text)


@pytest.mark.parametrize("text", ["", "<html><body>nothing</body></html>", "not <html at all"])
def test_pages_without_an_article_give_an_empty_page(text: str) -> None:
    assert parse_article(text) == ArticleSource()


# --- detail JSON and JSONP ----------------------------------------------------


def detail_bytes(site: FakeSite, article: FakeArticle) -> bytes:
    return json.dumps(site.detail_json(article), ensure_ascii=False).encode("utf-8")


EXPECTED_DETAIL = ArticleSource(
    page_title="“十四五”期间重庆将改造老旧小区住宅4.35万栋",
    page_author="封面新闻",
    page_time="2021-12-04 21:49",
    html=EXPECTED_CONTENT.removeprefix('<div class="content">').removesuffix("</div>"),
)


def test_detail_json() -> None:
    site = FakeSite()
    article = site.add_article(fake_article(mode="detail"))
    assert parse_detail_json(detail_bytes(site, article)) == EXPECTED_DETAIL


@pytest.mark.parametrize(
    ("prefix", "suffix"),
    [("cb(", ");"), ("cb(", ")"), ("jQuery1_2 ( ", " )\n"), ("window.cb(", ");")],
)
def test_jsonp_detail(prefix: str, suffix: str) -> None:
    site = FakeSite()
    article = site.add_article(fake_article(mode="jsonp"))
    body = prefix.encode() + detail_bytes(site, article) + suffix.encode()
    assert parse_detail_json(body) == EXPECTED_DETAIL


def test_detail_wrapped_in_a_data_object() -> None:
    body = json.dumps({"code": 0, "data": {"detail": "<p>x</p>", "title": "t"}}).encode()
    assert parse_detail_json(body) == ArticleSource(page_title="t", html="<p>x</p>")


def test_video_detail_is_refused_as_video() -> None:
    site = FakeSite()
    article = site.add_article(fake_article(mode="video"))
    for body in (detail_bytes(site, article), b"cb(" + detail_bytes(site, article) + b");"):
        with pytest.raises(PageError) as raised:
            parse_detail_json(body)
        assert raised.value.reason == "video"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b'{"detail": ""}', "no_body", id="empty-detail"),
        pytest.param(b'{"title": "t"}', "no_body", id="no-detail"),
        pytest.param(b'{"detail": 5}', "no_body", id="number-detail"),
        pytest.param(b"[]", "bad_detail", id="list"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"<html>gone</html>", "not_json", id="html"),
        pytest.param(b"cb({bad);", "bad_json", id="bad-jsonp"),
    ],
)
def test_unreadable_detail_raises_page_error(body: bytes, reason: str) -> None:
    with pytest.raises(PageError) as raised:
        parse_detail_json(body)
    assert raised.value.reason == reason


# --- deleted articles ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "deleted"),
    [
        pytest.param(404, b"<html><body>404 Not Found</body></html>", True, id="404"),
        pytest.param(404, b"", True, id="404-empty"),
        pytest.param(200, NO_SUCH_KEY, True, id="nosuchkey-200"),
        pytest.param(403, NO_SUCH_KEY, True, id="nosuchkey-403"),
        pytest.param(200, b'{"Code": "NoSuchKey"}', True, id="nosuchkey-json"),
        pytest.param(200, b"<html><body><p>ok</p></body></html>", False, id="page"),
        pytest.param(500, b"Internal Server Error", False, id="500"),
        pytest.param(503, b"", False, id="503"),
    ],
)
def test_is_deleted(status: int, body: bytes, deleted: bool) -> None:
    assert is_deleted(status, body) is deleted


def test_real_fake_site_page_is_not_deleted() -> None:
    site = FakeSite()
    article = site.add_article(fake_article())
    assert is_deleted(200, site.page_html(article)) is False


def test_article_mentioning_nosuchkey_is_not_deleted() -> None:
    site = FakeSite()
    article = site.add_article(
        fake_article(body=[("p", "对象存储返回 NoSuchKey 错误时，说明文件不存在。")])
    )
    assert is_deleted(200, site.page_html(article)) is False


# --- URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{PAGE}?content_type=1&key=abc&dtu=200", PAGE),
        (f"{PAGE}?content_type=1&amp;key=abc", PAGE),
        (f"{PAGE}#comments", PAGE),
        (PAGE.replace("/", "\\/") + "?key=x", PAGE),
        ("HTTP://HTML2.QKTOUTIAO.COM/detail/2021/12/04/1638625001.html?key=x", PAGE),
        (PAGE, PAGE),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_ignores_the_rotating_key() -> None:
    assert canonical_url(f"{PAGE}?key=aaa") == canonical_url(f"{PAGE}?key=bbb")


@pytest.mark.parametrize(
    ("qupost_id", "path"),
    [
        ("1638625001", "/detail/jsonp/1638626/16386251/163862501/1638625001.js"),
        ("1638625000", "/detail/jsonp/1638625/16386250/163862500/1638625000.js"),
        ("1638625010", "/detail/jsonp/1638626/16386251/163862501/1638625010.js"),
        ("1", "/detail/jsonp/1/1/1/1.js"),
        ("999", "/detail/jsonp/1/10/100/999.js"),
    ],
)
def test_jsonp_url(qupost_id: str, path: str) -> None:
    assert jsonp_url(f"{PAGE}?key=abc", qupost_id) == f"{HOST}{path}"


def test_jsonp_url_keeps_the_page_scheme_and_host() -> None:
    url = jsonp_url("https://html2.qktoutiao.com:8443/detail/2021/12/04/1.html", "1")
    assert url == "https://html2.qktoutiao.com:8443/detail/jsonp/1/1/1/1.js"


def test_jsonp_url_is_exact_for_long_ids() -> None:
    url = jsonp_url(PAGE, "12345678901234567891")
    assert url == (
        f"{HOST}/detail/jsonp/12345678901234568/123456789012345679/1234567890123456790/"
        "12345678901234567891.js"
    )


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        (f"{CDN}/a.jpeg?imageView2/2/w/640", f"{CDN}/a.jpeg"),
        (f"{CDN}/a.jpeg?imageMogr2/thumbnail/100x", f"{CDN}/a.jpeg"),
        (f"{CDN}/a.jpeg?x=1&amp;imageView2/2/w/640", f"{CDN}/a.jpeg?x=1"),
        (f"{CDN}/a.jpeg?x=1&amp;y=2", f"{CDN}/a.jpeg?x=1&y=2"),
        (
            "http://other.example/a.jpeg?x=1&imageView2/2",
            "http://other.example/a.jpeg?x=1&imageView2/2",
        ),
        (f"{CDN}/a.jpeg#frag", f"{CDN}/a.jpeg"),
        ("//static.1sapp.com/b.png", "http://static.1sapp.com/b.png"),
        ("/c.gif", f"{HOST}/c.gif"),
        ("d.webp", f"{HOST}/detail/2021/12/04/d.webp"),
        ("http:\\/\\/static.1sapp.com\\/e.jpeg", "http://static.1sapp.com/e.jpeg"),
        ("https://static.1sapp.com/f.jpeg", "https://static.1sapp.com/f.jpeg"),
        ("data:image/png;base64,AAAA", None),
        ("javascript:alert(1)", None),
        ("ftp://static.1sapp.com/g.jpeg", None),
        ("", None),
        ("   ", None),
        ("http://[broken/", None),
    ],
)
def test_resolve_image_url(src: str, expected: str | None) -> None:
    assert resolve_image_url(src, f"{PAGE}?key=abc") == expected


@pytest.mark.parametrize("src", ["#", "?", "http://"])
def test_placeholder_src_is_not_the_page_itself(src: str) -> None:
    assert resolve_image_url(src, f"{PAGE}?key=abc") is None
