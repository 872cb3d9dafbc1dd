"""Hostile titles and text through the real crawl: YAML, Hexo templates, control characters.

Every title round-trips through the written post exactly, with control
characters removed, ``''`` read as ``"`` and whitespace folded (README, "title").
Template text in the body stays literal because every post says
``disableNunjucks: true``, and nothing in the text can end the front matter.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from fakesite.server import FakeServer
from fakesite.site import build_site
from tests.conftest import run_crawl
from tests.hostile import assert_clean_run, assert_written

pytestmark = pytest.mark.e2e

# (title as the source sends it, title as the post must say it)
TITLES: list[tuple[str, str | None]] = [
    ("引号'单'\"双\"“弯”「角」", "引号'单'\"双\"“弯”「角」"),
    ("''他说''：好", '"他说"：好'),
    ("冒号: 井号 # 注释", "冒号: 井号 # 注释"),
    ("{ 花括号 } [ 方括号 ] | 竖线 > 大于 & 与 * 星 ! 叹 % 百分 @ 艾特", None),
    ("- 以横线开头", None),
    ("---", None),
    ("--- 三横线开头", None),
    ("...", None),
    ("? 问号开头", None),
    ("&anchor *alias !!python/object:os.system", None),
    ("%YAML 1.1", None),
    ("`反引号`", None),
    ("C:\\Windows\\System32\\n 反斜杠 \\\\ \\u0041", None),
    ("制表\t符", "制表 符"),
    ("换\n行\r\n回车", "换 行 回车"),
    ("空白   折叠\u3000全角", "空白 折叠 全角"),
    ("控制\x00字\x01符\x07\x08\x0b\x0c\x1b\x7f清\x9b除", "控制字符清除"),
    ("\ufeffBOM开头", None),
    ("行分隔\u2028段分隔\u2029", "行分隔 段分隔"),
    ("true", None),
    ("null", None),
    ("~", None),
    ("0x1F", None),
    ("1e3", None),
    ("12:30:45", None),
    ("2021-12-04", None),
    ("{{ page.title }} 与 {% raw %}", None),
    ("表情😀👨‍👩‍👧 与 𠜎 生僻字", None),
    ("‮反向覆盖", None),
    ("长" * 1000, None),
]


def expected(raw: str, want: str | None) -> str:
    return raw if want is None else want


def test_every_hostile_title_round_trips(tmp_path: Path) -> None:
    site = build_site(len(TITLES), images_per_article=0, paragraphs=1)
    ids = sorted(site.articles)
    for qupost_id, (raw, _) in zip(ids, TITLES, strict=True):
        site.articles[qupost_id].title = raw
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1", "limit=100")
    assert_clean_run(result)
    assert_written(result, ids)
    for qupost_id, (raw, want) in zip(ids, TITLES, strict=True):
        text = (result.posts / f"qupost-{qupost_id}.md").read_text("utf-8")
        matter, _ = _split(text)
        assert matter["title"] == expected(raw, want), (raw, text[:300])
        assert isinstance(matter["title"], str)
        # The title sits on one line: nothing in it can close the front matter.
        head = text.split("\n---\n", 1)[0]
        assert sum(1 for line in head.splitlines() if line.startswith("title:")) == 1
        assert "\x00" not in text


def _split(text: str) -> tuple[dict[str, object], str]:
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    matter = yaml.safe_load(head)
    assert isinstance(matter, dict)
    return matter, body


def test_template_text_stays_literal_and_authors_are_cleaned(tmp_path: Path) -> None:
    site = build_site(2, images_per_article=0, paragraphs=0)
    templated, author = (site.articles[i] for i in sorted(site.articles))
    templated.body = [
        ("p", "{{ site.title }} {{ config.root | safe }}"),
        ("p", "{% raw %}{% include '../../_config.yml' %}{% endraw %} {# 注释 #}"),
        ("p", "<%= process.env.HOME %> ${HOME} $(id)"),
        ("p", "---"),
        ("p", "\n\n---\ntitle: injected\n---\n"),
    ]
    templated.title = "{{ title }}"
    author.body = [("p", "正文")]
    author.source_name = "封面\x00新闻\n\t记者"
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
    assert_clean_run(result)
    assert_written(result, [templated.id, author.id])
    matter, body = result.post(templated.id)
    assert matter["title"] == "{{ title }}"
    assert matter["disableNunjucks"] is True
    for literal in (
        "{{ site.title }} {{ config.root | safe }}",
        "{% raw %}{% include '../../_config.yml' %}{% endraw %} {# 注释 #}",
        "&lt;%= process.env.HOME %&gt; ${HOME} $(id)",
        "title: injected",
    ):
        assert literal in body, literal
    # The body is one line inside <div>: a "---" in the text cannot end the
    # front matter, and a blank line cannot end Hexo's raw-HTML block.
    text = (result.posts / f"qupost-{templated.id}.md").read_text("utf-8")
    assert text.count("\n---\n") == 1
    assert body.strip().count("\n") == 2  # <div>, the body line, </div>
    author_matter, _ = result.post(author.id)
    assert author_matter["author"] == "封面新闻 记者"
    with sqlite3.connect(result.out / "qupost.db") as conn:
        (stored_author,) = conn.execute(
            "SELECT author FROM posts WHERE qupost_id = ?", (author.id,)
        ).fetchone()
    assert stored_author == "封面新闻 记者"
