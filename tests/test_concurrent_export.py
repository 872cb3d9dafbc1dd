"""``scrapy export`` while a crawl writes the same SQLite catalog: neither blocks the other."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import build_site
from tests.conftest import ROOT, crawl_command, export_catalog
from tests.test_progress import summary_of

pytestmark = pytest.mark.e2e

EXPORTED = re.compile(r"qupost export: (\d+) posts \((\d+) written, (\d+) removed")


def export(db: Path, source: Path, to: Path) -> subprocess.CompletedProcess[str]:
    return export_catalog(db, source, to)


def stored_posts(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(db, timeout=1)) as conn:
            return int(conn.execute("SELECT count(*) FROM posts").fetchone()[0])
    except sqlite3.Error:  # not created yet, or busy
        return 0


def test_exports_during_a_crawl(tmp_path: Path) -> None:
    site = build_site(150, images_per_article=1, paragraphs=3)
    out = tmp_path / "out"
    db = out / "qupost.db"
    exports: list[subprocess.CompletedProcess[str]] = []
    counts: list[int] = []
    with FakeServer(site) as server:
        # Four connections keep the crawl running (and writing) while the exports read.
        proc = subprocess.Popen(
            crawl_command(server, out, "cid=1", "pages=2", "limit=100", CONCURRENT_REQUESTS="4"),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            # An export of a catalog with no posts yet is an error of its own.
            deadline = time.monotonic() + 60
            while not stored_posts(db) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            for n in range(3):
                time.sleep(0.2)
                running = proc.poll() is None
                done = export(db, out / "source", tmp_path / f"export{n}")
                exports.append(done)
                if running:
                    counts.append(n)
            stdout, stderr = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert "database is locked" not in stderr + stdout, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    # At least one export overlapped the crawl, or the test proves nothing.
    assert len(counts) >= 2, f"only exports {counts} overlapped the crawl"
    for done in exports:
        text = done.stdout + done.stderr
        assert done.returncode == 0, text[-3000:]
        assert "database is locked" not in text, text[-3000:]
        assert "Traceback" not in text, text[-3000:]
        assert EXPORTED.search(done.stdout), text[-3000:]
    _, numbers = summary_of(stderr)
    assert numbers[0] == 150 and numbers[6] == 150, numbers
    assert len(list((out / "source" / "_posts").glob("*.md"))) == 150
    # An export after the crawl sees every post.
    final = export(db, out / "source", tmp_path / "final")
    assert final.returncode == 0, final.stdout + final.stderr
    match = EXPORTED.search(final.stdout)
    assert match and int(match.group(1)) == 150, final.stdout
    assert len(list((tmp_path / "final" / "_posts").glob("*.md"))) == 150
