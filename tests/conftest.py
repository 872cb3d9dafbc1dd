"""Shared fixtures: the loopback fake site and a runner for real ``scrapy crawl`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
import yaml

from fakesite.server import FakeServer
from fakesite.site import FakeSite, build_site
from storage.article import Article
from storage.repository import Repository

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
REQUIRE_SERVICES = os.environ.get("QUPOST_REQUIRE_SERVICES") == "1"
PG_ADMIN = os.environ.get("QUPOST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def data_file(name: str) -> Path:
    """A saved page or expectation under tests/data/ (the one place tests read them)."""
    path = DATA / name
    if not path.exists():
        raise FileNotFoundError(f"missing test data file {path}")
    return path


def read_article(repo: Repository, qupost_id: str) -> Article | None:
    """The stored article, read as the export reads it (no lock taken)."""
    with repo.reading() as tx:
        return tx.load_article(qupost_id)


def skip_or_fail(reason: str) -> None:
    """Skip when a service is absent, but fail under QUPOST_REQUIRE_SERVICES=1 (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (QUPOST_REQUIRE_SERVICES=1, so this is a failure)")
    pytest.skip(reason)


@dataclass
class CrawlResult:
    returncode: int
    stdout: str
    stderr: str
    out: Path

    @property
    def source(self) -> Path:
        return self.out / "source"

    @property
    def posts(self) -> Path:
        return self.source / "_posts"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.out / 'qupost.db'}"

    def post(self, qupost_id: str) -> tuple[dict[str, object], str]:
        return split_post((self.posts / f"qupost-{qupost_id}.md").read_text("utf-8"))

    def post_files(self) -> list[Path]:
        return sorted(self.posts.glob("*.md")) if self.posts.exists() else []


def split_post(text: str) -> tuple[dict[str, object], str]:
    """Front matter (parsed) and body of a post file."""
    assert text.startswith("---\n"), text[:80]
    head, body = text[4:].split("\n---\n", 1)
    matter = yaml.safe_load(head)
    assert isinstance(matter, dict)
    return matter, body


def crawl_command(server: FakeServer, out: Path, *args: str, **settings: object) -> list[str]:
    base = {
        "QUPOST_LIST_API": server.list_api,
        "QUPOST_PROFILE": "fast",
        "QUPOST_DATABASE_URL": f"sqlite:///{out / 'qupost.db'}",
        "QUPOST_SOURCE_DIR": str(out / "source"),
        "QUPOST_PROGRESS_INTERVAL": "0",
        "LOG_LEVEL": "INFO",
    }
    base.update({k: str(v) for k, v in settings.items()})
    command = [sys.executable, "-m", "scrapy", "crawl", "qupost"]
    for arg in args:
        command += ["-a", arg]
    for key, value in base.items():
        command += ["-s", f"{key}={value}"]
    return command


def run_scrapy(
    *args: str, timeout: float = 120, **settings: object
) -> subprocess.CompletedProcess[str]:
    """Run ``scrapy ARGS -s NAME=VALUE…`` as a real process from the repository root."""
    command = [sys.executable, "-m", "scrapy", *args]
    for key, value in settings.items():
        command += ["-s", f"{key}={value}"]
    return subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def export_catalog(
    db: Path, source: Path, to: Path, *options: str, **settings: object
) -> subprocess.CompletedProcess[str]:
    """``scrapy export --to TO`` of the SQLite catalog ``db`` whose images are under ``source``."""
    base = {"QUPOST_DATABASE_URL": f"sqlite:///{db}", "QUPOST_SOURCE_DIR": str(source)}
    return run_scrapy("export", "--to", str(to), *options, **{**base, **settings})


QUPOST = Path(sys.executable).parent / "qupost"


def qupost_env() -> dict[str, str]:
    """The environment of a user whose PATH has qupost's environment first (it is activated)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SCRAPY_SETTINGS_MODULE", "PYTHONPATH")}
    env["PATH"] = f"{QUPOST.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_qupost(
    *args: str, cwd: Path, timeout: float = 180, **settings: object
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``qupost ARGS -s NAME=VALUE…`` from ``cwd`` (not the repository)."""
    if not QUPOST.exists():
        pytest.fail(f"{QUPOST} is missing: install the project (pip install -e '.[dev]')")
    command = [str(QUPOST), *args]
    for key, value in settings.items():
        command += ["-s", f"{key}={value}"]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=qupost_env()
    )


class Lines:
    """The lines a child process writes to a pipe, read by a thread so waiting can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._new:
                self.lines.append(line.rstrip("\n"))
                self._new.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str | None:
        """The first line (read so far or later) for which ``predicate`` holds, or None."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._new:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (not self._thread.is_alive() and seen == len(self.lines)):
                    return None
                self._new.wait(min(left, 0.5))


def run_crawl(
    server: FakeServer, out: Path, *args: str, timeout: float = 180, **settings: object
) -> CrawlResult:
    """Run ``scrapy crawl qupost`` as a real process against the fake site."""
    proc = subprocess.run(
        crawl_command(server, out, *args, **settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return CrawlResult(proc.returncode, proc.stdout, proc.stderr, out)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL to a new, empty PostgreSQL database, dropped after the test."""
    try:
        import psycopg
    except ImportError:
        skip_or_fail("psycopg is not installed (pip install -e '.[dev]')")
    name = f"qupost_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        skip_or_fail(f"PostgreSQL is not reachable at {PG_ADMIN}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def site() -> FakeSite:
    return build_site(6, channels=(1, 6))


@pytest.fixture
def server(site: FakeSite) -> Iterator[FakeServer]:
    with FakeServer(site) as running:
        yield running
