"""Storage hand-off: save each article in the catalog, then render its post.

The catalog transaction stays open while the post file is written, so a post
on disk always has its row, and a row always has its post: a run killed in
between leaves neither, and the next run simply does the article again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Self

from itemadapter import ItemAdapter
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler.items import ArticleItem, ListingItem
from storage.catalog import Catalog
from storage.config import render_options, source_dir
from storage.hexo import HexoWriter, remove_stale_temp_files
from storage.repository import ImageRecord, PostInput, RepoTx, StorageError

logger = logging.getLogger(__name__)


class StoragePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.catalog = Catalog.of(crawler)
        self.source_dir = source_dir(settings)
        self.write_posts = settings.getbool("QUPOST_WRITE_POSTS", True)
        self.writer = HexoWriter(
            self.source_dir, render_options(settings), fsync=settings.getbool("QUPOST_FSYNC")
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def open_spider(self, spider: Spider | None = None) -> None:
        self.catalog.repo  # noqa: B018 - open (and if needed create) the catalog now
        if self.write_posts:
            removed = remove_stale_temp_files(self.source_dir / "_posts")
            if removed:
                logger.info("removed %d temporary files left by an interrupted run", removed)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ListingItem):
            self._store_listing(item)
        elif isinstance(item, ArticleItem):
            self._store_article(item)
        return item

    def _store_article(self, item: ArticleItem) -> None:
        post = _post_input(item)
        try:
            with self.catalog.repo.transaction() as tx:
                tx.record_images(_image_records(item), self.catalog.run_id, post.crawled_at)
                outcome = tx.upsert_post(post)
                if outcome == "new" and self.write_posts:
                    # Rendered from what was just inserted: two reads instead of four.
                    written = self.writer.write(tx.inserted_post(post))
                else:
                    written = self._render(tx, post.qupost_id)
        except (StorageError, OSError) as exc:
            self._inc("storage/error")
            raise DropItem(f"article {post.qupost_id}: not saved: {exc}") from exc
        self._inc(f"articles/{outcome}")
        if written:
            self._inc("posts/written")

    def _store_listing(self, item: ListingItem) -> None:
        try:
            with self.catalog.repo.transaction() as tx:
                gained = tx.record_listing(item.cid, item.qupost_ids)
                for qupost_id in gained:
                    if self._render(tx, qupost_id):
                        self._inc("posts/retagged")
        except (StorageError, OSError) as exc:
            self._inc("storage/error")
            logger.error("channel %s: listing not saved: %s", item.cid, exc)

    def _render(self, tx: RepoTx, qupost_id: str) -> bool:
        if not self.write_posts:
            return False
        record = tx.load_post(qupost_id)
        return record is not None and self.writer.write(record)

    def _inc(self, key: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"qupost/{key}")


def _image_records(item: ArticleItem) -> list[ImageRecord]:
    return [r for r in item.image_records if isinstance(r, ImageRecord)]


def _post_input(item: ArticleItem) -> PostInput:
    adapter = ItemAdapter(item)
    crawled = adapter.get("crawled_at") or datetime.now(UTC)
    return PostInput(
        qupost_id=item.qupost_id,
        title=item.title,
        author=item.author,
        published_at=item.published_at or crawled,
        date_source=item.date_source or "crawl",
        original_url=item.original_url,
        body_html=item.body_html,
        cover_url=item.cover_url,
        image_urls=list(dict.fromkeys(ref.url for ref in item.images)),
        cid=item.cid,
        crawled_at=crawled,
    )
