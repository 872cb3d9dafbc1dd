"""The benchmark's fake site: N ordinary articles whose images come from a small JPEG pool.

Encoding thousands of noisy JPEGs with Pillow takes minutes, so the site holds
a pool of distinct JPEGs (50–200 KB each, like real photos) and serves them
under per-article URLs.  Every article still has its own image URLs, so every
crawler downloads, measures and stores every image; only the bytes repeat.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fakesite.images import make_image
from fakesite.site import BEIJING, FakeSite, lorem, numbered_article

# Two mixes of stored sizes and JPEG qualities, each weighing 50–200 KB with the
# fake site's noisy pictures.  "photo" (the default): photo-sized pictures
# (640–1280 px wide, 0.27–1.09 MP) compressed as news CDNs serve them, 1.3–2.1
# bits per pixel.  "web": small pictures at high quality (480x320 is about
# 58 KB, 800x600 about 182 KB), about 3.1 bits per pixel: the same bytes with half
# the pixels, so whatever decodes them (Scrapy's ImagesPipeline) works less.
POOL_MIXES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "web": (
        (480, 320, 85),
        (560, 420, 85),
        (640, 360, 85),
        (720, 480, 85),
        (800, 450, 85),
        (800, 600, 85),
    ),
    "photo": (
        (640, 427, 70),
        (800, 533, 70),
        (960, 640, 60),
        (1080, 720, 60),
        (1200, 800, 50),
        (1280, 853, 50),
    ),
}
MIN_BYTES = 50 * 1024
MAX_BYTES = 200 * 1024
FIRST_ID = 1638600000


@dataclass(frozen=True)
class PoolImage:
    data: bytes
    width: int
    height: int


def image_pool(count: int = 60, seed: int = 1000, mix: str = "photo") -> list[PoolImage]:
    """``count`` distinct noisy JPEGs, each checked to weigh 50–200 KB."""
    sizes = POOL_MIXES[mix]
    pool: list[PoolImage] = []
    for i in range(count):
        width, height, quality = sizes[i % len(sizes)]
        data = make_image(width, height, "jpeg", seed=seed + i, detail=True, quality=quality)
        if not MIN_BYTES <= len(data) <= MAX_BYTES:
            raise ValueError(
                f"pool JPEG {width}x{height} weighs {len(data)} bytes, outside 50–200 KB"
            )
        pool.append(PoolImage(data, width, height))
    return pool


def build_bench_site(
    articles: int,
    pool: list[PoolImage],
    *,
    images_per_article: int = 3,
    paragraphs: int = 8,
    seed: int = 7,
) -> FakeSite:
    """A one-channel (cid=1) site of ``articles`` page-mode articles."""
    if len(pool) < images_per_article:
        raise ValueError("the pool needs at least one distinct image per article slot")
    rng = random.Random(seed)
    site = FakeSite()
    start = datetime(2021, 12, 4, 13, 0, tzinfo=UTC)
    for n in range(articles):
        published = start - timedelta(minutes=7 * n)
        article_id = str(FIRST_ID + n)
        images = [
            _add_image(
                site, article_id, published, k, pool[(n * images_per_article + k) % len(pool)]
            )
            for k in range(images_per_article)
        ]
        body = _body(rng, paragraphs, images)
        site.add_article(
            numbered_article(
                n,
                article_id,
                published,
                rng,
                cid=1,
                body=body,
                cover=images[0][0] if images else None,
            )
        )
    return site


def _add_image(
    site: FakeSite, article_id: str, published: datetime, k: int, image: PoolImage
) -> tuple[str, str]:
    day = published.astimezone(BEIJING).strftime("%Y/%m/%d")
    digest = hashlib.md5(f"{article_id}-{k}".encode()).hexdigest()
    path = f"/qupost/img/{day}/{digest}.jpeg"
    site.add_image(path, image.width, image.height, data=image.data)
    return path, f"{image.width},{image.height}"


def _body(
    rng: random.Random, paragraphs: int, images: list[tuple[str, str]]
) -> list[tuple[str, ...]]:
    body: list[tuple[str, ...]] = []
    for p in range(paragraphs):
        body.append(("p", f"第{p + 1}段。" + lorem(rng)))
        if p < len(images):
            body.append(("img", *images[p]))
    return body
