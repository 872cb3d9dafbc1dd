"""qupost's configuration: every setting and spider argument, read and checked once.

:class:`QupostConfig` is a frozen, typed view of the QUPOST_* settings (and the
few Scrapy settings qupost interprets, ``IMAGES_STORE`` and ``REDIS_URL``);
components take it from ``QupostConfig.of(crawler)`` instead of reading
settings themselves.  :class:`CrawlArgs` does the same for the spider's ``-a``
arguments.  A bad value becomes a :class:`ConfigError`, whose message is the
one line printed after ``qupost: error:``.

Defaults live only in ``crawler/settings.py``: a setting missing from the
Settings object (a test building ``Settings({...})`` without the project
settings) is taken from that module, never from a literal here.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scrapy.settings import BaseSettings
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

import crawler.settings as defaults
from crawler.channels import CHANNELS, parse_channels
from crawler.profiles import PROFILES
from crawler.safety import DEFAULT_PORTS, Endpoint, parse_endpoint
from crawler.urls import article_id_from_url, is_http_url
from storage.hexo import (
    DUPLICATE_POLICIES,
    IMAGE_MODES,
    ON_DELETED_POLICIES,
    RenderError,
    RenderOptions,
)
from storage.repository import SUPPORTED_BACKENDS, Window
from storage.themes import ThemePreset, preset

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = [
    "MAX_LIMIT",
    "MAX_PAGES",
    "ON_DELETED_POLICIES",
    "ConfigError",
    "CrawlArgs",
    "QupostConfig",
    "parse_flag",
    "parse_float",
    "parse_int",
    "parse_list",
    "parse_timezone",
    "parse_window",
]

MAX_LIMIT = 100
MAX_PAGES = 10_000

_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("0", "false", "no", "off", "")
_FLAG_CHOICES = "1/0, true/false, yes/no, on/off"
# The directives Python documents for strftime; anything else is passed
# through by the C library as literal text (or varies by platform), which
# would end up in every post's date.
_STRFTIME_CODES = frozenset("aAwdbBmyYHIpMSfzZjUWcxXGuV")
_DIRECTIVE = re.compile(r"%(-?)(.?)", re.DOTALL)
_CACHE_ATTR = "_qupost_config"


class ConfigError(ValueError):
    """A bad setting or spider argument; the message is one line for the user."""

    def __init__(self, message: str) -> None:
        # The message follows "qupost: error: " on a single line of stderr.
        super().__init__(" ".join(message.splitlines()))


# --- parsers -----------------------------------------------------------------


def parse_flag(name: str, value: object) -> bool:
    """Read an on/off value: a bool, 0 or 1, or 1/0, true/false, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
    elif isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ConfigError(f"{name}: expected one of {_FLAG_CHOICES}, got {value!r}")


def parse_list(name: str, value: object) -> tuple[str, ...]:
    """Read a list given as a list, a JSON list string or a comma list; no empty items."""
    items: Sequence[object]
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                decoded = json.loads(text)
            except ValueError:
                raise ConfigError(f"{name}: not a valid JSON list: {value!r}") from None
            if not isinstance(decoded, list):
                raise ConfigError(f"{name}: not a valid JSON list: {value!r}")
            items = decoded
        else:
            items = text.replace("，", ",").split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ConfigError(f"{name}: expected a list, got {value!r}")
    result: list[str] = []
    for item in items:
        # JSON true/false/null or nested lists are a mistake, not a name.
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ConfigError(f"{name}: list items must be text or numbers, got {item!r}")
        text = str(item).strip()
        if text:
            result.append(text)
    return tuple(result)


def parse_int(
    name: str, value: object, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Read a whole number, optionally bounded (both bounds included)."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise ConfigError(f"{name}: expected a whole number, got {value!r}")
    if minimum is not None and maximum is not None:
        if not minimum <= number <= maximum:
            raise ConfigError(f"{name}: must be between {minimum} and {maximum}, got {number}")
    elif minimum is not None and number < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {number}")
    elif maximum is not None and number > maximum:
        raise ConfigError(f"{name}: must be at most {maximum}, got {number}")
    return number


def parse_float(name: str, value: object, minimum: float | None = None) -> float:
    """Read a finite number, optionally with a lower bound (included)."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    # nan passes no comparison, so it would slip through every bound check.
    if number is None or not math.isfinite(number):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name}: must be at least {minimum:g}, got {number:g}")
    return number


# --- reading settings --------------------------------------------------------


def _raw(settings: BaseSettings, name: str) -> object:
    value = settings.get(name)
    if value is None:
        value = getattr(defaults, name)
    return value


def _text(settings: BaseSettings, name: str) -> str:
    value = _raw(settings, name)
    if isinstance(value, list | tuple | dict | set | frozenset):
        raise ConfigError(f"{name}: expected text, got {value!r}")
    return str(value)


def _choice(settings: BaseSettings, name: str, choices: Sequence[str]) -> str:
    value = _text(settings, name).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def _list_api(settings: BaseSettings) -> str:
    name = "QUPOST_LIST_API"
    url = _text(settings, name).strip()
    usable = is_http_url(url)
    try:
        urlsplit(url).port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        usable = False
    if not usable:
        raise ConfigError(f"{name}: expected an http(s) URL with a host, got {url!r}")
    return url


def _allowed_domains(settings: BaseSettings, list_host: str) -> tuple[str, ...]:
    name = "QUPOST_ALLOWED_DOMAINS"
    domains: list[str] = []
    for entry in parse_list(name, _raw(settings, name)):
        domain = entry.lower()
        if (
            "/" in domain
            or any(c.isspace() for c in domain)
            or (":" in domain and not _is_ipv6(domain))
        ):
            raise ConfigError(
                f"{name}: {entry!r} is not a host name (give no scheme, path or port)"
            )
        if domain not in domains:
            domains.append(domain)
    if list_host and list_host not in domains:
        domains.append(list_host)
    return tuple(domains)


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def _trusted_hosts(settings: BaseSettings, list_api: str) -> frozenset[Endpoint]:
    """The trusted host:port endpoints: QUPOST_TRUSTED_HOSTS, and the list API's own."""
    name = "QUPOST_TRUSTED_HOSTS"
    endpoints: set[Endpoint] = set()
    for entry in parse_list(name, _raw(settings, name)):
        try:
            endpoints.add(parse_endpoint(entry))
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    parts = urlsplit(list_api)
    endpoints.add((_host_of(list_api), parts.port or DEFAULT_PORTS[parts.scheme.lower()]))
    return frozenset(endpoints)


def _database_url(settings: BaseSettings) -> str:
    name = "QUPOST_DATABASE_URL"
    url = _text(settings, name).strip()
    if not url:
        raise ConfigError(f"{name}: empty; give an SQLAlchemy URL such as sqlite:///qupost.db")
    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        raise ConfigError(f"{name}: not an SQLAlchemy database URL: {url!r}") from None
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"{name}: {url!r} names a {backend} database; qupost supports "
            "sqlite:///PATH and postgresql+psycopg://…"
        )
    return url


def _source_dir(settings: BaseSettings) -> Path:
    name = "QUPOST_SOURCE_DIR"
    text = _text(settings, name).strip()
    if not text:
        raise ConfigError(f"{name}: empty; give the Hexo source folder")
    return Path(text)


def _check_date_format(name: str, value: str) -> None:
    if value in ("rfc1123", "iso"):
        return
    directives = 0
    for match in _DIRECTIVE.finditer(value):
        flag, code = match.groups()
        if code == "%" and not flag:
            continue
        if code not in _STRFTIME_CODES:
            raise ConfigError(f"{name}: unknown strftime directive {match.group(0)!r} in {value!r}")
        directives += 1
    if not directives:
        raise ConfigError(
            f"{name}: expected rfc1123, iso or a strftime pattern such as %Y-%m-%d, got {value!r}"
        )


def parse_timezone(name: str) -> tzinfo:
    """Return the IANA zone called ``name``; raise ValueError if there is none."""
    try:
        return ZoneInfo(name)
    # ZoneInfo signals a bad key in several ways (missing, malformed, a
    # directory, a non-TZif file); callers only need one error type.
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone: {name!r}") from exc


def _timezone(settings: BaseSettings) -> tzinfo:
    name = "QUPOST_TIMEZONE"
    try:
        return parse_timezone(_text(settings, name).strip())
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def parse_window(
    zone: tzinfo,
    since: str | None = None,
    until: str | None = None,
    channels: str | None = None,
    max_posts: str | None = None,
) -> Window:
    """Read export window options; dates without a zone are in ``zone``.

    ``since`` is inclusive and ``until`` exclusive, except that a bare date
    for ``until`` takes in that whole day: ``--until 2021-12-31`` ends at
    midnight after the 31st.
    """
    start = _window_date("--since", since, zone, end_of_day=False)
    end = _window_date("--until", until, zone, end_of_day=True)
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"--until ({until}) must come after --since ({since})")
    cids: tuple[int, ...] = ()
    if channels is not None:
        try:
            cids = tuple(parse_channels(channels))
        except ValueError as exc:
            raise ConfigError(f"--channels: {exc}") from None
    limit = None if max_posts is None else parse_int("--max-posts", max_posts, 1)
    return Window(since=start, until=end, channels=cids, max_posts=limit)


def _window_date(name: str, text: str | None, zone: tzinfo, *, end_of_day: bool) -> datetime | None:
    if text is None:
        return None
    value = text.strip()
    try:
        if _BARE_DATE.fullmatch(value):
            day = date.fromisoformat(value)
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time(), zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{name}: expected a date such as 2021-12-04 or 2021-12-04T08:00, got {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _theme(settings: BaseSettings) -> ThemePreset:
    try:
        return preset(_text(settings, "QUPOST_THEME"))
    except ValueError as exc:
        raise ConfigError(f"QUPOST_THEME: {exc}") from None


def _cover_keys(settings: BaseSettings, theme: ThemePreset) -> tuple[str, ...]:
    """QUPOST_COVER_KEYS when set (even to nothing), else the QUPOST_THEME preset's keys."""
    explicit = _raw(settings, "QUPOST_COVER_KEYS")
    if explicit is None:
        return theme.cover_keys
    return parse_list("QUPOST_COVER_KEYS", explicit)


def _render(
    settings: BaseSettings, zone: tzinfo, on_deleted: str, duplicates: str
) -> RenderOptions:
    date_format = _text(settings, "QUPOST_DATE_FORMAT")
    _check_date_format("QUPOST_DATE_FORMAT", date_format)
    image_mode = _choice(settings, "QUPOST_IMAGE_MODE", IMAGE_MODES)
    theme = _theme(settings)
    try:
        return RenderOptions(
            date_format=date_format,
            timezone=zone,
            image_mode=image_mode,
            image_proxy=_text(settings, "QUPOST_IMAGE_PROXY"),
            image_url_base=_text(settings, "QUPOST_IMAGE_URL_BASE"),
            categories=parse_list("QUPOST_CATEGORIES", _raw(settings, "QUPOST_CATEGORIES")),
            cover_keys=_cover_keys(settings, theme),
            theme_keys=theme.extra,
            abbrlink=parse_flag("QUPOST_ABBRLINK", _raw(settings, "QUPOST_ABBRLINK")),
            tag_names=MappingProxyType(CHANNELS),
            on_deleted=on_deleted,
            duplicates=duplicates,
        )
    except RenderError as exc:
        raise ConfigError(str(exc)) from None


def _redis_prefix(settings: BaseSettings) -> str:
    name = "QUPOST_REDIS_PREFIX"
    prefix = _text(settings, name).strip().strip(":")
    if not prefix:
        raise ConfigError(f"{name}: empty; give a prefix for the Redis keys")
    return prefix


def _gc_threshold(settings: BaseSettings) -> tuple[int, int, int]:
    name = "QUPOST_GC_THRESHOLD"
    raw = _raw(settings, name)
    parts = parse_list(name, raw)
    if len(parts) != 3:
        raise ConfigError(f"{name}: expected three whole numbers, got {raw!r}")
    return (
        parse_int(name, parts[0], minimum=1),
        parse_int(name, parts[1], minimum=0),
        parse_int(name, parts[2], minimum=0),
    )


def _share(settings: BaseSettings, name: str) -> float:
    share = parse_float(name, _raw(settings, name), 0)
    if share > 1:
        raise ConfigError(
            f"{name}: must be between 0 and 1 (a share; 0 turns it off), got {share:g}"
        )
    return share


def _pushgateway_url(settings: BaseSettings) -> str:
    name = "QUPOST_PUSHGATEWAY_URL"
    url = _text(settings, name).strip()
    if url and not is_http_url(url):
        raise ConfigError(
            f"{name}: expected an http(s) URL such as http://127.0.0.1:9091, got {url!r}"
        )
    return url


def _pushgateway_job(settings: BaseSettings) -> str:
    name = "QUPOST_PUSHGATEWAY_JOB"
    job = _text(settings, name).strip()
    if not job:
        raise ConfigError(f"{name}: empty; give the job name the metrics are grouped under")
    return job


def _profile(settings: BaseSettings) -> str:
    name = "QUPOST_PROFILE"
    profile = _text(settings, name).strip().lower()
    if profile and profile not in PROFILES:
        raise ConfigError(
            f"{name}: unknown profile {profile!r}; choose one of: {', '.join(sorted(PROFILES))}"
        )
    return profile


# --- the configuration ---------------------------------------------------------


@dataclass(frozen=True)
class QupostConfig:
    """Every qupost setting, validated; build it with :meth:`of` or :meth:`from_settings`."""

    list_api: str
    allowed_domains: tuple[str, ...]
    trusted_hosts: frozenset[Endpoint]
    database_url: str
    source_dir: Path
    images_store: str
    write_posts: bool
    keep_posts: int
    """The crawl's tree holds the newest this many posts (0: all of them)."""
    render: RenderOptions
    fsync: bool
    image_max_pixels: int
    image_concurrency: int
    distributed: bool
    redis_url: str
    redis_prefix: str
    worker_idle_timeout: float
    worker_poll_interval: float
    progress_interval: float
    gc_tuning: bool
    gc_threshold: tuple[int, int, int]
    profile: str
    site_changed_share: float
    site_changed_min: int
    pushgateway_url: str
    pushgateway_job: str
    pushgateway_timeout: float

    @property
    def local_images_dir(self) -> Path | None:
        """The images folder on this machine, or None for remote stores (s3://, gs://)."""
        store = self.images_store
        if "://" in store:
            return Path(store.split("://", 1)[1]) if store.startswith("file://") else None
        return Path(store)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> QupostConfig:
        """Read and check every setting; ConfigError names the first bad one."""
        list_api = _list_api(settings)
        list_host = _host_of(list_api)
        source_dir = _source_dir(settings)
        store = _raw(settings, "IMAGES_STORE")
        zone = _timezone(settings)
        on_deleted = _choice(settings, "QUPOST_ON_DELETED", ON_DELETED_POLICIES)
        duplicates = _choice(settings, "QUPOST_DUPLICATES", DUPLICATE_POLICIES)
        return cls(
            list_api=list_api,
            allowed_domains=_allowed_domains(settings, list_host),
            trusted_hosts=_trusted_hosts(settings, list_api),
            database_url=_database_url(settings),
            source_dir=source_dir,
            images_store=str(store) if store else str(source_dir / "images" / "qupost"),
            write_posts=parse_flag("QUPOST_WRITE_POSTS", _raw(settings, "QUPOST_WRITE_POSTS")),
            keep_posts=parse_int("QUPOST_KEEP_POSTS", _raw(settings, "QUPOST_KEEP_POSTS"), 0),
            render=_render(settings, zone, on_deleted, duplicates),
            fsync=parse_flag("QUPOST_FSYNC", _raw(settings, "QUPOST_FSYNC")),
            image_max_pixels=parse_int(
                "QUPOST_IMAGE_MAX_PIXELS", _raw(settings, "QUPOST_IMAGE_MAX_PIXELS"), minimum=0
            ),
            image_concurrency=parse_int(
                "QUPOST_IMAGE_CONCURRENCY", _raw(settings, "QUPOST_IMAGE_CONCURRENCY"), minimum=1
            ),
            distributed=parse_flag("QUPOST_DISTRIBUTED", _raw(settings, "QUPOST_DISTRIBUTED")),
            redis_url=_text(settings, "REDIS_URL").strip(),
            redis_prefix=_redis_prefix(settings),
            worker_idle_timeout=parse_float(
                "QUPOST_WORKER_IDLE_TIMEOUT", _raw(settings, "QUPOST_WORKER_IDLE_TIMEOUT"), 0
            ),
            worker_poll_interval=parse_float(
                "QUPOST_WORKER_POLL_INTERVAL", _raw(settings, "QUPOST_WORKER_POLL_INTERVAL"), 0
            ),
            progress_interval=parse_float(
                "QUPOST_PROGRESS_INTERVAL", _raw(settings, "QUPOST_PROGRESS_INTERVAL"), 0
            ),
            gc_tuning=parse_flag("QUPOST_GC_TUNING", _raw(settings, "QUPOST_GC_TUNING")),
            gc_threshold=_gc_threshold(settings),
            profile=_profile(settings),
            site_changed_share=_share(settings, "QUPOST_SITE_CHANGED_SHARE"),
            site_changed_min=parse_int(
                "QUPOST_SITE_CHANGED_MIN", _raw(settings, "QUPOST_SITE_CHANGED_MIN"), minimum=1
            ),
            pushgateway_url=_pushgateway_url(settings),
            pushgateway_job=_pushgateway_job(settings),
            pushgateway_timeout=parse_float(
                "QUPOST_PUSHGATEWAY_TIMEOUT", _raw(settings, "QUPOST_PUSHGATEWAY_TIMEOUT"), 0.1
            ),
        )

    @classmethod
    def of(cls, crawler: Crawler) -> QupostConfig:
        """The crawler's configuration, built once its settings are final."""
        cached = crawler.__dict__.get(_CACHE_ATTR)
        if isinstance(cached, cls):
            return cached
        config = cls.from_settings(crawler.settings)
        # Scrapy builds the spider before add-ons (QUPOST_PROFILE) change the
        # settings and freeze them; a copy cached that early would be stale.
        if crawler.settings.frozen:
            crawler.__dict__[_CACHE_ATTR] = config
        return config


# --- spider arguments ------------------------------------------------------------


@dataclass(frozen=True)
class CrawlArgs:
    """The spider's ``-a`` arguments, checked; build it with :meth:`parse`."""

    channels: tuple[int, ...]
    pages: int
    limit: int
    urls: tuple[str, ...]
    refresh: bool

    KNOWN: ClassVar[tuple[str, ...]] = ("cid", "pages", "limit", "url", "refresh")

    @classmethod
    def parse(
        cls,
        cid: object = "1",
        pages: object = "1",
        limit: object = "20",
        url: object = None,
        refresh: object = "0",
    ) -> CrawlArgs:
        """Check the arguments; ``url=None`` means channel mode, ``url=""`` is an error."""
        try:
            channels = tuple(parse_channels(str(cid)))
        except ValueError as exc:
            raise ConfigError(f"-a cid: {exc}") from None
        return cls(
            channels=channels,
            pages=parse_int("-a pages", pages, minimum=1, maximum=MAX_PAGES),
            limit=parse_int("-a limit", limit, minimum=1, maximum=MAX_LIMIT),
            urls=() if url is None else _article_urls(str(url)),
            refresh=parse_flag("-a refresh", refresh),
        )

    @classmethod
    def from_spider_kwargs(cls, kwargs: dict[str, object]) -> CrawlArgs:
        """Parse the spider's keyword arguments, refusing names it does not know.

        Names starting with ``_`` pass: Scrapyd adds ``_job`` to every run.
        """
        unknown = [k for k in kwargs if k not in cls.KNOWN and not k.startswith("_")]
        if unknown:
            raise ConfigError(
                f"unknown spider argument(s): {', '.join(unknown)}; known: {', '.join(cls.KNOWN)}"
            )
        return cls.parse(**{k: kwargs[k] for k in cls.KNOWN if k in kwargs})


def _article_urls(value: str) -> tuple[str, ...]:
    urls: list[str] = []
    for raw in value.split(","):
        url = raw.strip()
        if not url:
            continue
        if not is_http_url(url) or article_id_from_url(url) is None:
            raise ConfigError(
                f"-a url: {url!r} is not an article page URL like "
                "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html"
            )
        urls.append(url)
    if not urls:
        raise ConfigError("-a url: empty; give one or more article page URLs")
    return tuple(dict.fromkeys(urls))
