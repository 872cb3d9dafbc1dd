"""Plain-text summaries of article bodies, for index pages and meta descriptions."""

from __future__ import annotations

import re
import unicodedata

import lxml.html
from lxml import etree

SUMMARY_LENGTH = 120
# A cut within this many characters of the limit moves back to the end of a sentence.
_SENTENCE_ENDS = "。！？!?；;…"
_SENTENCE_SLACK = 40
_BLOCKS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "td")
_BYLINE = re.compile(r"记者|通讯员|编辑|来源[:：]|作者[:：]|供稿|撰文|摄影")


def fold(text: str) -> str:
    """Whitespace folded to single spaces, ends trimmed.

    Angle brackets become their full-width forms: some themes print the
    summary unescaped, and a summary is text, never markup.
    """
    return " ".join(text.split()).replace("<", "\uff1c").replace(">", "\uff1e")


def stored_summary(description: str, body_html: str) -> str:
    """The summary a renderer shows: the stored one, else (rows stored before summaries
    existed) one derived from the stored body."""
    return fold(description) or describe("", body_html)


def describe(introduction: str, body_html: str, limit: int = SUMMARY_LENGTH) -> str:
    """A post's summary: the list's introduction as text, else the start of the body."""
    return summarise(introduction, limit) or summarise(body_html, limit)


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """``text`` cut to at most ``limit`` characters, ending with "…" when cut.

    The cut never splits a character and its combining marks, and prefers
    the end of a sentence when one lies close before the limit.
    """
    text = fold(text)
    if len(text) <= limit:
        return text
    cut = limit - 1
    while cut > 0 and unicodedata.combining(text[cut]):
        cut -= 1
    head = text[:cut]
    sentence_end = max(head.rfind(mark) for mark in _SENTENCE_ENDS)
    if sentence_end >= cut - _SENTENCE_SLACK:
        return head[: sentence_end + 1]
    return head.rstrip() + "…"


def summarise(body_html: str, limit: int = SUMMARY_LENGTH) -> str:
    """The first ``limit`` characters of a cleaned body's text."""
    if not body_html.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    for block in root.iter(*_BLOCKS, "br"):
        # Mark block edges so paragraphs do not run into each other.
        block.text = "\n" + (block.text or "")
        block.tail = "\n" + (block.tail or "")
    paragraphs = [fold(line) for line in root.text_content().split("\n")]
    paragraphs = [line for line in paragraphs if line]
    if len(paragraphs) > 1 and _BYLINE.search(paragraphs[0]) and len(paragraphs[0]) <= 40:
        # "封面新闻见习记者 曹钰": a byline says nothing about the story.
        paragraphs = paragraphs[1:]
    return shorten(" ".join(paragraphs), limit)
