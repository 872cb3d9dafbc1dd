"""Every listed article ends in exactly one outcome, even when a middleware drops its request.

A redirect loop (A → B → A), a redirect off-site and a page that robots.txt
disallows would each make an article vanish: Scrapy drops such requests at
DEBUG level or in a middleware. Each must give one line naming the article and
a ``failed/<reason>`` stat, and the summary's counts must add up.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fakesite.server import FakeServer
from fakesite.site import Fault, build_site, redirect
from tests.conftest import run_crawl

pytestmark = pytest.mark.e2e

SUMMARY = re.compile(
    r"(\d+) new, (\d+) updated, (\d+) unchanged, (\d+) deleted, (\d+) failed, (\d+) skipped "
    r"\(of (\d+) listed\)"
)


def test_dropped_requests_are_named_counted_and_add_up(tmp_path: Path) -> None:
    site = build_site(6)
    looping, offsite, disallowed = (site.articles[i] for i in sorted(site.articles)[:3])
    with FakeServer(site) as server:
        hop = "/detail/hop.html"
        site.faults[looping.page_path] = redirect(f"{server.base_url}{hop}")
        site.faults[hop] = redirect(f"{server.base_url}{looping.page_path}")
        site.faults[offsite.page_path] = redirect("http://elsewhere.example/moved.html")
        site.faults["/robots.txt"] = Fault(
            status=200,
            body=f"User-agent: *\nDisallow: {disallowed.page_path}\n".encode(),
            times=1_000,
        )
        result = run_crawl(server, tmp_path, "cid=1", ROBOTSTXT_OBEY="True")
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stderr
    found = SUMMARY.search(log)
    assert found, log[-3000:]
    new, updated, unchanged, deleted, failed, skipped, listed = map(int, found.groups())
    assert (new, failed, listed) == (3, 3, 6), found.group(0)
    assert new + updated + unchanged + deleted + failed + skipped == listed
    for article, reason in (
        (looping, "redirect loop"),
        (offsite, "elsewhere.example is not an allowed domain"),
        (disallowed, "robots.txt disallows it"),
    ):
        lines = [line for line in log.splitlines() if f"article {article.id}:" in line]
        assert len(lines) == 1 and reason in lines[0], lines
    # Scrapy dumps the stats at the end of an INFO-level run.
    for reason in ("redirect_loop", "offsite", "robots"):
        assert f"'qupost/articles/failed/{reason}': 1," in log, reason
    assert "Traceback" not in log
    assert len(list(result.posts.glob("*.md"))) == 3
