"""Benchmark qupost against bare Scrapy on the loopback fake site.

    python bench/run.py [--articles 2000] [--repeat 3] [--rss-scaling] [--rss-sizes 1000,5000]
                        [--json out.json]
    python bench/run.py --smoke          # N=50, one repetition: keeps the script working in CI

Measured in one run, interleaved per repetition, each variant a separate process
timed from its start to its end:

  (a)  a bare Scrapy spider fetching the same list pages, article pages and images;
  (b)  the same spider with Scrapy's stock ImagesPipeline;
  (c)  ``scrapy crawl qupost -s QUPOST_PROFILE=fast`` into a fresh folder and catalog,
  (c2) then the same command again over the unchanged site (the incremental run).

Then one extra (c) under cProfile gives CPU seconds per article for each stage.
Figures are medians; ratios matter, absolute times do not.  Nothing here
asserts timings: the targets are printed with PASS or MISS beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from benchsite import POOL_MIXES, PoolImage, build_bench_site, image_pool  # noqa: E402
from machine import machine_busy, run_child  # noqa: E402
from stages import IMPORTS, OVERHEAD, STAGES, analyse  # noqa: E402

from fakesite.server import FakeServer  # noqa: E402

IMAGES_PER_ARTICLE = 3
PARAGRAPHS = 8
LIMIT = 100  # the list API's maximum
LABELS = {
    "a": "(a) bare Scrapy",
    "b": "(b) bare + ImagesPipeline",
    "c": "(c) qupost fast profile",
    "c2": "(c2) qupost second run, unchanged",
    "profile": "(c) under cProfile",
    "profile-a": "(a) under cProfile",
}
TARGET_CA = 0.8
TARGET_CB = 1.8
TARGET_RERUN = 0.10
TARGET_RSS_MB = 250.0
TARGET_RSS_GROWTH = 0.15
_NEW = re.compile(r"qupost run \S+ \S+ in [\d.]+s: (\d+) new, (\d+) updated, (\d+) unchanged")
_IMAGES = re.compile(r"images (\d+) downloaded, (\d+) failed")


@dataclass
class Run:
    variant: str
    rep: int
    articles: int
    wall: float
    cpu: float
    rss_mb: float
    site_cpu: float
    returncode: int
    served: dict[str, int]
    other_cpu: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.articles / self.wall if self.wall > 0 else 0.0


@dataclass
class Config:
    articles: int
    repeat: int
    timeout: float
    results: Path
    keep: bool
    hotspots: int
    warmup: bool
    python: str = sys.executable
    code: str = ""
    workdir: Path | None = None
    # Every run's output folder lives here until the whole benchmark ends.
    outputs: Path | None = None
    # The two crawl sizes whose peak RSS --rss-scaling compares.
    rss_sizes: tuple[int, int] = (1000, 5000)


# --- processes ------------------------------------------------------------------------


def run_measured(
    command: list[str], *, cwd: Path, timeout: float, log: Path
) -> tuple[int, float, float, float, float]:
    """Run ``command``; return (exit code, wall s, CPU s, peak RSS MB, this process's CPU s).

    ``os.wait4`` gives the child's own rusage: its CPU time and peak RSS,
    without /usr/bin/time or polling.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("SCRAPY_SETTINGS_MODULE", None)
    self_before = _self_cpu()
    with open(log.with_suffix(".out"), "wb") as out, open(log.with_suffix(".err"), "wb") as err:
        child = run_child(command, cwd=cwd, env=env, stdout=out, stderr=err, timeout=timeout)
    return child.returncode, child.wall, child.cpu, child.peak_rss_mb, _self_cpu() - self_before


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def qupost_args(server: FakeServer, work: Path, pages: int, limit: int = LIMIT) -> list[str]:
    args = ["crawl", "qupost", "-a", "cid=1", "-a", f"pages={pages}", "-a", f"limit={limit}"]
    for key, value in (
        ("QUPOST_LIST_API", server.list_api),
        ("QUPOST_PROFILE", "fast"),
        ("QUPOST_DATABASE_URL", f"sqlite:///{work / 'qupost.db'}"),
        ("QUPOST_SOURCE_DIR", str(work / "source")),
        ("LOG_LEVEL", "WARNING"),
    ):
        args += ["-s", f"{key}={value}"]
    return args


def command_for(
    variant: str, cfg: Config, server: FakeServer, work: Path, pages: int, limit: int = LIMIT
) -> list[str]:
    if variant in ("a", "b"):
        command = [cfg.python, str(BENCH / "bare.py"), "--list-api", server.list_api]
        command += ["--pages", str(pages), "--limit", str(limit)]
        if variant == "a":
            return [*command, "--variant", "plain"]
        return [*command, "--variant", "images", "--store", str(work / "images")]
    crawl = qupost_args(server, work, pages, limit)
    if variant == "profile":
        return [*profiler(cfg, "qupost"), *crawl]
    if variant == "profile-a":
        bare = command_for("a", cfg, server, work, pages, limit)[1:]
        return [*profiler(cfg, "bare"), *bare]
    return [cfg.python, "-m", "scrapy", *crawl]


def profiler(cfg: Config, name: str) -> list[str]:
    prof, gc_json = cfg.results / f"{name}.prof", cfg.results / f"{name}-gc.json"
    return [cfg.python, str(BENCH / "profile_crawl.py"), str(prof), str(gc_json)]


# --- one measured run -----------------------------------------------------------------


def served(server: FakeServer) -> dict[str, int]:
    site = server.site
    return {
        "list": site.requests_to("/content/outList"),
        "pages": site.requests_to("/detail/"),
        "images": site.requests_to("/qupost/img/"),
    }


def measure(
    variant: str, rep: int, cfg: Config, server: FakeServer, work: Path, n: int, tag: str = ""
) -> Run:
    server.site.reset_log()
    pages = math.ceil(n / LIMIT)
    timeout = cfg.timeout * (3 if variant.startswith("profile") else 1)
    log = cfg.results / f"{tag}{variant}-{rep}"
    command = command_for(variant, cfg, server, work, pages)
    cwd = work if variant in ("a", "b", "profile-a") else ROOT
    busy_before = machine_busy()
    code, wall, cpu, rss, site_cpu = run_measured(command, cwd=cwd, timeout=timeout, log=log)
    other = max(0.0, machine_busy() - busy_before - cpu - site_cpu)
    run = Run(variant, rep, n, wall, cpu, rss, site_cpu, code, served(server), other)
    check(run, log, n, timeout)
    return run


def check(run: Run, log: Path, n: int, timeout: float) -> None:
    """Note anything that makes the run's figures meaningless (not timings)."""
    out = log.with_suffix(".out").read_text("utf-8", "replace")
    err = log.with_suffix(".err").read_text("utf-8", "replace")
    if run.returncode != 0:
        tail = " | ".join(err.strip().splitlines()[-3:])
        reason = "killed after the timeout" if run.wall >= timeout else f"exit {run.returncode}"
        run.problems.append(f"{reason}: {tail[:300]}")
    want_pages, want_images = (0, 0) if run.variant == "c2" else (n, IMAGES_PER_ARTICLE * n)
    if run.served["pages"] != want_pages:
        run.problems.append(
            f"site served {run.served['pages']} article pages, expected {want_pages}"
        )
    if run.served["images"] != want_images:
        run.problems.append(f"site served {run.served['images']} images, expected {want_images}")
    if run.variant in ("a", "b", "profile-a"):
        run.details = _bare_result(out)
        if run.details.get("articles") != n:
            run.problems.append(f"spider saw {run.details.get('articles')} articles, expected {n}")
    else:
        run.details = _qupost_summary(err)
        if run.variant != "c2" and run.details.get("new") not in (None, n):
            run.problems.append(
                f"qupost stored {run.details.get('new')} new articles, expected {n}"
            )


def _bare_result(out: str) -> dict[str, Any]:
    for line in out.splitlines():
        if line.startswith("BENCH-RESULT "):
            result: dict[str, Any] = json.loads(line.split(" ", 1)[1])
            return result
    return {}


def _qupost_summary(err: str) -> dict[str, Any]:
    details: dict[str, Any] = {}
    match = _NEW.search(err)
    if match:
        details.update(new=int(match[1]), updated=int(match[2]), unchanged=int(match[3]))
    images = _IMAGES.search(err)
    if images:
        details.update(images_downloaded=int(images[1]), images_failed=int(images[2]))
    return details


@contextmanager
def workdir(cfg: Config) -> Iterator[Path]:
    """A fresh output folder for one run, deleted only when the benchmark ends.

    Deleting a run's thousands of files right away would slow the next run:
    for a minute or more after a mass delete, ext4 makes each new file cost
    about ten times as much kernel time (measured in bench/README.md). The
    run that follows (b) is (c), so (c) would pay for (b)'s clean-up.
    """
    path = Path(tempfile.mkdtemp(prefix="run-", dir=cfg.outputs or cfg.workdir))
    try:
        yield path
    finally:
        # Flush the written images now, not during the next measured run.
        os.sync()


@contextmanager
def outputs_folder(cfg: Config, needed_bytes: int) -> Iterator[Path]:
    """The folder that holds every run's output; removed at the end unless --keep."""
    parent = cfg.workdir or Path(tempfile.gettempdir())
    free = shutil.disk_usage(parent).free
    if free < needed_bytes:
        raise SystemExit(
            f"bench: error: the crawl outputs need about {needed_bytes / 1e9:.1f} GB in {parent}, "
            f"which has {free / 1e9:.1f} GB free; use fewer --articles or another --workdir"
        )
    path = Path(tempfile.mkdtemp(prefix="qupost-bench-", dir=parent))
    try:
        yield path
    finally:
        if not cfg.keep:
            shutil.rmtree(path, ignore_errors=True)


def output_bytes(args: argparse.Namespace, pool: list[PoolImage]) -> int:
    """Room the image copies of every run take (3 per article), with a margin."""
    image = statistics.mean(len(p.data) for p in pool)
    qupost = 3 * image + 20_000  # the exact bytes, plus the post and its catalog rows
    stock = 3 * image * 2  # ImagesPipeline re-encodes at quality 75: counted at twice the size
    total = 0.0
    if not args.rss_only:
        # (b) and (c) store images in every repetition; the profile runs (c) once more.
        total += args.articles * args.repeat * (stock + qupost)
        total += 0 if args.no_profile else args.articles * qupost
    if args.rss_scaling:
        total += sum(args.rss_sizes) * args.repeat * qupost
    return int(total * 1.1)


def say(text: str) -> None:
    print(text, flush=True)


def progress(run: Run) -> None:
    flag = "  PROBLEM: " + "; ".join(run.problems) if run.problems else ""
    rate = "       - art/s" if run.variant == "c2" else f"{run.rate:8.1f} art/s"
    say(
        f"  rep {run.rep} {LABELS[run.variant]:<36} {run.wall:8.2f} s {rate} "
        f"CPU {run.cpu:7.2f} s  RSS {run.rss_mb:6.1f} MB  site CPU {run.site_cpu:5.2f} s  "
        f"other CPU {run.other_cpu:5.2f} s{flag}"
    )


# --- the three parts ------------------------------------------------------------------


def warm_up(cfg: Config, server: FakeServer) -> None:
    """One tiny unmeasured run of each variant, so the first measured one finds warm caches."""
    for variant in ("a", "b", "c"):
        with workdir(cfg) as work:
            command = command_for(variant, cfg, server, work, pages=1, limit=10)
            cwd = ROOT if variant == "c" else work
            log = cfg.results / f"warmup-{variant}"
            run_measured(command, cwd=cwd, timeout=cfg.timeout, log=log)


def compare(cfg: Config, server: FakeServer) -> list[Run]:
    runs: list[Run] = []
    for rep in range(1, cfg.repeat + 1):
        for variant in ("a", "b"):
            with workdir(cfg) as work:
                runs.append(measure(variant, rep, cfg, server, work, cfg.articles))
                progress(runs[-1])
        with workdir(cfg) as work:
            for variant in ("c", "c2"):
                runs.append(measure(variant, rep, cfg, server, work, cfg.articles))
                progress(runs[-1])
    return runs


def profile(cfg: Config, server: FakeServer, bare: bool) -> tuple[list[Run], dict[str, Any]]:
    runs: list[Run] = []
    for variant in ("profile-a", "profile") if bare else ("profile",):
        with workdir(cfg) as work:
            runs.append(measure(variant, 1, cfg, server, work, cfg.articles))
        progress(runs[-1])
    report = analyse(cfg.results / "qupost.prof", cfg.hotspots)
    gc_path = cfg.results / "qupost-gc.json"
    gc_info = json.loads(gc_path.read_text()) if gc_path.exists() else {}
    data = {"total": report.total, "stages": report.seconds, "hotspots": report.hotspots}
    if bare and (cfg.results / "bare.prof").exists():
        data["bare_stages"] = analyse(cfg.results / "bare.prof", 0).seconds
    return runs, {**data, "gc": gc_info}


def rss_scaling(cfg: Config, pool: list[PoolImage], sizes: tuple[int, ...]) -> dict[int, list[Run]]:
    results: dict[int, list[Run]] = {}
    for n in sizes:
        say(f"rss scaling: N={n}")
        with FakeServer(build_bench_site(n, pool)) as server:
            results[n] = []
            for rep in range(1, cfg.repeat + 1):
                with workdir(cfg) as work:
                    results[n].append(measure("c", rep, cfg, server, work, n, tag=f"rss{n}-"))
                progress(results[n][-1])
    return results


# --- report ---------------------------------------------------------------------------


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %ci"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except OSError:
        return "unknown (no git)"
    return f"{head or 'unknown'}" + (f" + {len(dirty)} modified files" if dirty else "")


def med(runs: list[Run], variant: str, attr: str) -> float:
    values = [getattr(r, attr) for r in runs if r.variant == variant]
    return statistics.median(values) if values else float("nan")


def verdict(ok: bool | None) -> str:
    return "SKIP" if ok is None else ("PASS" if ok else "MISS")


def report(
    cfg: Config,
    pool: list[PoolImage],
    runs: list[Run],
    prof: tuple[list[Run], dict[str, Any]] | None,
    scaling: dict[int, list[Run]] | None,
) -> dict[str, Any]:
    n = cfg.articles
    sizes = [len(p.data) / 1024 for p in pool]
    pixels = [p.width * p.height / 1e6 for p in pool]
    say("")
    say("=" * 78)
    say("qupost benchmark report")
    say(
        f"site: {n} articles x {IMAGES_PER_ARTICLE} JPEGs ({min(sizes):.0f}-{max(sizes):.0f} KB,"
        f" mean {statistics.mean(sizes):.0f} KB, {min(pixels):.2f}-{max(pixels):.2f} MP, pool of"
        f" {len(pool)}), {PARAGRAPHS} paragraphs,"
        f" {math.ceil(n / LIMIT)} list pages"
    )
    say(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{cfg.repeat} repetition(s), interleaved a, b, c, c2; medians below"
    )
    say(f"code: {cfg.code} (at the start)")
    where = cfg.outputs if cfg.keep else cfg.workdir or tempfile.gettempdir()
    kept = "kept (--keep)" if cfg.keep else "each run's folder kept until the end"
    say(f"crawl outputs written under {where} ({kept})")
    medians, ratios = report_compare(cfg, runs) if runs else ({}, {})
    profile_data = report_profile(cfg, prof, medians["c"]["cpu"]) if prof and runs else None
    scaling_data = report_scaling(scaling) if scaling else None
    rss = medians["c"]["rss_mb"] if runs else None
    targets = report_targets(ratios, rss, n, scaling_data, cfg.rss_sizes)
    problems = [f"{LABELS[r.variant]} rep {r.rep}: {p}" for r in runs for p in r.problems]
    if prof:
        problems += [f"{LABELS[r.variant]}: {p}" for r in prof[0] for p in r.problems]
    for n_runs in (scaling or {}).values():
        problems += [f"rss N={r.articles} rep {r.rep}: {p}" for r in n_runs for p in r.problems]
    if problems:
        say("")
        say("PROBLEMS (figures above are not trustworthy):")
        for problem in problems:
            say(f"  {problem}")
    say("=" * 78)
    return {
        "config": {
            "articles": n,
            "repeat": cfg.repeat,
            "cpus": os.cpu_count(),
            "code": cfg.code,
        },
        "pool_kb": sizes,
        "runs": [{**asdict(r), "rate": r.rate} for r in runs],
        "medians": medians,
        "ratios": ratios,
        "profile": profile_data,
        "rss_scaling": scaling_data,
        "targets": targets,
        "problems": problems,
    }


def report_compare(
    cfg: Config, runs: list[Run]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    n = cfg.articles
    medians = {
        v: {k: med(runs, v, k) for k in ("rate", "wall", "cpu", "rss_mb", "site_cpu")}
        for v in ("a", "b", "c", "c2")
    }
    say("")
    for v in ("a", "b", "c"):
        m = medians[v]
        say(
            f"{LABELS[v]:<36}: {m['rate']:8.1f} articles/s   wall {m['wall']:7.2f} s   "
            f"CPU {m['cpu'] / n:.4f} s/article   peak RSS {m['rss_mb']:6.1f} MB"
        )
    say(f"{LABELS['c2']:<36}: wall {medians['c2']['wall']:7.2f} s")
    ratios = {
        "c/a": medians["c"]["rate"] / medians["a"]["rate"],
        "c/b": medians["c"]["rate"] / medians["b"]["rate"],
        "second/first": medians["c2"]["wall"] / medians["c"]["wall"],
    }
    say(f"ratio c/a (articles/s)              : {ratios['c/a']:.3f}{per_rep(runs, 'a')}")
    say(f"ratio c/b (articles/s)              : {ratios['c/b']:.3f}{per_rep(runs, 'b')}")
    say(f"peak RSS of (c)                     : {medians['c']['rss_mb']:.1f} MB")
    say(f"second run / first run (wall)       : {ratios['second/first'] * 100:.1f} %")
    # (a) and (c) each keep one core busy, so their CPU per article predicts the
    # ratio too, and is far less disturbed by other work on the machine.
    ratios["c/a by CPU"] = medians["a"]["cpu"] / medians["c"]["cpu"]
    ratios["c/b by CPU"] = medians["b"]["cpu"] / medians["c"]["cpu"]
    say(
        f"c/a, c/b from CPU s/article (info)  : {ratios['c/a by CPU']:.2f}, "
        f"{ratios['c/b by CPU']:.2f}   (less sensitive to other load on the machine)"
    )
    busiest = max(runs, key=lambda r: r.other_cpu / r.wall if r.wall else 0.0)
    if busiest.wall and busiest.other_cpu / busiest.wall > 0.2:
        say(
            f"note: other processes used the machine during the runs (up to "
            f"{busiest.other_cpu / busiest.wall:.0%} of a core, in {LABELS[busiest.variant]} "
            f"rep {busiest.rep}); see 'other CPU' per run"
        )
    return medians, ratios


def per_rep(runs: list[Run], base: str) -> str:
    """Each repetition's own ratio, to show the spread behind the median."""
    rates = {(r.variant, r.rep): r.rate for r in runs}
    reps = sorted({r.rep for r in runs})
    if len(reps) < 2:
        return ""
    values = [rates[("c", k)] / rates[(base, k)] for k in reps if rates.get((base, k))]
    return "   (per repetition: " + ", ".join(f"{v:.2f}" for v in values) + ")"


def report_profile(
    cfg: Config, prof: tuple[list[Run], dict[str, Any]], plain_cpu: float
) -> dict[str, Any]:
    runs, data = prof
    run = runs[-1]
    n = cfg.articles
    total = data["total"] or 1.0
    say("")
    say(
        f"per-stage CPU of (c): one extra run under cProfile (main-thread CPU clock), "
        f"{run.wall:.1f} s wall"
    )
    say(
        "  'est.' scales each stage's share to the CPU of the unprofiled (c) runs "
        f"({plain_cpu / n:.4f} s/article)"
    )
    say(f"  {'stage':<40} {'CPU s':>8} {'share':>7} {'s/article':>10} {'est. s/art':>11}")
    for stage in STAGES:
        seconds = data["stages"].get(stage, 0.0)
        share = seconds / total
        say(
            f"  stage {stage:<34} {seconds:8.2f} {share * 100:6.1f}% {seconds / n:10.5f} "
            f"{share * plain_cpu / n:11.5f}"
        )
    per_article = f"{total / n:10.5f} {plain_cpu / n:11.5f}"
    say(f"  {'total profiled':<40} {total:8.2f} {100:6.1f}% {per_article}")
    if "bare_stages" in data:
        bare = data["bare_stages"]
        say(
            f"  (a) under the same profiler: {bare[OVERHEAD] / n:.5f} s/article of "
            f"{OVERHEAD} (plus {bare[IMPORTS]:.2f} s of imports); (c) has "
            f"{data['stages'][OVERHEAD] / n:.5f}"
        )
    gc_info = data.get("gc") or {}
    if gc_info:
        say(
            f"  of which cyclic GC pauses: {gc_info['seconds']:.2f} s in "
            f"{gc_info['collections']} collections ({gc_info['seconds'] / n:.5f} s/article)"
        )
    say("")
    say(f"top {len(data['hotspots'])} functions of (c) by own time (profiled CPU s)")
    say(f"  {'own s':>7} {'cum s':>7} {'calls':>9}  {'stage':<24} function")
    for row in data["hotspots"]:
        say(
            f"  {row['own']:7.2f} {row['cumulative']:7.2f} {row['calls']:9d}  "
            f"{row['stage'][:24]:<24} {row['function']}"
        )
    return {**data, "wall": run.wall, "cpu": run.cpu, "prof": str(cfg.results / "qupost.prof")}


def report_scaling(scaling: dict[int, list[Run]]) -> dict[str, Any]:
    say("")
    say("peak RSS of (c) by N (median)")
    data: dict[str, Any] = {}
    for n, runs in scaling.items():
        rss = statistics.median(r.rss_mb for r in runs)
        rate = statistics.median(r.rate for r in runs)
        data[str(n)] = {"rss_mb": rss, "rate": rate, "runs": [asdict(r) for r in runs]}
        say(f"  N={n:<6} peak RSS {rss:7.1f} MB   {rate:7.1f} articles/s")
    return data


def report_targets(
    ratios: dict[str, float],
    rss: float | None,
    n: int,
    scaling: dict[str, Any] | None,
    sizes: tuple[int, int],
) -> list[dict[str, Any]]:
    skipped = "not measured"
    rows: list[tuple[str, str, bool | None]] = []
    if ratios:
        rows += [
            ("c/a >= 0.80", f"{ratios['c/a']:.3f}", ratios["c/a"] >= TARGET_CA),
            ("c/b >= 1.80", f"{ratios['c/b']:.3f}", ratios["c/b"] >= TARGET_CB),
            (
                "second run < 10% of first",
                f"{ratios['second/first'] * 100:.1f} %",
                ratios["second/first"] < TARGET_RERUN,
            ),
        ]
    if rss is not None:
        rows.append((f"peak RSS (c) < 250 MB at N={n}", f"{rss:.1f} MB", rss < TARGET_RSS_MB))
    low, high = sizes
    small, large = (scaling or {}).get(str(low)), (scaling or {}).get(str(high))
    growth_row = f"RSS N={high} within 15% of N={low}"
    cap_row = f"RSS N={high} < 250 MB"
    if small and large:
        growth = large["rss_mb"] / small["rss_mb"] - 1
        rows.append((growth_row, f"{growth * 100:+.1f} %", growth <= TARGET_RSS_GROWTH))
        rows.append((cap_row, f"{large['rss_mb']:.1f} MB", large["rss_mb"] < TARGET_RSS_MB))
    else:
        rows.append((growth_row, f"{skipped} (--rss-scaling)", None))
        rows.append((cap_row, f"{skipped} (--rss-scaling)", None))
    say("")
    say("targets")
    for name, value, ok in rows:
        say(f"  target {name:<36} {value:>30}   {verdict(ok)}")
    return [{"target": name, "value": value, "result": verdict(ok)} for name, value, ok in rows]


# --- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="qupost vs bare Scrapy benchmark")
    parser.add_argument("--articles", type=int, default=2000, help="N articles (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--smoke", action="store_true", help="N=50, 1 repetition (CI)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--rss-scaling", action="store_true", help="also measure peak RSS of (c) at N=1000 and 5000"
    )
    parser.add_argument(
        "--rss-only", action="store_true", help="only the RSS scaling part (implies --rss-scaling)"
    )
    parser.add_argument(
        "--rss-sizes",
        type=_two_sizes,
        default=(1000, 5000),
        metavar="SMALL,LARGE",
        help="the two N whose peak RSS --rss-scaling compares (default 1000,5000)",
    )
    parser.add_argument(
        "--image-mix",
        choices=sorted(POOL_MIXES),
        default="photo",
        help="pixel sizes of the 50–200 KB JPEGs (default photo: 640–1280 px; web: 480–800 px)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    parser.add_argument(
        "--profile-bare", action="store_true", help="profile (a) too, to compare the overhead"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where crawl outputs go (default: the system temp dir)"
    )
    parser.add_argument("--hotspots", type=int, default=25, help="functions listed (default 25)")
    parser.add_argument("--timeout", type=float, help="seconds per process (default 60 + N/5)")
    parser.add_argument("--results", type=Path, help="logs and profile (default bench/results/…)")
    parser.add_argument("--keep", action="store_true", help="keep the crawl output folders")
    args = parser.parse_args(argv)
    if args.smoke:
        args.articles, args.repeat = 50, 1
    if args.rss_only:
        args.rss_scaling = True
    if args.articles < 1 or args.repeat < 1:
        parser.error("--articles and --repeat must be at least 1")
    return args


def _two_sizes(text: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two sizes like 2000,20000, got {text!r}"
        ) from None
    if not 0 < low < high:
        raise argparse.ArgumentTypeError(f"expected 0 < SMALL < LARGE, got {text!r}")
    return low, high


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    results = (args.results or BENCH / "results" / stamp).resolve()
    results.mkdir(parents=True, exist_ok=True)
    cfg = Config(
        articles=args.articles,
        repeat=args.repeat,
        timeout=args.timeout or 60 + args.articles / 5,
        results=results,
        keep=args.keep,
        hotspots=args.hotspots,
        warmup=not args.smoke,
        code=code_version(),
        workdir=args.workdir,
        rss_sizes=args.rss_sizes,
    )
    say(f"building the site: {cfg.articles} articles; logs in {results}")
    pool = image_pool(mix=args.image_mix)
    runs: list[Run] = []
    prof = None
    with outputs_folder(cfg, output_bytes(args, pool)) as cfg.outputs:
        if not args.rss_only:
            with FakeServer(build_bench_site(cfg.articles, pool)) as server:
                if cfg.warmup:
                    warm_up(cfg, server)
                runs = compare(cfg, server)
                prof = None if args.no_profile else profile(cfg, server, args.profile_bare)
        scaling = rss_scaling(cfg, pool, cfg.rss_sizes) if args.rss_scaling else None
    data = report(cfg, pool, runs, prof, scaling)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return 1 if data["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
