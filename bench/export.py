"""How long ``scrapy export`` takes next to ``cp -r`` of the same tree.

Builds a catalog of N synthetic posts (each with three stored images of
50–200 KB, the weights of bench/benchsite.py's photo mix, and a body of about
1.5 KB) and the crawl's own tree for it, then times,
interleaved in one session so the machine's noise hits every variant alike:

- ``cp -r`` of the tree into a new folder (the baseline);
- ``scrapy export --to`` a new folder (a first export);
- ``scrapy export --to`` the same folder again (nothing changed).

Each export is the real command in a fresh process, as a user runs it.
Usage: python bench/export.py [--sizes 2000,20000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fakesite.site import lorem  # noqa: E402
from storage.article import Article, ImageRecord, ImageRef  # noqa: E402
from storage.export import export_tree  # noqa: E402
from storage.hexo import RenderOptions  # noqa: E402
from storage.repository import Repository  # noqa: E402
from storage.summary import describe  # noqa: E402

IMAGE_BYTES = (50_000, 200_000)
IMAGES_PER_POST = 3
START = datetime(2021, 12, 4, tzinfo=UTC)


def build(work: Path, n: int, image_bytes: tuple[int, int] = IMAGE_BYTES) -> tuple[str, Path]:
    """A catalog of ``n`` posts and the crawl's tree (posts + image store) for it."""
    rng = random.Random(n)
    source = work / "source"
    store = source / "images" / "qupost"
    url = f"sqlite:///{work / 'qupost.db'}"
    repo = Repository.open(url)
    now = datetime.now(UTC)
    with repo.transaction() as tx:
        for i in range(n):
            qupost_id = str(1638600000 + i)
            published = START + timedelta(minutes=7 * i)
            images = {}
            tags = []
            for k in range(IMAGES_PER_POST):
                origin = f"http://static.1sapp.com/qupost/img/{qupost_id}-{k}.jpeg"
                path = f"{published:%Y/%m/%d}/{qupost_id}{k:02d}.jpeg"
                target = store / path
                target.parent.mkdir(parents=True, exist_ok=True)
                size = rng.randint(*image_bytes)
                target.write_bytes(rng.randbytes(size))
                images[origin] = ImageRecord(
                    origin, "stored", path, 640, 360, "jpeg", size_bytes=size
                )
                tags.append(f'<p><img src="{origin}" data-size="640,360"></p>')
            body = "".join(f"<p>{lorem(rng, 4)}</p>" for _ in range(4)) + "".join(tags)
            article = Article(
                qupost_id,
                f"http://html2.qktoutiao.com/detail/{published:%Y/%m/%d}/{qupost_id}.html",
                channels=(1 + i % 3,),
                crawled_at=now,
                title=f"基准文章{i}：{lorem(rng, 1)[:16]}",
                author="封面新闻",
                published_at=published,
                date_source="list",
                body_html=body,
                description=describe("", body),
                image_refs=tuple(ImageRef(url, 640, 360) for url in images),
                images=images,
            )
            tx.record_images(images.values(), None, now)
            tx.upsert_article(article)
    export_tree(repo, source, RenderOptions(), store)
    repo.close()
    return url, source


def timed(command: list[str], cwd: Path) -> float:
    """Seconds ``command`` takes, run from ``cwd`` (whose qupost code it then imports).

    Dirty pages from the previous step are flushed first, so one step's
    write-back is not timed as the next one's.
    """
    os.sync()
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def n_posts(source: Path) -> int:
    return len(list((source / "_posts").glob("*.md")))


def n_images(source: Path) -> int:
    return sum(1 for p in (source / "images").rglob("*") if p.is_file())


def measure(
    url: str, source: Path, work: Path, repeat: int, other: Path | None
) -> dict[str, list[float]]:
    env_images = str(source / "images" / "qupost")
    scrapy = [sys.executable, "-m", "scrapy", "export", "-s", f"QUPOST_DATABASE_URL={url}"]
    scrapy += ["-s", f"IMAGES_STORE={env_images}"]
    times: dict[str, list[float]] = {"cp -r": [], "export": [], "export again": []}
    if other is not None:
        times[f"export ({other.name})"] = []
    for round_ in range(repeat):
        if other is not None:
            older = work / f"older{round_}"
            times[f"export ({other.name})"].append(timed([*scrapy, "--to", str(older)], other))
            shutil.rmtree(older)
        copy = work / f"copy{round_}"
        exported = work / f"export{round_}"
        times["cp -r"].append(timed(["cp", "-r", str(source), str(copy)], ROOT))
        times["export"].append(timed([*scrapy, "--to", str(exported)], ROOT))
        times["export again"].append(timed([*scrapy, "--to", str(exported)], ROOT))
        posts = len(list((exported / "_posts").glob("*.md")))
        images = sum(1 for p in (exported / "images").rglob("*") if p.is_file())
        assert (posts, images) == (n_posts(source), n_images(source)), (posts, images)
        shutil.rmtree(copy)
        shutil.rmtree(exported)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000", help="post counts, comma separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    parser.add_argument(
        "--image-bytes",
        default=f"{IMAGE_BYTES[0]},{IMAGE_BYTES[1]}",
        help="smallest and largest image, in bytes (default: the photo mix's 50-200 KB)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="a checkout of other qupost code (e.g. a git worktree of an older commit) "
        "whose export is timed in the same rounds",
    )
    args = parser.parse_args(argv)
    for n in (int(s) for s in args.sizes.split(",")):
        work = args.keep or Path(tempfile.mkdtemp(prefix=f"qupost-export-bench-{n}-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            start = time.perf_counter()
            low, high = (int(v) for v in args.image_bytes.split(","))
            url, source = build(work, n, (low, high))
            print(f"N={n}: built in {time.perf_counter() - start:.1f} s", flush=True)
            times = measure(url, source, work, args.repeat, args.compare)
        finally:
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
        base = statistics.median(times["cp -r"])
        for name, values in times.items():
            ratios = [v / c for v, c in zip(values, times["cp -r"], strict=True)]
            print(
                f"N={n} {name:22s} median {statistics.median(values):6.2f} s  "
                f"ratio to cp -r per round: {', '.join(f'{r:.2f}' for r in ratios)}  "
                f"(median {statistics.median(values) / base:.2f})",
                flush=True,
            )
    print(f"machine load (1/5/15 min): {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
