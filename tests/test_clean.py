"""Tests for pipelines.clean: the HTML allowlist, image resolution, titles and the pipeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler.items import ListingItem
from pipelines.clean import CleanPipeline, clean_html, clean_title, normalise, parse_size
from storage.article import Article, ArticleSource, ImageRef

PAGE = "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html?content_type=1&key=abc"
CDN = "http://static.1sapp.com/qupost/img/2021/12/04"
REL = 'rel="nofollow noopener"'


def body(raw: str) -> str:
    return clean_html(raw, PAGE)[0]


def images(raw: str) -> list[ImageRef]:
    return clean_html(raw, PAGE)[1]


# --- the allowlist: what is kept ----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            "<p>a <strong>s</strong><em>e</em><b>b</b><i>i</i><u>u</u><br>c</p>",
            "<p>a <strong>s</strong><em>e</em><b>b</b><i>i</i><u>u</u><br>c</p>",
            id="inline",
        ),
        pytest.param(
            "<h2>2</h2><h3>3</h3><h4>4</h4><h5>5</h5><h6>6</h6>",
            "<h2>2</h2><h3>3</h3><h4>4</h4><h5>5</h5><h6>6</h6>",
            id="headings",
        ),
        pytest.param("<h1>big</h1><p>x</p>", "big<p>x</p>", id="h1-unwrapped-text-kept"),
        pytest.param(
            "<ul><li>a</li></ul><ol><li>b</li></ol>",
            "<ul><li>a</li></ul><ol><li>b</li></ol>",
            id="lists",
        ),
        pytest.param(
            "<blockquote><p>q</p></blockquote>", "<blockquote><p>q</p></blockquote>", id="quote"
        ),
        pytest.param(
            '<figure><img src="http://a.com/x.jpg"><figcaption>c</figcaption></figure>',
            '<figure><img src="http://a.com/x.jpg"><figcaption>c</figcaption></figure>',
            id="figure",
        ),
        pytest.param(
            "<table><caption>c</caption><thead><tr><th colspan=2>h</th></tr></thead>"
            '<tbody><tr><td rowspan="1">d</td></tr></tbody><tfoot><tr><td>f</td></tr></tfoot>'
            "</table>",
            '<table><caption>c</caption><thead><tr><th colspan="2">h</th></tr></thead>'
            '<tbody><tr><td rowspan="1">d</td></tr></tbody><tfoot><tr><td>f</td></tr></tfoot>'
            "</table>",
            id="table",
        ),
        pytest.param(
            '<div class="content"><p>x</p><span style="c">y</span></div>',
            "<p>x</p>y",
            id="wrappers-unwrapped",
        ),
        pytest.param("<p>a &lt;b&gt; &amp; c</p>", "<p>a &lt;b&gt; &amp; c</p>", id="escapes"),
        pytest.param(
            "<p>{{ page.title }}</p><p>{% raw %}x{% endraw %}</p>",
            "<p>{{ page.title }}</p><p>{% raw %}x{% endraw %}</p>",
            id="template-text-literal",
        ),
    ],
)
def test_allowed_structure_is_kept(raw: str, expected: str) -> None:
    assert body(raw) == expected


# --- the allowlist: what is dropped -------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("<p>a<script>alert(1)</script>b</p>", "<p>ab</p>", id="script"),
        pytest.param("<p>a<SCRIPT>alert(1)</SCRIPT>b</p>", "<p>ab</p>", id="script-upper"),
        pytest.param('<p>a<iframe src="http://e.com/"></iframe>b</p>', "<p>ab</p>", id="iframe"),
        pytest.param(
            '<object data="x.swf"><param name="a"><p>in</p></object><p>z</p>',
            "<p>z</p>",
            id="object",
        ),
        pytest.param("<style>p{color:red}</style><p>z</p>", "<p>z</p>", id="style"),
        pytest.param("<noscript><p>ns</p></noscript><p>z</p>", "<p>z</p>", id="noscript"),
        pytest.param("<svg><script>alert(1)</script></svg><p>z</p>", "<p>z</p>", id="svg"),
        pytest.param("<!-- note --><p>z</p>", "<p>z</p>", id="comment"),
        pytest.param(
            '<p onclick="x()" onmouseover="y()" style="c" class="k" id="i">t</p>',
            "<p>t</p>",
            id="handlers-and-presentation",
        ),
        pytest.param('<h2 onmouseover="y()">t</h2>', "<h2>t</h2>", id="handler-on-heading"),
        pytest.param(
            '<p>one</p><div id="img"></div><p>two</p>', "<p>one</p><p>two</p>", id="img-chrome"
        ),
        pytest.param(
            '<p>one</p><div id="img"><p>chrome</p><img src="http://a.com/x.jpg"></div>',
            "<p>one</p>",
            id="img-chrome-with-content",
        ),
    ],
)
def test_dangerous_or_chrome_content_is_dropped(raw: str, expected: str) -> None:
    assert body(raw) == expected


def test_chrome_image_is_not_listed() -> None:
    assert images('<div id="img"><img src="http://a.com/x.jpg"></div><p>t</p>') == []


def test_embed_is_dropped() -> None:
    assert body('<p>a</p><embed src="x.swf">') == "<p>a</p>"


def test_text_after_embed_is_kept() -> None:
    assert body('<p>a</p><embed src="x.swf"><p>z</p>') == "<p>a</p><p>z</p>"


def test_generic_attributes_outside_the_allowlist_are_dropped() -> None:
    assert body('<p title="t" lang="zh">x</p>') == "<p>x</p>"


# --- links --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            '<a href="https://e.com/x">h</a>', f'<a href="https://e.com/x" {REL}>h</a>', id="https"
        ),
        pytest.param(
            '<a href="http://e.com/?a=1&amp;b=2">h</a>',
            f'<a href="http://e.com/?a=1&amp;b=2" {REL}>h</a>',
            id="query-escaped-once",
        ),
        pytest.param(
            '<a href="foo.html">r</a>',
            f'<a href="http://html2.qktoutiao.com/detail/2021/12/04/foo.html" {REL}>r</a>',
            id="relative-resolved",
        ),
        pytest.param(
            '<a href="//e.com/x">p</a>', f'<a href="http://e.com/x" {REL}>p</a>', id="proto-rel"
        ),
        pytest.param(
            '<a href="http://e.com/" target="_blank" rel="opener" onclick="x()">t</a>',
            f'<a href="http://e.com/" {REL}>t</a>',
            id="rel-replaced",
        ),
        pytest.param('<a href="javascript:alert(1)">j</a>', f"<a {REL}>j</a>", id="javascript"),
        pytest.param('<a href=" JaVaScRiPt:alert(1)">j</a>', f"<a {REL}>j</a>", id="js-mixed"),
        pytest.param('<a href="vbscript:msgbox(1)">v</a>', f"<a {REL}>v</a>", id="vbscript"),
        pytest.param(
            '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">d</a>',
            f"<a {REL}>d</a>",
            id="data-html",
        ),
        pytest.param(
            '<a href="data:text/html;base64,PHNjcmlwdD4=">d</a>', f"<a {REL}>d</a>", id="data-b64"
        ),
        pytest.param('<a href="mailto:a@b.c">m</a>', f"<a {REL}>m</a>", id="mailto"),
        pytest.param("<a>n</a>", f"<a {REL}>n</a>", id="no-href"),
    ],
)
def test_links(raw: str, expected: str) -> None:
    assert body(raw) == expected


def test_obfuscated_javascript_href_is_dropped() -> None:
    assert body('<a href="jav&#x09;ascript:alert(1)">j</a>') == f"<a {REL}>j</a>"


def test_every_href_is_http_or_https() -> None:
    raw = (
        '<a href="javascript:x()">1</a><a href="/p">2</a><a href="ftp://e.com/">3</a>'
        '<a href="https://e.com/">4</a><a href="vbscript:x">5</a><a href="#top">6</a>'
    )
    hrefs = re.findall(r'href="([^"]*)"', body(raw))
    assert hrefs == [
        "http://html2.qktoutiao.com/p",
        "https://e.com/",
        "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html?content_type=1&amp;key=abc#top",
    ]


# --- images -------------------------------------------------------------------


def test_lazy_image_uses_data_src_and_drops_rendition_suffix() -> None:
    raw = (
        f'<p><img src="/static/img/placeholder.gif" data-src="{CDN}/a.jpeg?imageView2/2/w/640"'
        ' data-size="600,240" alt="图一" class="lazy" style="w" onerror="x()"></p>'
    )
    html, refs = clean_html(raw, PAGE)
    assert html == f'<p><img src="{CDN}/a.jpeg" alt="图一" data-size="600,240"></p>'
    assert refs == [ImageRef(f"{CDN}/a.jpeg", 600, 240)]


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        pytest.param('<img src="/up/a.png">', "http://html2.qktoutiao.com/up/a.png", id="rooted"),
        pytest.param(
            '<img src="a.png">', "http://html2.qktoutiao.com/detail/2021/12/04/a.png", id="relative"
        ),
        pytest.param(
            '<img src="//static.1sapp.com/b.gif">', "http://static.1sapp.com/b.gif", id="proto-rel"
        ),
        pytest.param(
            '<img src="https://static.1sapp.com/c.webp?imageView2/1/w/100/h/100">',
            "https://static.1sapp.com/c.webp",
            id="https-rendition",
        ),
        pytest.param(
            '<img data-src="http:\\/\\/static.1sapp.com\\/d.jpeg">',
            "http://static.1sapp.com/d.jpeg",
            id="json-slashes",
        ),
        pytest.param(
            '<img data-original="http://static.1sapp.com/e.jpeg">',
            "http://static.1sapp.com/e.jpeg",
            id="data-original",
        ),
    ],
)
def test_image_sources_are_resolved(raw: str, url: str) -> None:
    assert clean_html(raw, PAGE) == (f'<img src="{url}">', [ImageRef(url)])


def test_ampersand_in_image_url_is_unescaped_in_the_ref_and_escaped_in_html() -> None:
    html, refs = clean_html('<img src="http://static.1sapp.com/a.png?x=1&amp;y=2">', PAGE)
    assert refs == [ImageRef("http://static.1sapp.com/a.png?x=1&y=2")]
    assert html == '<img src="http://static.1sapp.com/a.png?x=1&amp;y=2">'


@pytest.mark.parametrize(
    "img",
    [
        pytest.param('<img src="data:image/png;base64,AAAA">', id="data-uri"),
        pytest.param('<img src="javascript:alert(1)">', id="javascript"),
        pytest.param('<img src="ftp://a.com/x.jpg">', id="ftp"),
        pytest.param("<img>", id="no-src"),
        pytest.param('<img src="">', id="empty-src"),
        pytest.param(
            '<img data-src="javascript:alert(1)" src="http://a.com/ok.jpg">', id="bad-lazy-src"
        ),
    ],
)
def test_image_without_http_source_is_dropped(img: str) -> None:
    assert clean_html(f"<p>t{img}</p>", PAGE) == ("<p>t</p>", [])


@pytest.mark.parametrize(
    ("declared", "attr", "size"),
    [
        pytest.param("600,240", ' data-size="600,240"', (600, 240), id="comma"),
        pytest.param("600x240", ' data-size="600,240"', (600, 240), id="x-normalised"),
        pytest.param(" 600 , 240 ", ' data-size="600,240"', (600, 240), id="spaces"),
        pytest.param("0,240", "", (None, None), id="zero"),
        pytest.param("abc", "", (None, None), id="garbage"),
        pytest.param("600", "", (None, None), id="one-side"),
    ],
)
def test_declared_size_kept_only_when_valid(
    declared: str, attr: str, size: tuple[int | None, int | None]
) -> None:
    html, refs = clean_html(f'<img src="http://a.com/x.jpg" data-size="{declared}">', PAGE)
    assert html == f'<img src="http://a.com/x.jpg"{attr}>'
    assert refs == [ImageRef("http://a.com/x.jpg", *size)]


def test_empty_alt_is_not_written() -> None:
    assert body('<img src="http://a.com/x.jpg" alt="">') == '<img src="http://a.com/x.jpg">'


def test_images_are_listed_in_document_order() -> None:
    raw = (
        '<p><img data-src="http://a.com/1.jpg"></p><p>t</p>'
        '<figure><img src="http://a.com/2.png" data-size="3,4"></figure>'
        '<img src="http://a.com/1.jpg">'
    )
    assert images(raw) == [
        ImageRef("http://a.com/1.jpg"),
        ImageRef("http://a.com/2.png", 3, 4),
        ImageRef("http://a.com/1.jpg"),
    ]


# --- output shape -------------------------------------------------------------


def test_output_is_one_line() -> None:
    raw = (
        "<p>line1\n\nline2</p>\r\n<p>c</p>\n\n<ul>\n<li>a</li>\n</ul>\n"
        '<img src="http://a.com/x.jpg" alt="l1\nl2">\n'
    )
    html = body(raw)
    assert html == (
        '<p>line1 line2</p><p>c</p><ul><li>a</li></ul><img src="http://a.com/x.jpg" alt="l1 l2">'
    )
    assert "\n" not in html
    assert "\r" not in html


def test_control_characters_are_removed() -> None:
    assert body("<p>a\x00b\x07c\x1fd\x7fe</p>") == "<p>abcde</p>"


@pytest.mark.parametrize("raw", ["", "   \n ", "\x00"])
def test_blank_input_gives_empty_body(raw: str) -> None:
    assert clean_html(raw, PAGE) == ("", [])


# --- titles and sizes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("“十四五”期间重庆", "“十四五”期间重庆", id="unchanged"),
        pytest.param("他说''好''", '他说"好"', id="double-single-quotes"),
        pytest.param("it's", "it's", id="apostrophe"),
        pytest.param("a\nb\r\nc", "a b c", id="newlines"),
        pytest.param("  a   b\t\tc  ", "a b c", id="spaces-and-tabs"),
        pytest.param("a\x00b\x07c", "abc", id="control-and-nul"),
        pytest.param("标题：a/b|c", "标题：a/b|c", id="punctuation-kept"),
        pytest.param("", "", id="empty"),
    ],
)
def test_clean_title(raw: str, expected: str) -> None:
    assert clean_title(raw) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("600,240", (600, 240)),
        ("600x240", (600, 240)),
        ("600X240", (600, 240)),
        ("600*240", (600, 240)),
        ("600×240", (600, 240)),
        (" 1 , 2 ", (1, 2)),
        ("999999,1", (999999, 1)),
        ("1000000,1", None),
        ("0,240", None),
        ("600,0", None),
        ("-1,5", None),
        ("600,240,3", None),
        ("600", None),
        ("", None),
        (None, None),
        ("abc", None),
        ("1.5,2", None),
    ],
)
def test_parse_size(value: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_size(value) == expected


# --- the pipeline -------------------------------------------------------------


@pytest.fixture
def crawler() -> Crawler:
    return get_crawler(settings_dict={})


def article(raw_html: str, title: str = "t") -> Article:
    return Article(
        qupost_id="1638625001",
        original_url="http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html",
        source=ArticleSource(list_title=title, html=raw_html),
    )


def test_pipeline_cleans_body_title_and_lists_images(crawler: Crawler) -> None:
    pipeline = build_from_crawler(CleanPipeline, crawler)
    item = article(
        '<div class="content"><p>x</p><script>s()</script>'
        f'<p><img src="/p.gif" data-src="{CDN}/a.jpeg?imageView2/2/w/640" data-size="6,2"></p>'
        '<div id="img"></div></div>',
        title=" 他说''好''\n 了 ",
    )
    assert pipeline.process_item(item) is item
    assert item.title == '他说"好" 了'
    assert item.body_html == f'<p>x</p><p><img src="{CDN}/a.jpeg" data-size="6,2"></p>'
    assert item.image_refs == (ImageRef(f"{CDN}/a.jpeg", 6, 2),)
    assert item.source.html == ""
    assert crawler.stats is not None
    assert crawler.stats.get_stats() == {}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="nothing"),
        pytest.param(
            '<div class="content"><script>x()</script><div id="img"></div></div>', id="chrome"
        ),
        pytest.param('<img src="data:image/gif;base64,R0lG">', id="only-bad-image"),
    ],
)
def test_pipeline_drops_empty_body_and_counts_it(crawler: Crawler, raw: str) -> None:
    pipeline = build_from_crawler(CleanPipeline, crawler)
    with pytest.raises(DropItem, match="1638625001"):
        pipeline.process_item(article(raw))
    assert crawler.stats is not None
    # It also counts, with its URL, as a page without a body for the changed-site alarm.
    assert crawler.stats.get_stats() == {
        "qupost/articles/failed/empty": 1,
        "qupost/pages/no_body": 1,
        "qupost/pages/example/no_body": article(raw).original_url,
    }


def test_pipeline_passes_other_items_through(crawler: Crawler) -> None:
    pipeline = build_from_crawler(CleanPipeline, crawler)
    listing = ListingItem(cid=1, qupost_ids=["1"])
    assert pipeline.process_item(listing) is listing
    assert listing == ListingItem(cid=1, qupost_ids=["1"])


def test_pipeline_counts_an_unparsable_body(crawler: Crawler) -> None:
    pipeline = build_from_crawler(CleanPipeline, crawler)
    with pytest.raises(DropItem, match="1638625001: body is not HTML"):
        pipeline.process_item(article("<!DOCTYPE html>"))
    assert crawler.stats is not None
    assert crawler.stats.get_stats() == {"qupost/articles/failed/unparsable": 1}


def test_pipeline_drops_a_bare_html_element_body(crawler: Crawler) -> None:
    pipeline = build_from_crawler(CleanPipeline, crawler)
    with pytest.raises(DropItem, match="1638625001"):
        pipeline.process_item(article("<html><head></head></html>"))


def test_pipeline_passes_deleted_articles_through(crawler: Crawler) -> None:
    pipeline = build_from_crawler(CleanPipeline, crawler)
    item = article("")
    item.deleted_at = datetime(2021, 12, 5, tzinfo=UTC)
    assert pipeline.process_item(item) is item
    assert (item.title, item.body_html) == ("", "")
    assert crawler.stats is not None
    assert crawler.stats.get_stats() == {}


# --- normalise: the article's own fields from its source fields -----------------


def test_normalise_prefers_the_list_title_and_author_over_the_page() -> None:
    item = Article(
        "1638625001",
        PAGE.split("?")[0],
        ArticleSource(
            list_title=" 列表\n标题 ",
            page_title="页面标题",
            list_author="封面\x00新闻",
            page_author="新华社",
            html="<p>x</p>",
        ),
    )
    normalise(item)
    assert (item.title, item.author) == ("列表 标题", "封面新闻")


def test_normalise_falls_back_to_the_page_title_and_author() -> None:
    item = Article(
        "1638625001",
        PAGE.split("?")[0],
        ArticleSource(page_title="他说''好''", page_author=" 新华社\t", html="<p>x</p>"),
    )
    normalise(item)
    assert (item.title, item.author) == ('他说"好"', "新华社")


def test_normalise_cleans_the_body_and_empties_the_source_html() -> None:
    raw = f'<p>x</p><img data-src="{CDN}/a.jpeg?imageView2/2/w/640"><img src="{CDN}/a.jpeg">'
    item = Article("1638625001", PAGE.split("?")[0], ArticleSource(html=raw))
    normalise(item)
    assert item.body_html == f'<p>x</p><img src="{CDN}/a.jpeg"><img src="{CDN}/a.jpeg">'
    assert item.image_refs == (ImageRef(f"{CDN}/a.jpeg"), ImageRef(f"{CDN}/a.jpeg"))
    assert item.image_urls == [f"{CDN}/a.jpeg"]
    assert item.source.html == ""


@pytest.mark.parametrize(
    ("cover", "expected"),
    [
        pytest.param(f"{CDN}/c.jpeg?imageView2/2/w/230/q/80", f"{CDN}/c.jpeg", id="rendition"),
        pytest.param("/qupost/c.png", "http://html2.qktoutiao.com/qupost/c.png", id="rooted"),
        pytest.param("c.png", "http://html2.qktoutiao.com/detail/2021/12/04/c.png", id="relative"),
        pytest.param("javascript:alert(1)", None, id="javascript"),
        pytest.param(None, None, id="none"),
    ],
)
def test_normalise_resolves_the_cover(cover: str | None, expected: str | None) -> None:
    item = Article("1638625001", PAGE.split("?")[0], ArticleSource(cover=cover, html="<p>x</p>"))
    normalise(item)
    assert item.cover_url == expected
    assert item.all_image_urls == ([expected] if expected else [])
