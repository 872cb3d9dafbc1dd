"""``qupost fakesite`` and ``python -m fakesite``: the fake site alone, and how to crawl it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fakesite.launcher import demo_site
from fakesite.seed import SEED_ID
from tests.conftest import QUPOST, Lines, qupost_env, split_post

pytestmark = pytest.mark.e2e


def start(command: list[str], cwd: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """Start the site; its printed lines, up to the last example."""
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=qupost_env(),
    )
    assert proc.stdout is not None
    output = Lines(proc.stdout)
    last = output.wait_for(lambda line: line.lstrip().startswith("qupost runs"), timeout=60)
    if last is None:
        proc.kill()
        proc.wait()
        pytest.fail(f"the fake site printed no examples: {output.lines}")
    return proc, output.lines[: output.lines.index(last) + 1]


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    os.kill(proc.pid, sig)
    return proc.wait(timeout=30)


def test_fakesite_prints_settings_that_crawl_it(tmp_path: Path) -> None:
    proc, lines = start([str(QUPOST), "fakesite", "--port", "0", "--articles", "3"], tmp_path)
    try:
        assert lines[0].startswith("fake Qutoutiao at http://127.0.0.1:"), lines
        settings = next(line.strip() for line in lines if line.strip().startswith("S="))
        examples = [line.strip() for line in lines[lines.index("then, for example:") + 1 :]]
        assert [e.split()[:2] for e in examples] == [["qupost", "crawl"]] * 2 + [["qupost", "runs"]]
        # The printed lines, pasted into a shell as they are.
        for example in examples:
            done = subprocess.run(
                ["bash", "-c", f"{settings}\n{example}"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=180,
                env=qupost_env(),
            )
            assert done.returncode == 0, f"{example}\n{done.stderr[-3000:]}"
    finally:
        status = stop(proc)
    assert status == 0
    posts = tmp_path / "fakesite-output" / "source" / "_posts"
    # The url= example fetched the seed article; cid=1,6 listed the rest.
    matter, _ = split_post((posts / f"qupost-{SEED_ID}.md").read_text("utf-8"))
    assert matter["qupost_id"] == SEED_ID
    listed = {i for i, a in demo_site(3).articles.items() if {1, 6} & set(a.channels)}
    assert {p.stem.removeprefix("qupost-") for p in posts.glob("*.md")} == listed
    assert "qupost runs: the last 2 run(s)" in done.stdout, done.stdout


def test_python_m_fakesite_runs_until_ctrl_c(tmp_path: Path) -> None:
    proc, lines = start([sys.executable, "-m", "fakesite", "--port", "0"], tmp_path)
    assert "25 articles" in lines[0], lines
    assert stop(proc, signal.SIGINT) == 0


def test_fakesite_refuses_a_bad_port(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(QUPOST), "fakesite", "--port", "70000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=qupost_env(),
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "qupost: error: --port must be between 0 and 65535, got 70000"
    ]
