"""Progress lines, the one-line summary, and the quiet cron-friendly mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import Fault, build_site
from tests.conftest import run_crawl

pytestmark = pytest.mark.e2e

SUMMARY = re.compile(
    r"\[qupost.summary\] (?P<level>[A-Z]+): "
    r"qupost run \d+ finished in [\d.]+s: (\d+) new, (\d+) updated, (\d+) unchanged, "
    r"(\d+) deleted, (\d+) failed, (\d+) skipped \(of (\d+) listed\); "
    r"(?:\d+ of the new are near-duplicates \(\w+\); )?"
    r"images (\d+) downloaded, (\d+) failed; exit status (\d+)"
)


def summary_of(stderr: str) -> tuple[str, list[int]]:
    """The one summary line's level and its numbers, in the order they are printed."""
    found = [m for line in stderr.splitlines() if (m := SUMMARY.search(line))]
    assert len(found) == 1, stderr[-3000:]
    return found[0]["level"], [int(v) for v in found[0].groups()[1:]]


def assert_adds_up(numbers: list[int]) -> None:
    new, updated, unchanged, deleted, failed, skipped, listed = numbers[:7]
    assert new + updated + unchanged + deleted + failed + skipped == listed, numbers


def test_progress_lines_while_crawling(tmp_path: Path) -> None:
    site = build_site(60, images_per_article=1)
    with FakeServer(site) as server:
        result = run_crawl(
            server,
            tmp_path,
            "cid=1",
            "pages=1",
            "limit=60",
            QUPOST_PROGRESS_INTERVAL="0.05",
            CONCURRENT_REQUESTS="2",
        )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "progress: listed" in line]
    assert lines, result.stderr[-2000:]
    assert re.search(
        r"progress: listed \d+, known \d+, fetched \d+, stored \d+ \(\d+ posts written\), "
        r"images \d+ stored / \d+ failed, failures \d+, [\d.]+ articles/s",
        lines[-1],
    )


def test_quiet_run_prints_only_problems_and_the_summary(tmp_path: Path) -> None:
    site = build_site(4)
    ids = sorted(site.articles)
    site.articles[ids[0]].mode = "deleted"
    broken = next(part[1] for part in site.articles[ids[1]].body if part[0] == "img")
    with FakeServer(site) as server:
        site.faults[broken] = Fault(status=404, body=b"gone", times=5)
        result = run_crawl(server, tmp_path, "cid=1", LOG_LEVEL="WARNING")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    problems = [line for line in lines if not SUMMARY.search(line)]
    assert all("WARNING" in line or "ERROR" in line for line in problems), problems
    level, numbers = summary_of(result.stderr)
    # A run that worked is not a warning, yet a quiet run still shows its summary.
    assert level == "INFO"
    new, updated, unchanged, deleted, failed, skipped, listed = numbers[:7]
    assert (new, updated, unchanged, deleted, failed, skipped, listed) == (3, 0, 0, 1, 0, 0, 4)
    assert numbers[7:] == [5, 1, 0]
    assert any("image not stored (HTTP 404)" in line for line in problems)


def test_the_summary_adds_up_on_a_first_run_and_a_rerun(tmp_path: Path) -> None:
    site = build_site(8, channels=(1, 6))
    ids = sorted(site.articles)
    site.articles[ids[0]].mode = "deleted"
    # Listed under both channels: its second listing is either dropped by the
    # duplicate filter (skipped) or, once stored, not fetched (unchanged).
    site.articles[ids[2]].channels = [1, 6]
    with FakeServer(site) as server:
        site.faults[site.articles[ids[1]].page_path] = Fault(status=503, times=10)
        first = run_crawl(server, tmp_path, "cid=1,6")
        again = run_crawl(server, tmp_path, "cid=1,6")
    _, numbers = summary_of(first.stderr)
    assert_adds_up(numbers)
    assert numbers[0] == 6 and numbers[3] == 1 and numbers[4] == 1
    assert numbers[2] + numbers[5] == 1 and numbers[6] == 9, numbers
    _, rerun = summary_of(again.stderr)
    assert_adds_up(rerun)
    # Stored articles are not fetched again: they count as unchanged, not as nothing.
    # (the article listed under both channels counts once per listing).
    assert rerun[0] == 0 and rerun[2] == 7, rerun


def test_run_record_matches_the_summary(tmp_path: Path) -> None:
    import sqlite3

    site = build_site(3)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
    assert result.returncode == 0
    conn = sqlite3.connect(tmp_path / "qupost.db")
    row = conn.execute(
        "SELECT status, exit_status, articles_listed, articles_new, images_downloaded, "
        "finished_at IS NOT NULL FROM runs"
    ).fetchall()
    conn.close()
    assert row == [("finished", 0, 3, 3, 6, 1)]
