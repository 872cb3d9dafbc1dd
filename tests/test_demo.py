"""``qupost demo`` prints its next commands, and they work exactly as printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import QUPOST, Lines, qupost_env, run_qupost, split_post
from tests.test_hexo import hexo_modules  # noqa: F401 - the fixture, installed once

pytestmark = pytest.mark.e2e


def next_steps(stdout: str) -> dict[str, str]:
    """The printed next commands, keyed by a word of the line that introduces each."""
    lines = stdout.split("\nnext:\n", 1)[1].splitlines()
    steps: dict[str, str] = {}
    for text, command in zip(lines[::2], lines[1::2], strict=True):
        assert text.startswith("  ") and not text.startswith("    "), stdout
        assert command.startswith("    "), stdout
        key = next(w for w in ("Hexo", "Butterfly", "again") if w in text)
        steps[key] = command.strip()
    return steps


def shell(command: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a printed command line as a user's shell would."""
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=qupost_env(),
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    cwd = tmp_path_factory.mktemp("user")
    done = run_qupost("demo", "--out", "my demo", "--articles", "4", cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "qupost demo: 5 posts in" in done.stdout, done.stdout
    return cwd, next_steps(done.stdout)


def test_demo_prints_the_commands_for_its_own_output(demo: tuple[Path, dict[str, str]]) -> None:
    cwd, steps = demo
    out = cwd / "my demo"
    assert set(steps) == {"Hexo", "Butterfly", "again"}
    # A path with a space is quoted, so each command runs as printed.
    assert f"'{out / 'source'}'" in steps["Hexo"]
    assert steps["Butterfly"].startswith("qupost export --to ")
    assert steps["again"] == f"qupost demo --out '{out}' --articles 4"


def test_export_for_another_theme_as_printed(demo: tuple[Path, dict[str, str]]) -> None:
    cwd, steps = demo
    done = shell(steps["Butterfly"], cwd)
    assert done.returncode == 0, done.stderr
    assert "5 posts (5 written" in done.stdout, done.stdout
    posts = sorted((cwd / "my demo" / "butterfly" / "_posts").glob("*.md"))
    assert len(posts) == 5
    for post in posts:
        matter, _ = split_post(post.read_text("utf-8"))
        assert "cover" in matter and "top_img" in matter and "headimg" not in matter, matter
        image = cwd / "my demo" / "butterfly" / str(matter["cover"]).lstrip("/")
        assert image.is_file(), image


def test_crawl_again_as_printed(demo: tuple[Path, dict[str, str]]) -> None:
    cwd, steps = demo
    done = shell(steps["again"], cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = re.search(r"qupost run 2 finished in \S+: (\d+) new", done.stderr)
    assert summary and summary.group(1) == "0", done.stderr[-3000:]
    assert "qupost demo: 5 posts in" in done.stdout


@pytest.mark.hexo
def test_preview_as_printed(
    demo: tuple[Path, dict[str, str]],
    hexo_modules: Path,  # noqa: F811 - the fixture imported above
) -> None:
    cwd, steps = demo
    assert QUPOST.exists()
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {steps['Hexo']}"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=qupost_env(),
    )
    assert proc.stderr is not None
    errors = Lines(proc.stderr)
    try:
        serving = errors.wait_for(lambda line: line.startswith("serving http://"), timeout=300)
        assert serving, f"hexo-preview did not start serving: {errors.lines[-20:]}"
        found = re.search(r"serving (http://127\.0\.0\.1:\d+/)", serving)
        assert found, serving
        address = found.group(1)
        with urllib.request.urlopen(address, timeout=30) as response:
            page = response.read().decode("utf-8")
        assert "重庆将改造老旧小区住宅" in page, page[:2000]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
