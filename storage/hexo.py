"""The Hexo renderer and writer: one catalog record in, one post file out.

The crawl and the ``export`` command both go through :func:`render_post`, so
a post written during a crawl is byte-for-byte what an export would write.
Files are replaced atomically and only when their bytes change, so an
unchanged post keeps its modification time.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from storage.article import Article, ImageRecord
from storage.summary import stored_summary
from storage.themes import DEFAULT_THEME, PRESETS

try:
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # PyYAML built without libyaml: slower, same output
    _Dumper = yaml.SafeDumper
# libyaml escapes characters outside the Basic Multilingual Plane (emoji) as
# \U0001F600 where PyYAML's Python emitter writes them as they are; such
# values go through the Python emitter so a post never depends on the build.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# Plain scalars that YAML 1.2 parsers (js-yaml, which Hexo uses) read as
# numbers, booleans or null although PyYAML (YAML 1.1) writes them unquoted:
# "1e3" would become the number 1000 in the rendered page.
_NOT_A_STRING_IN_YAML_12 = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?0[oO]?[0-7_]+|[-+]?0[xX][0-9a-fA-F_]+|[-+]?0[bB][01_]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|null|Null|NULL|~|true|True|TRUE|false|False|FALSE"
    r"|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF"
    r"|[0-9]+(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
)


def _represent_str(dumper: Any, value: str) -> Any:
    style = "'" if _NOT_A_STRING_IN_YAML_12.fullmatch(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _FastDumper(_Dumper):  # type: ignore[misc]
    pass


class _SafeDumper(yaml.SafeDumper):
    pass


for _dumper_class in (_FastDumper, _SafeDumper):
    _dumper_class.add_representer(str, _represent_str)

IMAGE_MODES = ("local", "proxy", "origin")
ON_DELETED_POLICIES = ("keep", "unpublish", "remove")
DUPLICATE_POLICIES = ("keep", "mark", "skip")
_IMG_TAG = re.compile(r"<img\b([^>]*?)/?>")
_ATTR = re.compile(r'([a-zA-Z_:][-a-zA-Z0-9_:.]*)="([^"]*)"')
_SAFE_ID = re.compile(r"[0-9]{1,20}")


class RenderError(ValueError):
    """The format options are unusable; the message is one line for the user."""


@dataclass(frozen=True)
class RenderOptions:
    """Everything that decides how a post looks.

    ``tag_names`` names the channel ids that become tags (an id without a
    name is written as its number).  ``on_deleted`` says what happens to the
    post of an article deleted at the source: ``keep`` it as it is,
    ``unpublish`` it (``published: false``, which Hexo hides) or ``remove``
    its file.  ``duplicates`` says what happens to the post of an article
    that tells a story another post told first (``duplicate_of``): ``keep``
    it, ``mark`` it (``duplicate_of`` and ``published: false``) or ``skip``
    it (no file).
    """

    date_format: str = "rfc1123"
    timezone: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    image_mode: str = "local"
    image_proxy: str = ""
    image_url_base: str = "/images/qupost/"
    categories: tuple[str, ...] = ("新媒体", "趣头条", "分类")
    cover_keys: tuple[str, ...] = PRESETS[DEFAULT_THEME].cover_keys
    theme_keys: tuple[tuple[str, bool | str], ...] = PRESETS[DEFAULT_THEME].extra
    """Fixed keys the theme needs (``storage.themes.ThemePreset.extra``)."""
    abbrlink: bool = False
    tag_names: Mapping[int, str] = field(default_factory=dict)
    on_deleted: str = "unpublish"
    duplicates: str = "keep"

    def __post_init__(self) -> None:
        if self.duplicates not in DUPLICATE_POLICIES:
            raise RenderError(
                f"QUPOST_DUPLICATES must be one of {', '.join(DUPLICATE_POLICIES)}, "
                f"not {self.duplicates!r}"
            )
        if self.on_deleted not in ON_DELETED_POLICIES:
            raise RenderError(
                f"QUPOST_ON_DELETED must be one of {', '.join(ON_DELETED_POLICIES)}, "
                f"not {self.on_deleted!r}"
            )
        if self.image_mode not in IMAGE_MODES:
            raise RenderError(
                f"QUPOST_IMAGE_MODE must be one of {', '.join(IMAGE_MODES)}, "
                f"not {self.image_mode!r}"
            )
        if self.image_mode == "proxy" and not self.image_proxy:
            raise RenderError("QUPOST_IMAGE_MODE=proxy needs QUPOST_IMAGE_PROXY")
        if self.date_format not in ("rfc1123", "iso") and "%" not in self.date_format:
            raise RenderError(
                "QUPOST_DATE_FORMAT must be rfc1123, iso or a strftime pattern, "
                f"not {self.date_format!r}"
            )


def omitted(post: Article, options: RenderOptions) -> bool:
    """Whether the post has no file: deleted under ``remove``, or a duplicate under ``skip``."""
    return (post.deleted and options.on_deleted == "remove") or (
        post.duplicate_of is not None and options.duplicates == "skip"
    )


def marked_duplicate(post: Article, options: RenderOptions) -> bool:
    """A re-post of a story another post told first, under ``duplicates=mark``."""
    return post.duplicate_of is not None and options.duplicates == "mark"


def unpublished(post: Article, options: RenderOptions) -> bool:
    """Whether the post is written but hidden: deleted under ``unpublish``, or a marked re-post."""
    return (post.deleted and options.on_deleted == "unpublish") or marked_duplicate(post, options)


def format_date(value: datetime, options: RenderOptions) -> str:
    if options.date_format == "rfc1123":
        return format_datetime(value.astimezone(timezone.utc), usegmt=True)  # noqa: UP017
    local = value.astimezone(options.timezone)
    if options.date_format == "iso":
        return local.isoformat(timespec="seconds")
    return local.strftime(options.date_format)


def image_src(origin: str, record: ImageRecord | None, options: RenderOptions) -> str:
    """What an ``<img src>`` says for an image, in the configured mode."""
    if options.image_mode == "local" and record is not None and record.stored:
        assert record.path is not None
        return options.image_url_base.rstrip("/") + "/" + record.path
    if options.image_mode == "proxy":
        return options.image_proxy + origin
    return origin


def render_body(post: Article, options: RenderOptions) -> tuple[str, str | None]:
    """The body with image sources rewritten, and the first stored image's src."""
    first_stored: list[str] = []

    def rewrite(match: re.Match[str]) -> str:
        attrs = {k: html.unescape(v) for k, v in _ATTR.findall(match.group(1))}
        origin = attrs.get("src", "")
        record = post.images.get(origin)
        src = image_src(origin, record, options)
        if record is not None and record.stored and not first_stored:
            first_stored.append(src)
        size = attrs.get("data-size")
        if record is not None and record.width and record.height:
            size = f"{record.width},{record.height}"
        parts = [f'src="{_attr(src)}"']
        if attrs.get("alt"):
            parts.append(f'alt="{_attr(attrs["alt"])}"')
        if size:
            parts.append(f'data-size="{_attr(size)}"')
        parts.append('referrerpolicy="no-referrer"')
        return "<img " + " ".join(parts) + ">"

    body = _IMG_TAG.sub(rewrite, post.body_html)
    return body, (first_stored[0] if first_stored else None)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def cover_src(post: Article, first_body_image: str | None, options: RenderOptions) -> str | None:
    if first_body_image:
        return first_body_image
    if post.cover_url:
        record = post.images.get(post.cover_url)
        if record is not None and record.stored:
            return image_src(post.cover_url, record, options)
    return None


def front_matter(post: Article, cover: str | None, options: RenderOptions) -> dict[str, Any]:
    covers = {key: cover for key in options.cover_keys} if cover else {}
    matter: dict[str, Any] = {"title": post.title, "categories": list(options.categories)}
    if post.channels:
        matter["tags"] = [options.tag_names.get(c, str(c)) for c in post.channels]
    # The seed format's order: covers after the tags, "thumbnail" after the dates.
    thumbnail = covers.pop("thumbnail", None)
    for key, value in covers.items():
        if key.endswith("[]"):
            matter[key[:-2]] = [value]
        else:
            matter[key] = value
    matter["author"] = post.author or "趣头条"
    matter["comments"] = False
    if unpublished(post, options):
        matter["published"] = False
    if marked_duplicate(post, options):
        matter["duplicate_of"] = post.duplicate_of
    assert post.published_at is not None
    matter["date"] = format_date(post.published_at, options)
    # Without "updated" Hexo shows the file's modification time, which is
    # when the post was written, not when the article changed.
    matter["updated"] = format_date(post.updated_at or post.published_at, options)
    if thumbnail is not None:
        matter["thumbnail"] = thumbnail
    summary = stored_summary(post.description, post.body_html)
    if summary:
        matter["description"] = summary
        # Hexo takes a front-matter excerpt as it is (HTML) for index pages.
        matter["excerpt"] = f"<p>{html.escape(summary, quote=False)}</p>"
    matter.update(options.theme_keys)
    matter["original_url"] = post.original_url
    matter["qupost_id"] = post.qupost_id
    if options.abbrlink:
        # hexo-abbrlink leaves a post alone once it has one.
        matter["abbrlink"] = post.qupost_id
    # Article text may contain {{ }} or {% %}; Hexo must not evaluate it.
    matter["disableNunjucks"] = True
    return matter


def _has_astral(value: Any) -> bool:
    if isinstance(value, str):
        return _ASTRAL.search(value) is not None
    if isinstance(value, list):
        return any(_has_astral(v) for v in value)
    if isinstance(value, dict):
        return any(_has_astral(v) for v in value.values())
    return False


def dump_yaml(data: dict[str, Any]) -> str:
    astral = _has_astral(data)
    text: str = yaml.dump(
        data,
        Dumper=_SafeDumper if astral else _FastDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=2**31 - 1,
    )
    return text if text.endswith("\n") else text + "\n"


def render_post(post: Article, options: RenderOptions) -> str:
    body, first_image = render_body(post, options)
    matter = front_matter(post, cover_src(post, first_image, options), options)
    return f"---\n{dump_yaml(matter)}---\n<div>\n{body}\n</div>\n"


def post_name(qupost_id: str) -> str:
    """The file name of a post without its extension; refuses ids that are not digits."""
    if not _SAFE_ID.fullmatch(qupost_id):
        raise ValueError(f"refusing unsafe post id {qupost_id!r}")
    return f"qupost-{qupost_id}"


def post_path(source_dir: Path, qupost_id: str) -> Path:
    return source_dir / "_posts" / f"{post_name(qupost_id)}.md"


def write_if_changed(path: Path, data: bytes, *, fsync: bool = False) -> bool:
    """Atomically replace ``path`` with ``data`` unless it already holds exactly that.

    The temporary file is a dot-file in the same folder, so Hexo never reads
    it and the rename cannot cross file systems.
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_dir(path.parent)
    return True


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temporary files a killed run left behind; return how many."""
    removed = 0
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


class HexoWriter:
    """Writes rendered posts under ``<source_dir>/_posts``."""

    suffix = ".md"

    def __init__(self, source_dir: Path, options: RenderOptions, *, fsync: bool = False) -> None:
        self.source_dir = source_dir
        self.options = options
        self.fsync = fsync

    @property
    def posts_dir(self) -> Path:
        return self.source_dir / "_posts"

    def path(self, qupost_id: str) -> Path:
        return post_path(self.source_dir, qupost_id)

    def write(self, post: Article) -> bool:
        """Bring the post file in line with the article; True when the file changed.

        An article deleted at the source under ``on_deleted=remove``, or a
        duplicate under ``duplicates=skip``, has its file removed instead.
        """
        path = self.path(post.qupost_id)
        if omitted(post, self.options):
            return remove_file(path)
        text = render_post(post, self.options)
        return write_if_changed(path, text.encode("utf-8"), fsync=self.fsync)


def remove_file(path: Path) -> bool:
    """Remove ``path``; True when there was a file to remove."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
