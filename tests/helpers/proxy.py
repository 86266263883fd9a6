"""A loopback HTTP proxy for tests: CONNECT tunnels (https) and absolute-form requests (http).

It stands for a corporate proxy: it may demand `user:password` (407 otherwise), and it logs each
request it passes on as (method, target, had valid credentials). With `rewrite_etags` it replaces
the `ETag` and `X-Linked-Etag` of every plain-http response with its own opaque validator, as
caching proxies and CDNs in front of a mirror do (RFC 9110 section 8.8.3: an entity tag is opaque
to clients): the Hub's LFS sha256 and git blob ids are then gone. Only loopback.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te",
              "trailer", "transfer-encoding", "upgrade"}  # fmt: skip


class TestProxy:
    __test__ = False

    def __init__(
        self, user: str | None = None, password: str | None = None, rewrite_etags: bool = False
    ) -> None:
        self.creds = (user, password) if user else None
        self.rewrite_etags = rewrite_etags
        self.log: list[tuple[str, str, bool]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> TestProxy:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.proxy = self  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()  # fmt: skip
        self._server = server
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def url(self, user: str | None = None, password: str | None = None) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        auth = f"{user}:{password}@" if user else ""
        return f"http://{auth}127.0.0.1:{port}"

    def authorized(self, header: str | None) -> bool:
        if self.creds is None:
            return True
        expected = base64.b64encode(f"{self.creds[0]}:{self.creds[1]}".encode()).decode()
        return header == f"Basic {expected}"

    def record(self, method: str, target: str, ok: bool) -> None:
        with self._lock:
            self.log.append((method, target, ok))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def proxy(self) -> TestProxy:
        return self.server.proxy  # type: ignore[attr-defined]

    def _allowed(self) -> bool:
        ok = self.proxy.authorized(self.headers.get("Proxy-Authorization"))
        self.proxy.record(self.command, self.path, ok)
        if not ok:
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        return ok

    def do_CONNECT(self) -> None:
        if not self._allowed():
            return
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            self.send_error(502)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        _relay(self.connection, upstream)

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def _forward(self) -> None:
        if not self._allowed():
            return
        url = urlsplit(self.path)
        if url.scheme != "http" or not url.hostname:
            self.send_error(400, "absolute http:// URL expected")
            return
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
        path = url.path + (f"?{url.query}" if url.query else "")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            conn.request(self.command, path, headers=headers)
            resp = conn.getresponse()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() in ("etag", "x-linked-etag") and self.proxy.rewrite_etags:
                    v = '"proxy-' + hashlib.md5(v.encode()).hexdigest()[:12] + '"'
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.end_headers()
            while self.command != "HEAD" and (block := resp.read(1 << 16)):
                self.wfile.write(block)
        except OSError:
            self.close_connection = True
        finally:
            conn.close()


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until one side closes."""
    try:
        socks = [a, b]
        while True:
            ready, _, _ = select.select(socks, [], [], 30)
            if not ready:
                return
            for s in ready:
                data = s.recv(1 << 16)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        b.close()
