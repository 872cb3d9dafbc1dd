"""A DNS resolver that will not hand out private addresses (the DNS half of SSRF).

``SafeFetchMiddleware`` refuses URLs whose host *is* a private address.  A
host *name* can still resolve to one (``metadata.attacker.example`` →
169.254.169.254), so the check has to happen on the address actually
connected to: here, when Scrapy's reactor resolves the name.  Doing it at
connection time also defeats DNS rebinding, since there is no second lookup.

Enabled by ``TWISTED_DNS_RESOLVER = "crawler.resolver.SafeResolver"``.
Trusted hosts (``QUPOST_LIST_API``'s host, ``QUPOST_TRUSTED_HOSTS``) and the
configured proxies (``http_proxy``/``https_proxy``) may resolve to anything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Self
from urllib.request import getproxies

from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.datatypes import LocalCache
from twisted.internet.base import ReactorBase
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError

from crawler.config import QupostConfig
from crawler.safety import FetchPolicy, RefusedFetch, host_of

logger = logging.getLogger(__name__)


def proxy_hosts(proxies: dict[str, str] | None = None) -> frozenset[str]:
    """Hosts of the configured HTTP proxies: connecting to those is the point."""
    found = getproxies() if proxies is None else proxies
    return frozenset(
        host for key, url in found.items() if key != "no" for host in [host_of(url)] if host
    )


class AddressRefused(DNSLookupError):
    """A name resolved to an address qupost will not connect to.

    A DNSLookupError, because Twisted reports any other error from a resolver
    as a CRITICAL traceback; the connection then fails as "no results", and
    ``TargetGuardMiddleware`` puts the real reason back (see :func:`refusal_for`).
    """

    def __init__(self, refusal: RefusedFetch) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class SafeResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing names that resolve to private addresses."""

    def __init__(
        self, reactor: ReactorBase, cache_size: int, timeout: float, policy: FetchPolicy
    ) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.policy = policy
        self.refused: LocalCache[str, RefusedFetch] = LocalCache(1000)

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: ReactorBase) -> Self:
        # ``crawler`` is the CrawlerProcess here: only its settings are used.
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        proxies = {(host, None) for host in proxy_hosts()}
        trusted = QupostConfig.from_settings(settings).trusted_hosts | proxies
        return cls(reactor, cache_size, settings.getfloat("DNS_TIMEOUT"), FetchPolicy(trusted))

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        resolved = super().getHostByName(name, timeout)
        resolved.addCallback(self.check, name)
        return resolved

    def check(self, address: str, name: str) -> str:
        """Pass ``address`` on, or raise AddressRefused when ``name`` may not reach it."""
        refusal = self.policy.address_refusal(name, address)
        if refusal is None:
            return address
        logger.debug("DNS: %s", refusal.reason)
        self.refused[name.lower().rstrip(".")] = refusal
        raise AddressRefused(refusal)


def refusal_for(host: str, reactor: Any = None) -> RefusedFetch | None:
    """Why the installed SafeResolver refused ``host`` lately, if it did."""
    if reactor is None:
        from twisted.internet import reactor as installed

        reactor = installed
    resolver = getattr(reactor, "resolver", None)
    if not isinstance(resolver, SafeResolver):
        return None
    return resolver.refused.get(host.lower().rstrip("."))
