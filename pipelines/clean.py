"""HTML cleaning: turn an article body into safe, minimal HTML and list its images.

The cleaner is an allowlist (nh3): anything not listed is dropped, so new
tricks in the source cannot reach the blog.  Before sanitising, lazy images
are resolved (``data-src`` → ``src``), page chrome is removed and every image
URL is made absolute and original-quality.
"""

from __future__ import annotations

import logging
import re
from dataclasses import fields
from typing import Any, Self

import lxml.html
import nh3
from lxml import etree
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler import stats as keys
from crawler.failures import article_failed
from crawler.sitecheck import note_page
from crawler.urls import is_http_url, resolve_image_url, unescape_url
from storage.article import Article, ImageRef
from storage.summary import describe

logger = logging.getLogger(__name__)

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "b", "i", "u", "h2", "h3", "h4", "h5", "h6",
    "ul", "ol", "li", "blockquote", "a", "img", "figure", "figcaption",
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
}  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    # nh3 otherwise keeps "title" and "lang" on every tag: nothing unlisted passes.
    "*": set(),
    "a": {"href"},
    "img": {"src", "alt", "data-size"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
# Dropped with everything inside them, not just unwrapped.
DROP_WITH_CONTENT = {
    "script", "style", "iframe", "object", "embed", "noscript", "template",
    "form", "button", "input", "select", "textarea", "svg", "math", "video",
    "audio", "canvas", "head", "title", "meta", "link",
}  # fmt: skip
# Void elements that are dropped: they cannot have content of their own.
_VOID_DROPPED = {"embed", "input", "meta", "link", "source", "track", "param", "area", "base"}
_CHROME_IDS = {"img"}
_LAZY_ATTRS = ("data-src", "data-original", "data-url", "data-lazy-src")
# Lone surrogates too: JSON can decode "\ud800" into a str that no encoder,
# database driver or file write accepts.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_URL_NOISE = re.compile(r"[\t\r\n]")
_SIZE = re.compile(r"^\s*(\d{1,6})\s*[,xX*×]\s*(\d{1,6})\s*$")


def strip_control(text: str) -> str:
    """Remove control characters that YAML, XML and browsers all choke on."""
    return _CONTROL.sub("", text)


def clean_text(raw: str) -> str:
    """One line of plain text: control characters removed, whitespace folded."""
    return " ".join(strip_control(raw).split())


def clean_title(raw: str) -> str:
    """The source title, with ``''`` read as ``"`` and whitespace folded."""
    return clean_text(raw.replace("''", '"'))


def parse_size(value: str | None) -> tuple[int, int] | None:
    """Read a ``data-size="W,H"`` claim; None unless both sides are positive."""
    match = _SIZE.match(value or "")
    if not match:
        return None
    width, height = int(match.group(1)), int(match.group(2))
    return (width, height) if width > 0 and height > 0 else None


def clean_html(raw_html: str, base_url: str) -> tuple[str, list[ImageRef]]:
    """Return the sanitised body HTML on one line, and its images in order."""
    text = strip_control(raw_html or "")
    if not text.strip():
        return "", []
    try:
        root = lxml.html.fragment_fromstring(text, create_parent="div")
    except AssertionError as exc:
        # lxml asserts (rather than raising ParserError) on a bare <html> element.
        raise ValueError(f"not an HTML fragment ({exc})") from exc
    _drop_chrome(root)
    images = _resolve_images(root, base_url)
    _absolutise_links(root, base_url)
    # The wrapper <div> is not in the allowlist, so nh3 unwraps it.
    serialised = lxml.html.tostring(root, encoding="unicode")
    cleaned = nh3.clean(
        serialised,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel="nofollow noopener",
        strip_comments=True,
        clean_content_tags={"script", "style", "iframe", "object", "embed", "noscript"},
    )
    return _one_line(cleaned), images


def _drop_chrome(root: Any) -> None:
    for element in list(root.iter()):
        if element is root or not isinstance(element.tag, str):
            if not isinstance(element.tag, str) and element.getparent() is not None:
                # Comments and processing instructions carry no article text.
                element.drop_tree()
            continue
        tag = element.tag.lower()
        if tag in _VOID_DROPPED:
            # libxml2 does not know some of these are void: an <embed> there
            # swallows the rest of the article as its "children".  Keep them.
            element.drop_tag()
        elif tag in DROP_WITH_CONTENT or element.get("id") in _CHROME_IDS:
            element.drop_tree()


def _resolve_images(root: Any, base_url: str) -> list[ImageRef]:
    images: list[ImageRef] = []
    for img in list(root.iter("img")):
        source = next((img.get(a) for a in _LAZY_ATTRS if img.get(a)), None) or img.get("src")
        url = resolve_image_url(source or "", base_url)
        if url is None:
            img.drop_tree()
            continue
        size = parse_size(img.get("data-size"))
        alt = img.get("alt")
        img.attrib.clear()
        img.set("src", url)
        if alt:
            img.set("alt", alt)
        if size:
            img.set("data-size", f"{size[0]},{size[1]}")
        images.append(ImageRef(url, *(size or (None, None))))
    return images


def _absolutise_links(root: Any, base_url: str) -> None:
    for link in root.iter("a"):
        href = link.get("href")
        if href is None:
            continue
        # Browsers drop tabs and newlines inside URLs ("java\nscript:"), so
        # they are dropped before deciding what the link points at.
        href = _URL_NOISE.sub("", unescape_url(href))
        try:
            absolute = lxml.html.urljoin(base_url, href) if href else ""
        except ValueError:
            absolute = ""
        if is_http_url(absolute):
            link.set("href", absolute)
        else:
            del link.attrib["href"]


def _has_text(html: str) -> bool:
    """Whether a cleaned body shows anything: empty tags (``<p></p>``) do not count."""
    if not html.strip():
        return False
    return bool(lxml.html.fragment_fromstring(html, create_parent="div").text_content().strip())


def _one_line(html: str) -> str:
    # Hexo's Markdown renderer treats a blank line as the end of a raw HTML
    # block, so the body must not contain line breaks; HTML ignores them.
    html = re.sub(r">\s*[\r\n]\s*<", "><", html)
    return re.sub(r"\s*[\r\n]+\s*", " ", html).strip()


# The record's stored text fields and the source fields each is filled from.
TEXT_FIELDS = tuple(
    (f.name, f.metadata["text_from"]) for f in fields(Article) if "text_from" in f.metadata
)


def normalise(article: Article) -> None:
    """Fill an article's title, author, body, images and cover from its source fields.

    Raises ValueError (or lxml's ParserError) when the body is not HTML.
    """
    source = article.source
    article.title = clean_title(source.list_title or source.page_title)
    # Text fields go to YAML and to the catalog (PostgreSQL refuses NUL).
    for name, sources in TEXT_FIELDS:
        raw = next((value for s in sources if (value := getattr(source, s))), "")
        setattr(article, name, clean_text(raw))
    body, images = clean_html(source.html, article.original_url)
    article.body_html = body
    article.image_refs = tuple(images)
    article.description = describe(article.description, body)
    article.cover_url = resolve_image_url(source.cover or "", article.original_url)
    # The raw page is no longer needed; it is the largest part of the record.
    article.source.html = ""


class CleanPipeline:
    """Sanitise the article body and collect its images."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article) or item.deleted:
            return item
        try:
            normalise(item)
        except (etree.ParserError, ValueError) as exc:
            self._count("unparsable", item)
            raise DropItem(f"article {item.qupost_id}: body is not HTML ({exc})") from exc
        if not item.image_refs and not _has_text(item.body_html):
            self._count("empty", item)
            # A body that cleans to nothing counts for the changed-site alarm.
            assert self.crawler.stats is not None
            note_page(self.crawler.stats, keys.PAGES_NO_BODY, item.original_url)
            raise DropItem(f"article {item.qupost_id}: empty body after cleaning")
        return item

    def _count(self, reason: str, article: Article) -> None:
        article_failed(self.crawler, reason, article.qupost_id, article.original_url)
