"""Reading the HTML pages that the real Hexo and Hugo builds generate, for the site tests."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html


def parse(path: Path) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(path.read_text("utf-8"))


def one(tree: lxml.html.HtmlElement, css: str) -> lxml.html.HtmlElement:
    """The one element ``css`` matches; more or none is a failure."""
    found = tree.cssselect(css)
    assert len(found) == 1, f"{css!r} matched {len(found)} elements"
    return found[0]


def text_of(element: lxml.html.HtmlElement) -> str:
    """The element's text, whitespace folded as a browser shows it."""
    return re.sub(r"\s+", " ", element.text_content()).strip()


def expected_title(title: str) -> str:
    """The title a page shows for a source title: Qutoutiao's '' read as ", whitespace folded."""
    return re.sub(r"\s+", " ", title.replace("''", '"')).strip()
