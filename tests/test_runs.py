"""``qupost runs``: the run history after three runs, one of which failed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import Fault, build_site
from tests.conftest import run_crawl, run_qupost
from tests.test_progress import summary_of

pytestmark = pytest.mark.e2e

ROW = re.compile(
    r"^\s*(?P<id>\d+)\s+(?P<day>\d{4}-\d\d-\d\d) (?P<time>\d\d:\d\d:\d\d)\s+(?P<duration>\S+)"
    r"(?P<numbers>(?:\s+\d+){8})\s+(?P<exit>\S.*)$"
)


def table_rows(stdout: str) -> list[re.Match[str]]:
    return [m for line in stdout.splitlines() if (m := ROW.match(line))]


def test_runs_table_after_three_runs_one_failing(tmp_path: Path) -> None:
    site = build_site(6, channels=(1,), images_per_article=1)
    ids = sorted(site.articles)
    broken = ids[:2]
    image = next(part[1] for part in site.articles[ids[2]].body if part[0] == "img")
    out = tmp_path / "out"
    summaries = []
    with FakeServer(site) as server:
        # 1: two article pages keep failing and one image is gone; the run itself works.
        for qupost_id in broken:
            site.faults[site.articles[qupost_id].page_path] = Fault(status=503, times=100)
        site.faults[image] = Fault(status=404, body=b"gone", times=100)
        first = run_crawl(server, out, "cid=1")
        # 2: the list API is down: the run fails with exit status 2.
        site.faults.clear()
        site.faults["/content/outList"] = Fault(status=503, times=100)
        second = run_crawl(server, out, "cid=1")
        # 3: the site is back; the two articles that failed are fetched now.
        site.faults.clear()
        third = run_crawl(server, out, "cid=1")
    for result, status in ((first, 0), (second, 2), (third, 0)):
        assert result.returncode == status, result.stderr[-3000:]
        summaries.append(summary_of(result.stderr)[1])

    # From another directory, with the catalog given relative to it.
    shown = run_qupost("runs", cwd=tmp_path, QUPOST_DATABASE_URL="sqlite:///out/qupost.db")
    assert shown.returncode == 0, shown.stderr
    assert str(out / "qupost.db") in shown.stdout
    rows = table_rows(shown.stdout)
    assert [int(r["id"]) for r in rows] == [1, 2, 3], shown.stdout
    for row, numbers in zip(rows, summaries, strict=True):
        new, updated, unchanged, deleted, failed, _skipped, _listed, images, img_failed, status = (
            numbers
        )
        shown_numbers = [int(v) for v in row["numbers"].split()]
        # new, updated, unchanged, deleted, failed, duplicate, images, img failed
        assert shown_numbers[:5] == [new, updated, unchanged, deleted, failed], shown.stdout
        assert shown_numbers[6:] == [images, img_failed], shown.stdout
        assert row["exit"].strip() == str(status), shown.stdout
        assert row["duration"].endswith("s"), shown.stdout
    assert summaries[0][4] == 2 and summaries[0][8] == 1, summaries[0]
    assert summaries[2][0] == 2, summaries[2]

    last = run_qupost(
        "runs", "-n", "1", cwd=tmp_path, QUPOST_DATABASE_URL="sqlite:///out/qupost.db"
    )
    assert [int(r["id"]) for r in table_rows(last.stdout)] == [3], last.stdout

    failures = run_qupost(
        "runs", "--failures", cwd=tmp_path, QUPOST_DATABASE_URL="sqlite:///out/qupost.db"
    )
    assert failures.returncode == 0, failures.stderr
    lines = failures.stdout.splitlines()
    article = next(line for line in lines if line.startswith("article "))
    assert article.split()[1:5] == ["http_503", "2", "1", "1"], failures.stdout
    assert all(qupost_id in article for qupost_id in broken), failures.stdout
    picture = next(line for line in lines if line.startswith("image "))
    assert picture.split()[1:5] == ["http_404", "1", "1", "1"], failures.stdout
    assert ids[2] in picture and image in picture, failures.stdout
    assert "3 failures in runs 1-3" in lines[0], failures.stdout


def test_runs_without_a_catalog_is_one_error_line(tmp_path: Path) -> None:
    shown = run_qupost("runs", cwd=tmp_path)
    assert shown.returncode == 2
    assert shown.stderr.strip().splitlines() == [
        f"qupost: error: no catalog at {tmp_path / 'output' / 'qupost.db'} "
        "(QUPOST_DATABASE_URL=sqlite:///output/qupost.db); crawl first, "
        "or set QUPOST_DATABASE_URL to a crawl's catalog"
    ]
    assert not (tmp_path / "output").exists()
