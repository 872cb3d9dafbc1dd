"""Reading qupost's storage and format settings into typed values."""

from __future__ import annotations

import json
from pathlib import Path

from scrapy.settings import BaseSettings

from storage.hexo import RenderError, RenderOptions


def _list_setting(settings: BaseSettings, name: str) -> tuple[str, ...]:
    value = settings.get(name)
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise RenderError(f"{name} is not a valid JSON list: {value!r}") from exc
    items = settings.getlist(name) if not isinstance(value, list) else value
    return tuple(str(v).strip() for v in items if str(v).strip())


def render_options(settings: BaseSettings) -> RenderOptions:
    """The post format the settings ask for; RenderError names a bad value."""
    from pipelines.dates import parse_timezone

    try:
        zone = parse_timezone(settings.get("QUPOST_TIMEZONE") or "Asia/Shanghai")
    except ValueError as exc:
        raise RenderError(str(exc)) from exc
    return RenderOptions(
        date_format=settings.get("QUPOST_DATE_FORMAT") or "rfc1123",
        timezone=zone,
        image_mode=(settings.get("QUPOST_IMAGE_MODE") or "local").strip().lower(),
        image_proxy=settings.get("QUPOST_IMAGE_PROXY") or "",
        image_url_base=settings.get("QUPOST_IMAGE_URL_BASE") or "/images/qupost/",
        categories=_list_setting(settings, "QUPOST_CATEGORIES"),
        cover_keys=_list_setting(settings, "QUPOST_COVER_KEYS"),
    )


def source_dir(settings: BaseSettings) -> Path:
    return Path(settings.get("QUPOST_SOURCE_DIR") or "output/source")


def images_store(settings: BaseSettings) -> str:
    """Scrapy's IMAGES_STORE, or the blog's own images folder when unset."""
    store = settings.get("IMAGES_STORE")
    if store:
        return str(store)
    return str(source_dir(settings) / "images" / "qupost")


def local_images_dir(settings: BaseSettings) -> Path | None:
    """The images folder on this machine, or None for remote stores (s3://, gs://)."""
    store = images_store(settings)
    if "://" in store:
        return Path(store.split("://", 1)[1]) if store.startswith("file://") else None
    return Path(store)
