"""Image pipeline: download each image once, store its exact bytes, measure it.

It subclasses Scrapy's FilesPipeline (not ImagesPipeline, which decodes and
re-encodes every image to JPEG) and uses the hooks meant for extension:
``get_media_requests``, ``media_to_download``, ``media_downloaded``,
``media_failed``, ``file_path`` and ``item_completed``.  The size comes from
the image header alone, with the EXIF orientation applied.

Each article's image outcomes come back on the article itself
(``Article.images``, built in ``item_completed`` from Scrapy's results, as
FilesPipeline fills its results field), and the storage pipeline records them
in the catalog with the article.  Nothing is shared between articles but
Scrapy's own per-run cache, which makes an image shared by several articles a
single download.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import sys
import tempfile
import warnings
from contextlib import suppress
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.http import Request, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline, FilesStoreProtocol, FSFilesStore
from scrapy.pipelines.media import FileInfo, FileInfoOrError, MediaPipeline
from twisted.python.failure import Failure

from crawler import stats as keys
from crawler.catalog import CrawlCatalog
from crawler.config import QupostConfig
from crawler.failures import describe_failure, image_failed
from storage.article import Article, ImageRecord
from storage.repository import StorageError

try:
    # Failures of this class are reported by the pipeline itself, in one line,
    # instead of with Scrapy's multi-screen traceback.
    from scrapy.pipelines.media import _MediaRequestFiltered as _QuietMediaError
except ImportError:  # pragma: no cover - older Scrapy logs a traceback too
    from scrapy.pipelines.media import FileException as _QuietMediaError  # type: ignore[assignment]

logger = logging.getLogger(__name__)

FORMATS = {"JPEG": "jpeg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
_ROTATED = {5, 6, 7, 8}
# ASCII digits only: \d would let Arabic-Indic digits into a folder name.
_DATE_IN_PATH = re.compile(r"/(20[0-9]{2})/(0[1-9]|1[0-2])/(0[1-9]|[12][0-9]|3[01])/")
_EXIF_ORIENTATION = 0x0112


class ImageFailed(_QuietMediaError):
    """An image that could not be stored; ``reason`` is recorded in the catalog.

    ``kind`` is the short word its stat is counted under; by default the
    reason without its parenthesised detail (``too many pixels (…)`` →
    ``too_many_pixels``), so stat names never carry a URL or a size.
    """

    def __init__(self, reason: str, kind: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind or _slug(reason.split("(")[0])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "other"


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def measure_image(data: bytes, max_pixels: int = 0) -> ImageInfo:
    """Read format and displayed size from the header, without decoding pixels.

    Raises ImageFailed for anything that is not a JPEG, PNG, GIF or WebP, and
    for images with more pixels than ``max_pixels`` (0 means no cap).
    """
    if not data:
        raise ImageFailed("empty body")
    if _looks_like_svg(data):
        # An SVG can carry scripts; it is never stored, so never served from the blog.
        raise ImageFailed("SVG is not stored", "svg")
    saved_limit = Image.MAX_IMAGE_PIXELS
    # Pillow's own bomb check would raise before we can apply our cap; we
    # never decode, so reading a huge header is harmless.
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(data)) as img:
                fmt = FORMATS.get(img.format or "")
                width, height = img.size
                # The cap comes first: nothing below may even start on a bomb.
                _check_size(fmt, width, height, max_pixels)
                orientation = _orientation(img) if fmt in ("jpeg", "webp", "png") else 1
    except ImageFailed:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageFailed("not an image") from exc
    except Exception as exc:
        # Format plugins reading hostile headers raise odd errors (struct.error,
        # IndexError...); any of them just means "not an image we can use".
        raise ImageFailed(f"not an image ({type(exc).__name__})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = saved_limit
    assert fmt is not None  # _check_size refused the others
    if orientation in _ROTATED:
        width, height = height, width
    return ImageInfo(fmt, width, height)


_SVG_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE svg|<svg)",
    re.I | re.S,
)


def _looks_like_svg(data: bytes) -> bool:
    return _SVG_START.match(data[:4096]) is not None


def _check_size(fmt: str | None, width: int, height: int, max_pixels: int) -> None:
    if fmt is None:
        raise ImageFailed("unsupported image format")
    if width <= 0 or height <= 0:
        raise ImageFailed("not an image")
    if max_pixels and width * height > max_pixels:
        raise ImageFailed(f"too many pixels ({width}x{height})")


def _orientation(img: Image.Image) -> int:
    try:
        if img.format == "PNG":
            # PngImageFile.getexif() decodes every pixel to look for an eXIf
            # chunk after the image data; use only what open() already read.
            raw = img.info.get("exif")
            if not isinstance(raw, bytes):
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = img.getexif()
        value = exif.get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block must not lose the image
        return 1
    return value if isinstance(value, int) else 1


def image_path(url: str, fmt: str) -> str:
    """Where an image is stored, relative to IMAGES_STORE.

    Deterministic from the URL (a SHA-1 of it, so no two URLs collide), dated
    like the CDN's own paths when the URL carries a date, and made only of
    digits, hex and ``/`` so no input can escape the store.
    """
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()  # noqa: S324 - a name, not security
    match = _DATE_IN_PATH.search(urlsplit(url).path)
    folder = "/".join(match.groups()) if match else "undated"
    return f"{folder}/{digest}.{fmt}"


class AtomicFSFilesStore(FSFilesStore):
    """Scrapy's file-system store, but writing through a temporary file and a rename."""

    def persist_file(
        self,
        path: str | os.PathLike[str],
        buf: BytesIO,
        info: MediaPipeline.SpiderInfo,
        meta: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        target = self._get_filesystem_path(path)
        data = buf.getvalue()
        try:
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return
        except FileNotFoundError:
            pass
        self._mkdir(target.parent, info)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class StoreAsIsPipeline(FilesPipeline):
    """Download, store as-is and measure every image of an article.

    Named for what sets it apart from Scrapy's ImagesPipeline, which
    re-encodes every image to JPEG: the stored file holds the exact bytes the
    server sent.
    """

    MEDIA_NAME = "image"
    LOG_FAILED_RESULTS = False
    STORE_SCHEMES: ClassVar[dict[str, type[FilesStoreProtocol]]] = {
        **FilesPipeline.STORE_SCHEMES,
        "": AtomicFSFilesStore,
        "file": AtomicFSFilesStore,
    }

    def __init__(self, store_uri: str, *, crawler: Crawler) -> None:
        super().__init__(store_uri, crawler=crawler)
        config = QupostConfig.of(crawler)
        self.max_pixels = config.image_max_pixels
        self.images_dir = config.local_images_dir
        self.concurrency = config.image_concurrency
        self._slots: asyncio.Semaphore | None = None
        self.catalog = CrawlCatalog.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        cls._update_stores(crawler.settings)
        return cls(QupostConfig.of(crawler).images_store, crawler=crawler)

    def open_spider(self, spider: Spider | None = None) -> None:
        super().open_spider()
        self.catalog.repo  # noqa: B018 - open the catalog before the first item

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, Article) or item.deleted:
            return item
        # Bounding the articles whose images are in flight keeps the number of
        # connections (and memory) flat however fast articles arrive.
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            return await super().process_item(item)

    # --- hooks -----------------------------------------------------------------
    def get_media_requests(self, item: Any, info: MediaPipeline.SpiderInfo) -> list[Request]:
        urls = item.all_image_urls
        try:
            # One catalog read per article instead of one per image.
            known = self.catalog.repo.images_for(urls)
        except StorageError as exc:
            logger.error("catalog unreadable, downloading every image: %s", exc)
            known = {}
        return [
            Request(
                u,
                callback=NO_CALLBACK,
                meta={"qupost_known": known.get(u), "qupost_id": item.qupost_id},
            )
            for u in urls
        ]

    def media_to_download(
        self, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> Any:
        record: ImageRecord | None = request.meta.get("qupost_known")
        if record is None:
            return self._found_on_disk(request.url)
        if record.stored:
            self._inc(keys.IMAGES_REUSED)
            return _file_info(record)
        if record.reason and self._failed_this_run(record):
            raise ImageFailed(record.reason)
        return None

    def _found_on_disk(self, url: str) -> FileInfo | None:
        """An image the catalog does not know but whose file is where its URL puts it.

        That is the case after ``scrapy catalog --repair`` rebuilt a lost
        catalog from the posts: the file is measured again, not downloaded.
        """
        if self.images_dir is None:
            return None
        for fmt in FORMATS.values():
            path = image_path(url, fmt)
            try:
                data = (self.images_dir / path).read_bytes()
                measured = measure_image(data, self.max_pixels)
            except (OSError, ImageFailed):
                continue
            if measured.format != fmt:
                continue
            self._inc(keys.IMAGES_REUSED)
            record = ImageRecord(
                url=url,
                status="stored",
                path=path,
                width=measured.width,
                height=measured.height,
                format=measured.format,
                size_bytes=len(data),
            )
            return _file_info(record)
        return None

    def _failed_this_run(self, record: ImageRecord) -> bool:
        # Failures from earlier runs are retried: the cause may have been transient.
        return record.run_id is not None and record.run_id == self.catalog.run_id

    async def media_downloaded(
        self,
        response: Response,
        request: Request,
        info: MediaPipeline.SpiderInfo,
        *,
        item: Any = None,
    ) -> FileInfo:
        if response.status != 200:
            raise self._fail(request, f"HTTP {response.status}")
        try:
            measured = measure_image(response.body, self.max_pixels)
        except ImageFailed as exc:
            raise self._fail(request, exc.reason, exc.kind) from None
        path = image_path(request.url, measured.format)
        await _maybe_await(self.store.persist_file(path, BytesIO(response.body), info))
        self._inc(keys.IMAGES_DOWNLOADED)
        record = ImageRecord(
            url=request.url,
            status="stored",
            path=path,
            width=measured.width,
            height=measured.height,
            format=measured.format,
            size_bytes=len(response.body),
        )
        return _file_info(record)

    def media_failed(
        self, failure: Failure, request: Request, info: MediaPipeline.SpiderInfo
    ) -> Any:
        if isinstance(failure.value, ImageFailed):
            # Raised by media_downloaded, which already counted it.
            raise failure.value
        kind, text = describe_failure(failure)
        raise self._fail(request, text, kind)

    def file_path(
        self,
        request: Request,
        response: Response | None = None,
        info: MediaPipeline.SpiderInfo | None = None,
        *,
        item: Any = None,
    ) -> str:
        fmt = "jpeg"
        if response is not None:
            with suppress(ImageFailed):
                fmt = measure_image(response.body).format
        return image_path(request.url, fmt)

    def item_completed(
        self, results: list[FileInfoOrError], item: Any, info: MediaPipeline.SpiderInfo
    ) -> Any:
        """Put each image's outcome on the article, in the order of its requests.

        An outcome found in the catalog keeps its run id; a new one has none
        until the storage pipeline records it with the article.
        """
        article: Article = item
        outcomes: dict[str, ImageRecord] = {}
        for url, (ok, value) in zip(article.all_image_urls, results, strict=True):
            if ok and isinstance(value, StoredImage):
                outcomes[url] = value.record(url)
                continue
            reason = _failure_reason(value)
            outcomes[url] = ImageRecord(url=url, status="failed", reason=reason)
            logger.warning(
                "article %s: image not stored (%s); the post keeps its origin URL %s",
                article.qupost_id,
                reason,
                url[:200],
            )
        article.images = outcomes
        return item

    # --- helpers -----------------------------------------------------------------
    def _fail(self, request: Request, reason: str, kind: str | None = None) -> ImageFailed:
        failed = ImageFailed(reason, kind)
        image_failed(self.crawler, failed.kind, request.meta.get("qupost_id"), request.url)
        return failed

    def _inc(self, key: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key)


@dataclass(frozen=True, slots=True)
class StoredImage:
    """Scrapy's result for a stored image: what its record needs besides the URL.

    Scrapy keeps every result for the whole run (``info.downloaded``), one per
    image URL, so the result holds no strings: the path follows from the URL
    and the format (:func:`image_path`), and the URL is the article's own.
    """

    format: str
    width: int | None
    height: int | None
    size_bytes: int | None
    run_id: int | None

    def record(self, url: str) -> ImageRecord:
        return ImageRecord(
            url=url,
            status="stored",
            path=image_path(url, self.format),
            width=self.width,
            height=self.height,
            format=self.format,
            size_bytes=self.size_bytes,
            run_id=self.run_id,
        )


# Image sides repeat (a CDN serves a few widths): one int object per distinct
# value instead of two per cached image.  Bounded by the number of values.
_SIDES: dict[int, int] = {}
_MAX_SIDES = 20_000


def _side(value: int | None) -> int | None:
    if value is None or len(_SIDES) >= _MAX_SIDES:
        return _SIDES.get(value, value) if value is not None else None
    return _SIDES.setdefault(value, value)


def _file_info(record: ImageRecord) -> FileInfo:
    """An image's outcome as the result Scrapy caches for it (see :class:`StoredImage`)."""
    assert record.format is not None
    result = StoredImage(
        sys.intern(record.format),
        _side(record.width),
        _side(record.height),
        record.size_bytes,
        record.run_id,
    )
    return result  # type: ignore[return-value]


def _failure_reason(value: Any) -> str:
    error = getattr(value, "value", value)
    reason = getattr(error, "reason", None)
    return str(reason) if reason else describe_failure(value)[1]


async def _maybe_await(value: Any) -> None:
    from scrapy.utils.defer import ensure_awaitable

    await ensure_awaitable(value)
