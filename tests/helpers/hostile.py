"""A hostile file server on 127.0.0.1: real sockets (optionally TLS), one answer function per test.

The test hub (hub.py) behaves like the Hub with a few faults; the servers here misbehave in ways a
well-formed `http.server` cannot: a `Content-Range` that lies or does not parse, a body cut at a
fixed offset on every request, a trickle of one byte a second, a reset in the middle of the
status line, a `Location` that is no URL. Each connection runs in its own thread and reads
requests until the answer closes it; every request is logged (`Request`) with what was sent.

An answer is a function `(request, reply) -> None`. `serve(data)` is a correct server (200, or 206
for `Range: bytes=N-[M]`, 416 past the end) to start from; `reply.head` / `reply.body` /
`reply.reset` are the pieces the hostile ones are made of.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

CHUNK = 64 << 10


@dataclass
class Request:
    """One request as the server read it, and how many body bytes it was sent."""

    index: int  # 0 for the first request the server saw
    method: str
    target: str
    headers: dict[str, str]  # lower-cased names
    sent: int = 0
    status: int | None = None

    @property
    def range(self) -> str | None:
        return self.headers.get("range")

    def range_start(self) -> int | None:
        """N of `Range: bytes=N-[M]`, or None without one."""
        value = self.range
        if not value or not value.startswith("bytes="):
            return None
        first = value[6:].split("-", 1)[0]
        return int(first) if first.isdigit() else None

    def range_end(self, size: int) -> int:
        """The last byte asked for (inclusive), within `size`."""
        value = self.range or ""
        last = value[6:].split("-", 1)[1] if "-" in value else ""
        return min(int(last), size - 1) if last.isdigit() else size - 1


class Closed(Exception):
    """The answer hung up (or the client did): read no further request on this connection."""


class Reply:
    """What an answer may do on its connection."""

    def __init__(self, sock: socket.socket, request: Request, stopping: threading.Event) -> None:
        self.sock = sock
        self.request = request
        self.stopping = stopping

    def raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            raise Closed() from None

    def head(self, status: int, headers: dict[str, str] | None = None, reason: str = "X") -> None:
        """The status line and `headers` (sent as given: a test may send any value)."""
        self.request.status = status
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.raw(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape"))

    def body(self, data: bytes | memoryview, rate: float | None = None) -> None:
        """Send `data`; with `rate`, at about that many bytes a second (a byte at a time below
        64 bytes/s). Returns when sent, the client hung up, or the server stops."""
        view = memoryview(data)
        step = CHUNK if rate is None else max(1, min(CHUNK, int(rate // 16)))
        pos = 0
        while pos < len(view):
            if self.stopping.is_set():
                raise Closed()
            piece = view[pos : pos + step]
            self.raw(bytes(piece))
            pos += len(piece)
            self.request.sent += len(piece)
            if rate is not None and self.stopping.wait(len(piece) / rate):
                raise Closed()

    def close(self) -> None:
        """Hang up after what was sent (a FIN): the client sees a body cut short."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        raise Closed()

    def reset(self) -> None:
        """Hang up with a TCP RST (SO_LINGER 0): the client sees `Connection reset by peer`."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise Closed()


Answer = Callable[[Request, Reply], None]


def serve(data: bytes, extra: dict[str, str] | None = None) -> Answer:
    """A correct server of `data`: 200, 206 for one `bytes=N-[M]` range, 416 past the end."""

    def answer(req: Request, reply: Reply) -> None:
        size = len(data)
        start = req.range_start()
        headers = {"Accept-Ranges": "bytes", "ETag": '"v1"', **(extra or {})}
        if start is None:
            reply.head(200, {**headers, "Content-Length": str(size)})
            if req.method != "HEAD":
                reply.body(data)
            return
        if start >= size:
            reply.head(416, {"Content-Range": f"bytes */{size}", "Content-Length": "0"})
            return
        end = req.range_end(size)
        reply.head(206, {**headers, "Content-Range": f"bytes {start}-{end}/{size}",
                         "Content-Length": str(end - start + 1)})  # fmt: skip
        if req.method != "HEAD":
            reply.body(data[start : end + 1])

    return answer


@dataclass
class HostileServer:
    """A loopback server that answers every request with `answer`; `with` starts and stops it."""

    answer: Answer
    tls: ssl.SSLContext | None = None
    log: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []

    def url(self, path: str = "/m.gguf") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def gets(self) -> list[Request]:
        with self._lock:
            return [r for r in self.log if r.method == "GET"]

    def sent(self) -> int:
        """Body bytes sent over all requests."""
        with self._lock:
            return sum(r.sent for r in self.log)

    def __enter__(self) -> HostileServer:
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):  # wakes the accept() (close alone does not, on Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._connection, args=(sock,), daemon=True)
            with self._lock:
                self._socks.append(sock)
                self._threads.append(t)
            t.start()

    def _connection(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock.settimeout(10)
                sock = self.tls.wrap_socket(sock, server_side=True)
                sock.settimeout(None)
            for req in self._requests(sock):
                try:
                    self.answer(req, Reply(sock, req, self._stopping))
                except Closed:
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _requests(self, sock: socket.socket) -> Iterator[Request]:
        """Requests read from `sock` until the client hangs up (bodies are not expected)."""
        buf = b""
        while not self._stopping.is_set():
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(CHUNK)
                if not chunk:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target = [*lines[0].split(" "), "", ""][:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            with self._lock:
                req = Request(len(self.log), method, target, headers)
                self.log.append(req)
            yield req


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    """Poll `predicate` until it holds or `timeout` passes (for a server thread to log)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
