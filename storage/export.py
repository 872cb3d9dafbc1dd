"""Render the catalog, or a window of it, into a Hexo ``source/`` folder or a Hugo site.

The crawl writes Hexo posts as it goes; this does the same for every stored
post (or those inside a :class:`~storage.repository.Window`) at once, through
the same renderer, so a user can rebuild a blog folder, move it, publish only
part of the catalog, re-render it for another theme without crawling again,
or render it for Hugo (``generator="hugo"``) from the same article records.
Only what changed is written: a post file whose bytes are the same is left
alone, and an image already in place (the same file, or the same size and
modification time) is not copied again.  Images are hard-linked from the
store when the target is on the same file system, copied otherwise.

Posts of the catalog that fall outside the window leave the tree (files
named ``qupost-<id>`` plus the generator's suffix, of stored articles only:
nothing else in the folder is touched), and so do the image copies only
they used.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from storage.article import Article
from storage.hexo import (
    HexoWriter,
    RenderOptions,
    omitted,
    remove_file,
    remove_stale_temp_files,
)
from storage.hugo import STATIC_DIR, HugoWriter
from storage.repository import Repository, Window

logger = logging.getLogger(__name__)

MISSING_EXAMPLES = 3


@dataclass
class ExportResult:
    posts: int = 0
    posts_written: int = 0
    posts_removed: int = 0
    posts_outside: int = 0
    """Posts of the catalog outside the window whose files left the tree."""
    images: int = 0
    images_copied: int = 0
    images_linked: int = 0
    images_missing: int = 0
    images_pruned: int = 0
    # The first few missing image files, for one line that names them.
    missing_examples: list[Path] = field(default_factory=list)
    duplicates: int = 0
    """Posts of stories another post told first (written, marked or left out per the policy)."""


def selected_ids(repo: Repository, window: Window, options: RenderOptions) -> list[str]:
    """The stored ids a tree holds under ``window``, newest first.

    Articles deleted at the source are kept (their post follows
    ``on_deleted``), and so are re-posts (``duplicates``), unless the window
    counts the newest N: a hidden or missing post is not one of a blog's
    newest posts, so it then stays out, except under ``keep``, where it is a
    post like any other.
    """
    counting = window.max_posts is not None
    deleted = options.on_deleted == "keep" or not counting
    duplicates = options.duplicates == "keep" or not counting
    with repo.reading() as tx:
        return tx.select_post_ids(window, deleted=deleted, duplicates=duplicates)


def _articles(repo: Repository, ids: list[str], batch: int = 200) -> Iterator[Article]:
    """The articles of ``ids``, read a batch at a time.

    Each batch is read on a lock-free connection and closed before its posts
    are rendered, so a crawl writing to the same catalog never waits.
    """
    for start in range(0, len(ids), batch):
        with repo.reading() as tx:
            articles = tx.load_articles(ids[start : start + batch])
        yield from articles


def image_folder(target: Path, options: RenderOptions) -> Path:
    """Where the blog serves ``QUPOST_IMAGE_URL_BASE`` from, inside ``target``."""
    relative = options.image_url_base.strip("/")
    folder = (target / relative).resolve()
    if target.resolve() not in folder.parents and folder != target.resolve():
        raise ValueError(f"image URL base {options.image_url_base!r} points outside {target}")
    return folder


def place_image(source: Path, destination: Path) -> str | None:
    """Put ``source`` at ``destination``: "linked", "copied", or None when already there.

    Already there means the same file (a hard link from an earlier export)
    or a file of the same size and modification time, as rsync judges it.
    A hard link is tried first; a copy is the fallback across file systems
    or where links are not allowed.  A new name is linked in one step (a
    link appears whole); a copy, or a replacement, goes through a temporary
    name so a reader never sees half a file.
    """
    try:
        have = destination.stat()
    except FileNotFoundError:
        have = None
    if have is not None:
        want = source.stat()
        if (have.st_ino, have.st_dev) == (want.st_ino, want.st_dev) or (
            have.st_size == want.st_size and int(have.st_mtime) == int(want.st_mtime)
        ):
            return None
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, destination)
            return "linked"
        except FileExistsError:
            pass  # another export placed it meanwhile: replace it below
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
            return _copy(source, destination)
    temporary = destination.with_name(f".{destination.name}.export.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        return _copy(source, destination)
    temporary.replace(destination)
    return "linked"


# Why a hard link can fail where a copy works: another file system, a file
# system without links, a link count at its limit, or a policy forbidding it.
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES)


def _copy(source: Path, destination: Path) -> str:
    temporary = destination.with_name(f".{destination.name}.export.tmp")
    shutil.copy2(source, temporary)
    temporary.replace(destination)
    return "copied"


GENERATORS = ("hexo", "hugo")


class PostWriter(Protocol):
    """What the export needs of a site generator's writer (``HexoWriter``, ``HugoWriter``)."""

    suffix: str
    """The extension of its post files: ``qupost-<id><suffix>`` in ``posts_dir``."""

    @property
    def posts_dir(self) -> Path: ...

    def path(self, qupost_id: str) -> Path: ...

    def write(self, post: Article) -> bool: ...


def site_writer(
    generator: str, target: Path, options: RenderOptions, *, fsync: bool = False
) -> tuple[PostWriter, Path]:
    """The writer for ``generator`` and the folder its images go to in ``target``.

    ``target`` is a Hexo ``source/`` folder, or the root of a Hugo site (whose
    ``static/`` folder serves the images).
    """
    if generator == "hexo":
        return HexoWriter(target, options, fsync=fsync), image_folder(target, options)
    if generator == "hugo":
        return HugoWriter(target, options, fsync=fsync), image_folder(target / STATIC_DIR, options)
    raise ValueError(f"unknown site generator {generator!r}; choose {' or '.join(GENERATORS)}")


def export_tree(
    repo: Repository,
    target: Path,
    options: RenderOptions,
    images_dir: Path | None,
    *,
    window: Window | None = None,
    fsync: bool = False,
    generator: str = "hexo",
) -> ExportResult:
    """Write the posts inside ``window`` (and place their local images) into ``target``."""
    window = window or Window()
    result = ExportResult()
    writer, destination = site_writer(generator, target, options, fsync=fsync)
    remove_stale_temp_files(writer.posts_dir)
    copy = images_dir is not None and images_dir.resolve() != destination
    ids = selected_ids(repo, window, options)
    used_images: set[str] = set()
    for record in _articles(repo, ids):
        result.posts += 1
        result.duplicates += record.duplicate_of is not None
        removing = omitted(record, options)
        if writer.write(record):
            if removing:
                result.posts_removed += 1
            else:
                result.posts_written += 1
        if removing or options.image_mode != "local" or not copy:
            continue
        assert images_dir is not None
        for image in record.images.values():
            if not image.stored or image.path is None or image.path in used_images:
                continue
            used_images.add(image.path)
            result.images += 1
            source = images_dir / image.path
            if not source.is_file():
                result.images_missing += 1
                if len(result.missing_examples) < MISSING_EXAMPLES:
                    result.missing_examples.append(source)
                continue
            how = place_image(source, destination / image.path)
            if how == "linked":
                result.images_linked += 1
            elif how == "copied":
                result.images_copied += 1
    keep = set(ids)
    result.posts_outside = prune_posts(repo, writer, keep)
    if copy and not window.everything:
        result.images_pruned = prune_images(repo, destination, used_images)
    return result


def prune_posts(repo: Repository, writer: PostWriter, keep: set[str]) -> int:
    """Remove the post files of stored articles not in ``keep``; return how many went."""
    folder = writer.posts_dir
    if not folder.is_dir():
        return 0
    prefix, suffix = "qupost-", writer.suffix
    present = {p.name[len(prefix) : -len(suffix)] for p in folder.glob(f"{prefix}*{suffix}")}
    if not present - keep:
        return 0
    with repo.reading() as tx:
        stored = tx.stored_ids(sorted(present - keep))
    return sum(remove_file(writer.path(qupost_id)) for qupost_id in stored)


def prune_images(repo: Repository, folder: Path, used: set[str]) -> int:
    """Remove copies in ``folder`` of stored catalog images no kept post uses."""
    with repo.reading() as tx:
        paths = tx.stored_image_paths()
    removed = 0
    for path in paths - used:
        if remove_file(folder / path):
            removed += 1
    return removed


def newest_posts(repo: Repository, n: int, options: RenderOptions) -> list[str]:
    """The ids of the newest ``n`` posts a tree shows (see :func:`selected_ids`)."""
    return selected_ids(repo, Window(max_posts=n), options)
