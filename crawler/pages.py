"""Page objects: everything qupost knows about the shapes Qutoutiao serves.

Each parser takes bytes or text and returns the article record's parts
(``storage.article``): the list gives one :class:`Article` per row with its
list fields, a page or detail JSON gives the page fields of an
:class:`ArticleSource`.  Tests call them on saved pages.  Parsers raise
:class:`PageError` (with a short reason that becomes a stat name) and never
anything else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from parsel import Selector

from crawler.urls import canonical_url, is_http_url, is_valid_id, unescape_url
from storage.article import Article, ArticleSource


class PageError(Exception):
    """A response that cannot be read; ``reason`` is a short stat-friendly word."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class ListPage:
    """A parsed list API envelope."""

    entries: list[Article] = field(default_factory=list)
    min_time: str | None = None
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # A few of the rejected rows' ids, as written, for the log line.
    rejected_ids: list[str] = field(default_factory=list)
    # Rows that should hold an article (objects, not ads, not videos), and
    # those of them without an id or without a URL: when most rows lose both
    # fields, the API has changed shape (an ad-like row is otherwise skipped
    # quietly as an ad).
    article_rows: int = 0
    without_id_url: int = 0


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _as_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def _load_json(body: bytes) -> Any:
    text = body.decode("utf-8-sig", errors="replace").strip()
    if not text:
        raise PageError("empty", "empty body")
    if text[0] == "<":
        raise PageError("not_json", "HTML where JSON was expected")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PageError("bad_json", str(exc)[:80]) from exc
    except RecursionError as exc:
        raise PageError("bad_json", "nested too deeply") from exc


def parse_list(body: bytes) -> ListPage:
    """Read a list API response into article entries, counting what was skipped."""
    doc = _load_json(body)
    if not isinstance(doc, dict):
        raise PageError("bad_envelope", "top level is not an object")
    code = doc.get("code")
    if code not in (0, "0"):
        raise PageError("api_error", f"code={code!r} message={_text(doc.get('message'))!r}")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise PageError("bad_envelope", "no data object")
    rows = data.get("data")
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise PageError("bad_envelope", "data.data is not a list")
    page = ListPage(rows=len(rows))
    min_time = _as_id(data.get("min_time"))
    page.min_time = min_time if is_valid_id(min_time) else None
    seen: set[str] = set()
    for row in rows:
        if _should_be_article(row):
            page.article_rows += 1
            if not _as_id(row.get("id")) or not _text(row.get("url")):
                page.without_id_url += 1
        kind, entry = _read_row(row)
        if entry is not None and entry.qupost_id in seen:
            kind, entry = "duplicate", None
        if entry is None:
            page.skipped[kind] = page.skipped.get(kind, 0) + 1
            if kind == "invalid" and len(page.rejected_ids) < 5:
                page.rejected_ids.append(_id_for_log(row))
            continue
        seen.add(entry.qupost_id)
        page.entries.append(entry)
    return page


def _id_for_log(row: Any) -> str:
    value = row.get("id") if isinstance(row, dict) else row
    return repr(value)[:40]


def _should_be_article(row: Any) -> bool:
    return (
        isinstance(row, dict)
        and row.get("type") != "ad"
        and str(row.get("content_type", "1")).strip() in ("1", "")
    )


def _read_row(row: Any) -> tuple[str, Article | None]:
    if not isinstance(row, dict):
        return "invalid", None
    if row.get("type") == "ad":
        return "ad", None
    content_type = str(row.get("content_type", "1")).strip()
    if content_type not in ("1", ""):
        return "non_article", None
    qupost_id = _as_id(row.get("id"))
    url = unescape_url(_text(row.get("url")))
    if not qupost_id and not url:
        return "ad", None
    if not is_valid_id(qupost_id) or not is_http_url(url):
        return "invalid", None
    detail = unescape_url(_text(row.get("detail_url")))
    covers = row.get("cover")
    cover = covers[0] if isinstance(covers, list) and covers else None
    source = ArticleSource(
        url=url,
        detail_url=detail if is_http_url(detail) else None,
        list_title=_text(row.get("title")),
        list_author=_text(row.get("source_name")) or _text(row.get("nickname")),
        publish_time=_digits_or_none(row.get("publish_time")),
        show_time=_digits_or_none(row.get("show_time")),
        cover=unescape_url(cover) if isinstance(cover, str) and cover.strip() else None,
        introduction=_text(row.get("introduction")),
    )
    return "article", Article(qupost_id, canonical_url(url), source)


def _digits_or_none(value: Any) -> str | None:
    text = _as_id(value)
    return text if is_valid_id(text) and int(text) > 0 else None


# The object store's error document (XML, or JSON from some gateways); a bare
# mention of the word in an article is not a deletion.
_NO_SUCH_KEY = re.compile(
    rb"<Code>\s*NoSuchKey\s*</Code>|\"(?:code|Code|error|Error)\"\s*:\s*\"NoSuchKey\""
)


def is_deleted(status: int, body: bytes) -> bool:
    """A 404, or the object store's ``NoSuchKey`` error with any status."""
    return status == 404 or (len(body) < 4096 and _NO_SUCH_KEY.search(body) is not None)


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_TIME_IN_INFO = re.compile(
    r"(\d{4}[-/年]\d{1,2}[-/月]\d{1,2}日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?"
    r"|\d{1,2}月\d{1,2}日(?:\s*\d{1,2}:\d{2})?"
    r"|\d+\s*(?:秒|分钟|小时|天)前|刚刚|(?:今天|昨天|前天)\s*(?:\d{1,2}:\d{2})?)"
)


def parse_article(text: str) -> ArticleSource:
    """Read an article page: title, ``.info`` source and time, and the body HTML.

    ``html`` is empty when the page has no ``div.content``; the caller then
    falls back to the detail JSON.
    """
    # A lone surrogate cannot be encoded for lxml; decoded pages never hold
    # one, but the parser promises PageError or a result for any str.
    text = _LONE_SURROGATE.sub("\ufffd", text or "")
    sel = Selector(text=text or "<html></html>")
    article = sel.css("div.article")
    scope = article if article else sel
    title = " ".join(scope.css("h1 ::text").getall()).strip()
    info_text = " ".join(t.strip() for t in scope.css(".info ::text").getall() if t.strip())
    time_match = _TIME_IN_INFO.search(info_text)
    time_text = time_match.group(0) if time_match else ""
    source = _source_from_info(scope, info_text, time_text)
    content = scope.css("div.content")
    body = content[0].get() if content else ""
    return ArticleSource(
        page_title=title, page_author=source, page_time=time_text or None, html=body
    )


def _source_from_info(scope: Any, info_text: str, time_text: str) -> str:
    for candidate in scope.css(".info .source ::text, .info .src ::text").getall():
        if candidate.strip():
            return str(candidate).strip()
    remainder = info_text.replace(time_text, " ") if time_text else info_text
    remainder = re.sub(r"^(来源|作者)[:：]\s*", "", remainder.strip())
    return remainder.split()[0] if remainder.split() else ""


def parse_detail_json(body: bytes) -> ArticleSource:
    """Read the ``detail_url`` JSON, or the JSONP ``cb({...})`` form of it."""
    text = body.decode("utf-8-sig", errors="replace").strip()
    match = re.fullmatch(r"[\w$.]*\s*\((.*)\)\s*;?", text, flags=re.S)
    if match:
        text = match.group(1)
    doc = _load_json(text.encode("utf-8"))
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict) and "detail" not in doc:
        doc = doc["data"]
    if not isinstance(doc, dict):
        raise PageError("bad_detail", "detail JSON is not an object")
    detail = doc.get("detail")
    if not isinstance(detail, str) or not detail.strip():
        raise PageError("no_body", "detail JSON has no body")
    if detail.lstrip().startswith(("{", "[")):
        raise PageError("video", "detail holds a video, not an article body")
    return ArticleSource(
        page_title=_text(doc.get("title")),
        page_author=_text(doc.get("sourceName")) or _text(doc.get("source_name")),
        page_time=_text(doc.get("publish_info")) or _text(doc.get("publish_time")) or None,
        html=detail,
    )
