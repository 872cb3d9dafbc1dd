"""Qutoutiao URL rules: canonical article URLs, detail endpoints, image renditions."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

_ARTICLE_ID = re.compile(r"/([0-9]{1,20})\.html?$")
# ASCII only: \d would also accept Arabic-Indic and other Unicode digits.
_DIGITS = re.compile(r"[0-9]{1,20}")
# Characters no fetchable URL may hold: controls, and lone surrogates that
# cannot even be encoded (JSON "\ud800" decodes to one).  Tab, CR and LF are
# not here: URL parsers drop them, as browsers do.
_UNSAFE_IN_URL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Image hosts whose ``?imageView2/...`` suffix asks for a resized rendition.
_CDN_HOST_SUFFIXES = ("1sapp.com", "qutoutiao.net", "qktoutiao.com", "qpic.cn")


def list_url(api: str, cid: int, page: int, limit: int, min_time: str | None) -> str:
    """One page of a channel's list API; ``min_time`` (from the previous page) scrolls on."""
    params: dict[str, Any] = {"cid": cid, "tn": 1, "page": page, "limit": limit}
    if min_time:
        params["min_time"] = min_time
    params["content_type"] = 1
    return f"{api}?{urlencode(params)}"


def unescape_url(url: str) -> str:
    """Undo the HTML escaping (``&amp;``) and JSON slashes the list API leaves in URLs."""
    return html.unescape(url.replace("\\/", "/")).strip()


def canonical_url(url: str) -> str:
    """The article URL without its query and fragment.

    The list API appends a rotating ``key=`` parameter, so the query must not
    take part in identity or deduplication.
    """
    parts = urlsplit(unescape_url(url))
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def article_id_from_url(url: str) -> str | None:
    """The numeric article id in a ``/detail/YYYY/MM/DD/<id>.html`` URL, if any."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    match = _ARTICLE_ID.search(path)
    return match.group(1) if match else None


def is_valid_id(value: object) -> bool:
    """True for an article id we can use as a file name: 1 to 20 ASCII digits."""
    return isinstance(value, str) and _DIGITS.fullmatch(value) is not None


def jsonp_url(article_url: str, qupost_id: str) -> str:
    """The JSONP detail endpoint for an article, on the article page's host."""
    n = int(qupost_id)
    # Integer ceiling division: float division is wrong above 2**53.
    path = f"/detail/jsonp/{-(-n // 1000)}/{-(-n // 100)}/{-(-n // 10)}/{n}.js"
    parts = urlsplit(article_url)
    return urlunsplit((parts.scheme or "http", parts.netloc, path, "", ""))


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host and nothing unsafe in it."""
    if not isinstance(url, str) or _UNSAFE_IN_URL.search(url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. "http://[broken/": an unclosed IPv6 bracket
        return False


def _same_document(url: str, base_url: str) -> bool:
    # Placeholders such as "#", "?" or "http://" resolve to the page itself.
    here, there = urlsplit(url), urlsplit(base_url)
    return (here.scheme, here.netloc, here.path) == (there.scheme, there.netloc, there.path)


def resolve_image_url(src: str, base_url: str) -> str | None:
    """The absolute original-quality URL of an image, or None if it is not http(s).

    Protocol-relative and relative sources are resolved against the page; a
    CDN rendition suffix (``?imageView2/...``) is removed so the original is
    fetched.
    """
    src = unescape_url(src)
    if not src or src.startswith("data:") or _UNSAFE_IN_URL.search(src):
        return None
    try:
        absolute = urljoin(base_url, src)
    except ValueError:
        return None
    if not is_http_url(absolute) or _same_document(absolute, base_url):
        return None
    parts = urlsplit(absolute)
    host = (parts.hostname or "").lower()
    query = parts.query
    if query.startswith("imageView2") or query.startswith("imageMogr2"):
        query = ""
    elif any(host == s or host.endswith("." + s) for s in _CDN_HOST_SUFFIXES):
        query = re.sub(r"(^|&)image(View2|Mogr2)[^&]*", "", query).strip("&")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
