"""Fetch one `RemoteFile` into a claimed partial: resumable, segmented, hashed while it is written.

One file, one call: `fetch(remote, partial, options, on_bytes, cancel)` returns the sha256 and size
of what now sits in `partial.data`. The caller compares them with what it expected and publishes.

- Resume (E.46-E.48): the partial's state lists the written ranges. A single stream asks
  `Range: bytes=N-` with `If-Range: <validator>` and accepts a 206 only when `Content-Range` starts
  at N; a 200 (Range ignored, or the content changed) or a 416 starts over in a new file.
- Segments: a file of known size >= `segment_threshold` may be fetched as ranged pieces over up to
  `connections` connections. It starts as one stream (ranged requests of `SOLO_PIECE`) and opens
  the other connections only when that stream receives slower than `solo_rate` (a CDN's
  per-connection cap; time blocked on the disk or the hasher does not count): on a fast link
  (loopback: 1 stream ~1,000 MB/s, 8 streams ~640 MB/s on 2 cores) one stream wins, because every
  extra stream costs CPU and its pieces arrive out of order (hashed by reading them back).
  Pieces are then handed out lowest offset first so the contiguous prefix
  (and with it the hash, see `hashing.py`) grows steadily; an idle connection splits the largest
  piece still in flight, so no connection idles at the tail. A server that answers a ranged request
  with 200 makes the whole file fall back to one stream.
- Buffers: each stream reads into a few large buffers (`buffer_size`, filled completely before
  they are written) and offers each written buffer to the hasher, which hashes it from memory
  while the stream fills the next one; a buffer is reused only once the hasher handed it back.
- Retries (`retry.py`): network errors, stalls (the read timeout), 408/429/5xx; each worker's budget
  is reset by progress. 401/403/404 fail at once (a 403/410 from the CDN first goes back to the
  original URL once, for a fresh signed redirect). A full disk stops at once, keeping the partial.
- Every `save_interval` seconds a separate thread takes a snapshot of the written ranges, flushes
  the file (`fdatasync`, which also starts the disk writing early so the final fsync is short)
  and only then saves that snapshot as the state, so the state never claims bytes that are not on
  the disk and a SIGKILL or power loss costs at most that much re-download. (A resumed prefix is
  re-hashed anyway and a mismatch starts over from zero; the flush keeps that from happening.)
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from modelctl.errors import DiskFull, SourceError, TimedOut
from modelctl.redact import redact
from modelctl.sources.base import RemoteFile
from modelctl.store.partials import Partial
from modelctl.transfer.hashing import PrefixHasher, Written
from modelctl.transfer.http import (
    NETWORK_ERRORS,
    HttpStatusError,
    Pool,
    RedirectError,
    Response,
    proxy_for,
)
from modelctl.transfer.retry import RetryPolicy

MiB = 1 << 20
MIN_PIECE = 1 * MiB
SOLO_BUFFERS = 3  # one being filled, one being hashed, one spare: recv+write and sha256 overlap
SEGMENT_BUFFERS = 2
SEGMENT_BUFFER = 1 * MiB  # streams added for a slow link: small buffers keep RSS flat
FILL_TIME = 0.05  # seconds a buffer may take to fill before what it holds is written anyway
SOLO_PIECE = 64 * MiB  # what a lone stream asks for at once (16 requests per GiB on one connection)
PROBE = 0.2  # seconds per measurement of a lone stream; two slow ones in a row open more streams


@dataclass
class TransferOptions:
    connections: int = 8
    segment_threshold: int = 64 * MiB
    segment_size: int = 16 * MiB
    stall_timeout: float = 30.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadline: float | None = None
    buffer_size: int = 4 * MiB  # measured on loopback: 2 MiB 940 MB/s, 4 MiB 970-1130, 8 MiB ~same
    save_interval: float = 0.5
    solo_rate: float = 128e6  # bytes/s: a stream at least this fast is not capped; stay at one


@dataclass
class FetchResult:
    sha256: str
    size: int
    fetched: int  # bytes moved over the network (or copied) in this call
    resumed: int  # bytes kept from an earlier run


class _Restart(Exception):
    """The server cannot resume this download (200 to a Range, 416, wrong Content-Range)."""


class _DiskError(Exception):
    def __init__(self, exc: OSError, offset: int) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.offset = offset


class _Job:
    """Shared state of one file's transfer (partial, fd, written ranges, hasher, counters)."""

    def __init__(
        self,
        remote: RemoteFile,
        partial: Partial,
        opts: TransferOptions,
        on_bytes: Callable[[int], None],
        cancel: threading.Event,
    ) -> None:
        self.remote = remote
        self.partial = partial
        self.opts = opts
        self.on_bytes = on_bytes
        self.cancel = cancel
        self.size: int | None = remote.size
        self.url = remote.url
        self.validator = partial.state.validator
        self.fetched = 0
        self.recv_time = 0.0  # seconds streams spent waiting for the network (not the disk)
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.file_lock = threading.RLock()  # fd, written and partial change together (restart)
        self.stop: threading.Event | None = None
        self._open(partial.state.written)
        self.resumed = self.written.ranges.total()

    def _open(self, spans: list[list[int]]) -> None:
        self.fd = os.open(self.partial.data, os.O_RDWR | os.O_CREAT, 0o644)
        if not spans:
            os.ftruncate(self.fd, 0)  # a leftover without a state holds nothing we can trust
        self.written = Written(spans)
        self.hasher = PrefixHasher(self.fd, self.written)
        self.hasher.start()

    def restart(self) -> None:
        """Drop every byte and start over in a new file (never truncate a shared inode)."""
        with self.file_lock:
            self.hasher.abandon()
            os.close(self.fd)
            self.partial.reset()
            self.validator = None
            self.resumed = 0
            self._open([])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.hasher.abandon()
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def save(self, durable: bool = True) -> None:
        """Save the state; with `durable`, only after the bytes it describes are flushed."""
        with self.file_lock:
            spans = self.written.snapshot()
            if durable:
                os.fdatasync(self.fd)
            self.partial.save(spans, self.validator)

    def write(
        self, view: memoryview, offset: int, release: Callable[[], None] | None = None
    ) -> None:
        """Write `view` at `offset`; the hasher may hash `view` before it calls `release`."""
        try:
            n = os.pwrite(self.fd, view, offset)
            while n < len(view):
                n += os.pwrite(self.fd, view[n:], offset + n)
        except OSError as exc:
            raise _DiskError(exc, offset) from None
        self.written.add(offset, offset + len(view), view, release)
        with self.lock:
            self.fetched += len(view)
        self.on_bytes(len(view))

    def check(self) -> None:
        if self.cancel.is_set():
            raise _Cancelled()
        if self.opts.deadline is not None and time.monotonic() > self.opts.deadline:
            raise TimedOut(
                f"--timeout reached while downloading {self.remote.display}",
                "the partial download is kept; run the same command again to resume",
            )

    def headers(self, url: str) -> dict[str, str]:
        """The remote's headers, minus credentials when `url` is not the remote's own origin."""
        a, b = urlsplit(self.remote.url), urlsplit(url)
        if (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port):
            return dict(self.remote.headers)
        return {k: v for k, v in self.remote.headers.items() if k.lower() != "authorization"}


class _Buffers:
    """A stream's few reusable buffers; one comes back when the hasher is done with it."""

    def __init__(self, size: int, count: int) -> None:
        self.free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        for _ in range(count):
            self.free.put(memoryview(bytearray(size)))

    def get(self, job: _Job) -> memoryview:
        while True:
            try:
                return self.free.get(timeout=0.2)
            except queue.Empty:
                job.check()
                if _stopped(job):
                    raise _Cancelled() from None

    def put(self, buf: memoryview) -> None:
        self.free.put(buf)

    def releaser(self, buf: memoryview) -> Callable[[], None]:
        return lambda: self.free.put(buf)


def _fill(
    job: _Job, resp: Response, buf: memoryview, room: Callable[[int], int]
) -> tuple[int, bool, Exception | None]:
    """Read into `buf` until it is full, `room(got)` allows no more, the body ends, or `FILL_TIME`
    has passed (a slow link still writes, reports progress and sees a cancel or a deadline often).

    Returns (bytes read, body ended, error): bytes that arrived before a stall or a dropped
    connection are returned with the error, so they are written and resumed from, never lost.
    """
    got = 0
    began = time.monotonic()
    try:
        while True:
            want = room(got)
            if want <= 0:
                return got, False, None
            n = resp.readinto(buf[got : got + want])
            if not n:
                return got, True, None
            got += n
            if time.monotonic() - began > FILL_TIME:
                return got, False, None
    except Exception as exc:  # handed back to the caller after the write
        return got, False, exc
    finally:
        job.recv_time += time.monotonic() - began  # racy across streams; only read while solo


class _Cancelled(Exception):
    pass


def fetch(
    remote: RemoteFile,
    partial: Partial,
    opts: TransferOptions,
    on_bytes: Callable[[int], None] = lambda n: None,
    cancel: threading.Event | None = None,
) -> FetchResult:
    """Complete `partial` from `remote`; its sha256 and size (compare them before publishing)."""
    job = _Job(remote, partial, opts, on_bytes, cancel or threading.Event())
    try:
        if remote.url.startswith("file://"):
            _run_workers(job, [lambda: _copy_local(job)])
        elif _segmentable(job):
            try:
                _segmented(job)
            except _Restart:
                job.restart()
                _run_workers(job, [lambda: _single(job)])
        else:
            _run_workers(job, [lambda: _single(job)])
        size = job.written.prefix()
        if job.size is not None and size != job.size:
            raise SourceError(
                f"{remote.display}: got {size} bytes, expected {job.size}",
                "the server sent a truncated file; run the same command again to resume",
            )
        digest = job.hasher.finish()
        return FetchResult(digest, size, job.fetched, job.resumed)
    except _Cancelled:
        raise KeyboardInterrupt from None
    except _DiskError as exc:
        raise _disk_full(remote, exc, job) from None
    finally:
        with contextlib.suppress(OSError):
            job.save()
        job.close()


def _segmentable(job: _Job) -> bool:
    o = job.opts
    return job.size is not None and o.connections > 1 and job.size >= o.segment_threshold


def _run_workers(
    job: _Job,
    workers: list[Callable[[], None]],
    tick: Callable[[], list[Callable[[], None]]] | None = None,
) -> None:
    """Run `workers` in threads (plus any `tick` adds); first error cancels the rest.

    A separate thread saves the state every `save_interval` seconds: its `fdatasync` can take
    seconds on a slow disk, and neither the streams nor `tick` should wait for it.
    """
    stop = threading.Event()
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    def start(fn: Callable[[], None]) -> threading.Thread:
        t = threading.Thread(target=wrap, args=(fn,), daemon=True)
        t.start()
        return t

    job.stop = stop
    finished = threading.Event()
    saver = threading.Thread(target=_saver, args=(job, finished), daemon=True)
    saver.start()
    threads = [start(w) for w in workers]
    try:
        while alive := [t for t in threads if t.is_alive()]:
            alive[0].join(0.05)
            if tick is not None and not stop.is_set():
                threads += [start(w) for w in tick()]
    except BaseException:
        job.cancel.set()
        for t in threads:
            t.join()
        raise
    finally:
        finished.set()
        saver.join()
    if errors:
        raise _first(errors)


def _saver(job: _Job, finished: threading.Event) -> None:
    while not finished.wait(job.opts.save_interval):
        with contextlib.suppress(OSError):
            job.save()


def _first(errors: list[BaseException]) -> BaseException:
    """The most meaningful error: a real failure over a cancellation caused by it."""
    for exc in errors:
        if not isinstance(exc, _Cancelled):
            return exc
    return errors[0]


def _stopped(job: _Job) -> bool:
    return job.stop is not None and job.stop.is_set()


# --- one stream --------------------------------------------------------------------------------


def _single(job: _Job) -> None:
    pool = Pool(job.opts.connect_timeout, job.opts.stall_timeout)
    bufs = _Buffers(job.opts.buffer_size, SOLO_BUFFERS)
    failures = 0
    try:
        while True:
            job.check()
            start = job.written.prefix()
            if job.size is not None and start >= job.size:
                if start > job.size:  # more data than expected (git-lfs): start over
                    job.restart()
                    continue
                return
            before = job.fetched
            try:
                resp = _open_stream(job, pool, start)
                try:
                    if _consume(job, resp, bufs, resp_start(resp, start), None):
                        return
                finally:
                    resp.close(reuse=True)
            except _Restart:
                job.restart()
                failures += 1
            except HttpStatusError as exc:
                failures = _on_status(job, exc, failures)
            except (_DiskError, _Cancelled, TimedOut, SourceError):
                raise
            except (*NETWORK_ERRORS, RedirectError) as exc:
                if isinstance(exc, RedirectError):
                    raise SourceError(str(exc)) from None
                failures = 0 if job.fetched > before else failures
                failures = _backoff(job, exc, failures + 1)
                continue
            if job.fetched > before:
                failures = 0
            if failures:
                _sleep(job, job.opts.retry.delay(failures))
    finally:
        pool.close()


def resp_start(resp: Response, asked: int) -> int:
    """Where the body of `resp` starts in the file (0 for a 200)."""
    return asked if resp.status == 206 else 0


def _open_stream(job: _Job, pool: Pool, start: int) -> Response:
    headers = job.headers(job.url)
    if start > 0:
        headers["range"] = f"bytes={start}-"
        if job.validator:
            headers["if-range"] = job.validator
    resp = pool.request(job.url, headers)
    _remember(job, resp)
    if start > 0 and resp.status == 200:
        # Range ignored or content changed: consume this body from byte 0 in a new file
        job.restart()
        return resp
    if resp.status == 206 and _range_start(resp) != start:
        resp.close()
        raise _Restart()
    return resp


def _consume(job: _Job, resp: Response, bufs: _Buffers, pos: int, end: int | None) -> bool:
    """Copy the body of `resp` to the file from offset `pos`; True when the file is complete."""
    _refuse_html(job, resp)
    limit = job.size if end is None else end
    if resp.status == 200 and job.size is not None:
        length = resp.headers.get("content-length")
        if length and length.isdigit() and int(length) != job.size:
            raise SourceError(
                f"{job.remote.display}: the server sends {length} bytes, expected {job.size}",
                "the file at the source changed; pin a revision or update the manifest's sha256",
            )
    while True:
        job.check()
        if limit is not None and limit - pos <= 0:
            return end is None
        buf = bufs.get(job)
        cap = len(buf) if limit is None else min(len(buf), limit - pos)
        n, ended, exc = _fill(job, resp, buf, lambda got, cap=cap: cap - got)
        if n:
            job.write(buf[:n], pos, bufs.releaser(buf))
            pos += n
        else:
            bufs.put(buf)
        if exc is not None:
            raise exc
        if ended:
            if limit is not None and pos < limit:
                raise http.client.IncompleteRead(b"", limit - pos)
            if job.size is None:
                job.size = pos
            return True


def _remember(job: _Job, resp: Response) -> None:
    """Follow-up requests go straight to where the redirect led; keep the validator for If-Range."""
    job.url = resp.url
    etag = resp.headers.get("etag")
    validator = etag if etag and not etag.startswith("W/") else resp.headers.get("last-modified")
    if validator:
        job.validator = validator
    if job.size is None and resp.status == 200:
        length = resp.headers.get("content-length")
        if length and length.isdigit():
            job.size = int(length)


def _range_start(resp: Response) -> int | None:
    value = resp.headers.get("content-range", "")
    try:
        unit, rest = value.split(" ", 1)
        return int(rest.split("-", 1)[0]) if unit.strip().lower() == "bytes" else None
    except ValueError:
        return None


def _refuse_html(job: _Job, resp: Response) -> None:
    ctype = resp.headers.get("content-type", "").lower()
    path = unquote(urlsplit(job.remote.url).path).lower()
    if ctype.startswith("text/html") and not path.endswith((".html", ".htm")):
        raise SourceError(
            f"{job.remote.display}: the server sent an HTML page instead of the file",
            "a login wall, a gated repo or a /blob/ URL? use the /resolve/ URL and set HF_TOKEN",
        )


def _on_status(job: _Job, exc: HttpStatusError, failures: int) -> int:
    """Handle an HTTP error during transfer; returns the new failure count or raises."""
    if exc.status == 416:
        job.restart()
        return failures + 1
    if exc.status in (403, 410) and job.url != job.remote.url and failures == 0:
        job.url = job.remote.url  # an expired signed CDN URL: ask the origin for a fresh one
        return 1
    if not exc.retryable:
        raise SourceError(
            f"{job.remote.display}: HTTP {exc.status} while downloading",
            _status_hint(exc.status),
        )
    return _backoff(job, exc, failures + 1, exc.retry_after)


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return (
            "the file needs access: set HF_TOKEN to a token that may read it, or accept the terms"
        )
    if status == 404:
        return "the file is gone at the source; check the URL, revision and path in the manifest"
    if status == 407:
        return (
            "the proxy wants credentials: write them into HTTPS_PROXY / HTTP_PROXY as "
            "user:password@host:port"
        )
    return "the server refused the request; try again later"


def _backoff(job: _Job, exc: BaseException, failures: int, retry_after: str | None = None) -> int:
    permanent = _permanent(exc)
    if permanent or failures > job.opts.retry.attempts:
        what = f"HTTP {exc.status}" if isinstance(exc, HttpStatusError) else _describe(exc)
        tried = "" if permanent else f"giving up after {failures - 1} retries: "
        raise SourceError(
            f"{job.remote.display}: {tried}{what}",
            _network_hint(job.url, exc)
            or "the partial download is kept; run the same command again to resume",
        ) from None
    _sleep(job, job.opts.retry.delay(failures, retry_after))
    return failures


def _permanent(exc: BaseException) -> bool:
    """Errors that asking again cannot fix: an untrusted certificate, a proxy that refuses us."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    text = str(exc)
    return text.startswith("Tunnel connection failed: 40")  # http.client: the proxy's 403/407


def _network_hint(url: str, exc: BaseException) -> str | None:
    parts = urlsplit(url)
    proxy = proxy_for(parts.scheme, parts.hostname or "")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            "the server's TLS certificate is not trusted here; behind a TLS-inspecting proxy set "
            "SSL_CERT_FILE to a CA bundle that includes the proxy's certificate"
        )
    if proxy:
        return (
            f"the request went through the proxy {redact(proxy)} (HTTPS_PROXY / HTTP_PROXY / "
            "ALL_PROXY): check it, or exempt this host in NO_PROXY; a partial download is kept"
        )
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no data received (stalled connection)"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed mid-body"
    return redact(f"{type(exc).__name__}: {exc}")


def _sleep(job: _Job, seconds: float) -> None:
    if job.opts.deadline is not None:
        seconds = min(seconds, max(0.0, job.opts.deadline - time.monotonic()))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        job.check()
        if _stopped(job):
            raise _Cancelled()
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))


# --- segments ----------------------------------------------------------------------------------


@dataclass(eq=False)
class _Segment:
    pos: int
    end: int
    margin: int  # no cut closer than this ahead of `pos`: two of its stream's buffers


class _Scheduler:
    """Hands out the lowest missing range first; when none is left, splits the largest in flight.

    While `solo`, one stream takes `SOLO_PIECE`s (few requests); after `grow()` the new streams
    and it take `piece`s. A cut closes a connection whose server has already sent bytes past the
    cut (wasted on the wire), so on a fast link only the tail steals cut; `grow()` (a slow link,
    little in flight) cuts the lone stream's long range too, which would otherwise be the tail
    every other connection waits for (64 MiB at 20 MB/s: 3 s). A cut is never closer than a
    segment's `margin` to where its stream stands (two of that stream's buffers: the one it is
    filling may still be sized by the old end), so no offset is written by two streams.
    """

    def __init__(self, holes: list[tuple[int, int]], piece: int, solo: bool) -> None:
        self.holes: list[list[int]] = [[s, e] for s, e in holes]
        self.piece = piece
        self.solo = solo
        self.active: list[_Segment] = []
        self.lock = threading.Lock()

    def next(self, done: _Segment | None, margin: int) -> _Segment | None:
        with self.lock:
            if done is not None and done in self.active:
                self.active.remove(done)
            if self.holes:
                start, end = self.holes[0]
                cut = min(end, start + (max(self.piece, SOLO_PIECE) if self.solo else self.piece))
                if cut == end:
                    self.holes.pop(0)
                else:
                    self.holes[0][0] = cut
                seg = _Segment(start, cut, margin)
            else:
                seg = self._steal(margin)
                if seg is None:
                    return None
            self.active.append(seg)
            return seg

    def _steal(self, margin: int) -> _Segment | None:
        victim = max(self.active, key=lambda s: s.end - s.pos, default=None)
        if victim is None or victim.end - victim.pos < 2 * max(victim.margin, MIN_PIECE):
            return None
        mid = victim.pos + (victim.end - victim.pos) // 2
        seg = _Segment(mid, victim.end, margin)
        victim.end = mid
        return seg

    def grow(self) -> None:
        """Leave solo mode: from now on hand out pieces, the rest of the lone stream's range too."""
        with self.lock:
            self.solo = False
            for seg in self.active:
                cut = seg.pos + seg.margin + seg.margin // 2  # pos may lag by one buffer
                if seg.end - cut >= MIN_PIECE:
                    self.holes.append([cut, seg.end])
                    seg.end = cut
            self.holes.sort()

    def remaining(self) -> int:
        with self.lock:
            return sum(e - s for s, e in self.holes) + sum(s.end - s.pos for s in self.active)


def _segmented(job: _Job) -> None:
    assert job.size is not None
    holes = job.written.snapshot().missing(job.size)
    if not holes:
        return
    o = job.opts
    piece = max(MIN_PIECE, min(o.segment_size, -(-job.size // max(1, o.connections))))
    sched = _Scheduler(holes, piece, solo=True)
    probe = {"t": time.monotonic(), "n": job.fetched, "recv": job.recv_time, "slow": 0}

    def tick() -> list[Callable[[], None]]:
        """While one stream runs, measure it; open the other connections if the network is slow.

        The rate is bytes per second spent *receiving*: a stream held up by a slow disk (writes
        blocked by writeback) or by the hasher gains nothing from more connections.
        """
        if not sched.solo:
            return []
        now = time.monotonic()
        got, waited = job.fetched - probe["n"], job.recv_time - probe["recv"]
        if now - probe["t"] < PROBE or got <= 0 or waited <= 0:
            return []
        probe.update(t=now, n=job.fetched, recv=job.recv_time)
        probe["slow"] = 0 if got / waited >= o.solo_rate else probe["slow"] + 1
        if probe["slow"] < 2 or sched.remaining() < 2 * piece:
            return []
        sched.grow()
        extra = min(o.connections - 1, max(0, -(-sched.remaining() // piece) - 1))
        return [lambda: _segment_worker(job, sched, SEGMENT_BUFFER, SEGMENT_BUFFERS)] * extra

    _run_workers(job, [lambda: _segment_worker(job, sched, o.buffer_size, SOLO_BUFFERS)], tick)


def _segment_worker(job: _Job, sched: _Scheduler, buffer_size: int, count: int) -> None:
    pool = Pool(job.opts.connect_timeout, job.opts.stall_timeout)
    bufs = _Buffers(buffer_size, count)
    seg: _Segment | None = None
    failures = 0
    try:
        while True:
            if buffer_size > SEGMENT_BUFFER and not sched.solo:  # the lone stream, now one of many
                buffer_size, bufs = SEGMENT_BUFFER, _Buffers(SEGMENT_BUFFER, SEGMENT_BUFFERS)
            seg = sched.next(seg, 2 * buffer_size)
            if seg is None:
                return
            while seg.pos < seg.end:
                job.check()
                if _stopped(job):
                    raise _Cancelled()
                before = job.fetched
                try:
                    _fetch_piece(job, pool, seg, bufs)
                    failures = 0
                except HttpStatusError as exc:
                    if exc.status == 416:
                        raise _Restart() from None
                    failures = 0 if job.fetched > before else failures
                    failures = _on_status(job, exc, failures)
                except (_Restart, _DiskError, _Cancelled, TimedOut, SourceError):
                    raise
                except (*NETWORK_ERRORS, RedirectError) as exc:
                    if isinstance(exc, RedirectError):
                        raise SourceError(str(exc)) from None
                    failures = 0 if job.fetched > before else failures
                    failures = _backoff(job, exc, failures + 1)
    finally:
        pool.close()


def _fetch_piece(job: _Job, pool: Pool, seg: _Segment, bufs: _Buffers) -> None:
    """GET `seg` (its end may shrink while we read: the range was split for another stream)."""
    headers = job.headers(job.url)
    headers["range"] = f"bytes={seg.pos}-{seg.end - 1}"
    if job.validator:
        headers["if-range"] = job.validator
    resp = pool.request(job.url, headers)
    reusable = False
    try:
        with job.lock:
            _remember(job, resp)
        if resp.status != 206 or _range_start(resp) != seg.pos:
            raise _Restart()
        _refuse_html(job, resp)
        asked_end = seg.end
        while seg.pos < seg.end:
            job.check()
            if _stopped(job):
                raise _Cancelled()
            buf = bufs.get(job)
            n, ended, exc = _fill(
                job, resp, buf, lambda got, b=buf: min(len(b), seg.end - seg.pos) - got
            )
            if n:
                job.write(buf[:n], seg.pos, bufs.releaser(buf))
                seg.pos += n
            else:
                bufs.put(buf)
            if exc is not None:
                raise exc
            if ended and seg.pos < seg.end:
                raise http.client.IncompleteRead(b"", seg.end - seg.pos)
        reusable = seg.end == asked_end
    finally:
        resp.close(reuse=reusable)


# --- file:// -----------------------------------------------------------------------------------


def _copy_local(job: _Job) -> None:
    """Copy a local mirror file into the partial (resumes from the contiguous prefix too)."""
    path = unquote(urlsplit(job.remote.url).path)
    try:
        src = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise SourceError(
            f"cannot read {job.remote.display}: {exc.strerror}", "check the file:// path"
        ) from None
    with src:
        size = os.fstat(src.fileno()).st_size
        if job.size is None:
            job.size = size
        pos = job.written.prefix()
        bufs = _Buffers(job.opts.buffer_size, SOLO_BUFFERS)
        src.seek(pos)
        while pos < size:
            job.check()
            buf = bufs.get(job)
            n = src.readinto(buf[: min(len(buf), size - pos)])
            if not n:
                bufs.put(buf)
                break
            job.write(buf[:n], pos, bufs.releaser(buf))
            pos += n


# --- disk full ---------------------------------------------------------------------------------


def _disk_full(remote: RemoteFile, err: _DiskError, job: _Job) -> BaseException:
    if err.exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return SourceError(
            f"cannot write the partial download of {remote.display}: {err.exc.strerror}",
            f"check {job.partial.directory}",
        )
    have = job.written.prefix()
    missing = f"{job.size - have} more bytes needed" if job.size else "the total size is unknown"
    return DiskFull(
        f"disk full after writing {have} bytes of {remote.display} ({missing})",
        f"free space on {job.partial.directory.parent.parent} and run the same command again; "
        "the partial download is kept and resumes",
    )
