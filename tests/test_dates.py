"""Tests for pipelines.dates: every accepted date form, read against a fixed crawl time."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scrapy.crawler import Crawler
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler.config import ConfigError, parse_timezone
from crawler.items import ListingItem
from pipelines.dates import DatePipeline, choose_date, normalise_date
from storage.article import Article, ArticleSource

SHANGHAI = ZoneInfo("Asia/Shanghai")
ARTICLE_URL = "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html"
# 18:00 in Shanghai, so Shanghai and UTC are on the same calendar day.
NOW = datetime(2021, 12, 5, 10, 0, tzinfo=UTC)
# 01:00 on 6 December in Shanghai while still 5 December in UTC.
NOW_AFTER_SHANGHAI_MIDNIGHT = datetime(2021, 12, 5, 17, 0, tzinfo=UTC)
# 10:00 on 2 January in Shanghai.
NOW_EARLY_JANUARY = datetime(2022, 1, 2, 2, 0, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def assert_exact(result: datetime | None, expected: datetime | None) -> None:
    if expected is None:
        assert result is None
        return
    assert result is not None
    # Aware datetimes compare as instants, so also pin the zone object itself.
    assert result.tzinfo is UTC
    assert (result, result.microsecond) == (expected, expected.microsecond)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(1638625752, utc(2021, 12, 4, 13, 49, 12), id="epoch-seconds-int"),
        pytest.param(1638625752000, utc(2021, 12, 4, 13, 49, 12), id="epoch-ms-int"),
        pytest.param(1638625752.5, utc(2021, 12, 4, 13, 49, 12, 500000), id="epoch-float"),
        pytest.param("1638625752", utc(2021, 12, 4, 13, 49, 12), id="epoch-seconds-str"),
        pytest.param("1638625752000", utc(2021, 12, 4, 13, 49, 12), id="epoch-ms-str"),
        pytest.param(" 1638625752000\n", utc(2021, 12, 4, 13, 49, 12), id="epoch-ms-padded"),
        pytest.param(
            "Sat, 04 Dec 2021 13:49:12 GMT", utc(2021, 12, 4, 13, 49, 12), id="rfc1123-gmt"
        ),
        pytest.param(
            "Sat, 04 Dec 2021 21:49:12 +0800", utc(2021, 12, 4, 13, 49, 12), id="rfc1123-offset"
        ),
        pytest.param(
            "Last-Modified: Sat, 04 Dec 2021 13:49:12 GMT",
            utc(2021, 12, 4, 13, 49, 12),
            id="rfc1123-embedded",
        ),
        pytest.param("2021-12-04T21:49:12+08:00", utc(2021, 12, 4, 13, 49, 12), id="iso-offset"),
        pytest.param("2021-12-04T13:49:12Z", utc(2021, 12, 4, 13, 49, 12), id="iso-z"),
        pytest.param("2021-12-04T21:49:12", utc(2021, 12, 4, 13, 49, 12), id="iso-naive"),
        pytest.param(
            "2021-12-04T21:49:12.25-05:00",
            utc(2021, 12, 5, 2, 49, 12, 250000),
            id="iso-fraction-negative-offset",
        ),
        pytest.param("20211204T134912Z", utc(2021, 12, 4, 13, 49, 12), id="iso-basic"),
        pytest.param("2021-12-04 21:49", utc(2021, 12, 4, 13, 49), id="dash-minutes"),
        pytest.param("2021-12-04 21:49:12", utc(2021, 12, 4, 13, 49, 12), id="dash-seconds"),
        pytest.param("2021/12/04 21:49", utc(2021, 12, 4, 13, 49), id="slash-minutes"),
        pytest.param("2021-12-04", utc(2021, 12, 3, 16, 0), id="date-only"),
        pytest.param("2021年12月04日 13:49", utc(2021, 12, 4, 5, 49), id="cn-full"),
        pytest.param("2021年12月4日 13:49:05", utc(2021, 12, 4, 5, 49, 5), id="cn-seconds"),
        pytest.param("2021年12月04日", utc(2021, 12, 3, 16, 0), id="cn-date-only"),
        pytest.param("2021年12月04日 13：49", utc(2021, 12, 4, 5, 49), id="cn-fullwidth-colon"),
        pytest.param("12月04日 13:49", utc(2021, 12, 4, 5, 49), id="cn-no-year"),
        pytest.param("12-04 13:49", utc(2021, 12, 4, 5, 49), id="dash-no-year"),
        pytest.param("12月06日 08:00", utc(2021, 12, 6, 0, 0), id="no-year-within-a-day"),
        pytest.param("12月07日 08:00", utc(2020, 12, 7, 0, 0), id="no-year-too-far-ahead"),
        pytest.param("刚刚", utc(2021, 12, 5, 10, 0), id="just-now"),
        pytest.param("30秒前", utc(2021, 12, 5, 9, 59, 30), id="seconds-ago"),
        pytest.param("5分钟前", utc(2021, 12, 5, 9, 55), id="minutes-ago"),
        pytest.param("3小时前", utc(2021, 12, 5, 7, 0), id="hours-ago"),
        pytest.param("2天前", utc(2021, 12, 3, 10, 0), id="days-ago"),
        pytest.param("今天 13:49", utc(2021, 12, 5, 5, 49), id="today-time"),
        pytest.param("昨天 13:49", utc(2021, 12, 4, 5, 49), id="yesterday-time"),
        pytest.param("前天 13:49", utc(2021, 12, 3, 5, 49), id="day-before-time"),
        pytest.param("昨天", utc(2021, 12, 3, 16, 0), id="yesterday-bare"),
        pytest.param("今天", utc(2021, 12, 4, 16, 0), id="today-bare"),
        pytest.param("\u3000 2021-12-04 21:49 \n", utc(2021, 12, 4, 13, 49), id="padded"),
        pytest.param("封面新闻 2021-12-04 21:49", utc(2021, 12, 4, 13, 49), id="embedded-numeric"),
        pytest.param(
            "来源：封面新闻\u3000\u30003小时前", utc(2021, 12, 5, 7, 0), id="embedded-ago"
        ),
        pytest.param(
            "发布时间：2021年12月04日 13:49 阅读 1234",
            utc(2021, 12, 4, 5, 49),
            id="embedded-cn",
        ),
        pytest.param("2021-12-04（3天前）", utc(2021, 12, 3, 16, 0), id="explicit-beats-relative"),
        pytest.param(datetime(2021, 12, 4, 21, 49), utc(2021, 12, 4, 13, 49), id="naive-datetime"),
        pytest.param(
            datetime(2021, 12, 4, 21, 49, tzinfo=SHANGHAI),
            utc(2021, 12, 4, 13, 49),
            id="aware-datetime",
        ),
    ],
)
def test_accepted_forms(raw: object, expected: datetime) -> None:
    assert_exact(normalise_date(raw, NOW, SHANGHAI), expected)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param(" \u3000\n", id="blank"),
        pytest.param("abc", id="letters"),
        pytest.param("99月99日", id="cn-impossible"),
        pytest.param("2021-13-45", id="numeric-impossible"),
        pytest.param("2021-02-30 10:00", id="no-feb-30"),
        pytest.param("2021年13月04日", id="cn-month-13"),
        pytest.param("昨天 25:00", id="hour-25"),
        pytest.param("3-4", id="bare-month-day-needs-clock"),
        pytest.param(0, id="zero"),
        pytest.param(-5, id="negative"),
        pytest.param("-5", id="negative-str"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(10**400, id="huge-int"),
        pytest.param("9" * 400, id="huge-digits"),
        pytest.param(b"2021-12-04", id="bytes"),
        pytest.param(["2021-12-04"], id="list"),
        pytest.param("Sat, 04 Dec 2021 13:49:12 Zhang", id="rfc-unknown-zone"),
    ],
)
def test_garbage_is_none(raw: object) -> None:
    assert normalise_date(raw, NOW, SHANGHAI) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("1999-12-31 23:59", None, id="before-2000"),
        pytest.param("2000-01-01 08:00", utc(2000, 1, 1), id="exactly-2000"),
        pytest.param(946684799, None, id="epoch-before-2000"),
        pytest.param("2021-12-06 18:00", utc(2021, 12, 6, 10, 0), id="exactly-one-day-ahead"),
        pytest.param("2021-12-06 18:01", None, id="over-one-day-ahead"),
        pytest.param("2030-01-01T00:00:00Z", None, id="far-future"),
        pytest.param(1638625752000 * 1000, None, id="epoch-microseconds"),
        pytest.param("30000天前", None, id="ago-before-2000"),
        pytest.param("999999999999天前", None, id="ago-overflow"),
        pytest.param("0001-01-01", None, id="year-one"),
    ],
)
def test_plausibility(raw: object, expected: datetime | None) -> None:
    assert_exact(normalise_date(raw, NOW, SHANGHAI), expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("12月31日 23:00", utc(2021, 12, 31, 15, 0), id="cn-last-year"),
        pytest.param("12-31 23:00", utc(2021, 12, 31, 15, 0), id="dash-last-year"),
        pytest.param("01月02日 09:00", utc(2022, 1, 2, 1, 0), id="cn-this-year"),
    ],
)
def test_year_rollover(raw: str, expected: datetime) -> None:
    assert_exact(normalise_date(raw, NOW_EARLY_JANUARY, SHANGHAI), expected)


def test_leap_day_without_year_falls_back_to_leap_year() -> None:
    now = datetime(2025, 1, 10, tzinfo=UTC)
    assert_exact(normalise_date("02月29日 12:00", now, SHANGHAI), utc(2024, 2, 29, 4, 0))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Calendar days are counted in Shanghai, where it is already 6 December.
        pytest.param("今天 13:49", utc(2021, 12, 6, 5, 49), id="today"),
        pytest.param("昨天 13:49", utc(2021, 12, 5, 5, 49), id="yesterday"),
        pytest.param("前天", utc(2021, 12, 3, 16, 0), id="day-before-bare"),
    ],
)
def test_day_words_use_calendar_of_tz(raw: str, expected: datetime) -> None:
    assert_exact(normalise_date(raw, NOW_AFTER_SHANGHAI_MIDNIGHT, SHANGHAI), expected)


@pytest.mark.parametrize(
    ("raw", "tz", "expected"),
    [
        pytest.param("2021-12-04 21:49", UTC, utc(2021, 12, 4, 21, 49), id="utc-naive"),
        pytest.param("12-04 13:49", UTC, utc(2021, 12, 4, 13, 49), id="utc-no-year"),
        pytest.param("昨天 13:49", UTC, utc(2021, 12, 4, 13, 49), id="utc-yesterday"),
        pytest.param(
            "2021-12-04T21:49:12+08:00", UTC, utc(2021, 12, 4, 13, 49, 12), id="utc-aware-kept"
        ),
        pytest.param(
            "2021-07-04 12:00",
            ZoneInfo("America/New_York"),
            utc(2021, 7, 4, 16, 0),
            id="new-york-summer",
        ),
        pytest.param(
            "2021-12-04 12:00",
            ZoneInfo("America/New_York"),
            utc(2021, 12, 4, 17, 0),
            id="new-york-winter",
        ),
    ],
)
def test_tz_is_honoured(raw: str, tz: tzinfo, expected: datetime) -> None:
    assert_exact(normalise_date(raw, NOW, tz), expected)


def test_now_in_other_zone_gives_same_instant() -> None:
    now = NOW.astimezone(SHANGHAI)
    assert_exact(normalise_date("3小时前", now, SHANGHAI), utc(2021, 12, 5, 7, 0))


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        normalise_date("刚刚", datetime(2021, 12, 5, 10, 0), SHANGHAI)


@given(st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.datetimes()))
def test_never_raises_and_stays_in_range(raw: object) -> None:
    result = normalise_date(raw, NOW, SHANGHAI)
    if result is not None:
        assert result.tzinfo is UTC
        assert utc(2000, 1, 1) <= result <= utc(2021, 12, 6, 10, 0)


@given(st.text(alphabet="0123456789年月日号天前秒分钟小时今昨刚:：-/.TZ+ ", max_size=30))
def test_never_raises_on_date_like_text(raw: str) -> None:
    normalise_date(raw, NOW, SHANGHAI)


@pytest.mark.parametrize("name", ["Asia/Shanghai", "UTC", "America/New_York"])
def test_parse_timezone_known(name: str) -> None:
    assert parse_timezone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "", "Asia", "../etc/passwd", "/etc/passwd", "zone.tab", "utc "]
)
def test_parse_timezone_unknown(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone") as excinfo:
        parse_timezone(name)
    assert "\n" not in str(excinfo.value)


# --- choose_date and the pipeline -----------------------------------------------


def dated(
    publish_time: str | None = None,
    page_time: str | None = None,
    show_time: str | None = None,
    crawled_at: datetime | None = NOW,
) -> Article:
    source = ArticleSource(publish_time=publish_time, page_time=page_time, show_time=show_time)
    return Article("1638625001", ARTICLE_URL, source, crawled_at=crawled_at)


@pytest.mark.parametrize(
    ("article", "expected", "source"),
    [
        pytest.param(
            dated("1638625752000", "昨天 13:49", "1638626000"),
            utc(2021, 12, 4, 13, 49, 12),
            "list",
            id="list-first",
        ),
        pytest.param(
            dated(None, "2021-12-04 21:49", "1638626000"),
            utc(2021, 12, 4, 13, 49),
            "page",
            id="page-without-list",
        ),
        pytest.param(
            dated("946684799000", "昨天 13:49"),
            utc(2021, 12, 4, 5, 49),
            "page",
            id="implausible-list-skipped",
        ),
        pytest.param(
            dated(None, "来源：新华社", "1638626000"),
            utc(2021, 12, 4, 13, 53, 20),
            "show_time",
            id="show-time-last",
        ),
        pytest.param(dated(), NOW, "crawl", id="crawl-time"),
        pytest.param(dated("0", "abc", "99999999999999999"), NOW, "crawl", id="all-garbage"),
    ],
)
def test_choose_date_order(article: Article, expected: datetime, source: str) -> None:
    value, used = choose_date(article, NOW, SHANGHAI)
    assert_exact(value, expected)
    assert used == source


def test_choose_date_crawl_time_is_utc() -> None:
    value, used = choose_date(dated(), NOW.astimezone(SHANGHAI), SHANGHAI)
    assert_exact(value, NOW)
    assert used == "crawl"


def date_pipeline(**settings: str) -> tuple[DatePipeline, Crawler]:
    crawler = get_crawler(settings_dict=settings)
    return build_from_crawler(DatePipeline, crawler), crawler


def test_pipeline_sets_the_date_and_counts_its_source() -> None:
    pipeline, crawler = date_pipeline()
    first, second = dated(page_time="2021-12-04 21:49"), dated(page_time="3小时前")
    assert pipeline.process_item(first) is first
    assert pipeline.process_item(second) is second
    assert (first.published_at, first.date_source) == (utc(2021, 12, 4, 13, 49), "page")
    assert (second.published_at, second.date_source) == (utc(2021, 12, 5, 7, 0), "page")
    assert crawler.stats is not None
    assert crawler.stats.get_stats() == {"qupost/dates/page": 2}


def test_pipeline_reads_naive_times_in_the_configured_zone() -> None:
    pipeline, _ = date_pipeline(QUPOST_TIMEZONE="UTC")
    item = pipeline.process_item(dated(page_time="2021-12-04 21:49"))
    assert_exact(item.published_at, utc(2021, 12, 4, 21, 49))


def test_pipeline_refuses_an_unknown_zone() -> None:
    with pytest.raises(ConfigError, match=r"^QUPOST_TIMEZONE: unknown time zone"):
        date_pipeline(QUPOST_TIMEZONE="Mars/Olympus")


def test_pipeline_stamps_the_crawl_time_when_missing() -> None:
    pipeline, crawler = date_pipeline()
    before = datetime.now(UTC)
    item = pipeline.process_item(dated(crawled_at=None))
    after = datetime.now(UTC)
    assert item.crawled_at is not None and before <= item.crawled_at <= after
    assert (item.published_at, item.date_source) == (item.crawled_at, "crawl")
    assert crawler.stats is not None
    assert crawler.stats.get_stats() == {"qupost/dates/crawl": 1}


def test_pipeline_passes_deleted_articles_and_other_items_through() -> None:
    pipeline, crawler = date_pipeline()
    deleted = dated("1638625752000")
    deleted.deleted_at = NOW
    listing = ListingItem(cid=1, qupost_ids=["1638625001"])
    assert pipeline.process_item(deleted) is deleted
    assert (deleted.published_at, deleted.date_source) == (None, "")
    assert pipeline.process_item(listing) is listing
    assert crawler.stats is not None
    assert crawler.stats.get_stats() == {}
