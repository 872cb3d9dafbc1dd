"""``qupost deploy``: put this qupost on a Scrapyd server, and say plainly whether it took.

It builds an egg of the installed qupost (its four packages and the entry
point that names its settings module) and uploads it to Scrapyd's
``addversion.json``.  Scrapyd answers HTTP 200 even when it refuses the
project (when its job runner cannot import it, for one): this command reads
the answer and exits 1 with Scrapyd's reason in one line, so a failed deploy
cannot pass for a good one.  Scrapyd itself must run in an environment that
has qupost's dependencies (README "Scheduling").
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from crawler.cli import QupostCommand, qupost_version
from crawler.commands import fail

PACKAGES = ("crawler", "pipelines", "storage", "fakesite")
DEFAULT_URL = "http://localhost:6800/"
EXIT_DEPLOY_FAILED = 1


class Command(QupostCommand):
    requires_project = False

    def syntax(self) -> str:
        return "[--url URL] [--project NAME] [--version VERSION] [--egg FILE]"

    def short_desc(self) -> str:
        return "Upload qupost to a Scrapyd server; exit 1 with the reason when it is refused"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group("qupost deploy")
        group.add_argument("--url", default=DEFAULT_URL, help=f"Scrapyd (default {DEFAULT_URL})")
        group.add_argument("--project", default="qupost", help="Scrapyd project (default qupost)")
        group.add_argument("--version", help="version name (default: the time, in seconds)")
        group.add_argument("--egg", metavar="FILE", help="only write the egg to FILE")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not opts.url.startswith(("http://", "https://")):
            self.exitcode = fail(f"--url: expected Scrapyd's http(s) address, got {opts.url!r}")
            return
        version = opts.version or str(int(time.time()))
        egg = build_egg()
        if opts.egg:
            Path(opts.egg).write_bytes(egg)
            print(f"qupost deploy: egg of qupost {qupost_version()} written to {opts.egg}")
            return
        url = urljoin(opts.url if opts.url.endswith("/") else opts.url + "/", "addversion.json")
        try:
            answer = upload(url, opts.project, version, egg)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            self.exitcode = fail(f"cannot reach Scrapyd at {url}: {reason}", EXIT_DEPLOY_FAILED)
            return
        problem = refusal(answer)
        if problem:
            self.exitcode = fail(
                f"Scrapyd at {opts.url} refused project {opts.project} version {version}: "
                f"{problem}",
                EXIT_DEPLOY_FAILED,
            )
            return
        print(
            f"qupost deploy: project {opts.project} version {version} is on Scrapyd at "
            f"{opts.url} ({answer.get('spiders')} spider)"
        )


def build_egg() -> bytes:
    """An egg of the installed qupost: what Scrapyd's runner puts on sys.path for a job."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as egg:
        for name in PACKAGES:
            module = importlib.import_module(name)
            assert module.__file__ is not None
            root = Path(module.__file__).resolve().parent
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    egg.write(path, f"{name}/{path.relative_to(root).as_posix()}")
        egg.writestr(
            "EGG-INFO/PKG-INFO",
            f"Metadata-Version: 2.1\nName: qupost\nVersion: {qupost_version()}\n",
        )
        # Scrapyd reads the project's settings module from this entry point.
        egg.writestr("EGG-INFO/entry_points.txt", "[scrapy]\nsettings = crawler.settings\n")
        egg.writestr("EGG-INFO/top_level.txt", "\n".join(PACKAGES) + "\n")
    return buffer.getvalue()


def upload(url: str, project: str, version: str, egg: bytes) -> dict[str, Any]:
    """POST the egg to ``addversion.json``; Scrapyd's JSON answer."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (("project", project), ("version", version))
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="egg"; filename="qupost.egg"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + egg
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(  # noqa: S310 - run() lets only http(s) URLs through
        url,
        data=b"".join(parts),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - http(s) URL
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        if not body:
            raise
    try:
        answer = json.loads(body)
    except ValueError:
        raise ValueError(f"not a Scrapyd answer: {body[:200]!r}") from None
    if not isinstance(answer, dict):
        raise ValueError(f"not a Scrapyd answer: {body[:200]!r}")
    return answer


def refusal(answer: dict[str, Any]) -> str | None:
    """Why Scrapyd did not take the project, from its answer; None when it did."""
    if answer.get("status") != "ok":
        message = str(answer.get("message") or answer)
        # A refused egg comes with the job runner's traceback: its last line says why.
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        return lines[-1][:300] if lines else "no reason given"
    if not answer.get("spiders"):
        return "it found no spider in the project"
    return None
