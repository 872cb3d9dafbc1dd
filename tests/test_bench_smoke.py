"""The benchmark's smoke mode (N=50, one repetition) still runs and prints its report.

Only that it completes and reports is checked: timings are never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

REPORT_LINES = (
    "(a) bare Scrapy",
    "(b) bare + ImagesPipeline",
    "(c) qupost fast profile",
    "(c2) qupost second run, unchanged",
    "ratio c/a (articles/s)",
    "ratio c/b (articles/s)",
    "peak RSS of (c)",
    "second run / first run (wall)",
    "stage parsing",
    "stage cleaning",
    "stage dates",
    "stage images",
    "stage storage",
    "stage markdown writing",
    "stage scrapy/twisted overhead",
    "total profiled",
    "target c/a >= 0.80",
    "target c/b >= 1.80",
    "target second run < 10% of first",
    "target peak RSS (c) < 250 MB",
)


def test_smoke_mode_completes_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--smoke",
            "--hotspots",
            "5",
            "--results",
            str(tmp_path / "results"),
            "--json",
            str(out),
            "--workdir",
            str(work),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line.strip() for line in proc.stdout.splitlines()]
    for expected in REPORT_LINES:
        assert any(line.startswith(expected) for line in lines), (expected, proc.stdout[-3000:])
    targets = [line for line in lines if line.startswith("target ")]
    assert targets
    assert all(line.endswith(("PASS", "MISS", "SKIP")) for line in targets), targets
    data = json.loads(out.read_text("utf-8"))
    assert data["config"]["articles"] == 50
    assert data["problems"] == []
    assert {run["variant"] for run in data["runs"]} == {"a", "b", "c", "c2"}
    # Every run's output was kept until the end, then removed.
    assert list(work.iterdir()) == []


def test_too_little_disk_space_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import run as bench_run
    finally:
        sys.path.remove(str(ROOT / "bench"))
    monkeypatch.setattr(
        bench_run.shutil, "disk_usage", lambda _path: SimpleNamespace(total=10, used=9, free=1)
    )
    cfg = bench_run.Config(
        articles=2000, repeat=3, timeout=60, results=tmp_path, keep=False, hotspots=5,
        warmup=False, workdir=tmp_path,
    )  # fmt: skip
    with (
        pytest.raises(SystemExit, match=r"^bench: error: the crawl outputs need about"),
        bench_run.outputs_folder(cfg, needed_bytes=10**9),
    ):
        pass
    assert list(tmp_path.iterdir()) == []
