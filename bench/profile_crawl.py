"""Run a ``scrapy`` command under cProfile, timing the main thread's CPU and the GC.

``python bench/profile_crawl.py PROF_OUT GC_JSON crawl qupost -a ...`` is
``python -m cProfile -o PROF_OUT -m scrapy crawl qupost -a ...`` with two
differences: the profiler's clock is the main thread's CPU time, so time spent
waiting in the reactor's ``epoll`` counts as nothing, and the time spent in
Python's cyclic garbage collector is written to GC_JSON.  A command whose
first word ends in ``.py`` is run as that script instead (the bare spiders).
"""

from __future__ import annotations

import cProfile
import gc
import json
import runpy
import sys
import time
from typing import Any


class GcTimer:
    """Adds up the collector's pauses through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    prof_out, gc_json, command = argv[0], argv[1], argv[2:]
    timer = GcTimer()
    gc.callbacks.append(timer)
    profiler = cProfile.Profile(time.thread_time)
    status: Any = 0
    try:
        if command[0].endswith(".py"):
            sys.argv = command
            profiler.runcall(runpy.run_path, command[0], run_name="__main__")
        else:
            from scrapy.cmdline import execute

            profiler.runcall(execute, argv=["scrapy", *command])
    except SystemExit as exc:
        status = exc.code
    finally:
        profiler.dump_stats(prof_out)
        gc.callbacks.remove(timer)
        with open(gc_json, "w", encoding="utf-8") as handle:
            json.dump({"seconds": timer.seconds, "collections": timer.collections}, handle)
    return status if isinstance(status, int) else (0 if status is None else 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
