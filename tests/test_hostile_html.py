"""HTML injection: nothing executable from an article reaches a post.

The vectors go through the sanitiser *and* the Hexo renderer (which rewrites
``<img>`` tags after the sanitiser ran), then the output is parsed the way a
browser would and checked for scripts, handlers and dangerous URLs.  One crawl
carries the same vectors end to end.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import pytest

from fakesite.server import FakeServer
from fakesite.site import build_site
from pipelines.clean import ALLOWED_TAGS, clean_html
from storage.article import Article, ImageRecord
from storage.hexo import RenderOptions, render_post
from tests.conftest import run_crawl, split_post
from tests.hostile import assert_clean_run, assert_written, one_line, stat

BASE = "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html"

VECTORS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    '<img src="http://cdn.example/a.jpg" onload="alert(1)" alt="x">',
    '<img src="javascript:alert(1)">',
    '<img src="jav&#x09;ascript:alert(1)">',
    '<img data-src="vbscript:msgbox(1)" src="http://cdn.example/p.gif">',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<img src="http://cdn.example/a.jpg" alt="x&quot; onerror=&quot;alert(1)">',
    '<img src="http://cdn.example/a.jpg" alt="x&gt;&lt;script&gt;alert(1)&lt;/script&gt;">',
    '<img src="http://cdn.example/a.jpg?&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">',
    '<a href="javascript:alert(1)">a</a>',
    '<a href=" JaVaScRiPt:alert(1)">b</a>',
    '<a href="&#106;avascript:alert(1)">c</a>',
    '<a href="java\nscript:alert(1)">d</a>',
    '<a href="vbscript:msgbox(1)">e</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">f</a>',
    '<a href="data:text/html,<script>alert(1)</script>">g</a>',
    '<a href="http://ok.example/" onclick="alert(1)" target="_blank">h</a>',
    '<a href="http://x/&lt;img src=x onerror=alert(1)&gt;">i</a>',
    '<iframe src="http://evil.example/"></iframe>',
    '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    '<embed src="http://evil.example/x.swf">',
    '<style>@import "http://evil.example/x.css"; body{background:url(javascript:alert(1))}</style>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<![CDATA[<script>alert(1)</script>]]>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="http://evil.example/x.css">',
    "<details open ontoggle=alert(1)>t</details>",
    '<video><source onerror="alert(1)"></video>',
    "<body onload=alert(1)>",
    '<xss onmouseover="alert(1)">hover</xss>',
    '<table><tr><td colspan="&lt;img src=x onerror=alert(1)&gt;">c</td></tr></table>',
    "<template><script>alert(1)</script></template>",
    '"><script>alert(1)</script>',
    "<p>{{ constructor.constructor('alert(1)')() }}</p>",
    # Last: its unclosed <style> swallows what follows, as it does in a browser.
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]

FORBIDDEN_TAGS = {
    "script", "iframe", "object", "embed", "style", "svg", "math", "form", "meta",
    "base", "link", "template", "noscript", "video", "source", "details", "body",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "srcset", "poster", "xlink:href"}


def rendered_body(raw: str) -> str:
    """The body as a post shows it: sanitised, stored, rendered (one image stored)."""
    body, images = clean_html(raw, BASE)
    stored = {
        ref.url: ImageRecord(ref.url, "stored", "2021/12/04/" + "a" * 40 + ".jpeg", 10, 20)
        for ref in images[:1]
    }
    post = Article(
        qupost_id="1638625001",
        original_url=BASE,
        title="t",
        author="a",
        published_at=datetime(2021, 12, 4, tzinfo=UTC),
        body_html=body,
        cover_url=None,
        updated_at=None,
        images=stored,
    )
    text = render_post(post, RenderOptions())
    return split_post(text)[1]


def executable_parts(html: str) -> list[str]:
    """Everything in ``html`` a browser could run, as readable descriptions."""
    problems: list[str] = []
    if re.search(r"<\s*script", html, re.I):
        problems.append("<script in the text")
    root = lxml.html.fragment_fromstring(f"<div>{html}</div>")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag in FORBIDDEN_TAGS or (tag != "div" and tag not in ALLOWED_TAGS):
            problems.append(f"<{tag}>")
        for name, value in element.attrib.items():
            name = name.lower()
            if name.startswith("on") or name in ("style", "srcdoc"):
                problems.append(f"{tag}[{name}]")
            if name in URL_ATTRIBUTES and not _safe_url(value):
                problems.append(f"{tag}[{name}={value!r}]")
    return problems


def _safe_url(value: str) -> bool:
    scheme = urlsplit(re.sub(r"[\x00-\x20]", "", value)).scheme.lower()
    return scheme in ("http", "https") or (not scheme and value.startswith("/images/"))


@pytest.mark.parametrize("raw", VECTORS)
def test_nothing_executable_reaches_a_post(raw: str) -> None:
    body = rendered_body(f"<p>before</p>{raw}<p>after</p>")
    assert executable_parts(body) == [], body
    assert "before" in body


@pytest.mark.parametrize("raw", VECTORS)
def test_cleaning_is_stable(raw: str) -> None:
    # The stored body is cleaned once; cleaning it again must change nothing,
    # or a refresh would see a "change" every time.
    once, _ = clean_html(raw, BASE)
    assert clean_html(once, BASE)[0] == once


def test_links_keep_http_href_and_get_rel() -> None:
    body = rendered_body(
        '<p><a href="https://ok.example/a?b=1&amp;c=2">ok</a>'
        '<a href="/relative/x.html">rel</a>'
        '<a href="//proto.example/p">proto</a>'
        '<a href="javascript:alert(1)">js</a>'
        '<a href="mailto:a@b.c">mail</a>'
        '<a href="ftp://files.example/x">ftp</a></p>'
    )
    links = list(lxml.html.fragment_fromstring(body.strip()).iter("a"))
    assert [a.get("href") for a in links] == [
        "https://ok.example/a?b=1&c=2",
        "http://html2.qktoutiao.com/relative/x.html",
        "http://proto.example/p",
        None,
        None,
        None,
    ]
    assert all(a.get("rel") == "nofollow noopener" for a in links)
    assert [a.text for a in links] == ["ok", "rel", "proto", "js", "mail", "ftp"]


@pytest.mark.e2e
def test_injection_through_the_crawl(tmp_path: Path) -> None:
    site = build_site(3, images_per_article=1)
    hostile, only_script, plain = (site.articles[i] for i in sorted(site.articles))
    hostile.extra_content_html = "".join(VECTORS)
    # Nothing but script and chrome: no post, one line, a stat.
    only_script.body = [("html", "<script>alert(1)</script>")]
    only_script.extra_content_html = '<iframe src="http://evil.example/"></iframe><div id="img">'
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
    assert_clean_run(result)
    assert_written(result, [hostile.id, plain.id])
    line = one_line(result, f"article {only_script.id}: empty body after cleaning")
    assert "Dropped:" in line and "alert" not in line  # the reason, not the item's repr
    assert stat(result, "qupost/articles/failed/empty") == 1
    _, body = result.post(hostile.id)
    assert executable_parts(body) == [], body
    assert "第1段" in body and "styled" in body and "hover" in body
    assert "{{ constructor.constructor('alert(1)')() }}" in body
    imgs = list(lxml.html.fragment_fromstring(body.strip()).iter("img"))
    assert all(img.get("referrerpolicy") == "no-referrer" for img in imgs)
