"""SSRF: URLs from article content never reach loopback, private or metadata addresses.

The tests' fake site is on 127.0.0.1 and is the list API host, which is
trusted; everything else on private ranges must be refused, whether the URL
names the address, a numeric alias of it, ``localhost``, or a host name that
*resolves* to it.  Servers on 127.0.0.2 and ::1 prove no request arrived.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from twisted.internet import defer
from twisted.internet.base import ThreadedResolver
from twisted.internet.error import DNSLookupError

from crawler.middlewares import SafeFetchMiddleware, TargetGuardMiddleware
from crawler.resolver import AddressRefused, SafeResolver, proxy_hosts, refusal_for
from crawler.safety import FetchPolicy, RefusedFetch, is_private_address
from fakesite.server import FakeServer
from fakesite.site import FakeSite, build_site, redirect
from tests.conftest import ROOT, run_crawl
from tests.hostile import (
    assert_clean_run,
    assert_written,
    image_line,
    image_rows,
    images_in,
    one_line,
    stat,
)

LIST_API = "http://api.1sapp.com/content/outList"

REFUSED = [
    "http://127.0.0.1/",
    "http://127.255.255.254:8080/x",
    "http://10.0.0.1/x.jpg",
    "http://172.16.0.1/x.jpg",
    "http://172.31.255.255/x.jpg",
    "http://192.168.1.1/x.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud metadata (CGNAT range)
    "http://0.0.0.0:8080/",
    "http://[::1]/",
    "http://[::1]:8080/x",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://2130706433/",  # 127.0.0.1 in decimal
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://localhost/",
    "http://LOCALHOST.:8080/",
    "http://api.localhost/",
    "https://user:pw@10.0.0.1/",
    "http://evil.example@127.0.0.1/",
    "file:///etc/passwd",
    "ftp://files.example/x",
    "gopher://127.0.0.1:6379/_INFO",
    "data:text/html,<script>alert(1)</script>",
    "javascript:alert(1)",
    "dict://127.0.0.1:11211/stat",
    "//no-scheme.example/x",
    "http:///nohost",
]

ALLOWED = [
    "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html",
    "https://static.1sapp.com/qupost/img/2021/12/04/a.jpeg",
    "http://93.184.216.34/",
    "http://172.15.255.255/",  # just outside 172.16/12
    "http://172.32.0.1/",
    "http://192.169.0.1/",
    "http://11.0.0.1/",
    "http://[2606:4700::1111]/",
    "http://localhost.example.com/",  # a real domain, checked again by the resolver
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_non_http_urls_are_refused(url: str) -> None:
    refusal = FetchPolicy(frozenset({("api.1sapp.com", 80)})).refusal(url)
    assert isinstance(refusal, RefusedFetch)
    assert refusal.kind in ("private", "scheme", "malformed")


@pytest.mark.parametrize("url", ALLOWED)
def test_public_http_urls_are_allowed(url: str) -> None:
    assert FetchPolicy(frozenset()).refusal(url) is None


def test_offsite_rule_when_asked() -> None:
    policy = FetchPolicy(frozenset(), ("qktoutiao.com", "1sapp.com"))
    assert policy.refusal("http://html2.qktoutiao.com/x", offsite=True) is None
    assert policy.refusal("http://static.1sapp.com/x", offsite=True) is None
    refusal = policy.refusal("http://qktoutiao.com.evil.example/x", offsite=True)
    assert refusal is not None and refusal.kind == "offsite"
    assert policy.refusal("http://qktoutiao.com.evil.example/x") is None


def middleware(**settings: Any) -> SafeFetchMiddleware:
    crawler = get_crawler(settings_dict={"QUPOST_LIST_API": LIST_API, **settings})
    return SafeFetchMiddleware.from_crawler(crawler)


def test_list_api_host_and_trusted_hosts_are_exempt() -> None:
    mw = middleware(
        QUPOST_LIST_API="http://127.0.0.1:8080/content/outList",
        QUPOST_TRUSTED_HOSTS=["10.1.2.3", "Intranet.Example.", "[fd00::5]", "mirror.lan:8080"],
    )
    for url in (
        "http://127.0.0.1:8080/content/outList?cid=1",
        "http://127.0.0.1:8080/qupost/img/x.jpeg",
        "http://10.1.2.3/x.jpg",
        "https://10.1.2.3/x.jpg",
        "http://intranet.example:80/x.jpg",
        "http://[fd00::5]/x.jpg",
        "http://mirror.lan:8080/x.jpg",
    ):
        assert mw.process_request(Request(url)) is None, url
    # Trust is per host and port: an entry without a port trusts the scheme's
    # default port only, and the list API its own port only.
    for url in (
        "http://127.0.0.2/",
        "http://10.1.2.4/",
        "http://localhost/",
        "http://127.0.0.1:9999/qupost/img/x.jpeg",
        "http://127.0.0.1/",
        "http://10.1.2.3:8080/x.jpg",
        "http://mirror.lan/x.jpg",
        "http://mirror.lan:8081/x.jpg",
    ):
        with pytest.raises(RefusedFetch):
            mw.process_request(Request(url))
    assert mw.crawler.stats.get_value("qupost/refused_fetch") == 8  # type: ignore[union-attr]
    # A trusted host does not trust other schemes.
    with pytest.raises(RefusedFetch):
        mw.process_request(Request("ftp://10.1.2.3/x"))


@pytest.mark.parametrize(
    ("host", "address", "refused"),
    [
        ("metadata.attacker.example", "169.254.169.254", True),
        ("rebind.attacker.example", "127.0.0.1", True),
        ("lan.attacker.example", "192.168.0.10", True),
        ("cgnat.example", "100.64.0.1", True),
        ("v6.example", "::1", True),
        ("cdn.example", "93.184.216.34", False),
        ("api.1sapp.com", "10.0.0.5", False),  # the list API host is trusted
        ("Intranet.Example.", "10.9.9.9", False),  # so are QUPOST_TRUSTED_HOSTS
    ],
)
def test_resolver_decision(host: str, address: str, refused: bool) -> None:
    policy = FetchPolicy(frozenset({("api.1sapp.com", 80), ("intranet.example", None)}))
    refusal = policy.address_refusal(host, address)
    assert (refusal is not None) is refused
    if refusal is not None:
        assert f"resolves to {address}" in refusal.reason


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Stub the system lookup behind Scrapy's threaded resolver: name -> address."""
    from scrapy.resolver import dnscache

    table: dict[str, str] = {}

    def lookup(self: Any, name: str, timeout: Any = ()) -> defer.Deferred[str]:
        return defer.succeed(table[name])

    monkeypatch.setattr(ThreadedResolver, "getHostByName", lookup)
    yield table
    for name in table:
        dnscache.pop(name, None)


def resolve(resolver: SafeResolver, name: str) -> object:
    outcome: list[object] = []
    resolver.getHostByName(name).addBoth(outcome.append)
    assert len(outcome) == 1
    value = outcome[0]
    return value.value if hasattr(value, "value") else value


def test_resolver_refuses_names_that_resolve_to_private_addresses(
    fake_dns: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy.corp.example:3128")
    fake_dns.update(
        {
            "meta.ssrf-test.example": "169.254.169.254",
            "cdn.ssrf-test.example": "93.184.216.34",
            "intranet.ssrf-test.example": "10.1.2.3",
            "proxy.corp.example": "10.0.0.8",
        }
    )
    crawler = get_crawler(
        settings_dict={
            "QUPOST_LIST_API": LIST_API,
            "QUPOST_TRUSTED_HOSTS": ["intranet.ssrf-test.example"],
        }
    )
    resolver = SafeResolver.from_crawler(crawler, reactor=object())  # type: ignore[arg-type]
    refused = resolve(resolver, "meta.ssrf-test.example")
    # A DNSLookupError to Twisted (anything else is logged as CRITICAL), with the reason.
    assert isinstance(refused, AddressRefused) and isinstance(refused, DNSLookupError)
    assert "resolves to 169.254.169.254" in refused.refusal.reason
    # The cached answer is checked as well: a second lookup is refused too.
    assert isinstance(resolve(resolver, "meta.ssrf-test.example"), AddressRefused)
    # And the middleware can find out why the connection failed.
    remembered = refusal_for("META.ssrf-test.example.", reactor=FakeReactor(resolver))
    assert remembered is not None and remembered.kind == "private"
    assert refusal_for("cdn.ssrf-test.example", reactor=FakeReactor(resolver)) is None
    assert resolve(resolver, "cdn.ssrf-test.example") == "93.184.216.34"
    assert resolve(resolver, "intranet.ssrf-test.example") == "10.1.2.3"
    # The configured proxy is where every request goes: it may be private.
    assert resolve(resolver, "proxy.corp.example") == "10.0.0.8"


class FakeReactor:
    def __init__(self, resolver: SafeResolver) -> None:
        self.resolver = resolver


def test_proxy_hosts_come_from_the_environment() -> None:
    proxies = {"http": "http://proxy.lan:3128", "https": "https://u:p@Secure.Proxy:443", "no": "x"}
    assert proxy_hosts(proxies) == {"proxy.lan", "secure.proxy"}


def test_numeric_aliases_are_addresses() -> None:
    for host in ("2130706433", "0x7f000001", "017700000001", "127.1", "0"):
        assert is_private_address(host), host
    for host in ("example.com", "1.example", "8.8.8.8", "0x8.8.8.8"):
        assert not is_private_address(host), host


# --- through the crawl ---------------------------------------------------------


@pytest.fixture
def decoys() -> Iterator[tuple[FakeServer, FakeServer]]:
    """Servers on other loopback addresses: if anything reaches them, it shows."""
    with FakeServer(FakeSite(), host="127.0.0.2") as v4, FakeServer(FakeSite(), host="::1") as v6:
        yield v4, v6


@pytest.mark.e2e
def test_content_urls_never_reach_private_hosts(
    tmp_path: Path, decoys: tuple[FakeServer, FakeServer]
) -> None:
    v4, v6 = decoys
    site = build_site(3, images_per_article=1)
    hostile, redirected, plain = (site.articles[i] for i in sorted(site.articles))
    with FakeServer(site) as server:
        port = server.base_url.rsplit(":", 1)[1]
        # Served by the real site, so a fetch through an alias would show in its log.
        site.add_image("/qupost/img/2021/12/04/alias.jpeg", 40, 30)
        targets = [
            f"{v4.base_url}/qupost/img/2021/12/04/a.jpeg",
            f"{v6.base_url}/qupost/img/2021/12/04/b.jpeg",
            f"http://localhost:{port}/qupost/img/2021/12/04/alias.jpeg",
            f"http://2130706433:{port}/qupost/img/2021/12/04/alias.jpeg",
            f"http://0.0.0.0:{port}/qupost/img/2021/12/04/alias.jpeg",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/x.jpg",
            "http://10.0.0.1/x.jpg",
            "http://172.16.0.1/x.jpg",
            "http://192.168.1.1/x.jpg",
            "http://[fd00::1]/x.jpg",
        ]
        hostile.extra_content_html = "<p>" + "".join(
            f'<img data-src="{url}" data-size="7,8">' for url in targets
        )
        hostile.extra_content_html += (
            '<img src="file:///etc/passwd"><img src="gopher://127.0.0.1:6379/_x">'
            '<img src="ftp://10.0.0.1/x.jpg"></p>'
        )
        # A page and an image of the trusted site that redirect to private hosts.
        site.faults[redirected.page_path] = redirect(f"{v4.base_url}/admin")
        site.add_image("/qupost/img/2021/12/04/hop.jpeg", 10, 10)
        site.faults["/qupost/img/2021/12/04/hop.jpeg"] = redirect(f"{v6.base_url}/secret.jpeg")
        plain.body.append(("img", "/qupost/img/2021/12/04/hop.jpeg", "9,9"))
        hosts = "127.0.0.1,127.0.0.2,::1,localhost,2130706433,0.0.0.0,169.254.169.254"
        hosts += ",10.0.0.1,172.16.0.1,192.168.1.1,fd00::1"
        # The offsite rule would stop most of these first; widen it so that the
        # SSRF rules alone are what stands in the way.
        result = run_crawl(server, tmp_path, "cid=1", QUPOST_ALLOWED_DOMAINS=hosts)
        alias_hits = site.counts["/qupost/img/2021/12/04/alias.jpeg"]
    assert_clean_run(result)
    assert_written(result, [hostile.id, plain.id])
    assert v4.site.log == [] and v6.site.log == []
    assert alias_hits == 0
    rows = image_rows(result)
    _, body = result.post(hostile.id)
    sources = {img.get("src"): img.get("data-size") for img in images_in(body)}
    for url in targets:
        status, reason, _ = rows[url]
        assert status == "failed" and reason is not None, url
        assert reason.startswith("not fetched: "), reason
        assert "private" in reason or "is localhost" in reason, reason
        assert sources[url] == "7,8"
        assert reason in image_line(result, url)  # one line per image, not two
    assert not any(u.startswith(("file:", "gopher:", "ftp:")) for u in rows)
    assert "file:" not in body and "gopher:" not in body and "ftp:" not in body
    assert stat(result, "qupost/images/failed/private") == len(targets) + 1
    assert stat(result, "qupost/refused_fetch") == len(targets)
    assert stat(result, "qupost/refused_redirect") == 2
    assert stat(result, "qupost/articles/failed/private") == 1
    hop = f"{server.base_url}/qupost/img/2021/12/04/hop.jpeg"
    assert rows[hop][0] == "failed" and "redirect to" in str(rows[hop][1])


@pytest.mark.e2e
def test_trusted_hosts_setting_is_the_exception(
    tmp_path: Path, decoys: tuple[FakeServer, FakeServer]
) -> None:
    v4, _ = decoys
    v4.site.add_image("/qupost/img/2021/12/04/inside.jpeg", 40, 30)
    site = build_site(1, images_per_article=0)
    article = next(iter(site.articles.values()))
    url = f"{v4.base_url}/qupost/img/2021/12/04/inside.jpeg"
    article.extra_content_html = f'<p><img data-src="{url}"></p>'
    with FakeServer(site) as server:
        result = run_crawl(
            server,
            tmp_path,
            "cid=1",
            QUPOST_ALLOWED_DOMAINS="127.0.0.1,127.0.0.2",
            QUPOST_TRUSTED_HOSTS=v4.base_url.removeprefix("http://"),
        )
    assert_clean_run(result)
    assert v4.site.counts["/qupost/img/2021/12/04/inside.jpeg"] == 1
    assert image_rows(result)[url][0] == "stored"
    _, body = result.post(article.id)
    assert [img.get("data-size") for img in images_in(body)] == ["40,30"]


PAGE = "http://html2.qktoutiao.com/detail/2021/12/04/1638625001.html"


def guard() -> TargetGuardMiddleware:
    crawler = get_crawler(settings_dict={"QUPOST_LIST_API": LIST_API})
    crawler.spider = SimpleNamespace(allowed_domains=["qktoutiao.com", "1sapp.com"])  # type: ignore[assignment]
    return TargetGuardMiddleware.from_crawler(crawler)


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("/detail/2021/12/04/1638625001.html?moved=1", None),
        ("https://html2.qktoutiao.com/x.html", None),
        ("http://static.1sapp.com/x.jpeg", None),
        ("//127.0.0.2/x", "private"),
        ("http://169.254.169.254/latest/meta-data/", "private"),
        ("http://localhost:8080/", "private"),
        ("http://evil.example/", "offsite"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/_x", "scheme"),
        ("http://[broken", "malformed"),
    ],
)
def test_redirect_targets_are_checked_before_scrapy_follows(
    location: str, kind: str | None
) -> None:
    mw = guard()
    request = Request(PAGE)
    response = HtmlResponse(PAGE, status=302, headers={"Location": location}, request=request)
    if kind is None:
        assert mw.process_response(request, response) is response
        return
    with pytest.raises(RefusedFetch) as caught:
        mw.process_response(request, response)
    assert caught.value.kind == kind and "redirect to" in caught.value.reason


def test_redirect_guard_respects_dont_filter_and_dont_redirect() -> None:
    mw = guard()
    for request in (Request(PAGE, dont_filter=True), Request(PAGE, meta={"allow_offsite": True})):
        response = HtmlResponse(PAGE, status=301, headers={"Location": "http://x.example/"})
        assert mw.process_response(request, response) is response
        private = HtmlResponse(PAGE, status=301, headers={"Location": "http://10.0.0.1/"})
        with pytest.raises(RefusedFetch):
            mw.process_response(request, private)
    request = Request(PAGE, meta={"dont_redirect": True})
    response = HtmlResponse(PAGE, status=302, headers={"Location": "http://10.0.0.1/"})
    assert mw.process_response(request, response) is response
    # A Location on a non-redirect status is not a redirect.
    ok = HtmlResponse(PAGE, status=200, headers={"Location": "http://10.0.0.1/"})
    assert mw.process_response(Request(PAGE), ok) is ok
    assert mw.process_exception(Request(PAGE), ValueError("x")) is None


def loopback_name() -> str | None:
    """A host name (not "localhost") that the system resolves to loopback without DNS."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        return None
    if name.lower().startswith("localhost") or not address.startswith("127."):
        return None
    return name


@pytest.mark.e2e
def test_a_name_resolving_to_loopback_is_refused_at_connection_time(tmp_path: Path) -> None:
    name = loopback_name()
    if name is None:
        pytest.skip("this machine's host name does not resolve to a loopback address")
    site = build_site(1, images_per_article=0)
    article = next(iter(site.articles.values()))
    site.add_image("/qupost/img/2021/12/04/by-name.jpeg", 40, 30)
    with FakeServer(site) as server:
        port = server.base_url.rsplit(":", 1)[1]
        url = f"http://{name}:{port}/qupost/img/2021/12/04/by-name.jpeg"
        article.extra_content_html = f'<p><img data-src="{url}" data-size="4,3"></p>'
        domains = f"127.0.0.1,{name}"
        refused = run_crawl(server, tmp_path / "safe", "cid=1", QUPOST_ALLOWED_DOMAINS=domains)
        hits_when_refused = site.counts["/qupost/img/2021/12/04/by-name.jpeg"]
        # The control: Scrapy's stock resolver does connect, so the name works.
        stock = run_crawl(
            server,
            tmp_path / "stock",
            "cid=1",
            QUPOST_ALLOWED_DOMAINS=domains,
            TWISTED_DNS_RESOLVER="scrapy.resolver.CachingThreadedResolver",
        )
        hits_with_stock = site.counts["/qupost/img/2021/12/04/by-name.jpeg"]
    assert_clean_run(refused)
    assert_clean_run(stock)
    assert hits_when_refused == 0 and hits_with_stock == 1
    status, reason, _ = image_rows(refused)[url]
    assert status == "failed"
    assert reason == (
        f"not fetched: {name.lower()} resolves to 127.0.0.1, "
        "a private, loopback or link-local address"
    )
    assert stat(refused, "qupost/images/failed/private") == 1
    assert stat(refused, "qupost/refused_address") == 1
    # Refused once, not retried as if DNS had failed, and no CRITICAL from Twisted.
    assert stat(refused, "retry/count") == 0
    assert "CRITICAL" not in refused.stderr
    assert image_rows(stock)[url][0] == "stored"
    _, body = refused.post(article.id)
    assert [(i.get("src"), i.get("data-size")) for i in images_in(body)] == [(url, "4,3")]


def test_no_console_or_remote_control_port() -> None:
    # Scrapy 2.19 enables RemoteControl by default: an HTTP port that runs
    # Python code. A crawler of untrusted pages keeps it off.
    probe = (
        "from scrapy.utils.project import get_project_settings\n"
        "from scrapy.crawler import CrawlerProcess\n"
        "process = CrawlerProcess(get_project_settings())\n"
        "crawler = process.create_crawler('qupost')\n"
        "crawler._apply_settings()\n"
        "from scrapy.extension import ExtensionManager\n"
        "manager = ExtensionManager.from_crawler(crawler)\n"
        "print(sorted(type(e).__name__ for e in manager.middlewares))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    enabled = result.stdout.strip().splitlines()[-1]
    assert "Catalog" in enabled
    assert "RemoteControl" not in enabled and "TelnetConsole" not in enabled


@pytest.mark.e2e
def test_another_port_of_the_list_api_host_receives_nothing(tmp_path: Path) -> None:
    # The list API's host is trusted on the list API's port only: a second
    # service on the same host (here 127.0.0.1) is reached neither by an image
    # URL nor by a page redirect.
    site = build_site(3, images_per_article=1)
    imaged, redirected, plain = (site.articles[i] for i in sorted(site.articles))
    with FakeServer(FakeSite()) as other, FakeServer(site) as server:
        other.site.add_image("/qupost/img/2021/12/04/other.jpeg", 40, 30)
        image_url = f"{other.base_url}/qupost/img/2021/12/04/other.jpeg"
        imaged.extra_content_html = f'<p><img data-src="{image_url}"></p>'
        site.faults[redirected.page_path] = redirect(f"{other.base_url}/admin")
        result = run_crawl(server, tmp_path, "cid=1")
        assert other.site.log == []
    assert_clean_run(result)
    port = other.base_url.rsplit(":", 1)[1]
    status, reason = image_rows(result)[image_url][:2]
    assert status == "failed" and reason == f"not fetched: port {port} of 127.0.0.1 is not trusted"
    line = one_line(result, f"article {redirected.id}: could not fetch")
    assert f"port {port} of 127.0.0.1 is not trusted" in line
    assert {p.name for p in result.post_files()} == {
        f"qupost-{imaged.id}.md",
        f"qupost-{plain.id}.md",
    }
