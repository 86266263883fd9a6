"""A small HTTP/1.1 client on `http.client`: keep-alive connections, safe redirects, typed statuses.

Why not huggingface_hub's client (httpx2) for the bytes: measured on loopback it moves a third of
curl's throughput and spends ~2.8 s of CPU per GiB; `http.client` with `readinto` into a reused
buffer costs little more than the copies themselves, and it is in the standard library, so a pull
imports nothing heavy. What we need from a client is small and written here: redirects that drop
`Authorization` on any change of scheme, host or port and refuse https→http (the token reaches no
other origin), at most 10 redirects, `Accept-Encoding: identity` (the stored bytes are the hashed
bytes), and connect/read timeouts (the read timeout is the stall watchdog).

Proxies are read from the environment as huggingface_hub's client reads them
(HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY, lower case first), through urllib's own
`getproxies_environment` and `proxy_bypass_environment`: https goes through a CONNECT tunnel
(TLS and the token stay end to end), plain http in absolute form. Only http:// proxies, with
optional user:password (sent as Proxy-Authorization, never printed).
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from modelctl.errors import BadInput
from modelctl.redact import redact

MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "modelctl/0.1"


class HttpStatusError(Exception):
    """A non-success status with the answer's lower-cased headers; whether waiting and asking
    again may help is `transfer.retry`'s to say (`RetryPolicy.retryable`)."""

    def __init__(self, status: int, url: str, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status} from {redact(url)}")
        self.status = status
        self.url = url
        self.headers = headers


class RedirectError(Exception):
    """Too many redirects, a downgrade to plain http, or a redirect without Location."""


@dataclass
class Response:
    """An open response: status, lower-cased headers, the URL that answered, and the body reader."""

    status: int
    headers: dict[str, str]
    url: str
    raw: http.client.HTTPResponse
    conn: http.client.HTTPConnection

    def readinto(self, buf: memoryview) -> int:
        """Read what has arrived (at most `len(buf)`); 0 at the end of the body.

        Unlike `HTTPResponse.readinto`, which fills the whole buffer before returning, this returns
        as soon as some bytes are there (`readinto1`), so a stall or a dropped connection loses no
        byte already received: what came before it is written and resumed from.
        """
        raw = self.raw
        if raw.chunked or raw.length is None or raw.fp is None:
            return raw.readinto(buf)
        if raw.length == 0:
            raw.close()
            return 0
        n = raw.fp.readinto1(buf[: raw.length])
        if not n:
            raise http.client.IncompleteRead(b"", raw.length)
        raw.length -= n
        if raw.length == 0:
            raw.close()  # as http.client does at the end of a body: the connection stays reusable
        return n

    def close(self, reuse: bool = False) -> None:
        """Release the response; keep the connection only when the body was fully read."""
        if not (reuse and self.raw.isclosed()):
            self.conn.close()
        else:
            self.raw.close()


PROXY_VARS = frozenset({"http_proxy", "https_proxy", "all_proxy"})


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL the environment names for `scheme://host`, or None (none set, or NO_PROXY)."""
    if not any(k.lower() in PROXY_VARS for k in os.environ):
        return None  # the common case, without importing urllib.request
    # CPython's Lib/urllib/request.py defines proxy_bypass_environment on every platform;
    # typeshed (as mypy bundles it) does not declare it
    import urllib.request

    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]

    proxies = urllib.request.getproxies_environment()
    url = proxies.get(scheme) or proxies.get("all")
    if not url or bypass(host, proxies):
        return None
    return url if "://" in url else f"http://{url}"


def _proxy_auth(proxy: str) -> dict[str, str]:
    p = urlsplit(proxy)
    if p.scheme != "http" or not p.hostname:
        raise BadInput(
            f"proxy {redact(proxy)}: only http:// proxies are supported for downloads",
            "set HTTPS_PROXY / HTTP_PROXY to an http://host:port proxy, or exempt the host in "
            "NO_PROXY",
        )
    if p.username is None:
        return {}
    creds = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
    return {"proxy-authorization": "Basic " + base64.b64encode(creds).decode()}


def tls_context() -> ssl.SSLContext:
    """The system's trust store, or SSL_CERT_FILE / SSL_CERT_DIR, as httpx2 and OpenSSL read them.

    A variable that names nothing is an error here: OpenSSL would ignore it and then fail every
    handshake with an "untrusted certificate" that points nowhere near the typo.
    """
    check_ca_env()
    return ssl.create_default_context()


def check_ca_env() -> None:
    for name, exists in (("SSL_CERT_FILE", os.path.isfile), ("SSL_CERT_DIR", os.path.isdir)):
        value = os.environ.get(name)
        if value and not exists(value):
            raise BadInput(
                f"{name}={value} does not exist",
                f"point {name} at your CA bundle (PEM), or unset it to use the system's",
            )


class Pool:
    """Keep-alive connections by origin, for one thread (http.client connections are not shared)."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._conns: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        self._forward: dict[tuple[str, str, int], dict[str, str]] = {}  # via an http proxy
        self._ssl: ssl.SSLContext | None = None

    def _conn(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        key = (scheme, host, port)
        conn = self._conns.get(key)
        if conn is None:
            conn = self._open(scheme, host, port)
            self._conns[key] = conn
        return conn

    def _open(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        proxy = proxy_for(scheme, host)
        auth = _proxy_auth(proxy) if proxy else {}
        target = urlsplit(proxy) if proxy else None
        via = (target.hostname or "", target.port or 80) if target else (host, port)
        if scheme == "https":
            self._ssl = self._ssl or tls_context()
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                *via, timeout=self.connect_timeout, context=self._ssl
            )
            if proxy:
                conn.set_tunnel(host, port, headers=auth)
            return conn
        if proxy:
            self._forward[(scheme, host, port)] = auth
        return http.client.HTTPConnection(*via, timeout=self.connect_timeout)

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def request(
        self, url: str, headers: dict[str, str], method: str = "GET", redirects: int = MAX_REDIRECTS
    ) -> Response:
        """Send `method url`, following redirects safely; 2xx returns, anything else raises.

        A 4xx/5xx raises HttpStatusError (body discarded, never saved or echoed).
        """
        headers = _request_headers(headers)
        for _ in range(redirects + 1):
            resp = self._send(url, headers, method)
            if resp.status in REDIRECTS:
                location = resp.headers.get("location")
                resp.close(reuse=_drain(resp))
                if not location:
                    raise RedirectError(f"redirect without Location from {redact(url)}")
                target = urljoin(url, location)
                headers = headers_for_redirect(url, target, headers)
                url = target
                continue
            if 200 <= resp.status < 300:
                return resp
            err = HttpStatusError(resp.status, url, resp.headers)
            resp.close(reuse=_drain(resp))
            raise err
        raise RedirectError(f"more than {redirects} redirects from {redact(url)}")

    def exchange(self, url: str, headers: dict[str, str], method: str = "HEAD") -> Response:
        """One request and its answer as it is: no redirect followed, no status raised.

        The caller reads `status` and `headers` and must `close` it (a HEAD has no body to read).
        """
        return self._send(url, _request_headers(headers), method)

    def _send(self, url: str, headers: dict[str, str], method: str) -> Response:
        parts = urlsplit(url)
        scheme = parts.scheme
        if scheme not in ("http", "https") or not parts.hostname:
            raise RedirectError(f"cannot fetch {redact(url)}: not an http(s) URL")
        port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        for attempt in (0, 1):
            conn = self._conn(scheme, parts.hostname, port)
            forward = self._forward.get((scheme, parts.hostname, port))
            fresh = conn.sock is None
            try:
                if forward is None:
                    conn.request(method, path, headers=headers)
                else:  # through an http proxy: the absolute URL, and the proxy's credentials
                    absolute = f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}{path}"
                    conn.request(method, absolute, headers={**headers, **forward})
                if conn.sock is not None:
                    conn.sock.settimeout(self.read_timeout)
                raw = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # a kept-alive connection the server had closed: retry once on a new one
                conn.close()
                self._conns.pop((scheme, parts.hostname, port), None)
                if fresh or attempt:
                    raise
                continue
            except BaseException:
                conn.close()
                self._conns.pop((scheme, parts.hostname, port), None)
                raise
            hdrs = {k.lower(): v for k, v in raw.getheaders()}
            return Response(raw.status, hdrs, url, raw, conn)
        raise AssertionError("unreachable")


def _request_headers(headers: dict[str, str]) -> dict[str, str]:
    """Lower-cased names, our User-Agent unless given, and no compression (the stored bytes are
    the hashed bytes)."""
    out = {k.lower(): v for k, v in headers.items()}
    out.setdefault("user-agent", USER_AGENT)
    out["accept-encoding"] = "identity"
    return out


def _drain(resp: Response, limit: int = 64 << 10) -> bool:
    """Read a small error/redirect body so the connection can be reused; True when drained."""
    length = resp.headers.get("content-length")
    if resp.raw.chunked or length is None or not length.isdigit() or int(length) > limit:
        return False
    try:
        resp.raw.read()
    except (OSError, http.client.HTTPException):
        return False
    return True


def headers_for_redirect(src: str, dst: str, headers: dict[str, str]) -> dict[str, str]:
    """A copy of `headers` for a request to `dst` that `src` led to: without credentials
    (`Authorization`, `Cookie`) when the scheme, host or port changes; https -> http is refused."""
    a, b = urlsplit(src), urlsplit(dst)
    if a.scheme == "https" and b.scheme != "https":
        raise RedirectError(f"refusing a redirect from https to {b.scheme}: {redact(dst)}")
    if (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port):
        return dict(headers)
    return {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}


NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError, socket.timeout (TimeoutError), ssl errors
    http.client.HTTPException,  # IncompleteRead, RemoteDisconnected, BadStatusLine: not OSErrors
    socket.timeout,
)
# what a request can fail with short of an HTTP status: the network, or a redirect we refuse
NETWORK_OR_REDIRECT: tuple[type[BaseException], ...] = (*NETWORK_ERRORS, RedirectError)
