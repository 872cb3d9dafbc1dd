"""What qupost may fetch: schemes, hosts and addresses (the SSRF rules).

URLs found in article content (image sources, redirects, list rows) are not
trusted.  Without these rules a page could make the crawler fetch from its own
network: a cloud metadata endpoint, an admin port on loopback, a printer on
the LAN.  One :class:`FetchPolicy` decides for a URL; the downloader
middlewares, the spider and the DNS resolver (``crawler.resolver``) all ask it.

The host of ``QUPOST_LIST_API`` and the hosts in ``QUPOST_TRUSTED_HOSTS`` are
exempt from the address rules; that is how a loopback test site, or a list
API behind a private address, stays reachable.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

ALLOWED_SCHEMES = ("http", "https")

BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches loopback on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments, some metadata services
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/128",
        "::1/128",
        "64:ff9b::/96",  # NAT64: embeds an IPv4 address
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)


class RefusedFetch(IgnoreRequest):
    """A request qupost will not send; ``kind`` is a short stat-friendly word."""

    def __init__(self, reason: str, kind: str = "refused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


# Numeric host forms the C library also reads as IPv4: 2130706433, 0x7f.1, 0177.0.0.1, 127.1.
_LEGACY_IPV4 = re.compile(r"[0-9][0-9a-fA-FxX.]*")


def _as_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    host = host.strip("[]").split("%", 1)[0].rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _LEGACY_IPV4.fullmatch(host):
            return None
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 and 2002:7f00:1:: (6to4) reach IPv4 addresses.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return embedded
    return address


def is_private_address(host: str) -> bool:
    """True for loopback, private, link-local, metadata and other non-public IPs.

    Host names are not addresses and give False; the resolver checks what
    they resolve to.
    """
    address = _as_address(host)
    return address is not None and any(address in net for net in BLOCKED_NETWORKS)


def is_localhost(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in ("localhost", "localhost.localdomain") or host.endswith(".localhost")


def host_of(url: str) -> str:
    """The URL's host name, lower case, without brackets or a trailing dot ("" if none)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".")


def host_matches(host: str, domains: Iterable[str]) -> bool:
    """``host`` is one of ``domains`` or a sub-domain of one (Scrapy's offsite rule)."""
    return any(host == d or host.endswith("." + d) for d in domains)


# A trusted host and port; None stands for the default port of the URL's scheme.
Endpoint = tuple[str, int | None]
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_endpoint(entry: str) -> Endpoint:
    """Read ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; ValueError when it is neither."""
    text = entry.strip().lower().rstrip(".")
    if not text or "/" in text or "@" in text:
        raise ValueError(f"{entry!r} is not a host or host:port")
    if text.count(":") > 1 and not text.startswith("["):
        return _checked_host(text, entry), None  # a bare IPv6 address
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{entry!r} has a bad port") from None
    host = (parts.hostname or "").rstrip(".")
    return _checked_host(host, entry), port


def _checked_host(host: str, entry: str) -> str:
    host = host.strip("[]")
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"{entry!r} is not a host or host:port")
    return host


@dataclass(frozen=True)
class FetchPolicy:
    """Decides whether a URL may be fetched.

    ``trusted`` endpoints may be fetched although they are private or
    loopback addresses: a host trusted without a port only on its scheme's
    default port.  ``allowed_domains`` adds Scrapy's offsite rule (None
    leaves it to Scrapy's own middleware); the address rules always apply.
    """

    trusted: frozenset[Endpoint] = field(default_factory=frozenset)
    allowed_domains: tuple[str, ...] | None = None

    @property
    def trusted_names(self) -> frozenset[str]:
        return frozenset(host for host, _ in self.trusted)

    def trusts(self, scheme: str, host: str, port: int | None) -> bool:
        """Whether ``host`` on ``port`` (None: the scheme's default) is trusted."""
        default = DEFAULT_PORTS.get(scheme)
        port = default if port is None else port
        return (host, port) in self.trusted or (port == default and (host, None) in self.trusted)

    def refusal(self, url: str, *, offsite: bool = False) -> RefusedFetch | None:
        """Why ``url`` may not be fetched, or None when it may."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
            port = parts.port
        except ValueError:
            return RefusedFetch("malformed URL", "malformed")
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            return RefusedFetch(f"scheme {parts.scheme or '(none)'!r} is not http(s)", "scheme")
        if not host:
            return RefusedFetch("URL has no host", "malformed")
        if self.trusts(scheme, host, port):
            return None
        if host in self.trusted_names:
            # Trust is for one service on that host, not for every port it has.
            shown = port if port is not None else DEFAULT_PORTS[scheme]
            return RefusedFetch(f"port {shown} of {host} is not trusted", "private")
        if is_localhost(host):
            return RefusedFetch(f"{host} is localhost", "private")
        if is_private_address(host):
            return RefusedFetch(f"{host} is a private, loopback or link-local address", "private")
        if offsite and self.allowed_domains and not host_matches(host, self.allowed_domains):
            return RefusedFetch(f"{host} is not an allowed domain", "offsite")
        return None

    def address_refusal(self, host: str, address: str) -> RefusedFetch | None:
        """Why a connection to ``address`` (what ``host`` resolved to) is refused, or None.

        The resolver sees no port; ``refusal`` has already refused the ports
        of a trusted name that are not trusted.
        """
        host = host.lower().rstrip(".")
        if host in self.trusted_names or not is_private_address(address):
            return None
        return RefusedFetch(
            f"{host} resolves to {address}, a private, loopback or link-local address",
            "private",
        )
