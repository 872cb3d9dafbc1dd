"""Distributed mode: scrapy-redis workers sharing a PostgreSQL catalog.

Needs PostgreSQL (trust auth) and Redis on loopback: ``.ci/run`` starts them.
Each test gets its own database and Redis key prefix and removes both after.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import build_site
from tests.conftest import ROOT, crawl_command, run_crawl, skip_or_fail

pytestmark = [pytest.mark.e2e, pytest.mark.services]

REDIS = os.environ.get("QUPOST_TEST_REDIS", "redis://127.0.0.1:6379/0")
# Without injected faults no request should be retried; a retry after a
# connection reset under load would re-fetch a page, so allow 1% extra.
RETRY_TOLERANCE = 0.01


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    try:
        import redis
    except ImportError:
        skip_or_fail("redis-py is not installed (pip install -e '.[dev]')")
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis is not reachable at {REDIS}: {exc}")
    prefix = f"qupost-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def distributed_settings(pg_url: str, prefix: str, images: Path) -> dict[str, str]:
    return {
        "QUPOST_DISTRIBUTED": "1",
        "REDIS_URL": REDIS,
        "QUPOST_REDIS_PREFIX": prefix,
        "QUPOST_DATABASE_URL": pg_url,
        "QUPOST_WRITE_POSTS": "0",
        "IMAGES_STORE": str(images),
        "QUPOST_WORKER_IDLE_TIMEOUT": "4",
    }


def scrapy(*args: str, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scrapy", *args]
    for key, value in settings.items():
        command += ["-s", f"{key}={value}"]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def start_worker(server: FakeServer, out: Path, settings: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        crawl_command(server, out, **settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def fetch_counts(server: FakeServer, prefix: str) -> dict[str, int]:
    with server.site.lock:
        return {path: n for path, n in server.site.counts.items() if path.startswith(prefix)}


# Channels of 100 articles listed 40 at a time: three list pages each. Workers
# start with no -a at all (so pages=1, limit=20 of their own): they must page a
# channel as the seed asked.
SPIDER_ARGS = ("-a", "cid=1,6,7", "-a", "pages=5", "-a", "limit=40")


def wait_for_runs(url: str, count: int, timeout: float = 90) -> None:
    """Wait until ``count`` workers have opened the catalog (each records its run)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as conn:
                    if conn.execute(text("SELECT count(*) FROM runs")).scalar_one() >= count:
                        return
            except Exception:  # the first worker has not created the tables yet
                pass
            assert time.monotonic() < deadline, f"fewer than {count} workers started"
            time.sleep(0.2)
    finally:
        engine.dispose()


def test_three_workers_store_each_article_once(
    tmp_path: Path, pg_url: str, redis_prefix: str
) -> None:
    site = build_site(300, channels=(1, 6, 7), images_per_article=2, paragraphs=3)
    settings = distributed_settings(pg_url, redis_prefix, tmp_path / "shared-images")
    # Long enough for all three to be waiting before the queue is seeded.
    settings["QUPOST_WORKER_IDLE_TIMEOUT"] = "12"
    with FakeServer(site) as server:
        common = {**settings, "QUPOST_LIST_API": server.list_api, "QUPOST_PROFILE": "fast"}
        # Workers first: a worker that started alone on a seeded queue could
        # finish all 300 articles before the others were up.
        workers = [start_worker(server, tmp_path / f"w{i}", settings) for i in range(3)]
        wait_for_runs(pg_url, 3)
        seeded = scrapy("seed", *SPIDER_ARGS, settings=common)
        assert seeded.returncode == 0, seeded.stderr
        assert "queued 3 list requests" in seeded.stdout
        errors = [w.communicate(timeout=300)[1] for w in workers]
        pages = fetch_counts(server, "/detail/")
        images = fetch_counts(server, "/qupost/img/")
        # The reference: one ordinary single-machine crawl of the same site.
        single = run_crawl(server, tmp_path / "single", "cid=1,6,7", "pages=5", "limit=40")
    for worker, err in zip(workers, errors, strict=True):
        assert worker.returncode == 0, err[-3000:]
        assert "Traceback" not in err
    # Every worker took part: the queue really was shared.
    new_counts = [int(re.search(r": (\d+) new,", err).group(1)) for err in errors]  # type: ignore[union-attr]
    assert sum(new_counts) == 300 and sum(n > 0 for n in new_counts) >= 2, new_counts

    assert len(pages) == 300 and len(images) == 600
    extra = sum(n - 1 for n in pages.values()) + sum(n - 1 for n in images.values())
    assert extra <= RETRY_TOLERANCE * 900, (extra, [p for p, n in pages.items() if n > 1])

    exported = tmp_path / "exported"
    result = scrapy("export", "--to", str(exported), settings=settings)
    assert result.returncode == 0, result.stderr
    assert "300 posts" in result.stdout
    assert single.returncode == 0, single.stderr[-3000:]
    assert tree(exported) == tree(single.source)


def test_killed_worker_share_is_finished_by_the_others(
    tmp_path: Path, pg_url: str, redis_prefix: str
) -> None:
    site = build_site(300, channels=(1, 6, 7), images_per_article=1, paragraphs=2)
    settings = distributed_settings(pg_url, redis_prefix, tmp_path / "shared-images")
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url)

    def stored() -> int:
        try:
            with engine.connect() as conn:
                return int(conn.exec_driver_sql("SELECT count(*) FROM posts").scalar() or 0)
        except sqlalchemy.exc.SQLAlchemyError:
            return 0

    with FakeServer(site) as server:
        common = {**settings, "QUPOST_LIST_API": server.list_api, "QUPOST_PROFILE": "fast"}
        assert scrapy("seed", *SPIDER_ARGS, settings=common).returncode == 0
        victim = start_worker(server, tmp_path / "victim", settings)
        deadline = time.monotonic() + 120
        while stored() < 30 and time.monotonic() < deadline and victim.poll() is None:
            time.sleep(0.05)
        others = [start_worker(server, tmp_path / f"w{i}", settings) for i in range(2)]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        for worker in others:
            _, err = worker.communicate(timeout=300)
            assert worker.returncode == 0, err[-3000:]
        after_kill = stored()
        # Requests the victim had taken off the queue died with it; the next
        # scheduled pass (seed + any worker) lists again and fetches only those.
        server.site.reset_log()
        assert scrapy("seed", *SPIDER_ARGS, settings=common).returncode == 0
        last = start_worker(server, tmp_path / "last", settings)
        _, err = last.communicate(timeout=300)
        assert last.returncode == 0, err[-3000:]
        refetched = fetch_counts(server, "/detail/")
    engine.dispose()
    assert after_kill >= 30 and stored() == 300
    assert len(refetched) == 300 - after_kill
    assert all(n == 1 for n in refetched.values())
