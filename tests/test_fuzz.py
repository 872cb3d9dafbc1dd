"""Fuzzing the parsers of untrusted bytes: only their own error may escape.

``crawler.pages`` promises that ``parse_list``, ``parse_article``,
``parse_detail_json`` and ``is_deleted`` raise ``PageError`` and nothing
else; ``measure_image`` promises ``ImageFailed``.  Hypothesis feeds them
random bytes and, more usefully, structurally plausible JSON and HTML with
hostile values inside.  Each test is bounded (examples and a per-example
deadline), so the whole module runs in well under a minute in CI.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crawler.pages import (
    ListPage,
    PageError,
    is_deleted,
    parse_article,
    parse_detail_json,
    parse_list,
)
from crawler.urls import is_http_url, is_valid_id
from fakesite.images import make_image, png_bomb
from pipelines.images import ImageFailed, ImageInfo, measure_image
from storage.article import Article, ArticleSource

FUZZ = settings(
    max_examples=250,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

any_char = st.characters(codec=None, exclude_categories=())
nasty_strings = st.one_of(
    st.text(any_char, max_size=40),
    st.sampled_from(
        [
            "", " ", "0", "-1", "1e309", "NaN", "١٢٣", "１２３", "9" * 5000, "../1", "1/../2",
            "http://[::1", "http://[", "http://", "https://x:99999999/", "http://a\x00b/",
            "http:\\/\\/html2.qktoutiao.com\\/detail\\/2021\\/12\\/04\\/1.html",
            "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html?key=a&amp;b=1",
            "javascript:alert(1)", "//x", "\ud800", "NoSuchKey",
        ]
    ),
)  # fmt: skip
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_strings,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_strings, inner, max_size=4),
    max_leaves=20,
)
ROW_KEYS = [
    "id", "url", "detail_url", "title", "publish_time", "show_time", "source_name",
    "nickname", "cover", "content_type", "type",
]  # fmt: skip
rows = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(ROW_KEYS), json_values | nasty_strings, max_size=len(ROW_KEYS)),
)


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    data: Any = draw(
        st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"data": st.lists(rows, max_size=6) | json_values},
                optional={"min_time": json_scalars, "max_time": json_scalars, "top": json_values},
            ),
        )
    )
    doc = draw(
        st.fixed_dictionaries(
            {"code": st.sampled_from([0, "0", 1, -1, None, "x"]) | json_scalars},
            optional={"data": st.just(data), "message": nasty_strings},
        )
    )
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        text = text.replace("/", "\\/")  # the real API escapes slashes
    return text.encode("utf-8", "surrogatepass")


def only_page_errors(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except PageError as exc:
        assert exc.reason and isinstance(exc.reason, str)
        return None


@given(st.binary(max_size=3000) | envelopes())
@FUZZ
@example(b"[" * 100_000)
@example(b'{"code":0,"data":{"data":[{"id":"1","url":"http://[::1"}]}}')
@example(b'{"code":0,"data":{"min_time":"\\u0661","data":[{"id":"1","url":"http://a/1.html",'
         b'"publish_time":"' + b"9" * 5000 + b'"}]}}')  # fmt: skip
@example(b"\xef\xbb\xbf" + b'{"code":0,"data":{"data":[]}}')
@example(b'{"code":0,"data":{"data":[{"id":"1","url":"http://a\\u0000/1.html"}]}}')
def test_parse_list_raises_only_page_error(body: bytes) -> None:
    listing = only_page_errors(parse_list, body)
    if listing is None:
        return
    assert isinstance(listing, ListPage)
    for entry in listing.entries:
        assert isinstance(entry, Article)
        assert is_valid_id(entry.qupost_id) and entry.qupost_id.isascii()
        assert is_http_url(entry.source.url) and is_http_url(entry.original_url)
        assert entry.source.detail_url is None or is_http_url(entry.source.detail_url)
    assert listing.min_time is None or is_valid_id(listing.min_time)
    assert len({e.qupost_id for e in listing.entries}) == len(listing.entries)


@st.composite
def article_pages(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.sampled_from(
                [
                    '<div class="article">', "</div>", "<h1>", "</h1>", '<div class="info">',
                    '<span class="source">', "</span>", '<div class="content">', "<p>", "</p>",
                    "<script>", "</script>", "<!--", "-->", "<![CDATA[", "]]>", "<", ">", "&",
                    "&#0;", "&#xD800;", "2021年12月05日 08:30", "3小时前", "昨天 13:49", "来源：",
                    '<meta charset="gbk">', "<svg><style>", "<table><tr><td>",
                ]
            )
            | st.text(any_char, max_size=12),
            max_size=40,
        )
    )  # fmt: skip
    return "".join(parts)


@given(st.text(any_char, max_size=2000) | article_pages())
@FUZZ
@example("<div>" * 5000)
@example("\x00" * 100)
@example('<div class="article"><h1>\ud800</h1><div class="content">\x00</div></div>')
def test_parse_article_raises_only_page_error(text: str) -> None:
    page = only_page_errors(parse_article, text)
    if page is not None:
        assert isinstance(page, ArticleSource)
        assert isinstance(page.page_title, str) and isinstance(page.html, str)
        # No time found is None, never an empty string.
        assert page.page_time is None or (isinstance(page.page_time, str) and page.page_time)


@st.composite
def detail_bodies(draw: st.DrawFn) -> bytes:
    doc = draw(
        st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"detail": nasty_strings | json_values | article_pages()},
                optional={"title": json_values, "publish_info": json_values, "data": json_values},
            ),
        )
    )
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    wrapper = draw(st.sampled_from(["{}", "cb({});", "cb( {} )", "$x.y_1({})", "({})", "cb({}"]))
    return wrapper.replace("{}", text, 1).encode("utf-8", "surrogatepass")


@given(st.binary(max_size=3000) | detail_bodies())
@FUZZ
@example(b"cb(" + b"[" * 100_000 + b")")
@example(b'cb({"detail": "<p>x</p>"})')
@example(b'{"data": {"detail": "{\\"video\\": 1}"}}')
def test_parse_detail_json_raises_only_page_error(body: bytes) -> None:
    page = only_page_errors(parse_detail_json, body)
    if page is not None:
        assert isinstance(page, ArticleSource) and page.html


@given(st.integers(min_value=-1, max_value=1000), st.binary(max_size=5000))
@FUZZ
def test_is_deleted_never_raises(status: int, body: bytes) -> None:
    assert isinstance(is_deleted(status, body), bool)


IMAGE_SEEDS = [make_image(4, 3, fmt) for fmt in ("jpeg", "png", "gif", "webp")] + [png_bomb(64, 64)]


@st.composite
def mangled_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(IMAGE_SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(1, len(data)))
    return bytes(data[:cut])


@given(st.binary(max_size=2000) | mangled_images())
@FUZZ
def test_measure_image_raises_only_image_failed(data: bytes) -> None:
    try:
        info = measure_image(data, 50_000_000)
    except ImageFailed as exc:
        assert exc.reason and exc.kind
        return
    assert isinstance(info, ImageInfo) and info.width > 0 and info.height > 0
