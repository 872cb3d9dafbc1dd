"""Plain-text summaries of article bodies, for index pages and meta descriptions."""

from __future__ import annotations

import unicodedata

import lxml.html
from lxml import etree

SUMMARY_LENGTH = 120
# A cut within this many characters of the limit moves back to the end of a sentence.
_SENTENCE_ENDS = "。！？!?；;…"
_SENTENCE_SLACK = 40


def fold(text: str) -> str:
    """Whitespace folded to single spaces, ends trimmed."""
    return " ".join(text.split())


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
    return shorten(root.text_content(), limit)
