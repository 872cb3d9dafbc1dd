"""The site-generator benchmark's smoke mode (N=20) still builds both sites and reports.

Only that it completes, that both builds made every post page, and that it
reports are checked: timings are never asserted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, skip_or_fail

pytestmark = [pytest.mark.hugo, pytest.mark.hexo]


def test_smoke_mode_builds_both_sites(tmp_path: Path) -> None:
    if shutil.which("hugo") is None:
        skip_or_fail("hugo is not on PATH (bash .ci/hugo installs it)")
    if shutil.which("npm") is None or shutil.which("node") is None:
        skip_or_fail("npm and node are not on PATH: the benchmark builds with real Hexo")
    out = tmp_path / "sitegen.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "sitegen.py"),
            "--smoke",
            "--workdir",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for fragment in ("hugo  build N=20", "hexo  build N=20", "ratio hexo/hugo at N=20"):
        assert fragment in proc.stdout, proc.stdout
    report = json.loads(out.read_text("utf-8"))
    (result,) = report["results"]
    assert result["posts"] == 20
    assert {b["tool"]: (b["pages"], b["ok"]) for b in result["builds"]} == {
        "hugo": (20, True),
        "hexo": (20, True),
    }
    assert list((tmp_path / "work").iterdir()) == []  # its own folder, removed at the end
