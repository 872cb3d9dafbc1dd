"""Image pipeline: download each image once, store its exact bytes, measure it.

It subclasses Scrapy's FilesPipeline (not ImagesPipeline, which decodes and
re-encodes every image to JPEG) and uses the hooks meant for extension:
``get_media_requests``, ``media_to_download``, ``media_downloaded``,
``media_failed``, ``file_path`` and ``item_completed``.  The size comes from
the image header alone, with the EXIF orientation applied, and is recorded in
the catalog next to the file's path and any failure reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
import warnings
from contextlib import suppress
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from itemadapter import ItemAdapter
from PIL import Image, UnidentifiedImageError
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline, FilesStoreProtocol, FSFilesStore
from scrapy.pipelines.media import FileInfo, FileInfoOrError, MediaPipeline
from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectError, DNSLookupError, TimeoutError
from twisted.python.failure import Failure

from crawler.urls import resolve_image_url
from storage.catalog import Catalog
from storage.config import images_store
from storage.repository import ImageRecord, StorageError

try:
    # Failures of this class are reported by the pipeline itself, in one line,
    # instead of with Scrapy's multi-screen traceback.
    from scrapy.pipelines.media import _MediaRequestFiltered as _QuietMediaError
except ImportError:  # pragma: no cover - older Scrapy logs a traceback too
    from scrapy.pipelines.media import FileException as _QuietMediaError  # type: ignore[assignment]

logger = logging.getLogger(__name__)

FORMATS = {"JPEG": "jpeg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
_ROTATED = {5, 6, 7, 8}
_DATE_IN_PATH = re.compile(r"/(20\d\d)/(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])/")
_EXIF_ORIENTATION = 0x0112


class ImageFailed(_QuietMediaError):
    """An image that could not be stored; ``reason`` is recorded in the catalog."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
                orientation = _orientation(img) if fmt in ("jpeg", "webp", "png") else 1
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageFailed("not an image") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = saved_limit
    if fmt is None:
        raise ImageFailed("unsupported image format")
    if width <= 0 or height <= 0:
        raise ImageFailed("not an image")
    if max_pixels and width * height > max_pixels:
        raise ImageFailed(f"too many pixels ({width}x{height})")
    if orientation in _ROTATED:
        width, height = height, width
    return ImageInfo(fmt, width, height)


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_EXIF_ORIENTATION, 1)
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


class ImagePipeline(FilesPipeline):
    """Download, store as-is, measure and catalog every image of an article."""

    MEDIA_NAME = "image"
    LOG_FAILED_RESULTS = False
    STORE_SCHEMES: ClassVar[dict[str, type[FilesStoreProtocol]]] = {
        **FilesPipeline.STORE_SCHEMES,
        "": AtomicFSFilesStore,
        "file": AtomicFSFilesStore,
    }
    DEFAULT_MAX_PIXELS = 50_000_000
    DEFAULT_CONCURRENCY = 16

    def __init__(self, store_uri: str, *, crawler: Crawler) -> None:
        super().__init__(store_uri, crawler=crawler)
        settings = crawler.settings
        self.max_pixels = settings.getint("QUPOST_IMAGE_MAX_PIXELS", self.DEFAULT_MAX_PIXELS)
        self.concurrency = max(
            1, settings.getint("QUPOST_IMAGE_CONCURRENCY", self.DEFAULT_CONCURRENCY)
        )
        self._slots: asyncio.Semaphore | None = None
        self.catalog = Catalog.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        cls._update_stores(crawler.settings)
        return cls(images_store(crawler.settings), crawler=crawler)

    def open_spider(self, spider: Spider | None = None) -> None:
        super().open_spider()
        self.catalog.repo  # noqa: B018 - open the catalog before the first item

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if "images" not in ItemAdapter(item):
            return item
        # Bounding the articles whose images are in flight keeps the number of
        # connections (and memory) flat however fast articles arrive.
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            return await super().process_item(item)

    # --- hooks -----------------------------------------------------------------
    def get_media_requests(self, item: Any, info: MediaPipeline.SpiderInfo) -> list[Request]:
        adapter = ItemAdapter(item)
        urls = [ref.url for ref in adapter.get("images") or []]
        cover = adapter.get("cover_url")
        if cover:
            resolved = resolve_image_url(cover, adapter.get("original_url") or "")
            adapter["cover_url"] = resolved
            if resolved:
                urls.append(resolved)
        return [Request(u, callback=NO_CALLBACK) for u in dict.fromkeys(urls)]

    def media_to_download(
        self, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> Any:
        try:
            record = self.catalog.repo.image(request.url)
        except StorageError as exc:
            raise ImageFailed(f"catalog unavailable: {exc}") from exc
        if record is None:
            return None
        if record.stored:
            self._inc("reused")
            return _file_info(record, "uptodate")
        if record.reason and self._failed_this_run(record):
            raise ImageFailed(record.reason)
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
            raise self._fail(request, exc.reason) from None
        path = image_path(request.url, measured.format)
        buf = BytesIO(response.body)
        await _maybe_await(self.store.persist_file(path, buf, info))
        record = ImageRecord(
            url=request.url,
            status="stored",
            path=path,
            width=measured.width,
            height=measured.height,
            format=measured.format,
            size_bytes=len(response.body),
        )
        self._record(record)
        self._inc("downloaded")
        return _file_info(record, "downloaded")

    def media_failed(
        self, failure: Failure, request: Request, info: MediaPipeline.SpiderInfo
    ) -> Any:
        if isinstance(failure.value, ImageFailed):
            # Raised by media_downloaded, which already recorded and counted it.
            raise failure.value
        raise self._fail(request, _failure_reason(failure))

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
        adapter = ItemAdapter(item)
        for ok, value in results:
            if not ok and isinstance(value, Failure):
                reason = getattr(value.value, "reason", None) or str(value.value)
                logger.warning(
                    "article %s: image not stored (%s); the post keeps its origin URL",
                    adapter.get("qupost_id"),
                    reason,
                )
        self._forget(item, info)
        adapter["image_results"] = [dict(v) for ok, v in results if ok and isinstance(v, dict)]
        return item

    # --- helpers -----------------------------------------------------------------
    def _forget(self, item: Any, info: MediaPipeline.SpiderInfo) -> None:
        # The catalog remembers every image; Scrapy's per-run cache would
        # otherwise grow with every image of the crawl.
        fingerprint = self.crawler.request_fingerprinter.fingerprint
        for request in self.get_media_requests(item, info):
            info.downloaded.pop(fingerprint(request), None)

    def _fail(self, request: Request, reason: str) -> ImageFailed:
        self._record(ImageRecord(url=request.url, status="failed", reason=reason))
        self._inc("failed")
        slug = re.sub(r"[^a-z0-9]+", "_", reason.lower().split("(")[0]).strip("_") or "other"
        self._inc(f"failed/{slug}")
        return ImageFailed(reason)

    def _record(self, record: ImageRecord) -> None:
        try:
            self.catalog.repo.record_image(record, self.catalog.run_id)
        except StorageError as exc:
            self._inc("catalog_error")
            logger.error("image %s: could not record in the catalog: %s", record.url, exc)

    def _inc(self, key: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"qupost/images/{key}")


def _file_info(record: ImageRecord, status: str) -> FileInfo:
    info: dict[str, Any] = {
        "url": record.url,
        "path": record.path or "",
        "checksum": None,
        "status": status,
        "width": record.width,
        "height": record.height,
    }
    return info  # type: ignore[return-value]


async def _maybe_await(value: Any) -> None:
    from scrapy.utils.defer import ensure_awaitable

    await ensure_awaitable(value)


def _failure_reason(failure: Failure) -> str:
    error = failure.value
    if isinstance(error, ImageFailed):
        return error.reason
    if isinstance(error, IgnoreRequest):
        return f"not fetched: {error}" if str(error) else "host may not be fetched"
    if isinstance(error, CancelledError):
        return "over DOWNLOAD_MAXSIZE or cancelled"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, DNSLookupError):
        return "DNS lookup failed"
    if isinstance(error, ConnectError):
        return "connection failed"
    return f"{type(error).__name__}: {error}"[:200]
