"""The Hugo renderer and writer: one catalog record in, one content file out.

A post becomes ``content/posts/qupost-<id>.html`` in a Hugo site: YAML front
matter in Hugo's own keys, then the article's HTML.  An HTML content file is
not run through Hugo's Markdown renderer, so the body is published as the
sanitiser left it, with no ``markup.goldmark.renderer.unsafe`` setting needed.

Hugo does expand shortcodes (``{{< … >}}`` and ``{{% … %}}``) in HTML content
files: a shortcode it does not know stops the whole build, one it knows
inserts its markup.  Every ``{`` of the body is therefore written as the
character reference ``&#123;``, which a browser shows as ``{`` and Hugo's
shortcode scanner never matches.

The body and the cover come from the Hexo renderer's :func:`render_body` and
:func:`cover_src`, so both targets show the same images at the same URLs.
Images are served from Hugo's ``static/`` folder at ``image_url_base``, one
file per image however many posts show it (see the README).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from storage.article import Article
from storage.hexo import (
    RenderOptions,
    cover_src,
    dump_yaml,
    marked_duplicate,
    omitted,
    post_name,
    remove_file,
    render_body,
    unpublished,
    write_if_changed,
)
from storage.summary import stored_summary

SECTION = "posts"
"""The content section posts go to: ``content/posts/``, Hugo's usual main section."""
CONTENT_DIR = "content"
STATIC_DIR = "static"
_ASCII_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


def hugo_date(value: datetime, options: RenderOptions) -> str:
    """RFC 3339 with the offset of ``options.timezone``: ``2021-12-04T21:49:12+08:00``.

    Hugo keeps a date's own offset, so pages and permalinks show the date in
    that zone whatever the time zone of the machine that builds the site.
    """
    return value.astimezone(options.timezone).isoformat(timespec="seconds")


def hugo_front_matter(post: Article, cover: str | None, options: RenderOptions) -> dict[str, Any]:
    assert post.published_at is not None
    matter: dict[str, Any] = {
        "title": post.title,
        # The file's own name: a permalink with :slug gives one URL per article id.
        "slug": post_name(post.qupost_id),
        "date": hugo_date(post.published_at, options),
    }
    if post.updated_at is not None:
        matter["lastmod"] = hugo_date(post.updated_at, options)
    # Hugo builds no page for a draft (unless run with --buildDrafts).
    matter["draft"] = unpublished(post, options)
    matter["categories"] = list(options.categories)
    if post.channels:
        matter["tags"] = [options.tag_names.get(c, str(c)) for c in post.channels]
    summary = stored_summary(post.description, post.body_html)
    if summary:
        matter["summary"] = literal_text(summary)
        matter["description"] = summary
    if cover:
        # Read by Hugo's built-in Open Graph and Twitter Card templates.
        matter["images"] = [cover]
    matter["isCJKLanguage"] = True
    matter["params"] = {
        "original_url": post.original_url,
        "qupost_id": post.qupost_id,
        "author": post.author or "趣头条",
    }
    if marked_duplicate(post, options):
        matter["params"]["duplicate_of"] = post.duplicate_of
    return matter


def literal_text(text: str) -> str:
    """Plain text that Hugo's ``summary`` shows as it is.

    Hugo renders a front-matter ``summary`` as Markdown (with raw HTML
    dropped), so ``<``, ``*``, ``#``, ``1.`` or ``[x](y)`` in an article's
    summary would turn into markup or vanish.  Every ASCII punctuation
    character is written as a numeric character reference: Markdown and HTML
    both decode it to the character itself and read no markup from it.
    """
    return _ASCII_PUNCTUATION.sub(lambda m: f"&#{ord(m.group())};", text)


def escape_shortcodes(body: str) -> str:
    """``body`` with every ``{`` written as ``&#123;``: the same HTML, no Hugo shortcode."""
    return body.replace("{", "&#123;")


def render_hugo_post(post: Article, options: RenderOptions) -> str:
    body, first_image = render_body(post, options)
    matter = hugo_front_matter(post, cover_src(post, first_image, options), options)
    return f"---\n{dump_yaml(matter)}---\n<div>\n{escape_shortcodes(body)}\n</div>\n"


def hugo_post_path(site_dir: Path, qupost_id: str) -> Path:
    """Where a post's content file lives in the Hugo site ``site_dir``."""
    return site_dir / CONTENT_DIR / SECTION / f"{post_name(qupost_id)}.html"


class HugoWriter:
    """Writes rendered posts under ``<site_dir>/content/posts``.

    ``site_dir`` is the Hugo site's root, the folder that holds its
    configuration file.
    """

    suffix = ".html"

    def __init__(self, site_dir: Path, options: RenderOptions, *, fsync: bool = False) -> None:
        self.site_dir = site_dir
        self.options = options
        self.fsync = fsync

    @property
    def posts_dir(self) -> Path:
        return self.site_dir / CONTENT_DIR / SECTION

    def path(self, qupost_id: str) -> Path:
        return hugo_post_path(self.site_dir, qupost_id)

    def write(self, post: Article) -> bool:
        """Bring the content file in line with the article; True when the file changed.

        An article deleted at the source is kept as it is (``keep``), written
        as a draft (``unpublish``) or its file removed (``remove``), and a
        re-post of a story is kept, written as a draft with ``duplicate_of``
        (``mark``) or left out (``skip``), as the Hexo writer does.
        """
        path = self.path(post.qupost_id)
        if omitted(post, self.options):
            return remove_file(path)
        text = render_hugo_post(post, self.options)
        return write_if_changed(path, text.encode("utf-8"), fsync=self.fsync)
