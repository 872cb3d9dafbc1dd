"""Property tests: arbitrary titles, bodies and ids through the sanitiser and the writer.

For any input: the YAML front matter parses back to the cleaned title and
author, no path leaves the output root, and nothing executable survives
sanitising *and* rendering (the renderer rewrites ``<img>`` tags after the
sanitiser ran, so both are in the loop).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.clean import clean_html, clean_text, clean_title
from storage.article import Article, ImageRecord
from storage.hexo import RenderOptions, post_path, render_post, write_if_changed
from tests.conftest import split_post
from tests.test_hostile_html import VECTORS, executable_parts

BASE = "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html"
# Tags are channel ids named by the options; channel 1 is written as 热点.
OPTIONS = RenderOptions(tag_names={1: "热点"})
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# Any code point, lone surrogates included (JSON can produce those).
any_char = st.characters(codec=None, exclude_categories=())
YAML_PIECES = [
    "-", "---", "...", ":", ": ", "#", " #", "{", "}", "[", "]", "|", ">", "&", "*", "!",
    "%", "@", "`", "?", "'", "''", '"', "\\", "\t", "\n", "\r\n", "\x00", "\x85", "\u2028",
    "\ufeff", "true", "null", "~", "0x1F", "1e3", "12:30", "{{ x }}", "{% raw %}", " ",
]  # fmt: skip
titles = st.one_of(
    st.text(any_char, max_size=200),
    st.lists(st.sampled_from(YAML_PIECES) | st.text(any_char, max_size=3), max_size=30).map(
        "".join
    ),
)

TAGS = [
    "p", "a", "img", "script", "style", "iframe", "object", "embed", "svg", "math", "div",
    "span", "table", "td", "noscript", "template", "form", "base", "meta", "b", "xss",
]  # fmt: skip
ATTRS = ["href", "src", "data-src", "onerror", "onclick", "style", "alt", "data-size", "srcdoc"]
VALUES = [
    "javascript:alert(1)", " JaVaScRiPt:alert(1)", "jav\tascript:alert(1)", "vbscript:x",
    "data:text/html,<script>alert(1)</script>", "data:image/png;base64,xx", "http://ok.example/a.jpg",
    "//cdn.example/a.png", "/relative.jpg", '"><script>alert(1)</script>', "x onerror=alert(1)",
    "&#106;avascript:alert(1)", "640,360", "",
]  # fmt: skip


@st.composite
def html_fragments(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(TAGS))
    attrs = draw(
        st.lists(
            st.tuples(st.sampled_from(ATTRS), st.sampled_from(VALUES) | st.text(max_size=8)),
            max_size=3,
        )
    )
    rendered = "".join(f' {k}="{v}"' for k, v in attrs)
    inner = draw(st.text(any_char, max_size=20))
    if depth < 2 and draw(st.booleans()):
        inner += draw(html_fragments(depth + 1))
    closing = "" if draw(st.booleans()) else f"</{tag}>"
    return f"<{tag}{rendered}>{inner}{closing}"


bodies = st.one_of(
    st.text(any_char, max_size=300),
    st.lists(html_fragments() | st.sampled_from(VECTORS) | st.text(max_size=10), max_size=8).map(
        "".join
    ),
)


def record(title: str, author: str, body: str, images: dict[str, ImageRecord]) -> Article:
    return Article(
        qupost_id="1638625001",
        original_url=BASE,
        channels=(1,),
        title=title,
        author=author,
        published_at=datetime(2021, 12, 4, 13, 49, 12, tzinfo=UTC),
        body_html=body,
        cover_url=None,
        updated_at=None,
        images=images,
    )


@given(titles, titles)
@settings(max_examples=400, deadline=None)
@example("---\ntitle: injected\n---", "- a\n- b")
@example("a\x00b\ud800c\x85d\u2028e", "\x1b[31m")
@example("''引号''", "")
def test_front_matter_parses_back_to_the_cleaned_title(raw_title: str, raw_author: str) -> None:
    title = clean_title(raw_title)
    author = clean_text(raw_author)
    assert not CONTROL.search(title) and "\n" not in title
    assert title == " ".join(CONTROL.sub("", raw_title.replace("''", '"')).split())
    text = render_post(record(title, author, "<p>x</p>", {}), OPTIONS)
    text.encode("utf-8")  # writable: no lone surrogate survived
    matter, body = split_post(text)
    assert matter["title"] == title
    assert matter["author"] == (author or "趣头条")
    assert matter["tags"] == ["热点"]
    assert matter["disableNunjucks"] is True
    assert body == "<div>\n<p>x</p>\n</div>\n"


@given(bodies)
@settings(max_examples=400, deadline=None)
@example("<img src=x onerror=alert(1)>")
@example('<a href="jav&#x09;ascript:alert(1)">x</a><embed src=x>after')
def test_nothing_executable_survives_cleaning_and_rendering(raw: str) -> None:
    body, images = clean_html(raw, BASE)
    assert not CONTROL.search(body)
    assert "\n" not in body
    # Half the images count as stored, so both rewrite paths of the renderer run.
    stored = {
        ref.url: ImageRecord(ref.url, "stored", f"2021/12/04/{n:040x}.png", 3, 4)
        for n, ref in enumerate(images)
        if n % 2 == 0
    }
    text = render_post(record("t", "a", body, stored), OPTIONS)
    _, rendered = split_post(text)
    assert executable_parts(rendered) == [], rendered
    for ref in images:
        assert ref.url.startswith(("http://", "https://"))


@given(st.text(any_char, max_size=30) | st.from_regex(r"\A[0-9]{1,25}\Z"))
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example("../../../../tmp/owned")
@example("1/../../x")
@example("/etc/passwd")
@example("12\x00")
@example("١٢٣")
def test_no_id_writes_outside_the_posts_folder(tmp_path: Path, qupost_id: str) -> None:
    root = tmp_path / "source"
    try:
        target = post_path(root, qupost_id)
    except ValueError:
        return
    assert target.parent == root / "_posts"
    write_if_changed(target, b"x")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.resolve().is_relative_to((root / "_posts").resolve()) for p in written)
    target.unlink()
