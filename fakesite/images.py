"""Images for the fake site, generated in memory with Pillow (no binary fixtures)."""

from __future__ import annotations

import functools
import random
import struct
import zlib
from io import BytesIO

from PIL import Image, ImageDraw

CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
}


def make_image(
    width: int,
    height: int,
    fmt: str = "jpeg",
    *,
    seed: int = 0,
    detail: bool = False,
    exif_orientation: int | None = None,
    quality: int = 85,
) -> bytes:
    """A deterministic picture of ``width`` x ``height`` stored pixels.

    ``detail=True`` adds noise so JPEGs weigh what real photos weigh (tens to
    hundreds of KB); ``exif_orientation`` writes that EXIF tag (6 = rotated 90°,
    so a browser shows it ``height`` x ``width``).
    """
    rng = random.Random(seed)
    base = tuple(rng.randrange(40, 220) for _ in range(3))
    img = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = (
            min(width, x0 + rng.randrange(1, width)),
            min(height, y0 + rng.randrange(1, height)),
        )
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    if detail:
        noise = Image.effect_noise((width, height), 48).convert("RGB")
        img = Image.blend(img, noise, 0.35)
    out = BytesIO()
    kwargs: dict[str, object] = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    if fmt == "jpeg":
        img.save(out, "JPEG", quality=quality, **kwargs)
    elif fmt == "png":
        img.save(out, "PNG", **kwargs)
    elif fmt == "gif":
        img.convert("P").save(out, "GIF")
    elif fmt == "webp":
        img.save(out, "WEBP", quality=quality, **kwargs)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return out.getvalue()


@functools.lru_cache(maxsize=4)
def png_bomb(width: int = 30000, height: int = 30000, *, valid: bool = False) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels.

    By default its single IDAT chunk is a few bytes of a compressed, all-zero
    stream: only a decoder would notice that it is short.  ``valid=True``
    makes the whole 1-bit image (about 110 KB for 30000x30000): a decoder
    would then really allocate ``width * height`` bytes, which is what a
    test that "nothing decodes" needs to be meaningful.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1 if valid else 8, 0, 0, 0, 0)
    if valid:
        packer = zlib.compressobj(9)
        row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed bits
        idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    else:
        idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]
