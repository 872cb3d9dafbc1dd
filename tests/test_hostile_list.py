"""Hostile list API answers: broken envelopes, 5xx, timeouts and rows that lie.

Each bad channel or row gives one clear line and a stat, and every other
channel's articles are still written.
"""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from scrapy import Request

from crawler.failures import ROBOTS_LOGGER, OneLineRobotsErrors
from crawler.pages import parse_list
from fakesite.server import FakeServer
from fakesite.site import FakeArticle, FakeSite, Fault, build_site
from tests.conftest import run_crawl
from tests.hostile import assert_clean_run, assert_written, log_lines, one_line, stat

pytestmark = pytest.mark.e2e

BROKEN_BODIES = {
    6: ('{"code": -1, "message": "系统繁忙"}'.encode(), "api_error"),
    7: (b'{"code": 0, "data": {"data": [{"id": "1"', "bad_json"),
    8: (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "not_json"),
    10: (b"", "empty"),
    9: (b'{"code": 0, "data": "maintenance"}', "bad_envelope"),
}


def sites_per_channel(channels: tuple[int, ...]) -> FakeSite:
    """Two articles in every channel, so a lost channel shows as missing posts."""
    return build_site(2 * len(channels), channels=channels, images_per_article=1)


def ids_in(site: FakeSite, channel: int) -> set[str]:
    return {i for i, a in site.articles.items() if channel in a.channels}


def test_bad_list_bodies_lose_only_their_channel(tmp_path: Path) -> None:
    channels = (1, *BROKEN_BODIES)
    site = sites_per_channel(channels)
    for cid, (body, _) in BROKEN_BODIES.items():
        site.channel_faults[cid] = Fault(
            status=200, body=body, headers={"Content-Type": "application/json"}
        )
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, f"cid={','.join(map(str, channels))}")
    assert_clean_run(result)
    assert_written(result, ids_in(site, 1))
    for cid, (_, reason) in BROKEN_BODIES.items():
        line = one_line(result, f"channel {cid} page 1: list API unusable")
        assert f"{reason}:" in line and "ERROR" in line
        assert stat(result, f"qupost/list/error/{reason}") == 1, reason
    assert stat(result, "qupost/list/pages") == 1


def test_5xx_and_timeouts_are_retried_then_reported(tmp_path: Path) -> None:
    site = sites_per_channel((1, 6, 7, 8))
    site.channel_faults[6] = Fault(status=503, times=100)
    site.channel_faults[7] = Fault(status=200, body=b"{}", delay=2.5, times=100)
    site.channel_faults[8] = Fault(status=502, times=1)  # one retry heals it
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1,6,7,8", DOWNLOAD_TIMEOUT=1, RETRY_TIMES=2)
        attempts = {
            cid: sum(1 for path, _ in site.log if path.startswith(f"/content/outList?cid={cid}&"))
            for cid in (6, 7, 8)
        }
    assert_clean_run(result)
    assert_written(result, ids_in(site, 1) | ids_in(site, 8))
    assert attempts == {6: 3, 7: 3, 8: 2}
    assert one_line(result, "channel 6 page 1: list API unusable").endswith("HTTP 503")
    assert "timed out" in one_line(result, "channel 7 page 1: list API unusable")
    assert not log_lines(result, "channel 8 page 1: list API unusable")
    assert stat(result, "qupost/list/error/http_503") == 1
    assert stat(result, "qupost/list/error/timeout") == 1
    assert stat(result, "retry/count") >= 5


def test_every_channel_broken_exits_2_with_a_line_per_channel(tmp_path: Path) -> None:
    site = sites_per_channel((1, 6))
    site.channel_faults[1] = Fault(status=200, body=b"null")
    site.channel_faults[6] = Fault(status=200, body=b'{"code": "403"}')
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1,6")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    one_line(result, "channel 1 page 1: list API unusable: bad_envelope")
    one_line(result, "channel 6 page 1: list API unusable: api_error")
    assert result.post_files() == []


def hostile_rows(base: str, good: FakeArticle) -> list[object]:
    url = f"{base}{good.page_path}"
    return [
        {"title": "no id, no url"},  # the shape of an ad row
        {"id": "1638699001", "title": "no url"},
        {"url": f"{base}/detail/2021/12/04/1638699002.html", "title": "no id"},
        {"id": "abc", "url": url},
        {"id": "../1", "url": url},
        {"id": "1/../../../etc/passwd", "url": url},
        {"id": "١٢٣٤", "url": url},  # Unicode digits are not an id
        {"id": "9" * 30, "url": url},
        {"id": True, "url": url},
        {"id": -5, "url": url},
        {"id": "1638699003", "url": "javascript:alert(1)"},
        {"id": "1638699004", "url": "file:///etc/passwd"},
        {"id": "1638699005", "url": "http://[::1"},
        {"id": "1638699006", "url": "http://x/\u0000.html"},
        ["not", "an", "object"],
        None,
        # The same article twice on one page: kept once.
        {"id": good.id, "url": url, "title": good.title},
        # An article on a host outside QUPOST_ALLOWED_DOMAINS, and one on a
        # metadata address: listed, but never fetched.
        {"id": "1638699007", "url": "http://evil.example/detail/2021/12/04/1638699007.html"},
        {"id": "1638699008", "url": "http://169.254.169.254/detail/2021/12/04/1638699008.html"},
    ]


def test_hostile_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    site = build_site(3, channels=(1,), images_per_article=1)
    first, second, third = (site.articles[i] for i in sorted(site.articles))
    # The third article is listed under channel 6 as well: one fetch, two tags.
    third.channels = [1, 6]
    with FakeServer(site) as server:
        site.extra_rows[1] = hostile_rows(server.base_url, first)
        result = run_crawl(server, tmp_path, "cid=1,6")
        page_hits = {a.id: site.counts[a.page_path] for a in (first, second, third)}
        bad_hits = site.requests_to("/detail/2021/12/04/16386990")
    assert_clean_run(result)
    assert_written(result, {first.id, second.id, third.id})
    assert page_hits == {first.id: 1, second.id: 1, third.id: 1}
    assert bad_hits == 0
    line = one_line(result, "channel 1 page 1: skipped 15 row(s) without a usable id and URL")
    assert "'../1'" in line and "'abc'" in line
    assert stat(result, "qupost/list/skipped/invalid") == 15
    assert stat(result, "qupost/list/skipped/ad") >= 1
    one_line(result, "channel 1 page 1: skipped 1 duplicated row(s)")
    assert stat(result, "qupost/list/skipped/duplicate") == 1
    assert "evil.example is not an allowed domain" in one_line(result, "article 1638699007")
    assert "169.254.169.254 is a private" in one_line(result, "article 1638699008")
    assert stat(result, "qupost/articles/failed/offsite") == 1
    assert stat(result, "qupost/articles/failed/private") == 1
    matter, _ = result.post(third.id)
    assert matter["tags"] == ["热点", "娱乐"]
    # Nothing but the three posts was written anywhere under the source tree.
    assert sorted(p.name for p in (result.source / "_posts").iterdir()) == sorted(
        f"qupost-{i}.md" for i in (first.id, second.id, third.id)
    )


@pytest.mark.parametrize(
    ("row_id", "valid"),
    [
        ("1638600000", True),
        (1638600000, True),
        ("../1638600000", False),
        ("1638600000/..", False),
        ("１２３", False),  # full-width digits
        ("123\n", True),  # surrounding whitespace is trimmed
        ("12 3", False),
        ("", False),
        ("0x10", False),
        (1.5, False),
        ({"id": 1}, False),
    ],
)
def test_row_ids_are_ascii_digits_only(row_id: object, valid: bool) -> None:
    row = {"id": row_id, "url": "http://html2.qktoutiao.com/detail/2021/12/04/1.html"}
    listing = parse_list(_envelope([row]))
    assert bool(listing.entries) is valid
    if valid:
        assert listing.entries[0].qupost_id.isascii()


def _envelope(rows: list[object]) -> bytes:
    import json

    now = int(datetime(2021, 12, 4, tzinfo=UTC).timestamp() * 1000)
    return json.dumps({"code": 0, "data": {"min_time": now, "data": rows}}).encode()


def test_unreachable_site_with_robots_txt_on_is_one_line_per_cause(tmp_path: Path) -> None:
    # The polite default obeys robots.txt; Scrapy's robots.txt middleware
    # would log an unreachable host with two screens of traceback.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = SimpleNamespace(list_api=f"http://127.0.0.1:{port}/content/outList")
    result = run_crawl(
        closed, tmp_path, "cid=1", QUPOST_PROFILE="", ROBOTSTXT_OBEY=True, RETRY_TIMES=0
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    line = one_line(result, f"robots.txt of 127.0.0.1:{port} unusable")
    assert line.endswith("(connection refused); crawling it as if it allowed everything")
    one_line(result, "channel 1 page 1: list API unusable: connection refused")


def _robots_record(msg: str, error: BaseException | None) -> logging.LogRecord:
    exc_info = (type(error), error, None) if error is not None else None
    return logging.LogRecord(
        ROBOTS_LOGGER, logging.ERROR, __file__, 1, msg,
        {"request": Request("http://example.com/a"), "f_exception": error}, exc_info,
    )  # fmt: skip


def test_robots_filter_rewrites_only_the_download_error() -> None:
    robots_filter = OneLineRobotsErrors()
    failed = _robots_record("Error downloading %(request)s: %(f_exception)s", TimeoutError("x"))
    assert robots_filter.filter(failed)
    assert failed.exc_info is None
    assert failed.getMessage().startswith("robots.txt of example.com unusable (")
    other = _robots_record("Something else: %(request)s", ValueError("kept"))
    assert robots_filter.filter(other)
    assert other.exc_info is not None and other.msg == "Something else: %(request)s"
    plain = _robots_record("Error downloading %(request)s: %(f_exception)s", None)
    assert robots_filter.filter(plain) and plain.msg.startswith("Error downloading")
