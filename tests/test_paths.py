"""Paths: no input makes qupost write outside QUPOST_SOURCE_DIR and IMAGES_STORE.

Post names come from the article id, image names from a hash of the URL and
the *measured* format; neither takes a title, a URL path or an extension from
the source.  Every name is also safe on Windows and macOS.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.pages import parse_list
from crawler.urls import article_id_from_url, is_valid_id
from fakesite.images import make_image
from fakesite.server import FakeServer
from fakesite.site import build_site
from pipelines.images import FORMATS, image_path
from storage.hexo import post_path
from tests.conftest import run_crawl
from tests.hostile import assert_clean_run, files_under

WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.I)
WINDOWS_FORBIDDEN = set('<>:"\\|?*') | {chr(c) for c in range(32)}
IMAGE_PATH = re.compile(
    r"(?:20[0-9]{2}/[0-9]{2}/[0-9]{2}|undated)/[0-9a-f]{40}\.(?:jpeg|png|gif|webp)"
)


def portable(name: str) -> bool:
    """A file or folder name every common file system accepts unchanged."""
    return (
        0 < len(name.encode()) <= 255
        and not (set(name) & WINDOWS_FORBIDDEN)
        and not name.endswith((".", " "))
        and not WINDOWS_RESERVED.match(name)
        and name.isascii()
    )


HOSTILE_URLS = [
    "http://static.1sapp.com/qupost/img/2021/12/04/a.jpeg",
    "http://static.1sapp.com/../../../../etc/passwd",
    "http://static.1sapp.com/qupost/img/2021/12/04/..%2f..%2f..%2fescape.jpeg",
    "http://static.1sapp.com/%2e%2e/%2e%2e/x.php",
    "http://static.1sapp.com/a\\..\\..\\windows\\win.ini",
    "http://static.1sapp.com/CON.jpeg",
    "http://static.1sapp.com/x.jpeg?name=../../../a.png#../../b",
    "http://static.1sapp.com/" + "长" * 300 + ".jpeg",
    "http://static.1sapp.com/2099/99/99/x.jpeg",
    "http://static.1sapp.com/20١٢/12/04/x.jpeg",  # Arabic-Indic digits in the date
    "http://static.1sapp.com/evil.jpeg%00.php",
    "http://[::1]/x.exe",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
@pytest.mark.parametrize("fmt", sorted(FORMATS.values()))
def test_image_paths_stay_inside_the_store(url: str, fmt: str, tmp_path: Path) -> None:
    relative = image_path(url, fmt)
    assert IMAGE_PATH.fullmatch(relative), relative
    assert all(portable(part) for part in PurePosixPath(relative).parts)
    store = (tmp_path / "store").resolve()
    assert (store / relative).resolve().is_relative_to(store)


@given(st.text(max_size=300), st.sampled_from(sorted(FORMATS.values())))
@settings(max_examples=300, deadline=None)
def test_any_url_gives_a_safe_image_path(url: str, fmt: str) -> None:
    relative = image_path(url, fmt)
    assert IMAGE_PATH.fullmatch(relative), relative


@pytest.mark.parametrize(
    "qupost_id",
    ["../1", "1/../../x", "/etc/passwd", "1\x00", "CON", "", "1" * 21, "1.md", "-1", "1 "],
)
def test_unsafe_ids_never_become_post_paths(qupost_id: str) -> None:
    # The crawl never lets such an id through, and the writer refuses it anyway.
    assert not is_valid_id(qupost_id)
    with pytest.raises(ValueError, match="unsafe post id"):
        post_path(Path("/srv/blog/source"), qupost_id)


@pytest.mark.parametrize("qupost_id", ["０１", "١٢٣", "१२"])
def test_unicode_digits_are_not_ids(qupost_id: str) -> None:
    # Python's \d accepts these; the crawl does not, so no post is named with them.
    assert not is_valid_id(qupost_id)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
@settings(max_examples=300, deadline=None)
def test_post_paths_never_leave_posts(qupost_id: str) -> None:
    root = Path("/srv/blog/source")
    try:
        path = post_path(root, qupost_id)
    except ValueError:
        return
    assert path.parent == root / "_posts"
    assert portable(path.name) or not is_valid_id(qupost_id)


@pytest.mark.parametrize(
    "url",
    [
        "http://html2.qktoutiao.com/detail/2021/12/04/../../../../1638625001.html",
        "http://html2.qktoutiao.com/detail/2021/12/04/%2e%2e%2f1638625001.html",
        "http://html2.qktoutiao.com/detail/2021/12/04/١٦٣٨.html",
    ],
)
def test_ids_from_urls_are_ascii_digits(url: str) -> None:
    found = article_id_from_url(url)
    assert found is None or (found.isascii() and found.isdigit())


def test_list_ids_are_ascii_digits() -> None:
    body = (
        b'{"code":0,"data":{"data":['
        b'{"id":"..\\/..\\/1","url":"http:\\/\\/a.qktoutiao.com\\/detail\\/1.html"},'
        b'{"id":"\\u0661\\u0662","url":"http:\\/\\/a.qktoutiao.com\\/detail\\/12.html"},'
        b'{"id":"12","url":"http:\\/\\/a.qktoutiao.com\\/detail\\/12.html"}]}}'
    )
    listing = parse_list(body)
    assert [e.qupost_id for e in listing.entries] == ["12"]
    assert listing.skipped == {"invalid": 2}


@pytest.mark.e2e
def test_a_hostile_crawl_writes_only_under_its_two_roots(tmp_path: Path) -> None:
    site = build_site(3, images_per_article=1)
    articles = [site.articles[i] for i in sorted(site.articles)]
    articles[0].title = "../../../../tmp/owned"
    articles[1].title = "C:\\Windows\\System32\\drivers\\etc\\hosts"
    articles[2].title = "/etc/cron.d/qupost"
    hostile_images = {
        "/qupost/img/2021/12/04/..%2f..%2f..%2f..%2fowned.jpeg": "png",
        "/qupost/img/2021/12/04/%2e%2e/%2e%2e/x.php": "gif",
        "/qupost/img/2021/12/04/shell.exe": "jpeg",
        "/qupost/img/2021/12/04/CON": "webp",
        "/qupost/img/2021/12/04/a.jpeg;rm-rf": "jpeg",
    }
    for path, fmt in hostile_images.items():
        site.add_image(path, 1, 1, data=make_image(20, 10, fmt))
        articles[0].body.append(("img", path, "20,10"))
    canary = tmp_path / "canary"
    canary.mkdir()
    source = canary / "blog" / "source"
    store = canary / "elsewhere" / "images"
    with FakeServer(site) as server:
        site.extra_rows[1] = [
            {"id": "../../x", "url": f"{server.base_url}{articles[0].page_path}"},
            {"id": "1/../../../y", "url": f"{server.base_url}{articles[1].page_path}"},
        ]
        result = run_crawl(
            server,
            tmp_path,
            "cid=1",
            QUPOST_SOURCE_DIR=str(source),
            IMAGES_STORE=str(store),
            QUPOST_IMAGE_URL_BASE="/img/",
        )
    assert_clean_run(result)
    posts = source / "_posts"
    written = files_under(canary)
    assert sorted(p.name for p in written if p.parent == posts) == sorted(
        f"qupost-{a.id}.md" for a in articles
    )
    images = [p for p in written if p.parent != posts]
    assert images and all(p.is_relative_to(store) for p in images), written
    for image in images:
        relative = image.relative_to(store).as_posix()
        assert IMAGE_PATH.fullmatch(relative), relative
        assert all(portable(part) for part in image.relative_to(canary).parts)
    # Every hostile image was stored once, under its measured format.
    assert sorted(p.suffix for p in images) == sorted([".png", ".gif", ".webp"] + [".jpeg"] * 5)
    # Nothing at all outside the two roots and the catalog.
    outside = [
        p
        for p in files_under(tmp_path)
        if not p.is_relative_to(canary) and not p.name.startswith("qupost.db")
    ]
    assert outside == []
