"""qupost's Scrapy commands (COMMANDS_MODULE): crawl, export, demo, seed and migrate."""

from __future__ import annotations

import sys

# Bad arguments or settings; runs use crawler.catalog's statuses.
EXIT_BAD_INPUT = 2


def fail(message: str, status: int = EXIT_BAD_INPUT) -> int:
    """Print one clear error line and return the exit status to end with."""
    print(f"qupost: error: {message}", file=sys.stderr)
    return status
