"""Normalise scraped publish dates into aware UTC datetimes.

Qutoutiao pages, list APIs and feeds give dates in many shapes: epoch seconds or
milliseconds, RFC 1123, ISO 8601, Chinese calendar text ("2021年12月04日 13:49")
and relative phrases ("3小时前", "昨天 13:49"), often wrapped in other text
("来源：封面新闻  3小时前"). ``normalise_date`` reads all of them into one UTC
datetime, or ``None`` when the value cannot be read or is implausible, so the
rest of the pipeline never has to guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any, Self, TypeAlias

from dateutil.parser import isoparse
from scrapy.crawler import Crawler

from crawler import stats as keys
from crawler.config import QupostConfig
from storage.article import Article

__all__ = ["DatePipeline", "choose_date", "normalise_date"]

_Parser: TypeAlias = Callable[[str, datetime, tzinfo], "datetime | None"]

_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Source clocks and the crawler clock drift, and "today" pages are written in
# Beijing time, so a little future is normal; more than a day is a bad value.
_FUTURE_SLACK = timedelta(days=1)
# 1e11 seconds is the year 5138 while 1e11 milliseconds is 1973, so one cut-off
# separates the two units for every date we can accept.
_MILLISECONDS_FROM = 1e11
# datetime stops at 9999-12-31; refusing larger values up front keeps
# fromtimestamp from raising platform-dependent errors.
_LATEST_EPOCH_SECONDS = 253_402_300_799

_EPOCH_TEXT = re.compile(r"\d+(?:\.\d+)?")


def _clock(separator: str) -> str:
    # Full-width colons are common in Chinese page templates.
    return (
        rf"(?:{separator}(?P<hour>\d{{1,2}})[:：](?P<minute>\d{{2}})"
        r"(?:[:：](?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?(?!\d))"
    )


# Only ISO-style dates carry an offset; it must touch the clock so that a
# following " - 封面新闻" or an English word starting with Z is not read as a zone.
_OFFSET = r"(?P<offset>Z(?![A-Za-z])|[+-]\d{2}(?::?\d{2})?(?!\d))?"

_CN_DATE = re.compile(
    r"(?<!\d)(?P<year>\d{4})\s*年\s*(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号]"
    + _clock(r"\s*")
    + "?"
)
_NUMERIC_DATE = re.compile(
    r"(?<!\d)(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})(?!\d)"
    + "(?:"
    + _clock(r"(?:T|\s+)")
    + _OFFSET
    + ")?"
)
_CN_MONTH_DAY = re.compile(
    r"(?<!\d)(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号]" + _clock(r"\s*") + "?"
)
# Without a year, "3-4" in running text is too likely to be something else,
# so the numeric month-day form is only trusted when a clock follows it.
_NUMERIC_MONTH_DAY = re.compile(
    r"(?<![\d./-])(?P<month>\d{1,2})[-/](?P<day>\d{1,2})" + _clock(r"\s+")
)
_JUST_NOW = "刚刚"
_AGO = re.compile(r"(?P<amount>\d+)\s*(?P<unit>秒|分钟|小时|天)\s*前")
_AGO_UNITS = {
    "秒": timedelta(seconds=1),
    "分钟": timedelta(minutes=1),
    "小时": timedelta(hours=1),
    "天": timedelta(days=1),
}
_DAY_WORD = re.compile(r"(?P<word>今天|昨天|前天)" + _clock(r"\s*") + "?")
_DAYS_BACK = {"今天": 0, "昨天": 1, "前天": 2}
# Zones are limited to those RFC 5322 names so that a trailing English word is
# never taken for a zone; without a zone the value is not RFC 1123 at all.
_RFC_1123 = re.compile(
    r"(?<!\w)(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),\s*)?\d{1,2}\s+"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{4}\s+"
    r"\d{1,2}:\d{2}(?::\d{2})?\s+(?:UTC?|GMT|Z|[ECMP][SD]T|[+-]\d{4})(?!\w)",
    re.IGNORECASE,
)


def normalise_date(raw: object, now: datetime, tz: tzinfo) -> datetime | None:
    """Read a scraped date value as an aware UTC datetime.

    ``now`` is the aware crawl time that relative and year-less forms are
    measured from; ``tz`` is the zone that naive source times are read in.
    Returns ``None`` when ``raw`` cannot be read, or when the result is before
    2000-01-01 UTC or more than one day after ``now``.
    """
    if now.utcoffset() is None:
        # A naive crawl time would silently shift every relative date.
        raise ValueError("now must be timezone-aware")
    parsed = _parse(raw, now, tz)
    if parsed is None or not _EARLIEST <= parsed <= now + _FUTURE_SLACK:
        return None
    return parsed


def _parse(raw: object, now: datetime, tz: tzinfo) -> datetime | None:
    # bool is an int subclass, but True is never meant as 1970-01-01T00:00:01.
    if isinstance(raw, bool):
        return None
    if isinstance(raw, datetime):
        return _from_datetime(raw, tz)
    if isinstance(raw, int | float):
        return _from_epoch(raw)
    if isinstance(raw, str):
        return _from_text(raw, now, tz)
    return None


def _from_text(raw: str, now: datetime, tz: tzinfo) -> datetime | None:
    # split() also breaks on full-width spaces and NBSPs, which pages mix freely.
    text = " ".join(raw.split())
    if _EPOCH_TEXT.fullmatch(text):
        return _from_epoch(float(text))
    for parser in _TEXT_PARSERS:
        parsed = parser(text, now, tz)
        if parsed is not None:
            return parsed
    return None


def _from_epoch(value: float) -> datetime | None:
    try:
        seconds = float(value)
    except OverflowError:
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    if seconds >= _MILLISECONDS_FROM:
        seconds /= 1000
    if seconds > _LATEST_EPOCH_SECONDS:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def _from_datetime(value: datetime, tz: tzinfo) -> datetime | None:
    if value.utcoffset() is None:
        value = value.replace(tzinfo=tz)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Year 1 east of UTC (or year 9999 west of it) has no UTC equivalent.
        return None


def _number(match: re.Match[str], name: str) -> int:
    value = match.groupdict().get(name)
    return int(value) if value else 0


def _clock_of(match: re.Match[str]) -> time | None:
    fraction = match.groupdict().get("fraction") or ""
    microsecond = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        return time(
            _number(match, "hour"), _number(match, "minute"), _number(match, "second"), microsecond
        )
    except ValueError:
        return None


def _zone_of(match: re.Match[str], tz: tzinfo) -> tzinfo | None:
    offset = match.groupdict().get("offset")
    if not offset:
        return tz
    if offset == "Z":
        return UTC
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
    try:
        return timezone(sign * timedelta(minutes=minutes))
    except ValueError:
        return None


def _calendar_day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _local_to_utc(day: date | None, clock: time | None, zone: tzinfo | None) -> datetime | None:
    if day is None or clock is None or zone is None:
        return None
    return _from_datetime(datetime.combine(day, clock, tzinfo=zone), zone)


def _from_match(match: re.Match[str], tz: tzinfo, year: int) -> datetime | None:
    day = _calendar_day(year, _number(match, "month"), _number(match, "day"))
    return _local_to_utc(day, _clock_of(match), _zone_of(match, tz))


def _dated(pattern: re.Pattern[str]) -> _Parser:
    def parse(text: str, now: datetime, tz: tzinfo) -> datetime | None:
        match = pattern.search(text)
        return _from_match(match, tz, _number(match, "year")) if match else None

    return parse


def _year_less(pattern: re.Pattern[str]) -> _Parser:
    def parse(text: str, now: datetime, tz: tzinfo) -> datetime | None:
        match = pattern.search(text)
        if match is None:
            return None
        # Lists show the year only for older items, so a month-day that would
        # lie in the future must belong to last year (e.g. "12-31" read in January).
        this_year = now.astimezone(tz).year
        parsed = _from_match(match, tz, this_year)
        if parsed is None or parsed > now + _FUTURE_SLACK:
            parsed = _from_match(match, tz, this_year - 1)
        return parsed

    return parse


def _parse_just_now(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    return now.astimezone(UTC) if _JUST_NOW in text else None


def _parse_ago(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    match = _AGO.search(text)
    if match is None:
        return None
    try:
        return (now - int(match["amount"]) * _AGO_UNITS[match["unit"]]).astimezone(UTC)
    except OverflowError:
        return None


def _parse_day_word(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    match = _DAY_WORD.search(text)
    if match is None:
        return None
    # "昨天" means the previous calendar day where the site lives, not 24 hours ago.
    day = now.astimezone(tz).date() - timedelta(days=_DAYS_BACK[match["word"]])
    return _local_to_utc(day, _clock_of(match), tz)


def _parse_iso(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    # isoparse is strict ISO 8601, unlike dateutil's general parser, which
    # misreads Chinese text; it covers the rarer ISO shapes the regexes skip.
    try:
        return _from_datetime(isoparse(text), tz)
    except (ValueError, OverflowError):
        return None


def _parse_rfc_1123(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    match = _RFC_1123.search(text)
    if match is None:
        return None
    try:
        parsed = parsedate_to_datetime(match.group())
    except (ValueError, OverflowError):
        return None
    # Only "-0000" comes back naive, and RFC 5322 defines it as UTC.
    return _from_datetime(parsed, UTC)


# Explicit dates beat relative words, which beat year-less guesses, so that
# "2021-12-04（3天前）" keeps its exact date.
_TEXT_PARSERS: tuple[_Parser, ...] = (
    _dated(_CN_DATE),
    _dated(_NUMERIC_DATE),
    _parse_just_now,
    _parse_ago,
    _parse_day_word,
    _year_less(_CN_MONTH_DAY),
    _year_less(_NUMERIC_MONTH_DAY),
    _parse_iso,
    _parse_rfc_1123,
)


def choose_date(article: Article, now: datetime, tz: tzinfo) -> tuple[datetime, str]:
    """An article's publish time and where it came from, by order of preference.

    1. the list row's ``publish_time``; 2. the page's ``.info`` time or the
    detail JSON's ``publish_info``; 3. ``show_time``; 4. ``now``, the crawl time.
    """
    source = article.source
    for raw, name in (
        (source.publish_time, "list"),
        (source.page_time, "page"),
        (source.show_time, "show_time"),
    ):
        value = normalise_date(raw, now, tz)
        if value is not None:
            return value, name
    return now.astimezone(UTC), "crawl"


class DatePipeline:
    """Set each article's publish time (see :func:`choose_date`); the source used is stored too."""

    def __init__(self, crawler: Crawler, tz: tzinfo) -> None:
        self.crawler = crawler
        self.tz = tz

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler, QupostConfig.of(crawler).render.timezone)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article) or item.deleted:
            return item
        if item.crawled_at is None:
            item.crawled_at = datetime.now(UTC)
        item.published_at, item.date_source = choose_date(item, item.crawled_at, self.tz)
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(keys.DATES + item.date_source)
        return item
