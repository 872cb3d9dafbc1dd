"""qupost's Scrapy commands (COMMANDS_MODULE): crawl, export, demo, seed, migrate, catalog,
runs, fakesite and deploy.

Each command derives from ``crawler.cli.StrictOptions`` (directly or through
``QupostCommand``), so a mistyped option or a stray argument is one
``qupost: error: ...`` line and exit status 2 however the command is started
(``qupost``, ``scrapy`` or Scrapyd's runner).  The base classes live outside
this package because Scrapy takes every command class it finds in it for a
command of its own.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from storage.repository import sqlite_file

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

# Bad arguments or settings; runs use crawler.catalog's statuses.
EXIT_BAD_INPUT = 2


def fail(message: str, status: int = EXIT_BAD_INPUT, settings: BaseSettings | None = None) -> int:
    """Print one clear error line and return the exit status to end with.

    With ``settings`` whose ``LOG_FILE`` is set (Scrapyd sets it for every
    job), the line goes to that log file too, so the job's own log says why
    it stopped before it began.
    """
    line = f"qupost: error: {' '.join(message.split())}"
    print(line, file=sys.stderr)
    log_file = settings.get("LOG_FILE") if settings is not None else None
    if log_file:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        try:
            with Path(str(log_file)).open("a", encoding="utf-8") as handle:
                handle.write(f"{stamp} [qupost] ERROR: {line}\n")
        except OSError:
            pass  # stderr has it; an unwritable log file is no reason to hide it
    return status


def missing_catalog(url: str) -> str | None:
    """The error line for an SQLite catalog file that does not exist (opening would create it)."""
    path = sqlite_file(url)
    if path is None or path.is_file():
        return None
    return (
        f"no catalog at {path.resolve()} (QUPOST_DATABASE_URL={url}); "
        "crawl first, or set QUPOST_DATABASE_URL to a crawl's catalog"
    )
