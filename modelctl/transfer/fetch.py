"""Fetch one `RemoteFile` into a claimed partial: resumable, segmented, hashed while it is written.

One file, one call: `fetch(remote, partial, options, on_bytes, cancel)` returns the sha256 and size
of what now sits in `partial.data`. The caller compares them with what it expected and publishes.

- Resume (E.46-E.48): the partial's state lists the written ranges. A single stream asks
  `Range: bytes=N-` with `If-Range: <validator>` and accepts a 206 only when `Content-Range` starts
  at N; a 200 (Range ignored, or the content changed) or a 416 starts over in a new file.
- Segments: a file of known size >= `segment_threshold` is fetched as ranged pieces over
  `connections` connections. Pieces are handed out lowest offset first so the contiguous prefix (and
  with it the hash, see `hashing.py`) grows steadily; an idle connection splits the largest piece
  still in flight, so no connection idles at the tail. A server that answers a ranged request with
  200 makes the whole file fall back to one stream.
- Retries (`retry.py`): network errors, stalls (the read timeout), 408/429/5xx; each worker's budget
  is reset by progress. 401/403/404 fail at once (a 403/410 from the CDN first goes back to the
  original URL once, for a fresh signed redirect). A full disk stops at once, keeping the partial.
- Every `save_interval` seconds the written bytes are flushed (`fdatasync`, which also spreads the
  cost of the final fsync over the download) and then the state file is saved, so the state only
  ever describes bytes on disk and a SIGKILL or power loss costs at most that much re-download.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
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
from modelctl.transfer.http import NETWORK_ERRORS, HttpStatusError, Pool, RedirectError, Response
from modelctl.transfer.retry import RetryPolicy

MiB = 1 << 20
MIN_STEAL = 4 * MiB  # split a piece in flight only when at least twice this is left
MIN_PIECE = 1 * MiB


@dataclass
class TransferOptions:
    connections: int = 8
    segment_threshold: int = 64 * MiB
    segment_size: int = 16 * MiB
    stall_timeout: float = 30.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadline: float | None = None
    buffer_size: int = 1 * MiB
    save_interval: float = 0.5


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
        self.error: BaseException | None = None
        self.lock = threading.Lock()
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

    def save(self) -> None:
        self.partial.save(self.written.snapshot(), self.validator)

    def write(self, view: memoryview, offset: int) -> None:
        try:
            n = os.pwrite(self.fd, view, offset)
            while n < len(view):
                n += os.pwrite(self.fd, view[n:], offset + n)
        except OSError as exc:
            raise _DiskError(exc, offset) from None
        self.written.add(offset, offset + len(view))
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


def _run_workers(job: _Job, workers: list[Callable[[], None]]) -> None:
    """Run `workers` in threads; save state periodically; first error cancels the rest."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=wrap, args=(w,), daemon=True) for w in workers]
    job.stop = stop  # type: ignore[attr-defined]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(job.opts.save_interval / max(1, len(threads)))
            with contextlib.suppress(OSError):
                os.fdatasync(job.fd)  # flush as we go: the final fsync is short, and the state
                job.save()  # saved next only ever describes bytes that are on the disk
    except BaseException:
        job.cancel.set()
        for t in threads:
            t.join()
        raise
    if errors:
        raise _first(errors)


def _first(errors: list[BaseException]) -> BaseException:
    """The most meaningful error: a real failure over a cancellation caused by it."""
    for exc in errors:
        if not isinstance(exc, _Cancelled):
            return exc
    return errors[0]


def _stopped(job: _Job) -> bool:
    stop = getattr(job, "stop", None)
    return bool(stop is not None and stop.is_set())


# --- one stream --------------------------------------------------------------------------------


def _single(job: _Job) -> None:
    pool = Pool(job.opts.connect_timeout, job.opts.stall_timeout)
    buf = memoryview(bytearray(job.opts.buffer_size))
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
                    if _consume(job, resp, buf, resp_start(resp, start), None):
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


def _consume(job: _Job, resp: Response, buf: memoryview, pos: int, end: int | None) -> bool:
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
        want = len(buf) if limit is None else min(len(buf), limit - pos)
        if want <= 0:
            return end is None
        n = resp.readinto(buf[:want])
        if not n:
            if limit is not None and pos < limit:
                raise http.client.IncompleteRead(b"", limit - pos)
            if job.size is None:
                job.size = pos
            return True
        job.write(buf[:n], pos)
        pos += n


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
    return "the server refused the request; try again later"


def _backoff(job: _Job, exc: BaseException, failures: int, retry_after: str | None = None) -> int:
    if failures > job.opts.retry.attempts:
        what = f"HTTP {exc.status}" if isinstance(exc, HttpStatusError) else _describe(exc)
        raise SourceError(
            f"{job.remote.display}: giving up after {failures - 1} retries: {what}",
            "the partial download is kept; run the same command again to resume",
        ) from None
    _sleep(job, job.opts.retry.delay(failures, retry_after))
    return failures


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


class _Scheduler:
    """Hands out the lowest missing piece first; when none is left, splits the largest in flight."""

    def __init__(self, holes: list[tuple[int, int]], piece: int) -> None:
        self.queue: list[_Segment] = []
        for start, end in holes:
            for s in range(start, end, piece):
                self.queue.append(_Segment(s, min(end, s + piece)))
        self.active: list[_Segment] = []
        self.lock = threading.Lock()

    def next(self, done: _Segment | None) -> _Segment | None:
        with self.lock:
            if done is not None and done in self.active:
                self.active.remove(done)
            if self.queue:
                seg = self.queue.pop(0)
            else:
                victim = max(self.active, key=lambda s: s.end - s.pos, default=None)
                if victim is None or victim.end - victim.pos < 2 * MIN_STEAL:
                    return None
                mid = victim.pos + (victim.end - victim.pos) // 2
                seg = _Segment(mid, victim.end)
                victim.end = mid
            self.active.append(seg)
            return seg


def _segmented(job: _Job) -> None:
    assert job.size is not None
    holes = job.written.snapshot().missing(job.size)
    if not holes:
        return
    o = job.opts
    piece = max(MIN_PIECE, min(o.segment_size, -(-job.size // max(1, o.connections))))
    sched = _Scheduler(holes, piece)
    count = min(o.connections, len(sched.queue))
    _run_workers(job, [lambda: _segment_worker(job, sched) for _ in range(count)])


def _segment_worker(job: _Job, sched: _Scheduler) -> None:
    pool = Pool(job.opts.connect_timeout, job.opts.stall_timeout)
    buf = memoryview(bytearray(job.opts.buffer_size))
    seg: _Segment | None = None
    failures = 0
    try:
        while True:
            seg = sched.next(seg)
            if seg is None:
                return
            while seg.pos < seg.end:
                job.check()
                if _stopped(job):
                    raise _Cancelled()
                before = job.fetched
                try:
                    _fetch_piece(job, pool, seg, buf)
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


def _fetch_piece(job: _Job, pool: Pool, seg: _Segment, buf: memoryview) -> None:
    """GET `seg` (its end may shrink while we read: a neighbour stole the tail)."""
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
            n = resp.readinto(buf[: min(len(buf), seg.end - seg.pos)])
            if not n:
                raise http.client.IncompleteRead(b"", seg.end - seg.pos)
            job.write(buf[:n], seg.pos)
            seg.pos += n
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
        buf = memoryview(bytearray(8 * MiB))
        while pos < size:
            job.check()
            n = src.readinto(buf[: min(len(buf), size - pos)]) if src.seek(pos) == pos else 0
            if not n:
                break
            job.write(buf[:n], pos)
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
