"""The pinned Hexo and themes, installed once per lockfile and shared.

``tests/hexo/package.json`` and its lockfile pin Hexo, its renderers and the
themes.  They are installed with ``npm ci`` into ``.cache/hexo/<hash of both
files>/``, so the real-Hexo tests, ``scripts/hexo-preview`` and
``bench/sitegen.py`` share one install, and a changed lockfile gets a new one.
The install goes into a temporary sibling folder first and is renamed into
place, so processes installing at once never see half an install.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "tests" / "hexo"
CACHE_ROOT = ROOT / ".cache" / "hexo"
MIN_NODE = (20, 19)
_PINNED = ("package.json", "package-lock.json")


class HexoMissing(RuntimeError):
    """Node.js or npm is absent or too old: Hexo cannot run here."""


class HexoInstallFailed(RuntimeError):
    """``npm ci`` failed; the message ends with npm's own last lines."""


def node_version(node: str) -> tuple[int, ...]:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    match = re.match(r"v(\d+)\.(\d+)", out.stdout.strip())
    return tuple(int(part) for part in match.groups()) if match else (0, 0)


def install_dir() -> Path:
    digest = hashlib.sha256()
    for name in _PINNED:
        digest.update((PACKAGE_DIR / name).read_bytes())
    return CACHE_ROOT / digest.hexdigest()[:16]


def pinned_node_modules(*, say: bool = True) -> Path:
    """The pinned ``node_modules``, installing it first when needed.

    Raises HexoMissing when Node.js or npm cannot run Hexo, HexoInstallFailed
    when ``npm ci`` fails.
    """
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise HexoMissing("npm and node are not on PATH: Hexo needs Node.js and npm")
    version = node_version(node)
    if version < MIN_NODE:
        wanted = ".".join(map(str, MIN_NODE))
        raise HexoMissing(
            f"Node.js {'.'.join(map(str, version))} is too old for Hexo 8 (needs >= {wanted})"
        )
    target = install_dir()
    if not (target / "node_modules" / ".bin" / "hexo").exists():
        _install(npm, target, say=say)
    return target / "node_modules"


def _install(npm: str, target: Path, *, say: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in _PINNED:
        shutil.copy2(PACKAGE_DIR / name, staging / name)
    if say:
        print(f"installing the pinned Hexo into {target} (npm ci) ...", flush=True)
    started = time.monotonic()
    proc = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise HexoInstallFailed(
            f"npm ci failed in {staging} (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    if say:
        print(f"npm ci took {time.monotonic() - started:.1f}s", flush=True)
    shutil.rmtree(target, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:  # another process installed it first
        shutil.rmtree(staging, ignore_errors=True)
