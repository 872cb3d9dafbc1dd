"""Render the whole catalog into a Hexo ``source/`` folder.

The crawl writes posts as it goes; this does the same for every stored post
at once, through the same renderer, so a user can rebuild a blog folder, move
it, or re-render it for another theme without crawling again.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.article import Article
from storage.hexo import HexoWriter, RenderOptions, omitted, remove_stale_temp_files
from storage.repository import Repository

logger = logging.getLogger(__name__)


@dataclass
class ExportResult:
    posts: int = 0
    posts_written: int = 0
    posts_removed: int = 0
    images: int = 0
    images_copied: int = 0
    images_missing: int = 0
    duplicates: int = 0
    """Posts of stories another post told first (written, marked or left out per the policy)."""


def _articles(repo: Repository, batch: int = 200) -> Iterator[Article]:
    """Every stored article, deleted ones included, read a batch at a time.

    Each batch is read on a lock-free connection and closed before its posts
    are rendered, so a crawl writing to the same catalog never waits.
    """
    with repo.reading() as tx:
        ids = list(tx.iter_post_ids(deleted=True))
    for start in range(0, len(ids), batch):
        with repo.reading() as tx:
            articles = [tx.load_article(i) for i in ids[start : start + batch]]
        yield from (a for a in articles if a is not None)


def image_folder(target: Path, options: RenderOptions) -> Path:
    """Where the blog serves ``QUPOST_IMAGE_URL_BASE`` from, inside ``target``."""
    relative = options.image_url_base.strip("/")
    folder = (target / relative).resolve()
    if target.resolve() not in folder.parents and folder != target.resolve():
        raise ValueError(f"image URL base {options.image_url_base!r} points outside {target}")
    return folder


def copy_if_changed(source: Path, destination: Path) -> bool:
    try:
        if destination.stat().st_size == source.stat().st_size and (
            destination.read_bytes() == source.read_bytes()
        ):
            return False
    except FileNotFoundError:
        pass
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.export.tmp")
    shutil.copy2(source, temporary)
    temporary.replace(destination)
    return True


def export_tree(
    repo: Repository,
    target: Path,
    options: RenderOptions,
    images_dir: Path | None,
    *,
    fsync: bool = False,
) -> ExportResult:
    """Write every stored post (and copy its local images) into ``target``."""
    result = ExportResult()
    writer = HexoWriter(target, options, fsync=fsync)
    remove_stale_temp_files(target / "_posts")
    destination = image_folder(target, options)
    copy = images_dir is not None and images_dir.resolve() != destination
    for record in _articles(repo):
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
            if not image.stored or image.path is None:
                continue
            result.images += 1
            source = images_dir / image.path
            if not source.is_file():
                result.images_missing += 1
                logger.warning("image file missing from the store: %s", source)
                continue
            if copy_if_changed(source, destination / image.path):
                result.images_copied += 1
    return result
