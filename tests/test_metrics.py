"""Run metrics: the gauges, a failed push as one warning, and real pushes to a Pushgateway.

The end-to-end tests start Debian's ``prometheus-pushgateway`` on a free
loopback port (in memory, no persistence file), crawl the fake site with
``QUPOST_PUSHGATEWAY_URL`` pointing at it, and read the values back through
the gateway's HTTP API (``/api/v1/metrics``).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from scrapy.settings import Settings

from crawler.catalog import EXIT_SITE_CHANGED
from crawler.config import ConfigError, QupostConfig
from crawler.metrics import LAST_SUCCESS, RunReport, push_run, run_registry
from fakesite.server import FakeServer
from fakesite.site import build_site
from tests.conftest import CrawlResult, run_crawl, skip_or_fail
from tests.hostile import assert_clean_run, log_lines, one_line

PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
COUNTS = {
    "articles_listed": 9,
    "articles_new": 4,
    "articles_updated": 1,
    "articles_unchanged": 2,
    "articles_deleted": 0,
    "articles_failed": 1,
    "articles_skipped": 1,
    "images_downloaded": 7,
    "images_failed": 2,
}
FINISHED = datetime(2021, 12, 4, 13, 49, 12, tzinfo=UTC)


def report(exit_status: int = 0, reason: str = "finished", site_changed: bool = False) -> RunReport:
    return RunReport(COUNTS, 12.5, exit_status, reason, FINISHED, site_changed)


def config(**settings: object) -> QupostConfig:
    return QupostConfig.from_settings(Settings(settings))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the gauges -------------------------------------------------------------------


def test_the_registry_holds_the_runs_counts() -> None:
    registry = run_registry(report())
    for key, value in COUNTS.items():
        kind, _, outcome = key.partition("_")
        if outcome == "listed":
            assert registry.get_sample_value("qupost_run_articles_listed") == value
        else:
            assert registry.get_sample_value(f"qupost_run_{kind}", {"outcome": outcome}) == value
    assert registry.get_sample_value("qupost_run_duration_seconds") == 12.5
    assert registry.get_sample_value("qupost_run_exit_status") == 0
    assert registry.get_sample_value("qupost_run_site_changed") == 0
    finished = FINISHED.timestamp()
    assert registry.get_sample_value("qupost_run_finished_timestamp_seconds") == finished
    assert registry.get_sample_value(LAST_SUCCESS) == finished


@pytest.mark.parametrize(
    ("exit_status", "reason", "succeeded"),
    [
        (0, "finished", True),
        (0, "closespider_timeout", True),  # a limit the user set: the run did what was asked
        (0, "shutdown", False),  # stopped by Ctrl-C or SIGTERM
        (1, "finished", False),
        (2, "finished", False),
        (EXIT_SITE_CHANGED, "finished", False),
    ],
)
def test_only_a_successful_run_sets_the_last_success(
    exit_status: int, reason: str, succeeded: bool
) -> None:
    run = report(exit_status, reason, site_changed=exit_status == EXIT_SITE_CHANGED)
    assert run.succeeded is succeeded
    registry = run_registry(run)
    assert (registry.get_sample_value(LAST_SUCCESS) is not None) is succeeded
    assert registry.get_sample_value("qupost_run_exit_status") == exit_status
    changed = registry.get_sample_value("qupost_run_site_changed")
    assert changed == (1 if exit_status == EXIT_SITE_CHANGED else 0)


# --- settings ----------------------------------------------------------------------


def test_pushgateway_settings() -> None:
    default = config()
    assert default.pushgateway_url == ""
    assert default.pushgateway_job == "qupost"
    given = config(
        QUPOST_PUSHGATEWAY_URL=" http://127.0.0.1:9091 ",
        QUPOST_PUSHGATEWAY_JOB="blog",
        QUPOST_PUSHGATEWAY_TIMEOUT="2.5",
    )
    assert (given.pushgateway_url, given.pushgateway_job, given.pushgateway_timeout) == (
        "http://127.0.0.1:9091",
        "blog",
        2.5,
    )
    for name, value, fragment in [
        ("QUPOST_PUSHGATEWAY_URL", "127.0.0.1:9091", "http(s) URL"),
        ("QUPOST_PUSHGATEWAY_URL", "ftp://gateway", "http(s) URL"),
        ("QUPOST_PUSHGATEWAY_JOB", " ", "empty"),
        ("QUPOST_PUSHGATEWAY_TIMEOUT", "0", "at least 0.1"),
        ("QUPOST_PUSHGATEWAY_TIMEOUT", "soon", "number"),
    ]:
        with pytest.raises(ConfigError) as info:
            config(**{name: value})
        assert str(info.value).startswith(f"{name}: ") and fragment in str(info.value)


# --- failed pushes ----------------------------------------------------------------


def test_no_url_means_no_push(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pushed without QUPOST_PUSHGATEWAY_URL")

    monkeypatch.setattr("crawler.metrics.pushadd_to_gateway", refuse)
    assert push_run(config(), report()) is False


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_gateway_that_is_down_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with caplog.at_level(logging.INFO, logger="crawler.metrics"):
        assert push_run(config(QUPOST_PUSHGATEWAY_URL=url), report()) is False
    (line,) = warnings_of(caplog)
    assert line.startswith(f"metrics not pushed to the Pushgateway {url}: ")
    assert "refused" in line.lower()


def test_a_gateway_that_never_answers_times_out(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = {"QUPOST_PUSHGATEWAY_URL": url, "QUPOST_PUSHGATEWAY_TIMEOUT": 0.5}
        with caplog.at_level(logging.WARNING, logger="crawler.metrics"):
            assert push_run(config(**settings), report()) is False
    (line,) = warnings_of(caplog)
    assert "timed out" in line, line


# --- a real Pushgateway ----------------------------------------------------------------


@dataclass
class Gateway:
    url: str

    def groups(self) -> list[dict[str, object]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/metrics", timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        groups = answer["data"]
        assert isinstance(groups, list)
        return groups

    def values(self, job: str) -> dict[str, dict[str | None, float]]:
        """``metric -> {outcome label (None when it has none): value}`` of one job's group."""
        (group,) = [g for g in self.groups() if g["labels"] == {"job": job}]  # type: ignore[index]
        values: dict[str, dict[str | None, float]] = {}
        for name, family in group.items():
            if isinstance(family, dict) and "metrics" in family:
                values[name] = {
                    m["labels"].get("outcome"): float(m["value"]) for m in family["metrics"]
                }
        return values


def _start(binary: str, port: int) -> subprocess.Popen[bytes] | None:
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    _stop(proc)
    return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    """A Pushgateway of this module's own, on a free loopback port, stopped by its pid."""
    binary = shutil.which("prometheus-pushgateway") or PUSHGATEWAY
    if not Path(binary).is_file():
        skip_or_fail(
            "prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)"
        )
    for _ in range(3):  # another process may take the free port first
        port = free_port()
        proc = _start(binary, port)
        if proc is not None:
            break
    else:
        pytest.fail(f"{binary} did not start on 127.0.0.1")
    try:
        yield Gateway(f"http://127.0.0.1:{port}")
    finally:
        _stop(proc)


def runs_row(result: CrawlResult) -> dict[str, object]:
    with sqlite3.connect(result.out / "qupost.db") as conn:
        conn.row_factory = sqlite3.Row
        (row,) = conn.execute("SELECT * FROM runs").fetchall()
    return dict(row)


def epoch(value: object) -> float:
    stamp = datetime.fromisoformat(str(value))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


@pytest.mark.e2e
@pytest.mark.services
def test_runs_push_their_metrics_and_a_failed_run_keeps_the_last_success(
    gateway: Gateway, tmp_path: Path
) -> None:
    job = f"qupost-test-{uuid.uuid4().hex[:8]}"
    settings = {"QUPOST_PUSHGATEWAY_URL": gateway.url, "QUPOST_PUSHGATEWAY_JOB": job}
    site = build_site(6, images_per_article=1)
    with FakeServer(site) as server:
        good = run_crawl(server, tmp_path / "good", **settings)
        after_good = gateway.values(job)
        # The site is redesigned; a fresh catalog fetches every page again.
        site.change_layout(rows=False)
        changed = run_crawl(server, tmp_path / "changed", QUPOST_SITE_CHANGED_MIN=3, **settings)
        after_changed = gateway.values(job)

    assert_clean_run(good)
    one_line(good, f"metrics pushed to the Pushgateway {gateway.url}")
    row = runs_row(good)
    assert row["exit_status"] == 0
    assert after_good["qupost_run_articles_listed"] == {None: row["articles_listed"]}
    outcomes = ("new", "updated", "unchanged", "deleted", "failed", "skipped")
    assert after_good["qupost_run_articles"] == {o: row[f"articles_{o}"] for o in outcomes}
    assert after_good["qupost_run_articles"]["new"] == len(good.post_files()) == len(site.articles)
    assert after_good["qupost_run_images"] == {
        "downloaded": row["images_downloaded"],
        "failed": row["images_failed"],
    }
    assert after_good["qupost_run_exit_status"] == {None: 0}
    assert after_good["qupost_run_site_changed"] == {None: 0}
    finished = epoch(row["finished_at"])
    assert after_good["qupost_run_finished_timestamp_seconds"][None] == pytest.approx(finished)
    last_success = after_good[LAST_SUCCESS][None]
    assert last_success == pytest.approx(finished)
    duration = after_good["qupost_run_duration_seconds"][None]
    assert 0 < duration <= finished - epoch(row["started_at"]) + 1

    assert changed.returncode == EXIT_SITE_CHANGED, changed.stderr[-3000:]
    assert after_changed["qupost_run_exit_status"] == {None: EXIT_SITE_CHANGED}
    assert after_changed["qupost_run_site_changed"] == {None: 1}
    assert after_changed["qupost_run_articles"]["failed"] == len(site.articles)
    assert after_changed["qupost_run_articles"]["new"] == 0
    changed_finished = epoch(runs_row(changed)["finished_at"])
    assert after_changed["qupost_run_finished_timestamp_seconds"][None] == pytest.approx(
        changed_finished
    )
    assert changed_finished > last_success
    # The failed run did not push the gauge, so the Pushgateway kept the last success.
    assert after_changed[LAST_SUCCESS] == {None: last_success}


@pytest.mark.e2e
def test_a_crawl_whose_gateway_is_down_still_works(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    site = build_site(3, images_per_article=1)
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, QUPOST_PUSHGATEWAY_URL=url, LOG_LEVEL="WARNING")
    assert_clean_run(result)
    assert len(result.post_files()) == len(site.articles)
    line = one_line(result, "metrics not pushed to the Pushgateway")
    assert " WARNING: " in line and url in line
    assert len(log_lines(result, " WARNING: ")) == 1, result.stderr[-3000:]


# --- the README's alert rules --------------------------------------------------------


def readme_rules() -> dict[str, dict[str, object]]:
    """The alert rules of README "Metrics", by name."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "groups:" in b]
    assert len(blocks) == 1, blocks
    (group,) = yaml.safe_load(blocks[0])["groups"]
    return {rule["alert"]: rule for rule in group["rules"]}


def test_the_readme_rules_use_the_pushed_metrics() -> None:
    pushed = {metric.name for metric in run_registry(report()).collect()}
    rules = readme_rules()
    assert {"QupostNoSuccessfulRun", "QupostSiteChanged"} <= set(rules)
    for rule in rules.values():
        used = set(re.findall(r"qupost_[a-z_]+", str(rule["expr"])))
        assert used and used <= pushed, (rule["expr"], pushed)


@pytest.mark.services
def test_the_readme_alert_fires_after_hours_without_a_success(tmp_path: Path) -> None:
    """promtool (Debian's prometheus package) evaluates the README's rules on made-up series."""
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool is not installed (apt-get install prometheus)")
    assert promtool is not None
    rules = readme_rules()
    (tmp_path / "rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "qupost", "rules": list(rules.values())}]})
    )
    hours = int(re.search(r">\s*(\d+)\s*\*\s*3600", str(rules["QupostNoSuccessfulRun"]["expr"]))[1])

    def fired(name: str) -> list[dict[str, object]]:
        annotations = rules[name].get("annotations", {})
        return [{"exp_labels": {"job": "qupost"}, "exp_annotations": annotations}]

    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # The last success at the start; runs keep failing after it.
                    {
                        "series": 'qupost_last_success_timestamp_seconds{job="qupost"}',
                        "values": f"0+0x{(hours + 2) * 60}",
                    },
                    {"series": 'qupost_run_site_changed{job="qupost"}', "values": "0x60 1x60"},
                ],
                "alert_rule_test": [
                    {"eval_time": f"{hours - 1}h", "alertname": "QupostNoSuccessfulRun",
                     "exp_alerts": []},
                    {"eval_time": f"{hours + 1}h", "alertname": "QupostNoSuccessfulRun",
                     "exp_alerts": fired("QupostNoSuccessfulRun")},
                    {"eval_time": "30m", "alertname": "QupostSiteChanged", "exp_alerts": []},
                    {"eval_time": "90m", "alertname": "QupostSiteChanged",
                     "exp_alerts": fired("QupostSiteChanged")},
                ],
            }
        ],
    }  # fmt: skip
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    proc = subprocess.run(
        [promtool, "test", "rules", "tests.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
