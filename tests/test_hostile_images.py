"""Hostile images: wrong bodies, bombs, oversize files and hosts that may not be fetched.

In every case the post is still written, the ``<img>`` keeps its origin URL
(behind the proxy in proxy mode) and the page's declared ``data-size``, the
failure and its reason are in the ``images`` table, and there is one log line
and one stat per image.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile

from fakesite.images import make_image, png_bomb, truncated
from fakesite.server import FakeServer
from fakesite.site import FakeArticle, FakeSite, build_site
from pipelines.images import ImageFailed, measure_image
from tests.conftest import ROOT, run_crawl
from tests.hostile import (
    assert_clean_run,
    assert_written,
    image_line,
    image_rows,
    images_in,
    stat,
)

DAY = "2021/12/04"
DECLARED = "5,6"


def bmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "BMP")
    return out.getvalue()


# name -> (bytes, content type, reason fragment, stat kind); None bytes = not served
BAD_IMAGES: dict[str, tuple[bytes | None, str, str, str]] = {
    "missing.jpeg": (None, "", "HTTP 404", "http_404"),
    "page.jpeg": (
        b"<!DOCTYPE html><html><body>404</body></html>",
        "text/html",
        "not an image",
        "not_an_image",
    ),
    "empty.jpeg": (b"", "image/jpeg", "empty body", "empty_body"),
    "bitmap.jpeg": (bmp(), "image/bmp", "unsupported image format", "unsupported_image_format"),
    "vector.svg": (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        b"<script>alert(2)</script></svg>",
        "image/svg+xml",
        "SVG is not stored",
        "svg",
    ),
    "huge.jpeg": (
        make_image(1500, 1500, detail=True),
        "image/jpeg",
        "larger than DOWNLOAD_MAXSIZE",
        "too_large",
    ),
    "bomb.png": (
        png_bomb(valid=True),
        "image/png",
        "too many pixels (30000x30000)",
        "too_many_pixels",
    ),
}
OFFSITE = "http://evil.example/qupost/img/2021/12/04/stolen.jpeg"


def hostile_site() -> tuple[FakeSite, FakeArticle, FakeArticle]:
    site = build_site(2, images_per_article=1)
    hostile, plain = (site.articles[i] for i in sorted(site.articles))
    for name, (data, ctype, _, _) in BAD_IMAGES.items():
        if data is not None:
            site.add_image(f"/qupost/img/{DAY}/{name}", 1, 1, data=data, content_type=ctype)
        hostile.body.append(("img", f"/qupost/img/{DAY}/{name}", DECLARED))
    site.add_image(f"/qupost/img/{DAY}/cut.jpeg", 1, 1, data=truncated(make_image(300, 200), 0.4))
    hostile.body.append(("img", f"/qupost/img/{DAY}/cut.jpeg", DECLARED))
    hostile.extra_content_html = f'<p><img data-src="{OFFSITE}" data-size="{DECLARED}"></p>'
    hostile.cover = f"/qupost/img/{DAY}/missing-cover.jpeg"
    return site, hostile, plain


@pytest.mark.e2e
def test_every_bad_image_keeps_its_origin_and_is_recorded(tmp_path: Path) -> None:
    site, hostile, plain = hostile_site()
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1", DOWNLOAD_MAXSIZE=200_000)
        base = server.base_url
    assert_clean_run(result)
    assert_written(result, [hostile.id, plain.id])
    rows = image_rows(result)
    matter, body = result.post(hostile.id)
    sources = {img.get("src"): img for img in images_in(body)}
    for name, (_, _, reason, kind) in BAD_IMAGES.items():
        origin = f"{base}/qupost/img/{DAY}/{name}"
        status, recorded, path = rows[origin]
        assert (status, path) == ("failed", None), name
        assert recorded is not None and reason in recorded, (name, recorded)
        assert origin in sources, (name, list(sources))
        assert sources[origin].get("data-size") == DECLARED
        assert sources[origin].get("referrerpolicy") == "no-referrer"
        assert f"image not stored ({reason}" in image_line(result, origin), name
        also_cover = 1 if kind == "http_404" else 0
        assert stat(result, f"qupost/images/failed/{kind}") == 1 + also_cover, kind
    # A host outside QUPOST_ALLOWED_DOMAINS is never contacted.
    assert rows[OFFSITE][:2] == ("failed", "not fetched: evil.example is not an allowed domain")
    assert sources[OFFSITE].get("data-size") == DECLARED
    assert stat(result, "qupost/images/failed/offsite") == 1
    # A truncated file whose header reads may be stored or refused; it never crashes.
    assert rows[f"{base}/qupost/img/{DAY}/cut.jpeg"][0] in ("stored", "failed")
    # The cover failed too: no cover keys, never a broken URL.
    assert rows[f"{base}/qupost/img/{DAY}/missing-cover.jpeg"][:2] == ("failed", "HTTP 404")
    first_stored = next(img.get("src") for img in images_in(body) if img.get("src").startswith("/"))
    assert matter["headimg"] == first_stored
    assert stat(result, "qupost/images/failed") == len(BAD_IMAGES) + 2
    # The other article is untouched.
    _, plain_body = result.post(plain.id)
    assert all(img.get("src").startswith("/images/qupost/") for img in images_in(plain_body))
    # Nothing failed was stored: only real images are in the images folder.
    stored = sorted(p.suffix for p in (result.source / "images" / "qupost").rglob("*.*"))
    assert set(stored) <= {".jpeg", ".png"} and ".svg" not in stored


@pytest.mark.e2e
def test_pixel_cap_decides_and_proxy_mode_keeps_the_origin(tmp_path: Path) -> None:
    site = FakeSite()
    site.add_image(f"/qupost/img/{DAY}/bomb.png", 1, 1, data=png_bomb(valid=True))
    article = site.add_article(
        FakeArticle(
            id="1638625500",
            title="像素炸弹",
            published=datetime(2021, 12, 4, 5, 0, tzinfo=UTC),
            body=[
                ("p", "正文"),
                ("img", f"/qupost/img/{DAY}/bomb.png", DECLARED),
                ("img", f"/qupost/img/{DAY}/absent.jpeg", DECLARED),
            ],
        )
    )
    proxy = "https://cors.example.workers.dev/?"
    with FakeServer(site) as server:
        base = server.base_url
        capped = run_crawl(
            server,
            tmp_path / "capped",
            "cid=1",
            QUPOST_IMAGE_MODE="proxy",
            QUPOST_IMAGE_PROXY=proxy,
            QUPOST_IMAGE_MAX_PIXELS=100_000_000,
        )
        uncapped = run_crawl(
            server,
            tmp_path / "uncapped",
            "cid=1",
            QUPOST_IMAGE_MODE="proxy",
            QUPOST_IMAGE_PROXY=proxy,
            QUPOST_IMAGE_MAX_PIXELS=0,
        )
    bomb = f"{base}/qupost/img/{DAY}/bomb.png"
    absent = f"{base}/qupost/img/{DAY}/absent.jpeg"
    for result in (capped, uncapped):
        assert_clean_run(result)
        assert_written(result, [article.id])
        _, body = result.post(article.id)
        sizes = {img.get("src"): img.get("data-size") for img in images_in(body)}
        assert sizes[proxy + absent] == DECLARED
        assert image_rows(result)[absent][:2] == ("failed", "HTTP 404")
    capped_sizes = {i.get("src"): i.get("data-size") for i in images_in(capped.post(article.id)[1])}
    assert capped_sizes[proxy + bomb] == DECLARED
    assert image_rows(capped)[bomb][:2] == ("failed", "too many pixels (30000x30000)")
    assert "image not stored (too many pixels (30000x30000))" in image_line(capped, bomb)
    # With the cap off the bomb is stored as-is, measured from its header only.
    matter, body = uncapped.post(article.id)
    sizes = {img.get("src"): img.get("data-size") for img in images_in(body)}
    assert sizes[proxy + bomb] == "30000,30000"
    assert image_rows(uncapped)[bomb][0] == "stored"
    assert matter["headimg"] == proxy + bomb
    stored = next((uncapped.source / "images" / "qupost").rglob("*.png"))
    assert stored.read_bytes() == png_bomb(valid=True)
    # No crawl of this test (or before it) came near the 900 MB a decode needs.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib < 600 * 1024, peak_kib


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        calls.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    yield calls


@pytest.mark.parametrize("cap", [0, 50_000_000])
def test_the_bomb_is_never_decoded_and_memory_stays_flat(decodes: list[str], cap: int) -> None:
    data = png_bomb(valid=True)
    tracemalloc.start()
    try:
        if cap:
            with pytest.raises(ImageFailed, match=r"too many pixels \(30000x30000\)"):
                measure_image(data, cap)
        else:
            assert measure_image(data, cap).width == 30000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decodes == []
    assert peak < 2 * 1024 * 1024, peak


MEASURE_IN_A_FRESH_PROCESS = """
import json, resource, sys
from fakesite.images import png_bomb
from pipelines.images import measure_image
data = png_bomb(valid=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
info = measure_image(data, 0)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_kib": after - before, "size": [info.width, info.height]}))
"""


def test_measuring_the_bomb_keeps_resident_memory_flat() -> None:
    # ru_maxrss sees Pillow's C allocations, which tracemalloc does not.
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE_IN_A_FRESH_PROCESS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(proc.stdout)
    assert report["size"] == [30000, 30000]
    assert report["grew_kib"] < 20 * 1024, report


@pytest.mark.e2e
def test_image_redirects_are_followed_checked_and_bounded(tmp_path: Path) -> None:
    from fakesite.site import Fault, redirect

    site = build_site(1, images_per_article=0)
    article = next(iter(site.articles.values()))
    img = f"/qupost/img/{DAY}"
    site.add_image(f"{img}/real.jpeg", 64, 48)
    for name in ("moved.jpeg", "loop-a.jpeg", "chain-0.jpeg"):
        article.body.append(("img", f"{img}/{name}", DECLARED))
    with FakeServer(site) as server:
        base = server.base_url
        # A moved file (301 then 302): followed; a loop and a chain of 7 hops: refused.
        site.faults[f"{img}/moved.jpeg"] = redirect(f"{base}{img}/moved-again.jpeg", 301)
        site.faults[f"{img}/moved-again.jpeg"] = redirect(f"{img}/real.jpeg", 302)
        site.faults[f"{img}/loop-a.jpeg"] = redirect(f"{base}{img}/loop-b.jpeg")
        site.faults[f"{img}/loop-b.jpeg"] = redirect(f"{base}{img}/loop-a.jpeg")
        for hop in range(7):
            site.faults[f"{img}/chain-{hop}.jpeg"] = redirect(f"{base}{img}/chain-{hop + 1}.jpeg")
        site.faults[f"{img}/chain-7.jpeg"] = Fault(status=200, body=make_image(8, 8), times=9)
        result = run_crawl(server, tmp_path, "cid=1")
        real_fetches = site.counts.get(f"{img}/real.jpeg", 0)
    assert_clean_run(result)
    rows = image_rows(result)
    moved = f"{base}{img}/moved.jpeg"
    status, _, path = rows[moved]
    # Stored and named by the URL the article used, with the final file's bytes.
    assert status == "stored" and path is not None
    assert (result.source / "images" / "qupost" / path).read_bytes() == site.images[
        f"{img}/real.jpeg"
    ].data
    assert real_fetches == 1
    assert f"{base}{img}/real.jpeg" not in rows
    _, body = result.post(article.id)
    sources = {img_el.get("src"): img_el for img_el in images_in(body)}
    assert sources[f"/images/qupost/{path}"].get("data-size") == "64,48"
    loop = rows[f"{base}{img}/loop-a.jpeg"]
    assert loop[0] == "failed" and "redirect loop" in str(loop[1])
    chain = rows[f"{base}{img}/chain-0.jpeg"]
    assert chain[:2] == ("failed", "more than REDIRECT_MAX_TIMES redirects")
    for url in (f"{base}{img}/loop-a.jpeg", f"{base}{img}/chain-0.jpeg"):
        assert "image not stored" in image_line(result, url)
    assert stat(result, "qupost/images/failed/redirect_loop") == 1
    assert stat(result, "qupost/images/failed/redirects") == 1
