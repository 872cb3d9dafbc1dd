"""What the rest of the machine does during a measurement (this VM is shared)."""

from __future__ import annotations

import os
from pathlib import Path


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (Linux /proc/stat), or 0."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
