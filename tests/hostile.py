"""Shared checks for the hostile-input tests: stats, log lines, what was written.

Every bad case is held to the same bar: the crawl
exits normally, says what happened in one clear log line, counts it in a
``qupost/...`` stat, prints no traceback, and still writes every other article.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import lxml.html

from tests.conftest import CrawlResult


def stat(result: CrawlResult, name: str) -> int:
    """A counter from the stats Scrapy dumps at the end (0 when absent)."""
    match = re.search(rf"'{re.escape(name)}': (\d+)", result.stderr)
    return int(match.group(1)) if match else 0


def log_lines(result: CrawlResult, fragment: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if fragment in line]


def one_line(result: CrawlResult, fragment: str) -> str:
    """The single log line that contains ``fragment``; fails on none or several."""
    lines = log_lines(result, fragment)
    assert len(lines) == 1, (fragment, lines, result.stderr[-3000:])
    return lines[0]


def image_line(result: CrawlResult, url: str) -> str:
    """The one warning about a failed image, which ends with its origin URL."""
    lines = [line for line in result.stderr.splitlines() if line.endswith(f"origin URL {url}")]
    assert len(lines) == 1, (url, lines, result.stderr[-3000:])
    return lines[0]


def assert_clean_run(result: CrawlResult) -> None:
    """Exit status 0 and no traceback anywhere in the crawl's output."""
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-5000:]
    assert "Traceback" not in result.stdout


def assert_written(result: CrawlResult, ids: list[str] | set[str]) -> None:
    """Exactly these articles have posts."""
    assert {p.name for p in result.post_files()} == {f"qupost-{i}.md" for i in ids}


def images_in(body: str) -> list[lxml.html.HtmlElement]:
    return list(lxml.html.fragment_fromstring(body.strip()).iter("img"))


def image_rows(result: CrawlResult) -> dict[str, tuple[str, str | None, str | None]]:
    """``url -> (status, reason, path)`` from the catalog's ``images`` table."""
    with sqlite3.connect(result.out / "qupost.db") as conn:
        rows = conn.execute("SELECT url, status, reason, path FROM images").fetchall()
    return {url: (status, reason, path) for url, status, reason, path in rows}


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
