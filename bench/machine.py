"""What the rest of the machine does during a measurement (this VM is shared)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (Linux /proc/stat), or 0."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Child:
    """How one child process ran: from ``os.wait4``, so no polling and no /usr/bin/time."""

    returncode: int
    wall: float
    cpu: float
    """The child's own user + system CPU seconds."""
    peak_rss_mb: float
    killed: bool
    """Killed for running past its timeout."""


def run_child(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdout: IO[bytes],
    stderr: IO[bytes] | int,
    timeout: float,
) -> Child:
    """Run ``command`` to its end (killed after ``timeout`` seconds) and measure it."""
    killed = threading.Event()
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=stdout, stderr=stderr)

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Child(
        proc.returncode,
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        killed.is_set(),
    )
