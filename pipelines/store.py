"""Storage hand-off: save each article in the catalog, then bring its post file in line.

The post file is written inside the article's catalog transaction, before
the commit.  So a run killed in between may leave a post file whose row is
missing (the next run fetches the article again and rewrites the same file),
but never a row whose post is missing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Self

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler import stats as keys
from crawler.catalog import CrawlCatalog
from crawler.config import QupostConfig
from crawler.failures import article_failed
from crawler.items import ListingItem
from storage.article import Article
from storage.export import newest_posts, prune_posts
from storage.hexo import HexoWriter, remove_stale_temp_files
from storage.repository import RepoTx, StorageError

logger = logging.getLogger(__name__)


class StoragePipeline:
    def __init__(self, crawler: Crawler, config: QupostConfig) -> None:
        self.crawler = crawler
        self.catalog = CrawlCatalog.of(crawler)
        self.write_posts = config.write_posts
        self.posts_dir = config.source_dir / "_posts"
        self.writer = HexoWriter(config.source_dir, config.render, fsync=config.fsync)
        self.keep_posts = config.keep_posts if config.write_posts else 0
        # Under QUPOST_KEEP_POSTS, the publish time of the oldest post the tree
        # keeps; an article older than that is stored but not written.
        self.oldest_kept: datetime | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler, QupostConfig.of(crawler))

    def open_spider(self, spider: Spider | None = None) -> None:
        self.catalog.repo  # noqa: B018 - open (and if needed create) the catalog now
        if self.write_posts:
            removed = remove_stale_temp_files(self.posts_dir)
            if removed:
                logger.info("removed %d temporary files left by an interrupted run", removed)
        if self.keep_posts:
            self.oldest_kept = self._oldest_kept()

    def close_spider(self, spider: Spider | None = None) -> None:
        if not self.keep_posts or self.catalog.damaged:
            return
        try:
            kept = set(newest_posts(self.catalog.repo, self.keep_posts, self.writer.options))
            removed = prune_posts(self.catalog.repo, self.writer, kept)
        except (StorageError, OSError) as exc:
            logger.error("QUPOST_KEEP_POSTS: the tree was not trimmed: %s", exc)
            return
        if removed:
            self._inc(keys.POSTS_REMOVED, removed)
            logger.info(
                "QUPOST_KEEP_POSTS=%d: %d older posts left the tree (the catalog keeps them)",
                self.keep_posts,
                removed,
            )

    def _oldest_kept(self) -> datetime | None:
        newest = newest_posts(self.catalog.repo, self.keep_posts, self.writer.options)
        if len(newest) < self.keep_posts:
            return None
        with self.catalog.repo.reading() as tx:
            oldest = tx.load_articles(newest[-1:])
        return oldest[0].published_at if oldest else None

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ListingItem):
            self._store_listing(item)
        elif isinstance(item, Article):
            if item.deleted:
                self._store_deletion(item)
            else:
                self._store_article(item)
        return item

    def _store_article(self, article: Article) -> None:
        assert article.crawled_at is not None
        # Outcomes read from the catalog carry their run id: only new ones are written.
        fresh = [r for r in article.images.values() if r.run_id is None]
        try:
            with self.catalog.repo.transaction() as tx:
                tx.record_images(fresh, self.catalog.run_id, article.crawled_at)
                outcome = tx.upsert_article(article)
                duplicate = outcome == "new" and article.duplicate_of is not None
                # A new post is rendered from what was just inserted: two reads instead of four.
                view = tx.stored_view(article) if outcome == "new" else None
                written = self._write(tx, article.qupost_id, view)
        except (StorageError, OSError) as exc:
            self._not_saved(article, exc)
        finally:
            article.sketch = None  # the text's hashes are the record's largest part; done with
        self._inc(f"{keys.PREFIX}articles/{outcome}")
        if duplicate:
            self._inc(keys.ARTICLES_DUPLICATE)
            logger.info(
                "article %s tells the story of post %s (QUPOST_DUPLICATES=%s)",
                article.qupost_id,
                article.duplicate_of,
                self.writer.options.duplicates,
            )
        if written:
            self._inc(keys.POSTS_WRITTEN)

    def _store_deletion(self, article: Article) -> None:
        assert article.deleted_at is not None
        try:
            with self.catalog.repo.transaction() as tx:
                marked = tx.mark_deleted(article.qupost_id, article.deleted_at)
                stored = tx.load_article(article.qupost_id) if marked else None
                changed = stored is not None and self._write(tx, article.qupost_id, stored)
        except (StorageError, OSError) as exc:
            self._not_saved(article, exc)
        # Counted once saved, like every outcome: a failure is counted as failed instead.
        self._inc(keys.ARTICLES_DELETED)
        if changed:
            self._inc(
                keys.POSTS_REMOVED if stored and self._removes(stored) else keys.POSTS_WRITTEN
            )

    def _store_listing(self, item: ListingItem) -> None:
        try:
            with self.catalog.repo.transaction() as tx:
                gained = tx.record_listing(item.cid, item.qupost_ids)
                for qupost_id in gained:
                    if self._write(tx, qupost_id):
                        self._inc(keys.POSTS_RETAGGED)
        except (StorageError, OSError) as exc:
            self._inc(keys.STORAGE_ERROR)
            logger.error("channel %s: listing not saved: %s", item.cid, exc)
            if isinstance(exc, StorageError):
                self.catalog.storage_failed(exc)

    def _write(self, tx: RepoTx, qupost_id: str, article: Article | None = None) -> bool:
        """Render the stored article's post; ``article`` saves reading it when already known."""
        if not self.write_posts:
            return False
        if article is None:
            article = tx.load_article(qupost_id)
        if article is None or self._outside_tree(article):
            return False
        return self.writer.write(article)

    def _outside_tree(self, article: Article) -> bool:
        """Older than every post the tree keeps, and not in it: leave it to the catalog."""
        if self.oldest_kept is None or article.published_at is None:
            return False
        if article.published_at >= self.oldest_kept:
            return False
        return not self.writer.path(article.qupost_id).exists()

    def _removes(self, article: Article) -> bool:
        return article.deleted and self.writer.options.on_deleted == "remove"

    def _not_saved(self, article: Article, exc: Exception) -> None:
        if isinstance(exc, StorageError):
            self.catalog.storage_failed(exc)
        self._inc(keys.STORAGE_ERROR)
        article_failed(self.crawler, "storage", article.qupost_id, article.original_url)
        raise DropItem(f"article {article.qupost_id}: not saved: {exc}") from exc

    def _inc(self, key: str, count: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key, count)
