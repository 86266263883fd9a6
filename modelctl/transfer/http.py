"""A small HTTP/1.1 client on `http.client`: keep-alive connections, safe redirects, typed statuses.

Why not huggingface_hub's client (httpx2) for the bytes: measured on loopback it moves a third of
curl's throughput and spends ~2.8 s of CPU per GiB; `http.client` with `readinto` into a reused
buffer costs little more than the copies themselves, and it is in the standard library, so a pull
imports nothing heavy. What we need from a client is small and written here: redirects that drop
`Authorization` on any change of scheme, host or port and refuse https→http (the token reaches no
other origin), at most 10 redirects, `Accept-Encoding: identity` (the stored bytes are the hashed
bytes), and connect/read timeouts (the read timeout is the stall watchdog; connecting, sending
and the whole head of the answer must also fit in both together, so a server trickling its
status line cannot hold a request forever).

A redirect's `Location` is a string from the server: it is made into a URL we can send
(`redirect_target`: characters outside printable ASCII percent-encoded as UTF-8, as requests'
`requote_uri` and curl do) and checked (`split_url`: http(s), a host, a port in 1-65535, a host
name that IDNA can encode), and anything else is a `RedirectError`, never a ValueError from
`urllib.parse` or `http.client` or a network error to retry.

Proxies are read from the environment as huggingface_hub's client reads them
(HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY, lower case first), through urllib's own
`getproxies_environment` and `proxy_bypass_environment`: https goes through a CONNECT tunnel
(TLS and the token stay end to end), plain http in absolute form. Only http:// proxies, with
optional user:password (sent as Proxy-Authorization, never printed).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from modelctl.errors import BadInput
from modelctl.redact import redact
from modelctl.transfer.retry import TooSlow
from modelctl.units import decimal

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
    """Too many redirects, a downgrade to plain http, a redirect without Location, or to a URL
    that is not one we can fetch (a bad port, host or scheme)."""


class BadAnswer(http.client.HTTPException):
    """An answer that breaks the protocol in a way that no byte of it may be used: a 206 whose
    `Content-Range` does not start where we asked or does not parse. A failure of the exchange,
    retried as such (another attempt may reach a sound server); its message says what was wrong."""


class ContentRange(NamedTuple):
    """`Content-Range: bytes first-last/complete` (RFC 9110 section 14.4); `complete` is None
    for `*` (unknown), and `first`/`last` are None for `bytes */complete` (a 416's)."""

    first: int | None
    last: int | None
    complete: int | None


_CONTENT_RANGE = re.compile(r"bytes[ \t]+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)


def content_range(value: str | None) -> ContentRange | None:
    """`value` parsed, or None when it is absent or not a valid byte range (first > last, a
    complete length not past last, both parts `*`)."""
    m = _CONTENT_RANGE.fullmatch((value or "").strip())
    if m is None:
        return None
    first, last = (int(m[1]), int(m[2])) if m[1] is not None else (None, None)
    complete = None if m[3] == "*" else int(m[3])
    if first is None and complete is None:
        return None
    if (
        first is not None
        and last is not None
        and (first > last or (complete is not None and last >= complete))
    ):
        return None
    return ContentRange(first, last, complete)


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
        if raw.fp is None:
            return 0
        if raw.chunked:  # read1 stops at what one read brought (HTTPResponse._read1_chunked)
            data = raw.read1(len(buf))
            buf[: len(data)] = data
            return len(data)
        if raw.length is None:  # the body ends where the server closes (RFC 9112 section 6.3)
            n = raw.fp.readinto1(buf)
            if not n:
                raw.close()
            return n
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
                target = redirect_target(url, location)
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
        target = split_url(url)
        scheme, host, port = target.scheme, target.host, target.port
        for attempt in (0, 1):
            conn = self._conn(scheme, host, port)
            forward = self._forward.get((scheme, host, port))
            fresh = conn.sock is None
            try:
                with self._head_deadline(conn):
                    if forward is None:
                        conn.request(method, target.path, headers=headers)
                    else:  # through an http proxy: the absolute URL, and the proxy's credentials
                        absolute = f"{scheme}://{target.netloc}{target.path}"
                        conn.request(method, absolute, headers={**headers, **forward})
                    if conn.sock is not None:
                        conn.sock.settimeout(self.read_timeout)
                    raw = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # a kept-alive connection the server had closed: retry once on a new one
                conn.close()
                self._conns.pop((scheme, host, port), None)
                if fresh or attempt:
                    raise
                continue
            except BaseException:
                conn.close()
                self._conns.pop((scheme, host, port), None)
                raise
            hdrs = {k.lower(): v for k, v in raw.getheaders()}
            return Response(raw.status, hdrs, url, raw, conn)
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _head_deadline(self, conn: http.client.HTTPConnection) -> Iterator[None]:
        """Connect, send and read the head of the answer within connect + read timeout in all.

        Each of those socket timeouts bounds one wait; a server sending its status line a byte a
        second never lets one expire. A timer shuts the socket down when the time is up (the
        blocked read then ends), and what that read raises, or the head it returns, becomes
        `TooSlow`.
        """
        limit = self.connect_timeout + self.read_timeout
        fired = threading.Event()

        def cut() -> None:
            fired.set()
            sock = conn.sock
            if sock is not None:  # the plain socket's shutdown: an SSLSocket's drops its state
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

        timer = threading.Timer(limit, cut)
        timer.daemon = True
        timer.start()
        late = TooSlow(f"no complete answer within {limit:g} s")
        try:
            yield
        except (OSError, http.client.HTTPException) as exc:
            if fired.is_set():
                raise late from exc
            raise
        finally:
            timer.cancel()
        if fired.is_set():  # http.client may take a head cut short for a whole one
            raise late


class Address(NamedTuple):
    """A URL as `Pool` sends it: scheme, host (IDNA, ASCII), port, netloc and request target."""

    scheme: str
    host: str
    port: int
    netloc: str
    path: str


_HOST = re.compile(r"[A-Za-z0-9._-]+")
# what requests' requote_uri leaves alone (psf/requests src/requests/utils.py, v2.32.3): the
# reserved characters and `%`, so escapes already there stay as they are
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def split_url(url: str, what: str = "cannot fetch") -> Address:
    """`url` checked for `Pool`: http(s), a host, a port in 1-65535; a RedirectError otherwise,
    whose message starts with `what` (and names the URL, redacted).

    urlsplit raises ValueError for a port that is not a number or out of range and for a bad
    IPv6 literal; a host outside ASCII is IDNA-encoded (as http.client would, later and without
    a check); userinfo is dropped (credentials go in headers, never in the request line); the
    path and query are percent-encoded where they are not printable ASCII (http.client refuses
    them), which leaves a valid one as it is.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RedirectError(f"{what} {redact(url)}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RedirectError(f"{what} {redact(url)}: not an http(s) URL with a host")
    host = _ascii_host(unquote(parts.hostname))
    if host is None or port == 0:
        why = "port 0" if host else "not a valid host name"
        raise RedirectError(f"{what} {redact(url)}: not a valid URL ({why})")
    port = port or (443 if parts.scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Address(parts.scheme, host, port, netloc, quote(path, safe=_URL_SAFE))


def _ascii_host(host: str) -> str | None:
    """`host` as it goes on the wire (an IPv6 literal as it is, a name IDNA-encoded), or None
    when it cannot be one."""
    if ":" in host:  # from brackets: urlsplit has checked it is an IPv6 address
        return host
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return name if _HOST.fullmatch(name) else None


def redirect_target(url: str, location: str) -> str:
    """The URL a redirect from `url` to `location` leads to, safe to send; RedirectError if none.

    http.client decodes header values as ISO-8859-1, so `location` holds the bytes the server
    sent; the ones outside printable ASCII are percent-encoded (UTF-8 from a server comes out as
    its UTF-8 escapes), as requests' `requote_uri` does, and the fragment is dropped.
    """
    what = "redirected to"
    try:
        sent = location.strip().encode("latin-1")
    except UnicodeEncodeError:  # not from http.client: a str beyond ISO-8859-1
        sent = location.strip().encode("utf-8")
    quoted = quote(sent, safe=_URL_SAFE)
    try:
        parts = urlsplit(urljoin(url, quoted))
    except ValueError as exc:
        raise RedirectError(f"{what} {redact(quoted)}: not a valid URL ({exc})") from None
    target = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    split_url(target, what)
    return target


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
    size = decimal(length)
    if resp.raw.chunked or size is None or size > limit:
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
