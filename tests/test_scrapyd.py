"""Scrapyd: build the project's egg, deploy it to a loopback Scrapyd, schedule a crawl."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import build_site
from tests.conftest import ROOT, skip_or_fail

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, fields: dict[str, str], files: dict[str, bytes] | None = None) -> dict:
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, data in (files or {}).items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{name}.egg"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(
        url,
        data=b"".join(chunks),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_scrapyd_deploys_the_egg_and_runs_a_crawl(tmp_path: Path) -> None:
    scrapyd = shutil.which("scrapyd", path=str(Path(sys.executable).parent))
    deploy = shutil.which("scrapyd-deploy", path=str(Path(sys.executable).parent))
    if not scrapyd or not deploy:
        skip_or_fail("scrapyd and scrapyd-client are not installed (pip install -e '.[dev]')")
    egg = tmp_path / "qupost.egg"
    build = subprocess.run(
        [deploy, "--build-egg", str(egg)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert build.returncode == 0 and egg.is_file(), build.stderr

    port = free_port()
    home = tmp_path / "scrapyd"
    home.mkdir()
    (home / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        f"bind_address = 127.0.0.1\nhttp_port = {port}\n"
        f"eggs_dir = {home / 'eggs'}\nlogs_dir = {home / 'logs'}\n"
        f"dbs_dir = {home / 'dbs'}\nitems_dir =\npoll_interval = 0.5\n"
    )
    daemon_log = (home / "scrapyd.out").open("w")
    daemon = subprocess.Popen(
        [scrapyd],
        cwd=home,
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                get(f"{base}/daemonstatus.json")
                break
            except OSError:
                time.sleep(0.2)
        added = post(
            f"{base}/addversion.json",
            {"project": "qupost", "version": "1"},
            {"egg": egg.read_bytes()},
        )
        assert added["status"] == "ok", added
        site = build_site(4)
        out = tmp_path / "out"
        with FakeServer(site) as server:
            settings = {
                "QUPOST_LIST_API": server.list_api,
                "QUPOST_PROFILE": "fast",
                "QUPOST_DATABASE_URL": f"sqlite:///{out / 'qupost.db'}",
                "QUPOST_SOURCE_DIR": str(out / "source"),
            }
            fields = {"project": "qupost", "spider": "qupost", "cid": "1"}
            body = urllib.parse.urlencode(
                list(fields.items()) + [("setting", f"{k}={v}") for k, v in settings.items()]
            ).encode()
            with urllib.request.urlopen(f"{base}/schedule.json", data=body, timeout=30) as r:
                scheduled = json.loads(r.read())
            assert scheduled["status"] == "ok", scheduled
            job = scheduled["jobid"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                jobs = get(f"{base}/listjobs.json?project=qupost")
                if any(j["id"] == job for j in jobs.get("finished", [])):
                    break
                time.sleep(0.5)
            else:
                pytest.fail("the Scrapyd job did not finish in 120 s")
        log = next((home / "logs").rglob(f"{job}.log")).read_text("utf-8")
        posts = sorted(p.name for p in (out / "source" / "_posts").glob("*.md"))
        assert posts == sorted(f"qupost-{i}.md" for i in site.articles), log[-3000:]
        assert "4 new" in log
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        daemon_log.close()
