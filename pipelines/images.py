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
from scrapy.http import Request, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline, FilesStoreProtocol, FSFilesStore
from scrapy.pipelines.media import FileInfo, FileInfoOrError, MediaPipeline
from twisted.python.failure import Failure

from crawler.failures import describe_failure
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
        self._pending: dict[str, ImageRecord] = {}
        # The image requests of each article in the pipeline, by id(item).
        self._requests: dict[int, list[Request]] = {}
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
            try:
                return await super().process_item(item)
            finally:
                # Normally item_completed took them; not when the item was cancelled.
                self._requests.pop(id(item), None)

    # --- hooks -----------------------------------------------------------------
    def get_media_requests(self, item: Any, info: MediaPipeline.SpiderInfo) -> list[Request]:
        urls = self._image_urls(item)
        try:
            # One catalog read per article instead of one per image.
            known = self.catalog.repo.images_for(urls)
        except StorageError as exc:
            logger.error("catalog unreadable, downloading every image: %s", exc)
            known = {}
        requests = [
            Request(u, callback=NO_CALLBACK, meta={"qupost_known": known.get(u)}) for u in urls
        ]
        # item_completed needs them again: their URLs, and their fingerprints
        # (cached on each Request by Scrapy's fingerprinter).
        self._requests[id(item)] = requests
        return requests

    @staticmethod
    def _image_urls(item: Any) -> list[str]:
        adapter = ItemAdapter(item)
        urls = [ref.url for ref in adapter.get("images") or []]
        cover = adapter.get("cover_url")
        if cover:
            resolved = resolve_image_url(cover, adapter.get("original_url") or "")
            adapter["cover_url"] = resolved
            if resolved:
                urls.append(resolved)
        return list(dict.fromkeys(urls))

    def media_to_download(
        self, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> Any:
        if "qupost_known" in request.meta:
            record = request.meta["qupost_known"]
        else:
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
            raise self._fail(request, exc.reason, exc.kind) from None
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
        adapter = ItemAdapter(item)
        requests = self._requests.pop(id(item), [])
        urls = [r.url for r in requests]
        for (ok, value), url in zip(results, urls, strict=False):
            if not ok and isinstance(value, Failure):
                reason = getattr(value.value, "reason", None) or describe_failure(value)[1]
                logger.warning(
                    "article %s: image not stored (%s); the post keeps its origin URL %s",
                    adapter.get("qupost_id"),
                    reason,
                    url[:200],
                )
        self._forget(requests, info)
        # Stored with the article, in the same transaction (pipelines/store.py).
        adapter["image_records"] = [self._pending.pop(u) for u in urls if u in self._pending]
        adapter["image_results"] = [dict(v) for ok, v in results if ok and isinstance(v, dict)]
        return item

    # --- helpers -----------------------------------------------------------------
    def _forget(self, requests: list[Request], info: MediaPipeline.SpiderInfo) -> None:
        # The catalog remembers every image; Scrapy's per-run cache would
        # otherwise grow with every image of the crawl.
        fingerprint = self.crawler.request_fingerprinter.fingerprint
        for request in requests:
            info.downloaded.pop(fingerprint(request), None)

    def _fail(self, request: Request, reason: str, kind: str | None = None) -> ImageFailed:
        failed = ImageFailed(reason, kind)
        self._record(ImageRecord(url=request.url, status="failed", reason=reason))
        self._inc("failed")
        self._inc(f"failed/{failed.kind}")
        return failed

    def _record(self, record: ImageRecord) -> None:
        # Held until item_completed hands it to the article's storage
        # transaction: one commit per article instead of one per image.
        self._pending[record.url] = record

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
