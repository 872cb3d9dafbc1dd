"""Bad settings and arguments: one ``qupost: error:`` line, exit status 2, no request made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import build_site
from tests.conftest import crawl_command, run_crawl, run_scrapy

pytestmark = pytest.mark.e2e

BAD_SETTINGS = [
    ("QUPOST_PROFILE", "turbo"),
    ("QUPOST_IMAGE_MAX_PIXELS", "abc"),
    ("QUPOST_GC_THRESHOLD", "abc"),
    ("QUPOST_FSYNC", "maybe"),
    ("QUPOST_DATE_FORMAT", "%Q nonsense"),
    ("QUPOST_ALLOWED_DOMAINS", '["qktoutiao.com"'),
    ("QUPOST_ON_DELETED", "bogus"),
]
BAD_ARGUMENTS = [("url=", "-a url"), ("refresh=maybe", "-a refresh")]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a ``python -m scrapy …`` command line as built by ``crawl_command``."""
    assert command[:3] == [sys.executable, "-m", "scrapy"]
    return run_scrapy(*command[3:])


def assert_one_error_line(proc: subprocess.CompletedProcess[str], names: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("qupost: error: ")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].removeprefix("qupost: error: ").strip(), errors
    assert names in errors[0], errors
    # Nothing else: the one error line is all stderr says (README "Arguments").
    assert [line for line in proc.stderr.splitlines() if line.strip()] == errors, proc.stderr


@pytest.fixture(scope="module")
def live() -> object:
    site = build_site(2)
    with FakeServer(site) as server:
        yield server


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS, ids=[name for name, _ in BAD_SETTINGS])
def test_crawl_refuses_a_bad_setting(
    live: FakeServer, tmp_path: Path, name: str, value: str
) -> None:
    live.site.reset_log()
    proc = run(crawl_command(live, tmp_path, "cid=1", **{name: value}))
    assert_one_error_line(proc, name)
    assert live.site.log == []
    assert not (tmp_path / "source").exists()


@pytest.mark.parametrize(("arg", "names"), BAD_ARGUMENTS, ids=["url-empty", "refresh-maybe"])
def test_crawl_refuses_a_bad_argument(
    live: FakeServer, tmp_path: Path, arg: str, names: str
) -> None:
    live.site.reset_log()
    proc = run(crawl_command(live, tmp_path, arg))
    assert_one_error_line(proc, names)
    assert live.site.log == []


def test_export_refuses_a_bad_setting(tmp_path: Path) -> None:
    proc = run(
        [
            sys.executable,
            *("-m", "scrapy", "export", "--to", str(tmp_path / "to")),
            *("-s", f"QUPOST_DATABASE_URL=sqlite:///{tmp_path / 'qupost.db'}"),
            *("-s", "QUPOST_FSYNC=maybe"),
        ]
    )
    assert_one_error_line(proc, "QUPOST_FSYNC")
    assert not (tmp_path / "to").exists()


def test_migrate_refuses_an_unusable_database_url(tmp_path: Path) -> None:
    proc = run([sys.executable, "-m", "scrapy", "migrate", "-s", "QUPOST_DATABASE_URL=mysql://x/y"])
    assert_one_error_line(proc, "mysql://x/y")


def test_json_allowed_domains_crawl_normally(tmp_path: Path) -> None:
    site = build_site(3)
    with FakeServer(site) as server:
        result = run_crawl(
            server,
            tmp_path,
            "cid=1",
            QUPOST_ALLOWED_DOMAINS='["qktoutiao.com","1sapp.com","qutoutiao.net"]',
        )
        listed = server.site.requests_to("/content/outList")
        fetched = server.site.requests_to("/detail/")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "qupost: error" not in result.stderr, result.stderr[-3000:]
    assert listed >= 1 and fetched >= 3
    assert len(result.post_files()) == 3
    assert "Filtered offsite request" not in result.stderr, result.stderr[-3000:]
    assert "image not stored" not in result.stderr, result.stderr[-3000:]


def test_an_unusable_catalog_is_a_storage_failure_not_a_bad_setting(tmp_path: Path) -> None:
    # The settings are right; the file they name is not a database (damaged, or
    # something else entirely): one line, the storage status 1, no request.
    out = tmp_path / "run"
    out.mkdir()
    (out / "qupost.db").write_bytes(b"this is not a database " * 200)
    site = build_site(2)
    with FakeServer(site) as server:
        proc = run(crawl_command(server, out, "cid=1"))
        assert server.site.log == []
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("qupost: error: the catalog"), lines
    assert "is damaged (file is not a database)" in lines[0]
    assert "Traceback" not in proc.stderr
