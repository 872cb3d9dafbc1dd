"""``python -m crawler COMMAND``: the same as the ``qupost`` command."""

from crawler.cli import main

main()
