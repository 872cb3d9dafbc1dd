"""The ``qupost`` command line: the entry point, and the base every qupost command shares.

``qupost COMMAND [options]`` runs one of qupost's Scrapy commands (the modules
of ``crawler.commands``) from any directory: it names the project's settings
module itself, so no ``scrapy.cfg`` is needed.  Relative paths in settings
(``QUPOST_DATABASE_URL``'s SQLite file, ``QUPOST_SOURCE_DIR``,
``IMAGES_STORE``) are relative to the directory it is run from.  Inside the
repository ``scrapy COMMAND`` runs the same commands.

:class:`StrictOptions` refuses unknown options and stray arguments for every
command.  Scrapy parses with ``parse_known_args`` and hands what it does not
know to the command as arguments, where a mistyped option would silently do
nothing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import shlex
import shutil
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from scrapy.commands import ScrapyCommand

import crawler.commands
from crawler.commands import EXIT_BAD_INPUT, fail

SETTINGS_MODULE = "crawler.settings"
SETTINGS_ENV = "SCRAPY_SETTINGS_MODULE"

# The name the user typed, for usage lines and hints: ``qupost`` once main()
# runs, ``scrapy`` when Scrapy's own entry point runs a qupost command.
PROG = {"name": "scrapy"}


class StrictOptions(ScrapyCommand):
    """A command that refuses options and arguments it does not know.

    ``positional`` is how many plain arguments the command takes (``crawl``
    takes the spider's name); anything beyond, and every unknown option, is
    one error line and exit status 2 before the command does anything.
    argparse's own errors (a missing ``--to``, a bad number) are one line too.
    """

    positional: ClassVar[int] = 0
    command_name = ""

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        usage = parser.usage or ""
        if usage.startswith("scrapy "):
            self.command_name = usage.split()[1]
            parser.usage = f"{PROG['name']} {usage.split(' ', 1)[1]}"
            parser.prog = f"{PROG['name']} {self.command_name}"
        parser.error = self._parser_error  # type: ignore[method-assign]

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        unknown = [a for a in args if a.startswith("-") and a != "-"]
        if unknown:
            self.refuse(f"unknown option {unknown[0]}")
        extra = args[self.positional :]
        if extra:
            self.refuse(f"unexpected argument(s): {' '.join(extra)}")
        super().process_options(args, opts)

    def refuse(self, message: str) -> NoReturn:
        """End the command with one error line and exit status 2."""
        hint = f" (see '{PROG['name']} {self.command_name} -h')" if self.command_name else ""
        fail(message + hint, settings=self.settings)
        raise SystemExit(EXIT_BAD_INPUT)

    def _parser_error(self, message: str) -> NoReturn:
        self.refuse(message)


class QupostCommand(StrictOptions):
    """The base of qupost's own commands: a project command that logs nothing by default."""

    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}


def command_names() -> list[str]:
    """qupost's commands: the modules of ``crawler.commands``."""
    return sorted(m.name for m in pkgutil.iter_modules(crawler.commands.__path__))


def _short_desc(name: str) -> str:
    module = importlib.import_module(f"crawler.commands.{name}")
    return str(module.Command().short_desc())


def usage() -> str:
    lines = [
        "usage: qupost COMMAND [options]",
        "",
        "commands:",
        *(f"  {name:<10} {_short_desc(name)}" for name in command_names()),
        "",
        "'qupost COMMAND -h' shows a command's options. Relative paths in settings",
        "(the SQLite catalog, QUPOST_SOURCE_DIR, IMAGES_STORE) are relative to the",
        "current directory.",
    ]
    return "\n".join(lines)


def qupost_version() -> str:
    try:
        return version("qupost")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> NoReturn:
    """``qupost COMMAND [options]``: run one of qupost's commands from any directory."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        raise SystemExit(0)
    if args[0] == "--version":
        print(f"qupost {qupost_version()}")
        raise SystemExit(0)
    name = args[0]
    names = command_names()
    if name.startswith("-"):
        fail(f"the command comes first: qupost COMMAND [options] (commands: {', '.join(names)})")
        raise SystemExit(EXIT_BAD_INPUT)
    if name not in names:
        fail(f"unknown command {name!r}; commands: {', '.join(names)}")
        raise SystemExit(EXIT_BAD_INPUT)
    # The project's settings, wherever the command is run from: no scrapy.cfg needed.
    os.environ[SETTINGS_ENV] = SETTINGS_MODULE
    PROG["name"] = "qupost"
    from scrapy.cmdline import execute

    execute(["qupost", *args])
    raise SystemExit(0)  # execute() always exits; this keeps the type checker honest


def invocation() -> str:
    """How a shell runs this qupost again: ``qupost`` when that is this one on PATH."""
    entry = Path(sys.executable).parent / "qupost"
    found = shutil.which("qupost")
    if entry.exists():
        if found and os.path.samefile(found, entry):
            return "qupost"
        return shlex.quote(str(entry))
    return f"{shlex.quote(sys.executable)} -m crawler"
