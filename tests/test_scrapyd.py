"""Scrapyd, set up exactly as the README's "Scrapyd" steps say, on loopback.

The steps are read from the README and run one by one with ``bash``; only the
port (a free one, written to Scrapyd's ``scrapyd.conf``), ``/srv`` (a
temporary folder), the clone's path and the fake site's settings are
substituted.  The install step is the one line not run: tests do not reach
the package index, so it is checked that this environment already has what
that line installs.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from importlib.metadata import requires, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from fakesite.server import FakeServer
from fakesite.site import build_site
from tests.conftest import QUPOST, ROOT, qupost_env, skip_or_fail

pytestmark = pytest.mark.e2e

VENV = Path(sys.executable).parent.parent
INSTALL = '.venv/bin/pip install -e ".[scrapyd]"'
# Scrapyd, in an environment that lacks one of qupost's dependencies.
RUNNER_WITHOUT_SQLALCHEMY = """
import sys


class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "sqlalchemy":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Hide())
from scrapyd.runner import main

main()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readme_steps() -> list[str]:
    """The commands of the README's Scrapyd block, continuation lines joined."""
    text = (ROOT / "README.md").read_text("utf-8")
    block = text.split("**Scrapyd**", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    # Comments start with " #"; nothing else in these lines does.
    return [re.sub(r"\s+#.*$", "", line) for line in lines if line.strip()]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def wait_for(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(150):
        if proc.poll() is not None:
            pytest.fail(f"scrapyd exited with {proc.returncode}")
        try:
            get(f"{base}/daemonstatus.json")
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("scrapyd did not answer in 30 s")


def finished_job(base: str, job: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = get(f"{base}/listjobs.json?project=qupost")
        if any(j["id"] == job for j in jobs.get("finished", [])):
            return
        time.sleep(0.5)
    pytest.fail(f"Scrapyd job {job} did not finish in 120 s")


def scrapyd_conf(folder: Path, port: int, *, runner: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        f"bind_address = 127.0.0.1\nhttp_port = {port}\npoll_interval = 0.5\n"
        + (f"runner = {runner}\n" if runner else "")
    )


def need_scrapyd() -> None:
    if not (VENV / "bin" / "scrapyd").exists():
        skip_or_fail("scrapyd is not installed (pip install -e '.[dev]')")


def test_the_install_step_brings_what_scrapyd_needs() -> None:
    """What ``pip install -e ".[scrapyd]"`` installs is all present in this environment."""
    steps = readme_steps()
    assert INSTALL in steps[1], steps
    wanted = [Requirement(r) for r in requires("qupost") or []]
    extra = [r for r in wanted if r.marker and r.marker.evaluate({"extra": "scrapyd"})]
    assert {r.name for r in extra} >= {"scrapyd", "setuptools"}, extra
    for requirement in extra:
        assert requirement.specifier.contains(version(requirement.name)), requirement


def test_readme_scrapyd_steps(tmp_path: Path) -> None:
    need_scrapyd()
    port = free_port()
    srv = tmp_path / "srv"
    site = build_site(4, channels=(1, 6))
    cwd = ROOT
    daemon: subprocess.Popen[bytes] | None = None
    answers: list[str] = []
    base = f"http://localhost:{port}"
    with FakeServer(site) as server:
        try:
            for step in readme_steps():
                command = (
                    step.replace("/path/to/qupost/.venv", str(VENV))
                    .replace("/path/to/qupost", str(ROOT))
                    .replace("/srv/", f"{srv}/")
                    .replace("6800", str(port))
                )
                if INSTALL in step:
                    continue  # checked by the test above: no package index in tests
                if "schedule.json" in command:
                    command += (
                        f" -d setting=QUPOST_LIST_API={server.list_api}"
                        " -d setting=QUPOST_PROFILE=fast"
                    )
                if command.rstrip().endswith("&"):
                    scrapyd_conf(cwd, port)
                    daemon = subprocess.Popen(
                        ["bash", "-c", f"exec {command.rstrip()[:-1]}"],
                        cwd=cwd,
                        env=qupost_env(),
                    )
                    wait_for(base, daemon)
                    continue
                done = subprocess.run(
                    ["bash", "-c", f'set -e\n{command}\necho "__cwd__$PWD"'],
                    cwd=cwd,
                    capture_output=True,
                    text=True,
                    timeout=180,
                    env=qupost_env(),
                )
                assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
                output, _, where = done.stdout.rpartition("__cwd__")
                cwd = Path(where.strip())
                answers.append(output)
            assert daemon is not None, "the README starts no Scrapyd"
            deployed = next(a for a in answers if a.startswith("qupost deploy: "))
            assert "is on Scrapyd" in deployed and "(1 spider)" in deployed, deployed
            job = json.loads(answers[-1])["jobid"]
            finished_job(base, job)
            with urllib.request.urlopen(f"{base}/logs/qupost/qupost/{job}.log") as response:
                log = response.read().decode("utf-8")
            posts = sorted(p.name for p in (srv / "blog" / "source" / "_posts").glob("*.md"))
            assert posts == sorted(f"qupost-{i}.md" for i in site.articles), log[-3000:]
            assert re.search(r"qupost run 1 finished in \S+: 4 new", log), log[-3000:]
            assert (srv / "qupost" / "qupost.db").is_file()

            # A bad argument: the job stops at once, and its own log says why in one line.
            bad = subprocess.run(
                [
                    *("curl", "-s", f"{base}/schedule.json", "-d", "project=qupost"),
                    *("-d", "spider=qupost", "-d", "pages=0"),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            job = json.loads(bad.stdout)["jobid"]
            finished_job(base, job)
            with urllib.request.urlopen(f"{base}/logs/qupost/qupost/{job}.log") as response:
                log = response.read().decode("utf-8")
            errors = [line for line in log.splitlines() if "qupost: error:" in line]
            assert len(errors) == 1, log
            assert errors[0].endswith("qupost: error: -a pages: must be between 1 and 10000, got 0")
        finally:
            if daemon is not None and daemon.poll() is None:
                daemon.terminate()
                daemon.wait(timeout=30)


def test_a_refused_deploy_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """Scrapyd in an environment without qupost's dependencies: the deploy says so."""
    need_scrapyd()
    port = free_port()
    folder = tmp_path / "scrapyd"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "runner_without_sqlalchemy.py").write_text(RUNNER_WITHOUT_SQLALCHEMY)
    scrapyd_conf(folder, port, runner="runner_without_sqlalchemy")
    env = {**qupost_env(), "PYTHONPATH": str(tmp_path / "lib")}
    daemon = subprocess.Popen([str(VENV / "bin" / "scrapyd")], cwd=folder, env=env)
    base = f"http://localhost:{port}"
    try:
        wait_for(base, daemon)
        done = subprocess.run(
            [str(QUPOST), "deploy", "--url", f"{base}/", "--version", "7"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=qupost_env(),
        )
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"qupost: error: Scrapyd at {base}/ refused project qupost version 7: "
        "ModuleNotFoundError: No module named 'sqlalchemy'"
    ], done.stderr

    unreachable = subprocess.run(
        [str(QUPOST), "deploy", "--url", f"{base}/"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=qupost_env(),
    )
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith(f"qupost: error: cannot reach Scrapyd at {base}/")
    assert len(unreachable.stderr.splitlines()) == 1


def test_eggs_carry_the_migrations_and_the_settings_entry_point(tmp_path: Path) -> None:
    """``qupost deploy --egg``, and scrapyd-deploy's own egg (built with this setuptools)."""
    built = subprocess.run(
        [str(QUPOST), "deploy", "--egg", str(tmp_path / "qupost.egg")],
        capture_output=True,
        text=True,
        timeout=120,
        env=qupost_env(),
    )
    assert built.returncode == 0, built.stderr
    deploy = VENV / "bin" / "scrapyd-deploy"
    if not deploy.exists():
        skip_or_fail("scrapyd-client is not installed (pip install -e '.[dev]')")
    egg = tmp_path / "setuptools.egg"
    other = subprocess.run(
        [str(deploy), "--build-egg", str(egg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"},
    )
    assert other.returncode == 0 and egg.is_file(), other.stderr
    for path in (tmp_path / "qupost.egg", egg):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            assert "storage/alembic/script.py.mako" in names, path
            assert "storage/alembic/versions/0003_descriptions_failures.py" in names, path
            assert "crawler/settings.py" in names and "fakesite/site.py" in names, path
            entry = archive.read("EGG-INFO/entry_points.txt").decode()
            assert "[scrapy]" in entry and "settings = crawler.settings" in entry, path
