"""The run history's parts: failures written in batches, read back by run, shown as tables."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from crawler.failures import FailureLog
from storage.history import duration, failures_table, outcome, runs_table
from storage.repository import (
    FailureGroup,
    FailureRecord,
    Repository,
    RunSummary,
    StorageError,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def history(repo: Repository) -> None:
    """Three runs; the second failed; failures in the first and the third."""
    with repo.transaction() as tx:
        for n in range(3):
            run_id = tx.start_run("host:1", "cid=1", T0 + timedelta(hours=n))
            tx.finish_run(
                run_id,
                {
                    "finished_at": T0 + timedelta(hours=n, seconds=8.5),
                    "status": "finished",
                    "exit_status": 2 if n == 1 else 0,
                    "articles_new": 10 + n,
                    "articles_failed": 3 if n != 1 else 0,
                },
            )
        failures = [
            FailureRecord(1, "article", "http_503", "1001", "http://a/1001.html", T0),
            FailureRecord(1, "article", "http_503", "1002", "http://a/1002.html", T0),
            FailureRecord(1, "image", "http_404", "1003", "http://img/x.jpeg", T0),
            FailureRecord(3, "article", "http_503", "1004", "http://a/1004.html", T0),
            FailureRecord(3, "article", "timeout", "1005", "http://a/1005.html", T0),
        ]
        tx.record_failures(failures)


def check_history(repo: Repository) -> None:
    with repo.reading() as tx:
        runs = tx.recent_runs(2)
        assert [r.id for r in runs] == [2, 3]
        assert runs[0].exit_status == 2 and runs[1].counts["articles_new"] == 12
        groups = tx.failure_groups([1, 2, 3])
        assert [(g.kind, g.reason, g.count, g.runs, g.last_run) for g in groups] == [
            ("article", "http_503", 3, 2, 3),
            ("article", "timeout", 1, 1, 3),
            ("image", "http_404", 1, 1, 1),
        ]
        # Examples come from the latest run first.
        assert groups[0].example_ids == ("1004", "1001", "1002")
        assert groups[0].example_url == "http://a/1004.html"
        only_last = tx.failure_groups([3])
        assert [(g.reason, g.count) for g in only_last] == [("http_503", 1), ("timeout", 1)]
        assert tx.failure_groups([]) == []


def test_failures_and_runs_on_sqlite(tmp_path: Path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'qupost.db'}")
    try:
        history(repo)
        check_history(repo)
    finally:
        repo.close()


@pytest.mark.services
def test_failures_and_runs_on_postgresql(pg_url: str) -> None:
    repo = Repository.open(pg_url)
    try:
        history(repo)
        check_history(repo)
    finally:
        repo.close()


def summary(**values: Any) -> RunSummary:
    base: dict[str, Any] = {
        "id": 7,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=8.14),
        "status": "finished",
        "exit_status": 0,
        "host": "h:1",
        "arguments": "",
        "counts": {"articles_new": 12, "images_downloaded": 31, "images_failed": 1},
    }
    return RunSummary(**{**base, **values})


def test_durations_and_outcomes() -> None:
    assert duration(summary()) == "8.1s"
    assert duration(summary(finished_at=T0 + timedelta(seconds=192))) == "3m12s"
    assert duration(summary(finished_at=T0 + timedelta(hours=2, minutes=5))) == "2h05m"
    assert duration(summary(finished_at=None, status="running")) == "-"
    assert outcome(summary()) == "0"
    assert outcome(summary(exit_status=1, status="catalog_damaged")) == "1 (catalog_damaged)"
    assert outcome(summary(exit_status=None, status="interrupted")) == "interrupted"


def test_runs_table_lines_up() -> None:
    lines = runs_table([summary(), summary(id=8, exit_status=2)], UTC)
    assert lines[0].split()[:4] == ["run", "started", "(UTC)", "duration"]
    assert lines[1].split() == [
        "7", "2026-01-02", "03:04:05", "8.1s", "12", "0", "0", "0", "0", "0", "31", "1", "0"
    ]  # fmt: skip
    assert lines[2].split()[-1] == "2"
    # Numbers are right-aligned under their header.
    assert lines[0].index("new") + len("new") == lines[1].index(" 12 ") + len(" 12")


def test_failures_table_shows_examples() -> None:
    group = FailureGroup("article", "http_503", 3, 2, 9, ("1004", "1001"), "http://a/1004.html")
    lines = failures_table([group])
    assert lines[0].split()[:3] == ["kind", "reason", "count"]
    assert lines[1].split() == [
        "article", "http_503", "3", "2", "9", "1004,", "1001", "http://a/1004.html"
    ]  # fmt: skip


class StubCatalog:
    def __init__(self, repo: Repository | None, run_id: int | None) -> None:
        self._repo = repo
        self.run_id = run_id

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            raise StorageError("database disk image is malformed")
        return self._repo


def stub_crawler(catalog: StubCatalog) -> Any:
    return SimpleNamespace(get_extension=lambda cls: catalog, signals=None)


def count_failures(repo: Repository) -> int:
    with repo.reading() as tx:
        return sum(g.count for g in tx.failure_groups([1]))


def test_failure_log_writes_in_batches_and_at_the_end(tmp_path: Path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'qupost.db'}")
    try:
        with repo.transaction() as tx:
            run_id = tx.start_run("h:1", "", T0)
        log = FailureLog(stub_crawler(StubCatalog(repo, run_id)))
        for n in range(FailureLog.BATCH + 5):
            log.add("article", "http_503", str(n), f"http://a/{n}.html")
        assert count_failures(repo) == FailureLog.BATCH  # one batch written, 5 waiting
        assert len(log.pending) == 5
        log.flush()
        assert count_failures(repo) == FailureLog.BATCH + 5 and log.written == FailureLog.BATCH + 5
    finally:
        repo.close()


def test_failure_log_never_fails_the_crawl(caplog: pytest.LogCaptureFixture) -> None:
    log = FailureLog(stub_crawler(StubCatalog(None, 1)))
    for n in range(3):
        log.add("image", "http_404", None, f"http://img/{n}.jpeg")
    with caplog.at_level(logging.ERROR):
        log.flush()
        log.add("image", "http_404", None, "http://img/again.jpeg")
        log.flush()
    assert log.lost == 4 and log.pending == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "run history" in errors[0].getMessage()
    # Without a run (the catalog was never opened) nothing is written, nothing is lost.
    idle = FailureLog(stub_crawler(StubCatalog(None, None)))
    idle.add("article", "timeout", "1", "http://a/1.html")
    idle.flush()
    assert idle.lost == 0
