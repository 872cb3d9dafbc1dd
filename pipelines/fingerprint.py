"""Fingerprint hand-off: hash each article's cleaned text once, before it is stored.

The sketch (``storage.fingerprint``: the story's text lines and their shingle
hashes) is the costly part of near-duplicate detection; it is made here,
outside any catalog transaction, so the storage step holds its write lock
only for the lookup.  It runs after the image pipeline, so the many articles
waiting for images do not carry their sketches.
"""

from __future__ import annotations

from typing import Any, Self

from scrapy.crawler import Crawler

from storage.article import Article
from storage.fingerprint import sketch


class FingerprintPipeline:
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, Article) and not item.deleted and item.sketch is None:
            item.sketch = sketch(item.body_html)
        return item
