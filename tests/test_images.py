"""Tests for pipelines.images: header-only measuring, bombs, bad bytes and safe paths."""

from __future__ import annotations

import contextlib
import re
import struct
import tracemalloc
import zlib
from collections.abc import Iterator
from io import BytesIO
from pathlib import PurePosixPath
from typing import Any

import pytest
from PIL import Image, ImageFile, WebPImagePlugin

from fakesite.images import make_image, png_bomb, truncated
from pipelines.images import ImageFailed, ImageInfo, image_path, measure_image

CDN = "http://static.1sapp.com/qupost/img/2021/12/04"
PATH_SHAPE = re.compile(
    r"(?:20[0-9]{2}/[0-9]{2}/[0-9]{2}|undated)/[0-9a-f]{40}\.(?:jpeg|png|gif|webp)"
)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the image classes whose pixels were loaded (decoded) during the test."""
    calls: list[str] = []
    for cls in (ImageFile.ImageFile, WebPImagePlugin.WebPImageFile):
        original = cls.load

        def spy(self: ImageFile.ImageFile, _original: Any = original) -> Any:
            calls.append(type(self).__name__)
            return _original(self)

        monkeypatch.setattr(cls, "load", spy)
    yield calls


def compressed_png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of zeros: tiny on the wire, ``width*height`` bytes decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


# --- formats and orientation --------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "width", "height"),
    [("jpeg", 640, 360), ("png", 300, 200), ("gif", 64, 32), ("webp", 120, 90)],
)
def test_measures_each_format(fmt: str, width: int, height: int) -> None:
    data = make_image(width, height, fmt)
    assert measure_image(data) == ImageInfo(fmt, width, height)


@pytest.mark.parametrize(
    ("fmt", "orientation", "expected"),
    [
        pytest.param("jpeg", 1, (640, 360), id="jpeg-1"),
        pytest.param("jpeg", 3, (640, 360), id="jpeg-3-upside-down"),
        pytest.param("jpeg", 6, (360, 640), id="jpeg-6-rotated"),
        pytest.param("jpeg", 8, (360, 640), id="jpeg-8-rotated"),
        pytest.param("webp", 6, (360, 640), id="webp-6-rotated"),
    ],
)
def test_exif_orientation_gives_the_displayed_size(
    fmt: str, orientation: int, expected: tuple[int, int]
) -> None:
    data = make_image(640, 360, fmt, exif_orientation=orientation)
    assert measure_image(data) == ImageInfo(fmt, *expected)


def test_pixel_cap_is_inclusive() -> None:
    data = make_image(640, 360, "jpeg")
    assert measure_image(data, max_pixels=640 * 360) == ImageInfo("jpeg", 640, 360)
    with pytest.raises(ImageFailed) as failed:
        measure_image(data, max_pixels=640 * 360 - 1)
    assert failed.value.reason == "too many pixels (640x360)"


@pytest.mark.parametrize("fmt", ["jpeg", "gif", "webp"])
def test_measuring_does_not_decode_pixels(fmt: str, decodes: list[str]) -> None:
    measure_image(make_image(640, 360, fmt))
    assert decodes == []


def test_measuring_a_png_does_not_decode_pixels(decodes: list[str]) -> None:
    measure_image(make_image(640, 360, "png"))
    assert decodes == []


# --- decompression bombs ------------------------------------------------------


def test_png_bomb_is_refused_over_the_cap() -> None:
    with pytest.raises(ImageFailed) as failed:
        measure_image(png_bomb(), max_pixels=50_000_000)
    assert failed.value.reason == "too many pixels (30000x30000)"


def test_png_bomb_is_measured_without_a_cap() -> None:
    assert measure_image(png_bomb(), max_pixels=0) == ImageInfo("png", 30000, 30000)


@pytest.mark.parametrize("max_pixels", [0, 50_000_000])
def test_png_bomb_stays_small_in_memory(max_pixels: int) -> None:
    data = png_bomb()
    tracemalloc.start()
    try:
        with contextlib.suppress(ImageFailed):
            measure_image(data, max_pixels=max_pixels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_real_png_bomb_is_refused_before_any_decoding(decodes: list[str]) -> None:
    # 8000x8000 (64 Mpx): about 60 KB on the wire, 64 MB once decoded.
    data = compressed_png_bomb(8000, 8000)
    with pytest.raises(ImageFailed, match="too many pixels"):
        measure_image(data, max_pixels=50_000_000)
    assert decodes == []


# --- bad bytes ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp"])
@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1, 0.02])
def test_truncated_file_is_stored_or_refused_never_crashes(fmt: str, keep: float) -> None:
    data = truncated(make_image(640, 360, fmt, detail=True), keep)
    try:
        info = measure_image(data)
    except ImageFailed:
        return
    assert info == ImageInfo(fmt, 640, 360)


@pytest.mark.parametrize("size", [1, 2, 3, 8, 20])
def test_few_bytes_of_a_header_never_crash(size: int) -> None:
    data = make_image(640, 360, "jpeg")[:size]
    try:
        info = measure_image(data)
    except ImageFailed:
        return
    assert info == ImageInfo("jpeg", 640, 360)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"<!DOCTYPE html><html><body>404</body></html>", id="html"),
        pytest.param(b"<html><head><title>x</title></head></html>", id="html-no-doctype"),
        pytest.param(b'{"code": 404}', id="json"),
        pytest.param(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b"<script>alert(1)</script></svg>",
            id="svg",
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            b'width="10" height="10"/>',
            id="svg-xml-prolog",
        ),
        pytest.param(b"GIF89a", id="gif-magic-only"),
        pytest.param(b"\x89PNG\r\n\x1a\n", id="png-magic-only"),
        pytest.param(b"\x00" * 64, id="zeros"),
    ],
)
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(ImageFailed):
        measure_image(data)


def test_empty_body_is_refused() -> None:
    with pytest.raises(ImageFailed) as failed:
        measure_image(b"")
    assert failed.value.reason == "empty body"


def test_html_is_reported_as_not_an_image() -> None:
    with pytest.raises(ImageFailed) as failed:
        measure_image(b"<html><body>Not Found</body></html>")
    assert failed.value.reason == "not an image"


def test_unsupported_format_is_refused() -> None:
    out = BytesIO()
    Image.new("RGB", (8, 8)).save(out, "BMP")
    with pytest.raises(ImageFailed) as failed:
        measure_image(out.getvalue())
    assert failed.value.reason == "unsupported image format"


# --- image paths --------------------------------------------------------------


def test_image_path_is_deterministic_and_dated() -> None:
    url = f"{CDN}/0f9333318f5524d6b066f9980759a693.jpeg"
    # Pinned: a new naming scheme would orphan every stored image.
    expected = "2021/12/04/2556cdd5f11999c5de91dafdfc26bfe905d6db9a.jpeg"
    assert image_path(url, "jpeg") == expected
    assert image_path(url, "jpeg") == expected


def test_undated_url_goes_to_the_undated_folder() -> None:
    path = image_path("http://static.1sapp.com/qupost/images/x/water.jpg", "png")
    assert path == "undated/3fe48ff2c100dd10a1debc543fa46c5727c65667.png"


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp"])
def test_extension_matches_the_format(fmt: str) -> None:
    path = image_path(f"{CDN}/a.jpeg", fmt)
    assert path.endswith(f".{fmt}")
    assert PATH_SHAPE.fullmatch(path)


def test_different_urls_give_different_paths() -> None:
    urls = [
        f"{CDN}/a.jpeg",
        f"{CDN}/b.jpeg",
        f"{CDN}/a.jpeg?x=1",
        f"{CDN}/a.jpeg?x=2",
        f"{CDN}/A.jpeg",
        "https://static.1sapp.com/qupost/img/2021/12/04/a.jpeg",
        "http://other.example/qupost/img/2021/12/04/a.jpeg",
        "http://static.1sapp.com/qupost/img/2021/12/05/a.jpeg",
    ]
    paths = [image_path(u, "jpeg") for u in urls]
    assert len(set(paths)) == len(urls)


@pytest.mark.parametrize(
    "url",
    [
        "http://static.1sapp.com/../../../etc/passwd",
        "http://static.1sapp.com/qupost/img/2021/12/04/../../../../../../x.jpeg",
        "http://static.1sapp.com/..%2f..%2fetc/2021/12/04/x.jpeg",
        "http://static.1sapp.com//etc/passwd",
        "http://static.1sapp.com/a/..\\..\\x.jpeg",
        "http://static.1sapp.com/2021/13/40/x.jpeg",
        "../../x.jpeg",
        "/etc/passwd",
    ],
)
def test_hostile_urls_cannot_escape_the_store(url: str) -> None:
    path = image_path(url, "jpeg")
    assert PATH_SHAPE.fullmatch(path)
    assert ".." not in path
    assert not path.startswith("/")
    assert ".." not in PurePosixPath(path).parts
