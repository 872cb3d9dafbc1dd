"""The typed configuration: defaults, list forms, and one-line errors for bad values."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

import crawler.settings as defaults
from crawler.config import (
    MAX_LIMIT,
    ON_DELETED_POLICIES,
    ConfigError,
    CrawlArgs,
    QupostConfig,
    parse_flag,
    parse_float,
    parse_int,
    parse_list,
    parse_timezone,
)
from crawler.profiles import PROFILES
from storage.themes import preset

ARTICLE = "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html"
OTHER_ARTICLE = "https://html2.qktoutiao.com/detail/2021/12/05/1638700000.html"
FLAG_WORDS = [
    ("1", True),
    ("0", False),
    ("true", True),
    ("false", False),
    ("yes", True),
    ("no", False),
    ("on", True),
    ("off", False),
    ("TRUE", True),
    (" On ", True),
]


def config(**values: Any) -> QupostConfig:
    return QupostConfig.from_settings(Settings(values))


def project_settings(**values: Any) -> Settings:
    settings = Settings()
    settings.setmodule(defaults, priority="project")
    settings.setdict(values, priority="cmdline")
    return settings


def config_error(**values: Any) -> str:
    with pytest.raises(ConfigError) as info:
        config(**values)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


# --- defaults ------------------------------------------------------------------


def test_defaults_come_from_the_settings_module() -> None:
    cfg = config()
    list_host = "api.1sapp.com"
    assert urlsplit(defaults.QUPOST_LIST_API).hostname == list_host
    assert cfg.list_api == defaults.QUPOST_LIST_API
    assert cfg.allowed_domains == (*defaults.QUPOST_ALLOWED_DOMAINS, list_host)
    assert not defaults.QUPOST_TRUSTED_HOSTS
    # The list API is trusted on its own host and port only.
    assert cfg.trusted_hosts == frozenset({(list_host, 80)})
    assert cfg.database_url == defaults.QUPOST_DATABASE_URL
    assert cfg.source_dir == Path(defaults.QUPOST_SOURCE_DIR)
    assert cfg.images_store == str(Path(defaults.QUPOST_SOURCE_DIR) / "images" / "qupost")
    assert cfg.local_images_dir == Path(defaults.QUPOST_SOURCE_DIR) / "images" / "qupost"
    assert cfg.write_posts is defaults.QUPOST_WRITE_POSTS
    assert cfg.render.date_format == defaults.QUPOST_DATE_FORMAT
    assert cfg.render.timezone == parse_timezone(defaults.QUPOST_TIMEZONE)
    assert cfg.render.image_mode == defaults.QUPOST_IMAGE_MODE
    assert cfg.render.image_proxy == defaults.QUPOST_IMAGE_PROXY
    assert cfg.render.image_url_base == defaults.QUPOST_IMAGE_URL_BASE
    assert cfg.render.categories == tuple(defaults.QUPOST_CATEGORIES)
    assert defaults.QUPOST_COVER_KEYS is None  # unset: the theme preset decides
    assert cfg.render.cover_keys == preset(defaults.QUPOST_THEME).cover_keys
    assert cfg.render.abbrlink is defaults.QUPOST_ABBRLINK
    assert cfg.render.on_deleted == defaults.QUPOST_ON_DELETED
    assert cfg.fsync is defaults.QUPOST_FSYNC
    assert cfg.image_max_pixels == defaults.QUPOST_IMAGE_MAX_PIXELS
    assert cfg.image_concurrency == defaults.QUPOST_IMAGE_CONCURRENCY
    assert cfg.distributed is defaults.QUPOST_DISTRIBUTED
    assert cfg.redis_url == defaults.REDIS_URL
    assert cfg.redis_prefix == defaults.QUPOST_REDIS_PREFIX
    assert cfg.worker_idle_timeout == defaults.QUPOST_WORKER_IDLE_TIMEOUT
    assert cfg.worker_poll_interval == defaults.QUPOST_WORKER_POLL_INTERVAL
    assert cfg.progress_interval == defaults.QUPOST_PROGRESS_INTERVAL
    assert cfg.gc_tuning is defaults.QUPOST_GC_TUNING
    assert cfg.gc_threshold == tuple(defaults.QUPOST_GC_THRESHOLD)
    assert cfg.profile == defaults.QUPOST_PROFILE


def test_project_settings_and_bare_settings_give_the_same_config() -> None:
    assert QupostConfig.from_settings(project_settings()) == config()


def test_missing_setting_is_read_from_the_settings_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(defaults, "QUPOST_IMAGE_CONCURRENCY", 3)
    monkeypatch.setattr(defaults, "QUPOST_REDIS_PREFIX", "elsewhere")
    cfg = config()
    assert cfg.image_concurrency == 3
    assert cfg.redis_prefix == "elsewhere"


def test_on_deleted_setting_exists_with_a_known_policy() -> None:
    assert ON_DELETED_POLICIES == ("keep", "unpublish", "remove")
    assert defaults.QUPOST_ON_DELETED in ON_DELETED_POLICIES


@pytest.mark.parametrize("policy", ["keep", "unpublish", "remove", " REMOVE "])
def test_on_deleted_reaches_config_and_render(policy: str) -> None:
    cfg = config(QUPOST_ON_DELETED=policy)
    # One place holds it: the post format's options.
    assert cfg.render.on_deleted == policy.strip().lower()
    assert not hasattr(cfg, "on_deleted")


def test_given_values_override_defaults() -> None:
    cfg = QupostConfig.from_settings(
        project_settings(
            QUPOST_IMAGE_MAX_PIXELS="0",
            QUPOST_IMAGE_CONCURRENCY="4",
            QUPOST_WORKER_IDLE_TIMEOUT="2.5",
            QUPOST_REDIS_PREFIX=":team:",
            QUPOST_PROFILE=" Fast ",
            QUPOST_IMAGE_MODE="ORIGIN",
            QUPOST_TIMEZONE="UTC",
        )
    )
    assert cfg.image_max_pixels == 0
    assert cfg.image_concurrency == 4
    assert cfg.worker_idle_timeout == 2.5
    assert cfg.redis_prefix == "team"
    assert cfg.profile == "fast"
    assert cfg.render.image_mode == "origin"
    assert cfg.render.timezone == parse_timezone("UTC")


# --- lists ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        '["Example.com", "news.example.org"]',
        " Example.com, news.example.org ",
        "Example.com，news.example.org",
        ["Example.com", " news.example.org", ""],
    ],
    ids=["json", "comma", "full-width-comma", "list"],
)
def test_allowed_domains_forms(value: Any) -> None:
    cfg = config(QUPOST_ALLOWED_DOMAINS=value, QUPOST_LIST_API="https://api.example.net/list")
    assert cfg.allowed_domains == ("example.com", "news.example.org", "api.example.net")


def test_list_api_host_is_not_added_twice() -> None:
    cfg = config(
        QUPOST_ALLOWED_DOMAINS='["api.example.net", "b.example"]',
        QUPOST_LIST_API="http://api.example.net:8080/list",
    )
    assert cfg.allowed_domains == ("api.example.net", "b.example")


@pytest.mark.parametrize(
    "value",
    ['["Box.Local.", "[::1]"]', "Box.Local. , [::1]", ["box.local", "::1"]],
    ids=["json", "comma", "list"],
)
def test_trusted_hosts_forms(value: Any) -> None:
    cfg = config(QUPOST_TRUSTED_HOSTS=value, QUPOST_LIST_API="http://127.0.0.1:8000/api")
    assert cfg.trusted_hosts == frozenset({("box.local", None), ("::1", None), ("127.0.0.1", 8000)})
    assert "127.0.0.1" in cfg.allowed_domains


@pytest.mark.parametrize(
    ("entry", "endpoint"),
    [
        ("mirror.lan:8080", ("mirror.lan", 8080)),
        ('["[fd00::5]:8443"]', ("fd00::5", 8443)),
        ("fd00::5", ("fd00::5", None)),
        ("Mirror.LAN.", ("mirror.lan", None)),
    ],
)
def test_trusted_hosts_carry_ports(entry: str, endpoint: tuple[str, int | None]) -> None:
    cfg = config(QUPOST_TRUSTED_HOSTS=entry)
    assert endpoint in cfg.trusted_hosts


@pytest.mark.parametrize("entry", ["mirror.lan:port", "http://mirror.lan/", "user@mirror.lan"])
def test_bad_trusted_host_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match="QUPOST_TRUSTED_HOSTS"):
        config(QUPOST_TRUSTED_HOSTS=entry)


@pytest.mark.parametrize("name", ["QUPOST_CATEGORIES", "QUPOST_COVER_KEYS"])
@pytest.mark.parametrize(
    "value",
    ['["cover", "top_img"]', "cover, top_img", "cover，top_img,", ("cover", "top_img")],
    ids=["json", "comma", "full-width-comma", "tuple"],
)
def test_render_list_settings(name: str, value: Any) -> None:
    render = config(**{name: value}).render
    got = render.categories if name == "QUPOST_CATEGORIES" else render.cover_keys
    assert got == ("cover", "top_img")


@pytest.mark.parametrize("value", ["[1000, 5, 7]", "1000, 5, 7", ["1000", "5", "7"], [1000, 5, 7]])
def test_gc_threshold_forms(value: Any) -> None:
    assert config(QUPOST_GC_THRESHOLD=value).gc_threshold == (1000, 5, 7)


def test_parse_list_rejects_json_that_is_not_a_flat_list() -> None:
    with pytest.raises(ConfigError, match="QUPOST_CATEGORIES"):
        parse_list("QUPOST_CATEGORIES", '[["a"], "b"]')
    with pytest.raises(ConfigError, match="QUPOST_CATEGORIES"):
        parse_list("QUPOST_CATEGORIES", "[true]")


def test_parse_list_keeps_numbers_and_drops_blanks() -> None:
    assert parse_list("X", '[1, 2.5, " ", "a "]') == ("1", "2.5", "a")
    assert parse_list("X", "") == ()
    assert parse_list("X", " , ，") == ()


# --- bad values: one line naming the setting -------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("QUPOST_PROFILE", "turbo", ", ".join(sorted(PROFILES))),
        ("QUPOST_IMAGE_MAX_PIXELS", "abc", "whole number"),
        ("QUPOST_IMAGE_MAX_PIXELS", "-1", "at least 0"),
        ("QUPOST_IMAGE_CONCURRENCY", "0", "at least 1"),
        ("QUPOST_GC_THRESHOLD", "abc", "three whole numbers"),
        ("QUPOST_GC_THRESHOLD", "1, x, 3", "whole number"),
        ("QUPOST_GC_THRESHOLD", "0, 1, 1", "at least 1"),
        ("QUPOST_FSYNC", "maybe", "yes/no"),
        ("QUPOST_WRITE_POSTS", "2", "true/false"),
        ("QUPOST_DATE_FORMAT", "%Q nonsense", "'%Q'"),
        ("QUPOST_DATE_FORMAT", "%Y-%", "strftime"),
        ("QUPOST_DATE_FORMAT", "%%", "strftime pattern"),
        ("QUPOST_DATE_FORMAT", "YYYY-MM-DD", "strftime pattern"),
        ("QUPOST_TIMEZONE", "Mars/Base", "Mars/Base"),
        ("QUPOST_IMAGE_MODE", "weird", "local, proxy, origin"),
        ("QUPOST_ON_DELETED", "bogus", "keep, unpublish, remove"),
        ("QUPOST_ALLOWED_DOMAINS", '["qktoutiao.com", ', "JSON"),
        ("QUPOST_ALLOWED_DOMAINS", "https://qktoutiao.com", "not a host name"),
        ("QUPOST_ALLOWED_DOMAINS", "qktoutiao.com/detail", "not a host name"),
        ("QUPOST_ALLOWED_DOMAINS", "qktoutiao.com:8080", "not a host name"),
        ("QUPOST_TRUSTED_HOSTS", "[localhost", "JSON"),
        ("QUPOST_CATEGORIES", {"a": 1}, "expected a list"),
        ("QUPOST_COVER_KEYS", "[cover]", "JSON"),
        ("QUPOST_LIST_API", "ftp://api.example.com/list", "http(s) URL"),
        ("QUPOST_LIST_API", "http:///list", "http(s) URL"),
        ("QUPOST_LIST_API", "http://api.example.com:port/list", "http(s) URL"),
        ("QUPOST_DATABASE_URL", "", "empty"),
        ("QUPOST_DATABASE_URL", "not a url", "SQLAlchemy"),
        ("QUPOST_DATABASE_URL", "mysql://x/y", "qupost supports"),
        ("QUPOST_SOURCE_DIR", " ", "empty"),
        ("QUPOST_REDIS_PREFIX", ":::", "empty"),
        ("QUPOST_WORKER_IDLE_TIMEOUT", "soon", "number"),
        ("QUPOST_WORKER_POLL_INTERVAL", "-0.5", "at least 0"),
        ("QUPOST_PROGRESS_INTERVAL", "nan", "number"),
    ],
)
def test_bad_value_is_one_line_naming_the_setting(name: str, value: object, fragment: str) -> None:
    message = config_error(**{name: value})
    assert message.startswith(f"{name}: ")
    assert fragment in message


def test_proxy_mode_without_proxy_is_a_config_error() -> None:
    message = config_error(QUPOST_IMAGE_MODE="proxy", QUPOST_IMAGE_PROXY="")
    assert "QUPOST_IMAGE_PROXY" in message
    cfg = config(QUPOST_IMAGE_MODE="proxy", QUPOST_IMAGE_PROXY="https://p.example/?")
    assert cfg.render.image_proxy == "https://p.example/?"


@pytest.mark.parametrize(
    "pattern", ["%Y-%m-%d %H:%M:%S", "%-d %b", "%a, %d %b %Y %H:%M:%S %z", "100%% at %H", "iso"]
)
def test_good_date_formats_pass(pattern: str) -> None:
    assert config(QUPOST_DATE_FORMAT=pattern).render.date_format == pattern


def test_first_bad_value_is_reported() -> None:
    message = config_error(QUPOST_LIST_API="nope", QUPOST_FSYNC="maybe")
    assert message.startswith("QUPOST_LIST_API")


# --- stores --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("store", "local"),
    [
        ("s3://bucket/images", None),
        ("gs://bucket/images", None),
        ("file:///srv/blog/images", Path("/srv/blog/images")),
        ("/srv/blog/images", Path("/srv/blog/images")),
    ],
)
def test_images_store_and_local_folder(store: str, local: Path | None) -> None:
    cfg = config(IMAGES_STORE=store)
    assert cfg.images_store == store
    assert cfg.local_images_dir == local


def test_images_store_follows_source_dir_when_unset() -> None:
    cfg = config(QUPOST_SOURCE_DIR="/blog/source", IMAGES_STORE="")
    assert cfg.images_store == str(Path("/blog/source/images/qupost"))


# --- parsers -------------------------------------------------------------------


@pytest.mark.parametrize(("word", "expected"), FLAG_WORDS)
def test_flag_words_in_a_setting(word: str, expected: bool) -> None:
    assert config(QUPOST_FSYNC=word).fsync is expected
    assert config(QUPOST_DISTRIBUTED=word).distributed is expected


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), (1, True), (0, False), ("", False)]
)
def test_parse_flag_values(value: object, expected: bool) -> None:
    assert parse_flag("QUPOST_FSYNC", value) is expected


@pytest.mark.parametrize("value", [2, -1, "maybe", "y", None, 1.0])
def test_parse_flag_refuses(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^QUPOST_FSYNC: .*on/off"):
        parse_flag("QUPOST_FSYNC", value)


def test_parse_int_and_float_bounds() -> None:
    assert parse_int("N", " 12 ", minimum=0, maximum=12) == 12
    with pytest.raises(ConfigError, match=r"^N: must be between 1 and 5, got 6$"):
        parse_int("N", "6", minimum=1, maximum=5)
    with pytest.raises(ConfigError, match=r"^N: must be at most 5, got 6$"):
        parse_int("N", 6, maximum=5)
    with pytest.raises(ConfigError, match=r"^N: expected a whole number, got True$"):
        parse_int("N", True)
    with pytest.raises(ConfigError, match="whole number"):
        parse_int("N", "1.5")
    assert parse_float("F", "0", minimum=0) == 0.0
    with pytest.raises(ConfigError, match=r"^F: expected a number, got 'inf'$"):
        parse_float("F", "inf")


# --- crawler and immutability ------------------------------------------------------


def test_of_builds_once_per_crawler() -> None:
    crawler = get_crawler(settings_dict={"QUPOST_IMAGE_CONCURRENCY": "5"})
    first = QupostConfig.of(crawler)
    assert first.image_concurrency == 5
    assert QupostConfig.of(crawler) is first
    assert QupostConfig.of(get_crawler()) is not first


def test_of_does_not_cache_before_settings_are_final() -> None:
    # Scrapy builds the spider before add-ons (QUPOST_PROFILE) change settings.
    crawler = get_crawler()
    crawler.settings = Settings({"QUPOST_IMAGE_CONCURRENCY": "5"})
    assert QupostConfig.of(crawler).image_concurrency == 5
    crawler.settings.set("QUPOST_IMAGE_CONCURRENCY", "7")
    crawler.settings.freeze()
    final = QupostConfig.of(crawler)
    assert final.image_concurrency == 7
    assert QupostConfig.of(crawler) is final


def test_of_raises_config_error_for_bad_settings() -> None:
    crawler = get_crawler(settings_dict={"QUPOST_PROFILE": "turbo"})
    with pytest.raises(ConfigError, match=r"^QUPOST_PROFILE: "):
        QupostConfig.of(crawler)


def test_config_is_frozen() -> None:
    cfg = config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.fsync = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.render.image_mode = "origin"  # type: ignore[misc]
    args = CrawlArgs.parse()
    with pytest.raises(dataclasses.FrozenInstanceError):
        args.pages = 3  # type: ignore[misc]


# --- spider arguments --------------------------------------------------------------


def test_crawl_args_defaults_are_channel_mode() -> None:
    assert CrawlArgs.parse() == CrawlArgs(channels=(1,), pages=1, limit=20, urls=(), refresh=False)


def test_crawl_args_values() -> None:
    args = CrawlArgs.parse(
        cid="6, 科技，6",
        pages="3",
        limit=str(MAX_LIMIT),
        url=f"{ARTICLE},{OTHER_ARTICLE},{ARTICLE}",
    )
    assert args.channels == (6, 7)
    assert (args.pages, args.limit) == (3, MAX_LIMIT)
    assert args.urls == (ARTICLE, OTHER_ARTICLE)


@pytest.mark.parametrize(("word", "expected"), FLAG_WORDS)
def test_flag_words_for_refresh(word: str, expected: bool) -> None:
    assert CrawlArgs.parse(refresh=word).refresh is expected


@pytest.mark.parametrize(
    ("arguments", "prefix"),
    [
        ({"cid": "火星"}, "-a cid: "),
        ({"cid": ""}, "-a cid: "),
        ({"pages": "0"}, "-a pages: "),
        ({"pages": "10001"}, "-a pages: "),
        ({"pages": "many"}, "-a pages: "),
        ({"limit": str(MAX_LIMIT + 1)}, "-a limit: "),
        ({"refresh": "maybe"}, "-a refresh: "),
        ({"url": "http://example.com/x"}, "-a url: "),
        ({"url": f"{ARTICLE},javascript:alert(1)"}, "-a url: "),
    ],
)
def test_bad_crawl_args(arguments: dict[str, str], prefix: str) -> None:
    with pytest.raises(ConfigError) as info:
        CrawlArgs.parse(**arguments)
    assert str(info.value).startswith(prefix)
    assert "\n" not in str(info.value)


def test_pages_maximum_is_accepted() -> None:
    assert CrawlArgs.parse(pages="10000").pages == 10_000


@pytest.mark.parametrize("url", ["", " ", ", ,"])
def test_empty_url_is_an_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^-a url: empty; give one or more article page URLs$"):
        CrawlArgs.parse(url=url)


def test_absent_url_is_channel_mode() -> None:
    args = CrawlArgs.from_spider_kwargs({"cid": "1"})
    assert args.urls == ()
    assert args.channels == (1,)


def test_unknown_spider_arguments() -> None:
    with pytest.raises(ConfigError) as info:
        CrawlArgs.from_spider_kwargs({"cid": "1", "bogus": "1", "pagez": "2"})
    assert str(info.value) == (
        "unknown spider argument(s): bogus, pagez; known: cid, pages, limit, url, refresh"
    )


def test_private_spider_arguments_pass() -> None:
    args = CrawlArgs.from_spider_kwargs({"_job": "abc123", "pages": "2", "refresh": "yes"})
    assert args.pages == 2 and args.refresh is True


def test_spider_kwargs_go_through_parse() -> None:
    with pytest.raises(ConfigError, match=r"^-a url: empty"):
        CrawlArgs.from_spider_kwargs({"url": ""})
