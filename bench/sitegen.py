"""How long Hexo and Hugo take to build a qupost blog of N posts.

    python bench/sitegen.py [--sizes 1000,5000] [--hexo-heap-mb MB] [--hexo-timeout S]
                            [--workdir DIR] [--json out.json]
    python bench/sitegen.py --smoke      # N=20: keeps the script working in CI

For each N, in one run:

1. a synthetic catalog (SQLite) of N articles, built with the storage library
   (no crawl): 8 paragraphs and 3 images each, over 4 channels, one article every
   7 minutes.  The image files are hard links to a pool of 60 distinct JPEGs of
   50-200 KB (``bench/benchsite.py``'s photo mix), so N=5000 writes 15,000 image
   files without encoding 15,000 JPEGs;
2. ``storage.export.export_tree`` (what ``scrapy export`` runs) into a Hexo
   ``source/`` and, with ``generator="hugo"``, into a copy of ``docs/hugo``;
3. ``hugo`` with that site, then ``hexo generate`` with the default landscape
   theme (Hexo 8 as pinned in ``tests/hexo/``, installed by ``npm ci`` into
   ``.cache/hexo/<hash>/`` exactly as ``tests/test_hexo.py`` does, so both share
   one install), each a fresh build of a fresh folder, timed as its own process
   from start to end.

Each build must produce N post pages, or the script exits with status 1.  It
never fails because of a timing; the ratio hexo/hugo is the figure to quote.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from benchsite import PoolImage, image_pool  # noqa: E402
from machine import machine_busy, run_child  # noqa: E402

from crawler.channels import CHANNELS  # noqa: E402
from fakesite.site import lorem  # noqa: E402
from storage.article import Article, ImageRecord, ImageRef  # noqa: E402
from storage.export import export_tree  # noqa: E402
from storage.hexo import RenderOptions  # noqa: E402
from storage.repository import Repository  # noqa: E402
from tests.hexo_pinned import (  # noqa: E402
    PACKAGE_DIR,
    HexoInstallFailed,
    HexoMissing,
    pinned_node_modules,
)

HUGO_SITE = ROOT / "docs" / "hugo"
FIRST_ID = 1638600000
CHANNEL_IDS = (1, 6, 7, 10)
IMAGES_PER_ARTICLE = 3
PARAGRAPHS = 8
BATCH = 500


# --- the synthetic catalog -----------------------------------------------------------------------


def write_pool(pool: list[PoolImage], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(pool):
        path = folder / f"pool{i:03d}.jpeg"
        path.write_bytes(image.data)
        paths.append(path)
    return paths


def build_catalog(
    n: int, db: Path, store: Path, pool: list[PoolImage], pool_files: list[Path]
) -> None:
    """N articles, their images stored under ``store`` as the crawl stores them."""
    rng = random.Random(7)
    start = datetime(2021, 12, 4, 13, 0, tzinfo=UTC)
    repo = Repository.open(f"sqlite:///{db}")
    try:
        for first in range(0, n, BATCH):
            articles: list[Article] = []
            images: list[ImageRecord] = []
            for k in range(first, min(n, first + BATCH)):
                article, records = make_article(k, start, rng, store, pool, pool_files)
                articles.append(article)
                images.extend(records)
            with repo.transaction() as tx:
                tx.record_images(images, None, start)
                for article in articles:
                    tx.upsert_article(article)
    finally:
        repo.close()


def make_article(
    k: int,
    start: datetime,
    rng: random.Random,
    store: Path,
    pool: list[PoolImage],
    pool_files: list[Path],
) -> tuple[Article, list[ImageRecord]]:
    qupost_id = str(FIRST_ID + k)
    published = start - timedelta(minutes=7 * k)
    day = published.strftime("%Y/%m/%d")
    records: list[ImageRecord] = []
    for i in range(IMAGES_PER_ARTICLE):
        url = f"http://static.1sapp.com/qupost/image/{day}/{qupost_id}-{i}.jpeg"
        slot = (k * IMAGES_PER_ARTICLE + i) % len(pool)
        path = f"{day}/{hashlib.sha1(url.encode()).hexdigest()}.jpeg"
        target = store / path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(pool_files[slot], target)
        except OSError:
            shutil.copyfile(pool_files[slot], target)
        image = pool[slot]
        records.append(
            ImageRecord(
                url, "stored", path, image.width, image.height, "jpeg", size_bytes=len(image.data)
            )
        )
    parts: list[str] = []
    for p in range(PARAGRAPHS):
        parts.append(f"<p>第{p + 1}段。{lorem(rng)}</p>")
        if p < len(records):
            r = records[p]
            parts.append(f'<p><img src="{r.url}" data-size="{r.width},{r.height}"></p>')
    text = "".join(lorem(rng, 1) for _ in range(3))
    article = Article(
        qupost_id=qupost_id,
        original_url=f"http://html2.qktoutiao.com/detail/{day}/{qupost_id}.html",
        title=f"测试文章{k + 1}：{lorem(rng, 1)[:18]}",
        author=rng.choice(["封面新闻", "新华社", "中国新闻网"]),
        published_at=published,
        date_source="list",
        body_html="".join(parts),
        description=text[:120],
        cover_url=records[0].url,
        image_refs=tuple(ImageRef(r.url, r.width, r.height) for r in records),
        channels=(CHANNEL_IDS[k % len(CHANNEL_IDS)],),
        crawled_at=start,
    )
    return article, records


# --- Hexo -----------------------------------------------------------------------------------


def hexo_modules() -> Path:
    """The pinned node_modules the tests use (tests/hexo_pinned.py)."""
    try:
        return pinned_node_modules()
    except (HexoMissing, HexoInstallFailed) as exc:
        raise SystemExit(f"sitegen: {exc} (or pass --no-hexo)") from None


def hexo_site(folder: Path, modules: Path) -> Path:
    """A minimal Hexo site (tests/test_hexo.py's configuration) with landscape."""
    folder.mkdir(parents=True)
    (folder / "_config.yml").write_text(
        "title: qupost bench\nurl: http://example.com\nroot: /\ntimezone: ''\n"
        "language: zh-CN\ntheme: landscape\npost_asset_folder: false\n"
        "permalink: :year/:month/:day/:title/\n",
        "utf-8",
    )
    shutil.copy2(PACKAGE_DIR / "package.json", folder / "package.json")
    (folder / "node_modules").symlink_to(modules, target_is_directory=True)
    return folder / "source"


def node_heap_limit_mb(node_options: str) -> float:
    """The V8 heap limit a node process gets with these NODE_OPTIONS."""
    proc = subprocess.run(
        ["node", "-e", "console.log(require('v8').getHeapStatistics().heap_size_limit)"],
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_OPTIONS": node_options},
        timeout=60,
    )
    return int(proc.stdout.strip() or 0) / 2**20


# --- timing a build -----------------------------------------------------------------------------


@dataclass
class Build:
    tool: str
    posts: int
    status: int
    wall: float
    cpu: float
    peak_rss_mb: float
    pages: int
    other_cpu: float = 0.0
    """CPU seconds the rest of the machine used during the build."""
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0 and self.pages == self.posts


def run_measured(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float, log: Path
) -> tuple[int, float, float, float, bool, float]:
    """One process's exit status, wall s, CPU s, peak RSS MB (from ``os.wait4``), whether it
    was killed, and the CPU s the rest of the machine used meanwhile."""
    busy = machine_busy()
    with open(log, "wb") as out:
        child = run_child(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout
        )
    other = max(0.0, machine_busy() - busy - child.cpu)
    return child.returncode, child.wall, child.cpu, child.peak_rss_mb, child.killed, other


def count_pages(public: Path) -> int:
    return sum(1 for _ in public.glob("**/qupost-*/index.html")) if public.is_dir() else 0


def build_hexo(site: Path, n: int, node_options: str, timeout: float) -> Build:
    env = {**os.environ, "TZ": "UTC", "NO_COLOR": "1", "NODE_OPTIONS": node_options}
    hexo = str(site / "node_modules" / ".bin" / "hexo")
    status, wall, cpu, rss, timed_out, other = run_measured(
        ["node", hexo, "generate"], site, env, timeout, site / "hexo-generate.log"
    )
    note = ""
    log = (site / "hexo-generate.log").read_text("utf-8", errors="replace")
    if timed_out:
        note = f"killed after {timeout:.0f} s"
    elif "heap out of memory" in log or "Allocation failed" in log:
        note = "out of memory"
    elif status != 0:
        note = log.strip().splitlines()[-1][:200] if log.strip() else f"exit {status}"
    return Build("hexo", n, status, wall, cpu, rss, count_pages(site / "public"), other, note)


def build_hugo(site: Path, n: int, timeout: float) -> Build:
    hugo = shutil.which("hugo")
    if hugo is None:
        raise SystemExit("sitegen: hugo is not on PATH (bash .ci/hugo installs it)")
    env = {**os.environ, "TZ": "UTC", "HUGO_CACHEDIR": str(site.parent / "hugo-cache")}
    public = site.parent / "hugo-public"
    status, wall, cpu, rss, timed_out, other = run_measured(
        [hugo, "--source", str(site), "--destination", str(public)],
        site,
        env,
        timeout,
        site.parent / "hugo.log",
    )
    note = f"killed after {timeout:.0f} s" if timed_out else ""
    return Build("hugo", n, status, wall, cpu, rss, count_pages(public), other, note)


# --- one size -----------------------------------------------------------------------------------


@dataclass
class SizeResult:
    posts: int
    catalog_seconds: float
    export_hexo_seconds: float
    export_hugo_seconds: float
    builds: list[Build] = field(default_factory=list)

    def build(self, tool: str) -> Build | None:
        return next((b for b in self.builds if b.tool == tool), None)


def run_size(
    n: int,
    work: Path,
    pool: list[PoolImage],
    pool_files: list[Path],
    modules: Path | None,
    args: argparse.Namespace,
) -> SizeResult:
    folder = work / f"n{n}"
    store = folder / "store"
    started = time.perf_counter()
    build_catalog(n, folder / "qupost.db", store, pool, pool_files)
    catalog = time.perf_counter() - started
    repo = Repository.open(f"sqlite:///{folder / 'qupost.db'}")
    options = RenderOptions(tag_names=CHANNELS)
    try:
        hexo_source = hexo_site(folder / "hexo", modules) if modules else folder / "hexo-source"
        started = time.perf_counter()
        exported = export_tree(repo, hexo_source, options, store)
        export_hexo = time.perf_counter() - started
        assert exported.posts_written == n, exported
        hugo_root = folder / "hugo" / "site"
        shutil.copytree(HUGO_SITE, hugo_root)
        started = time.perf_counter()
        exported = export_tree(repo, hugo_root, options, store, generator="hugo")
        export_hugo = time.perf_counter() - started
        assert exported.posts_written == n, exported
    finally:
        repo.close()
    result = SizeResult(n, catalog, export_hexo, export_hugo)
    print(
        f"N={n}: catalog {catalog:.1f} s, export to Hexo {export_hexo:.1f} s, "
        f"to Hugo {export_hugo:.1f} s",
        flush=True,
    )
    result.builds.append(build_hugo(hugo_root, n, args.hugo_timeout))
    print(f"  {line(result.builds[-1])}", flush=True)
    if modules is not None:
        result.builds.append(build_hexo(folder / "hexo", n, args.node_options, args.hexo_timeout))
        print(f"  {line(result.builds[-1])}", flush=True)
    return result


def line(build: Build) -> str:
    state = "ok" if build.ok else f"FAILED ({build.note or f'exit {build.status}'})"
    return (
        f"{build.tool:<5} build N={build.posts:<6}: wall {build.wall:9.2f} s   "
        f"CPU {build.cpu:8.2f} s   peak RSS {build.peak_rss_mb:7.1f} MB   "
        f"other CPU {build.other_cpu:7.1f} s   {build.pages} post pages   {state}"
    )


def report(results: list[SizeResult], heap_mb: float | None, node_options: str) -> list[str]:
    lines = ["", "build times (each a fresh build of a fresh folder)"]
    for result in results:
        for build in result.builds:
            lines.append("  " + line(build))
    lines.append("")
    for result in results:
        hexo, hugo = result.build("hexo"), result.build("hugo")
        if hexo and hugo and hexo.ok and hugo.ok:
            lines.append(
                f"  ratio hexo/hugo at N={result.posts:<6}: {hexo.wall / hugo.wall:8.1f}   "
                f"(hexo {hexo.wall / result.posts * 1000:.1f} ms/post, "
                f"hugo {hugo.wall / result.posts * 1000:.2f} ms/post)"
            )
    if heap_mb is not None:
        lines.append(f"  node heap limit: {heap_mb:.0f} MB (NODE_OPTIONS={node_options!r})")
    return lines


def describe_machine() -> str:
    try:
        commit = subprocess.run(
            ["git", "log", "-1", "--format=%h"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    hugo = subprocess.run(["hugo", "version"], capture_output=True, text=True).stdout.split()
    node = shutil.which("node")
    node_version = (
        subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        if node
        else "none"
    )
    return (
        f"commit {commit}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"hugo {hugo[1] if len(hugo) > 1 else 'none'}, node {node_version}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000", help="comma list of post counts")
    parser.add_argument("--smoke", action="store_true", help="N=20 only")
    parser.add_argument("--no-hexo", action="store_true", help="build with Hugo only")
    parser.add_argument(
        "--hexo-heap-mb", type=int, default=0, help="node --max-old-space-size (0: node's default)"
    )
    parser.add_argument("--hexo-timeout", type=float, default=3600.0, help="seconds")
    parser.add_argument("--hugo-timeout", type=float, default=600.0, help="seconds")
    parser.add_argument("--workdir", help="where to make the working folder (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    sizes = [20] if args.smoke else [int(s) for s in args.sizes.split(",") if s.strip()]
    args.node_options = f"--max-old-space-size={args.hexo_heap_mb}" if args.hexo_heap_mb else ""
    print(f"sitegen: {describe_machine()}", flush=True)
    modules = None if args.no_hexo else hexo_modules()
    heap = node_heap_limit_mb(args.node_options) if modules else None
    # A fresh folder of its own, inside --workdir when given: only that is removed at the end.
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="qupost-sitegen-", dir=args.workdir))
    print(f"sitegen: working in {work}", flush=True)
    try:
        started = time.perf_counter()
        pool = image_pool(6 if args.smoke else 60)
        pool_files = write_pool(pool, work / "pool")
        print(f"sitegen: image pool of {len(pool)} JPEGs in {time.perf_counter() - started:.1f} s")
        results = [run_size(n, work, pool, pool_files, modules, args) for n in sizes]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    lines = report(results, heap, args.node_options)
    print("\n".join(lines))
    if args.json:
        payload: dict[str, Any] = {
            "machine": describe_machine(),
            "node_options": args.node_options,
            "node_heap_limit_mb": heap,
            "results": [
                {**asdict(r), "builds": [{**asdict(b), "ok": b.ok} for b in r.builds]}
                for r in results
            ],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2), "utf-8")
    return 0 if all(b.ok for r in results for b in r.builds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
