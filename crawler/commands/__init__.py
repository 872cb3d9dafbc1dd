"""qupost's Scrapy commands (COMMANDS_MODULE): crawl with exit codes, export, demo."""

from __future__ import annotations

import sys


def fail(message: str) -> int:
    """Print one clear error line and return the usage exit status."""
    print(f"qupost: error: {message}", file=sys.stderr)
    return 2
