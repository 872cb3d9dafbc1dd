"""Hostile article pages: deleted, failing, empty, huge, oddly encoded, redirected.

Each bad page gives one clear line and a stat; the other articles of the same
crawl are all written.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from fakesite.server import NO_SUCH_KEY, FakeServer
from fakesite.site import FakeSite, Fault, build_site, redirect
from tests.conftest import run_crawl
from tests.hostile import (
    assert_clean_run,
    assert_written,
    image_line,
    image_rows,
    log_lines,
    one_line,
    stat,
)

pytestmark = pytest.mark.e2e

HTML = {"Content-Type": "text/html"}


def articles(site: FakeSite) -> list[str]:
    return sorted(site.articles)


def test_deleted_pages_in_every_form(tmp_path: Path) -> None:
    site = build_site(5, images_per_article=1)
    gone_404, gone_key, gone_key_403, gone_key_500, kept = articles(site)
    site.articles[gone_404].mode = "deleted"
    site.articles[gone_key].mode = "nosuchkey"
    xml = {"Content-Type": "application/xml"}
    site.faults[site.articles[gone_key_403].page_path] = Fault(403, NO_SUCH_KEY, xml, times=9)
    site.faults[site.articles[gone_key_500].page_path] = Fault(500, NO_SUCH_KEY, xml, times=9)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
    assert_clean_run(result)
    assert_written(result, [kept])
    one_line(result, f"article {gone_404} was deleted at the source (404)")
    for qupost_id in (gone_key, gone_key_403, gone_key_500):
        one_line(result, f"article {qupost_id} was deleted at the source (NoSuchKey)")
    assert stat(result, "qupost/articles/deleted") == 4


def test_5xx_and_timeouts_are_retried_then_reported(tmp_path: Path) -> None:
    site = build_site(4, images_per_article=1)
    healed, broken, slow, plain = articles(site)
    site.faults[site.articles[healed].page_path] = Fault(status=503, times=1)
    site.faults[site.articles[broken].page_path] = Fault(status=500, times=99)
    site.faults[site.articles[slow].page_path] = Fault(200, b"", HTML, delay=2.5, times=99)
    slow_image = next(p[1] for p in site.articles[plain].body if p[0] == "img")
    site.faults[slow_image] = Fault(200, b"", {"Content-Type": "image/jpeg"}, delay=2.5, times=99)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1", RETRY_TIMES=2, DOWNLOAD_TIMEOUT=1)
        broken_hits = site.requests_to(site.articles[broken].page_path)
        slow_hits = site.requests_to(site.articles[slow].page_path)
        image_url = f"{server.base_url}{slow_image}"
    assert_clean_run(result)
    assert_written(result, [healed, plain])
    assert broken_hits == 3 and slow_hits == 3
    assert one_line(result, f"article {broken}: could not fetch").endswith(": HTTP 500")
    assert one_line(result, f"article {slow}: could not fetch").endswith(
        "timed out (DOWNLOAD_TIMEOUT)"
    )
    assert stat(result, "qupost/articles/failed/http_500") == 1
    assert stat(result, "qupost/articles/failed/timeout") == 1
    assert not log_lines(result, f"article {healed}:")
    # The image that timed out: the post keeps its origin, the catalog says why.
    assert "image not stored (timed out (DOWNLOAD_TIMEOUT))" in image_line(result, image_url)
    assert image_rows(result)[image_url][:2] == ("failed", "timed out (DOWNLOAD_TIMEOUT)")
    assert stat(result, "qupost/images/failed/timeout") == 1


def test_missing_content_falls_back_and_empty_everywhere_fails(tmp_path: Path) -> None:
    site = build_site(4, images_per_article=1)
    no_content, empty_page, empty_everywhere, plain = articles(site)
    site.articles[no_content].mode = "detail"
    site.faults[site.articles[empty_page].page_path] = Fault(200, b"", HTML)
    gone = site.articles[empty_everywhere]
    gone.mode = "jsonp"  # no detail_url in the list: page, then JSONP
    site.faults[gone.page_path] = Fault(200, b"", HTML)
    n = int(gone.id)
    jsonp = f"/detail/jsonp/{-(-n // 1000)}/{-(-n // 100)}/{-(-n // 10)}/{n}.js"
    site.faults[jsonp] = Fault(200, b"", {"Content-Type": "application/javascript"})
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
    assert_clean_run(result)
    assert_written(result, [no_content, empty_page, plain])
    for qupost_id in (no_content, empty_page):
        _, body = result.post(qupost_id)
        assert "第1段" in body
    line = one_line(result, f"article {empty_everywhere}: no body on page, detail or JSONP")
    assert "empty" in line
    assert stat(result, "qupost/articles/failed/empty") == 1
    assert stat(result, "qupost/articles/fallback/detail") == 3


def test_gbk_page_declared_only_in_meta(tmp_path: Path) -> None:
    site = build_site(1, images_per_article=0)
    article = next(iter(site.articles.values()))
    article.charset = "gbk"
    article.title = "国务院：加快推进“十四五”规划"
    article.body = [("p", "正文里的汉字与全角标点，！？")]
    with FakeServer(site) as server:
        url = f"{server.base_url}{article.page_path}"
        result = run_crawl(server, tmp_path, f"url={url}")
        served = site.page_html(article)
    assert served.decode("gbk")  # really GBK bytes, not UTF-8
    assert b"\xe5\x9b\xbd" not in served
    assert_clean_run(result)
    matter, body = result.post(article.id)
    assert matter["title"] == "国务院：加快推进“十四五”规划"
    assert "正文里的汉字与全角标点，！？" in body


def test_huge_page_over_download_maxsize(tmp_path: Path) -> None:
    site = build_site(2, images_per_article=1)
    huge, plain = articles(site)
    padding = b"<p>" + "很长".encode() * 400_000 + b"</p>"
    site.faults[site.articles[huge].page_path] = Fault(200, padding, HTML, times=9)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1", DOWNLOAD_MAXSIZE=1_000_000)
    assert_clean_run(result)
    assert_written(result, [plain])
    line = one_line(result, f"article {huge}: could not fetch")
    assert line.endswith("larger than DOWNLOAD_MAXSIZE")
    assert stat(result, "qupost/articles/failed/too_large") == 1


def test_gzip_bomb_page_is_too_large_in_one_line(tmp_path: Path) -> None:
    site = build_site(2, images_per_article=1)
    bomb, plain = articles(site)
    # 20 MB of zeros compress to about 20 KB: small on the wire, huge once decoded.
    body = gzip.compress(b"<p>" + b"0" * 20_000_000 + b"</p>")
    headers = {**HTML, "Content-Encoding": "gzip"}
    site.faults[site.articles[bomb].page_path] = Fault(200, body, headers, times=9)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1", DOWNLOAD_MAXSIZE=1_000_000)
    assert_clean_run(result)
    assert_written(result, [plain])
    line = one_line(result, f"article {bomb}: could not fetch")
    assert line.endswith("larger than DOWNLOAD_MAXSIZE once decompressed")
    assert stat(result, "qupost/articles/failed/too_large") == 1


def test_redirects_stay_on_allowed_public_hosts(tmp_path: Path) -> None:
    site = build_site(5, images_per_article=1)
    offsite, private, scheme, same_host, plain = articles(site)
    pages = {i: site.articles[i].page_path for i in site.articles}
    with FakeServer(site) as server, FakeServer(FakeSite(), host="127.0.0.2") as other:
        site.faults[pages[offsite]] = redirect("http://evil.example/steal")
        site.faults[pages[private]] = redirect(f"{other.base_url}/admin", status=301)
        site.faults[pages[scheme]] = redirect("file:///etc/passwd", status=307)
        # A redirect back to the same host is an ordinary move and is followed.
        site.faults[pages[same_host]] = redirect(f"{pages[same_host]}?moved=1", times=1)
        result = run_crawl(server, tmp_path, "cid=1")
        seen_by_other = list(other.site.log)
    assert_clean_run(result)
    assert_written(result, [same_host, plain])
    assert seen_by_other == []
    expected = {
        offsite: "evil.example is not an allowed domain",
        private: "127.0.0.2 is a private, loopback or link-local address",
        scheme: "scheme 'file' is not http(s)",
    }
    for qupost_id, reason in expected.items():
        line = one_line(result, f"article {qupost_id}: could not fetch")
        assert "redirect to" in line and reason in line
    assert stat(result, "qupost/refused_redirect") == 3
    assert stat(result, "qupost/articles/failed/offsite") == 1
    assert stat(result, "qupost/articles/failed/private") == 1
    assert stat(result, "qupost/articles/failed/scheme") == 1
