"""Serve a :class:`FakeSite` over HTTP on loopback, from a background thread."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from fakesite.site import PLACEHOLDER, FakeSite

_JSONP = re.compile(r"^/detail/jsonp/(\d+)/(\d+)/(\d+)/(\d+)\.js$")
_PAGE = re.compile(r"^/detail/\d{4}/\d{2}/\d{2}/(\d+)\.html$")
_DETAIL = re.compile(r"^/detail/json/(\d+)\.json$")
_GIF_1PX = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message></Error>"
)


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 overflows under a 32-connection client, and
    # each overflow stalls the client for seconds.
    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True
    site: FakeSite

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hang up (timeouts, DOWNLOAD_MAXSIZE): tests cause those."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the site keeps its own request log."""

    def do_GET(self) -> None:
        site = self.server.site
        parts = urlsplit(self.path)
        fault = site.take_fault(parts.path, parts.query)
        if fault is not None:
            # Logged on arrival: a client that times out never sees the answer.
            site.record(self.path, fault.status)
            if fault.delay:
                time.sleep(fault.delay)
            self._send(fault.status, fault.body, fault.headers, record=False)
            return
        status, body, headers = self._route(site)
        self._send(status, body, headers)

    def _route(self, site: FakeSite) -> tuple[int, bytes, dict[str, str]]:
        parts = urlsplit(self.path)
        path = parts.path
        if path == "/content/outList":
            return 200, site.list_json(parts.query), {"Content-Type": "application/json"}
        if path == "/robots.txt":
            return 200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"}
        if path == PLACEHOLDER:
            return 200, _GIF_1PX, {"Content-Type": "image/gif"}
        image = site.images.get(path)
        if image is not None:
            return 200, image.data, {"Content-Type": image.content_type}
        for pattern, render in (
            (_PAGE, self._page),
            (_DETAIL, self._detail),
            (_JSONP, self._jsonp),
        ):
            match = pattern.match(path)
            if match:
                article = site.articles.get(match.groups()[-1])
                if article is not None:
                    return render(site, article)
        return 404, b"Not Found", {"Content-Type": "text/plain"}

    @staticmethod
    def _gone(article: Any) -> tuple[int, bytes, dict[str, str]] | None:
        if article.mode == "deleted":
            return 404, b"<html><body>404 Not Found</body></html>", {"Content-Type": "text/html"}
        if article.mode == "nosuchkey":
            return 200, NO_SUCH_KEY, {"Content-Type": "application/xml"}
        return None

    def _page(self, site: FakeSite, article: Any) -> tuple[int, bytes, dict[str, str]]:
        gone = self._gone(article)
        if gone:
            return gone
        # Like many CDNs, no charset in the header: the page's <meta> says it.
        return 200, site.page_html(article), {"Content-Type": "text/html"}

    def _detail(self, site: FakeSite, article: Any) -> tuple[int, bytes, dict[str, str]]:
        gone = self._gone(article)
        if gone:
            return gone
        body = json.dumps(site.detail_json(article), ensure_ascii=False).encode("utf-8")
        return 200, body, {"Content-Type": "application/json; charset=utf-8"}

    def _jsonp(self, site: FakeSite, article: Any) -> tuple[int, bytes, dict[str, str]]:
        gone = self._gone(article)
        if gone:
            return gone
        payload = json.dumps(site.detail_json(article), ensure_ascii=False)
        return 200, f"cb({payload});".encode(), {"Content-Type": "application/javascript"}

    def _send(
        self, status: int, body: bytes, headers: dict[str, str], *, record: bool = True
    ) -> None:
        if record:
            self.server.site.record(self.path, status)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeServer:
    """``with FakeServer(site) as server:`` serves ``site`` at ``server.base_url``."""

    def __init__(self, site: FakeSite, host: str = "127.0.0.1", port: int = 0) -> None:
        self.site = site
        server_class = _Server6 if ":" in host else _Server
        self.httpd = server_class((host, port), _Handler)
        self.httpd.site = site
        netloc = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{netloc}:{self.httpd.server_address[1]}"
        site.base_url = self.base_url
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def list_api(self) -> str:
        return f"{self.base_url}/content/outList"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType]) -> None:
        self.stop()
