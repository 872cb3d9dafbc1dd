"""The changed-site alarm: thresholds, what is counted, and real crawls of a redesigned site."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from crawler import stats as keys
from crawler.catalog import EXIT_SITE_CHANGED
from crawler.config import ConfigError, QupostConfig
from crawler.pages import PageError, parse_article, parse_detail_json, parse_list
from crawler.sitecheck import findings, site_change_line
from fakesite.server import FakeServer
from fakesite.site import FakeSite, build_site
from tests.conftest import CrawlResult, run_crawl
from tests.hostile import assert_clean_run, log_lines, one_line, stat

ALARM = "the site's pages may have changed"


def page_stats(read: int, no_title: int = 0, no_body: int = 0) -> dict[str, Any]:
    return {
        keys.PAGES_READ: read,
        keys.PAGES_NO_TITLE: no_title,
        keys.PAGES_NO_BODY: no_body,
        keys.PAGES_EXAMPLE + "no_title": "http://h/detail/2021/12/04/1.html",
        keys.PAGES_EXAMPLE + "no_body": "http://h/detail/2021/12/04/2.html",
    }


# --- thresholds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "missing", "share", "minimum", "fires"),
    [
        (20, 10, 0.5, 20, True),  # exactly the share of exactly the minimum
        (20, 9, 0.5, 20, False),  # just under the share
        (19, 19, 0.5, 20, False),  # every page, but fewer than the minimum
        (1000, 499, 0.5, 20, False),
        (1000, 500, 0.5, 20, True),
        (10, 3, 0.3, 10, True),  # 0.3 * 10 is 3.0000000000000004 in floating point
        (1, 1, 1.0, 1, True),
        (50, 50, 0, 1, False),  # a share of 0 turns the alarm off
    ],
)
def test_thresholds(read: int, missing: int, share: float, minimum: int, fires: bool) -> None:
    for stats in (page_stats(read, no_title=missing), page_stats(read, no_body=missing)):
        assert bool(findings(stats, share, minimum)) is fires, stats


def test_list_rows_are_measured_on_rows_that_should_be_articles() -> None:
    stats = {
        keys.LIST_ROWS: 60,  # ads and videos are not part of the measure
        keys.LIST_ARTICLE_ROWS: 20,
        keys.LIST_ROWS_WITHOUT_ID_URL: 10,
        keys.LIST_EXAMPLE_WITHOUT_ID_URL: "http://api/content/outList?cid=1",
    }
    (finding,) = findings(stats, 0.5, 20)
    assert (finding.count, finding.total) == (10, 20)
    assert finding.example == "http://api/content/outList?cid=1"
    assert not findings({**stats, keys.LIST_ROWS_WITHOUT_ID_URL: 9}, 0.5, 20)


def test_the_alarm_is_one_line_with_the_counts_and_an_example() -> None:
    line = site_change_line(page_stats(40, no_title=40, no_body=25), 0.5, 20)
    assert line is not None and "\n" not in line
    assert line.startswith(ALARM)
    assert "40 of 40 article pages gave no title (e.g. http://h/detail/2021/12/04/1.html)" in line
    assert "25 of 40 article pages gave no body (e.g. http://h/detail/2021/12/04/2.html)" in line
    assert "QUPOST_SITE_CHANGED_SHARE=0.5" in line and "QUPOST_SITE_CHANGED_MIN=20" in line
    assert site_change_line(page_stats(40, no_title=1, no_body=2), 0.5, 20) is None


# --- settings --------------------------------------------------------------------


def test_threshold_settings_are_read_and_checked() -> None:
    config = QupostConfig.from_settings(
        Settings({"QUPOST_SITE_CHANGED_SHARE": "0.8", "QUPOST_SITE_CHANGED_MIN": "5"})
    )
    assert (config.site_changed_share, config.site_changed_min) == (0.8, 5)
    for name, value, fragment in [
        ("QUPOST_SITE_CHANGED_SHARE", "1.5", "between 0 and 1"),
        ("QUPOST_SITE_CHANGED_SHARE", "-0.1", "at least 0"),
        ("QUPOST_SITE_CHANGED_SHARE", "half", "number"),
        ("QUPOST_SITE_CHANGED_MIN", "0", "at least 1"),
        ("QUPOST_SITE_CHANGED_MIN", "many", "whole number"),
    ]:
        with pytest.raises(ConfigError) as info:
            QupostConfig.from_settings(Settings({name: value}))
        assert str(info.value).startswith(f"{name}: ") and fragment in str(info.value)


# --- what the parsers see ----------------------------------------------------------


def test_list_rows_without_id_and_url_are_counted() -> None:
    site = build_site(5)
    current = parse_list(site.list_json("cid=1&page=1&limit=10"))
    assert (current.article_rows, current.without_id_url) == (5, 0)
    assert current.rows == 6  # one ad row, not part of the measure
    site.change_layout(pages=False)
    changed = parse_list(site.list_json("cid=1&page=1&limit=10"))
    assert changed.entries == []
    assert (changed.article_rows, changed.without_id_url) == (5, 5)


def test_rows_with_bad_ids_are_not_rows_without_ids() -> None:
    url = "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html"
    rows = [
        {"id": "abc", "url": url},  # hostile values, but an id and a URL
        {"id": "../1", "url": url},
        {"id": "1638625002", "title": "no url"},
        {"url": url, "title": "no id"},
        {"type": "ad", "title": "an ad"},
        {"id": "1638625003", "url": url, "content_type": "3"},  # a video
        None,
    ]
    body = json.dumps({"code": 0, "data": {"data": rows}}).encode()
    page = parse_list(body)
    assert (page.article_rows, page.without_id_url) == (4, 2)


def test_the_changed_layout_is_unreadable_to_the_parsers() -> None:
    site = build_site(1)
    article = next(iter(site.articles.values()))
    site.change_layout(rows=False)
    source = parse_article(site.page_html(article).decode("utf-8"))
    assert (source.page_title, source.html) == ("", "")
    with pytest.raises(PageError) as info:
        parse_detail_json(json.dumps(site.detail_json(article)).encode())
    assert info.value.reason == "no_body"


# --- real crawls -----------------------------------------------------------------------


def alarm_line(result: CrawlResult) -> str:
    line = one_line(result, ALARM)
    assert " ERROR: " in line, line
    return line


def run_record(result: CrawlResult) -> tuple[str, int]:
    with sqlite3.connect(result.out / "qupost.db") as conn:
        rows = conn.execute("SELECT status, exit_status FROM runs").fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def page_urls(site: FakeSite) -> set[str]:
    return {f"{site.base_url}{a.page_path}" for a in site.articles.values()}


@pytest.mark.e2e
def test_redesigned_pages_are_one_alarm_and_exit_status_3(tmp_path: Path) -> None:
    site = build_site(24, images_per_article=1)
    site.change_layout(rows=False)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "limit=50")
    n = len(site.articles)
    assert result.returncode == EXIT_SITE_CHANGED, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    line = alarm_line(result)
    assert f"{n} of {n} article pages gave no title" in line
    assert f"{n} of {n} article pages gave no body" in line
    examples = {part.split(")")[0] for part in line.split("(e.g. ")[1:]}
    assert examples and examples <= page_urls(site), line
    assert "list rows" not in line
    assert one_line(result, "qupost run 1 finished").endswith("exit status 3")
    assert run_record(result) == ("finished", EXIT_SITE_CHANGED)
    assert stat(result, keys.SITE_CHANGED) == 1
    assert result.post_files() == []


@pytest.mark.e2e
def test_list_rows_without_ids_are_one_alarm_and_exit_status_3(tmp_path: Path) -> None:
    site = build_site(24, images_per_article=1)
    site.change_layout(pages=False)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "limit=50")
        list_url = f"{server.list_api}?cid=1&"
    n = len(site.articles)
    assert result.returncode == EXIT_SITE_CHANGED, result.stderr[-3000:]
    line = alarm_line(result)
    assert f"{n} of {n} list rows carried no article id or URL (e.g. {list_url}" in line
    assert "article pages" not in line
    assert run_record(result) == ("finished", EXIT_SITE_CHANGED)
    assert result.post_files() == []


@pytest.mark.e2e
def test_a_few_odd_pages_do_not_raise_the_alarm(tmp_path: Path) -> None:
    site = build_site(24, images_per_article=1)
    ids = sorted(site.articles)
    odd = ids[:3]
    for qupost_id in odd:
        site.articles[qupost_id].mode = "changed"
    # And one whose body cleans to nothing: it counts as a page without a body.
    empty = site.articles[ids[3]]
    empty.body = [("html", "<script>track()</script>")]
    with FakeServer(site) as server:
        quiet = run_crawl(server, tmp_path / "defaults", "limit=50")
        # The same pages cross thresholds set low enough: the settings reach the check.
        strict = run_crawl(
            server,
            tmp_path / "strict",
            "limit=50",
            QUPOST_SITE_CHANGED_SHARE=0.15,
            QUPOST_SITE_CHANGED_MIN=10,
        )
    n = len(site.articles)
    assert_clean_run(quiet)
    assert not log_lines(quiet, ALARM)
    assert stat(quiet, keys.PAGES_READ) == n
    assert stat(quiet, keys.PAGES_NO_TITLE) == len(odd)
    assert stat(quiet, keys.PAGES_NO_BODY) == len(odd) + 1
    assert len(quiet.post_files()) == n - len(odd) - 1
    assert run_record(quiet) == ("finished", 0)

    assert strict.returncode == EXIT_SITE_CHANGED, strict.stderr[-3000:]
    line = alarm_line(strict)
    assert f"{len(odd) + 1} of {n} article pages gave no body" in line
    assert "gave no title" not in line  # 3 of 24 is under 15 %
