"""One file's transfer in progress: its options, shared state, buffers and worker threads.

`Job` holds what every stream of one file shares: the partial's fd, the written ranges and the
hasher that follows them (`hashing.py`), counters, the cancel and deadline checks. `Buffers` are
a stream's few reusable buffers, `fill` reads into one, `run_workers` runs the streams in threads
beside the saver that makes the partial's state durable every `save_interval` seconds.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from modelctl.errors import TimedOut
from modelctl.transfer.hashing import PrefixHasher, Written
from modelctl.transfer.http import Response, headers_for_redirect
from modelctl.transfer.remote import RemoteFile
from modelctl.transfer.retry import RetryPolicy
from modelctl.transfer.target import Target

MiB = 1 << 20
SOLO_BUFFERS = 3  # one being filled, one being hashed, one spare: recv+write and sha256 overlap
FILL_TIME = 0.05  # seconds a buffer may take to fill before what it holds is written anyway


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


class Restart(Exception):
    """The server cannot serve this download in pieces (200 to a Range, 416, a 206 that is not
    the piece asked for): fall back to one stream from byte 0."""


class DiskError(Exception):
    """Writing the target failed: `offset` of the bytes being written, or -1 when creating,
    truncating or replacing its files (where an exhausted inode table shows too)."""

    def __init__(self, exc: OSError, offset: int) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.offset = offset


class Cancelled(Exception):
    pass


class Job:
    """Shared state of one file's transfer (partial, fd, written ranges, hasher, counters)."""

    def __init__(
        self,
        remote: RemoteFile,
        partial: Target,
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
        self.discarded = 0  # bytes received in this call and then thrown away (`restart`)
        self.recv_time = 0.0  # seconds streams spent waiting for the network (not the disk)
        self.lock = threading.Lock()
        self.file_lock = threading.RLock()  # fd, written and partial change together (restart)
        self.stop: threading.Event | None = None  # set by `run_workers` when a stream failed
        self._open(partial.state.written)
        self.resumed = self.written.ranges.total()

    def _open(self, spans: list[list[int]]) -> None:
        try:
            self.fd = os.open(self.partial.data, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DiskError(exc, -1) from None
        if not spans:
            try:
                os.ftruncate(self.fd, 0)  # a leftover without a state holds nothing we can trust
            except OSError as exc:
                os.close(self.fd)
                raise DiskError(exc, -1) from None
        self.written = Written(spans)
        self.hasher = PrefixHasher(self.fd, self.written)
        self.hasher.start()

    def restart(self) -> None:
        """Drop every byte and start over in a new file (never truncate a shared inode).

        What this call had received into the old file counts as `discarded`: the retry policy
        stops when that exceeds what a file of this size may waste."""
        with self.file_lock:
            self.discarded += max(0, self.written.snapshot().total() - self.resumed)
            self.hasher.abandon()
            os.close(self.fd)
            try:
                self.partial.reset()
            except OSError as exc:
                raise DiskError(exc, -1) from None
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
            raise DiskError(exc, offset) from None
        self.written.add(offset, offset + len(view), view, release)
        with self.lock:
            self.fetched += len(view)
        self.on_bytes(len(view))

    def check(self) -> None:
        """Raise when this transfer must stop: cancelled, past `--timeout`, or another stream of
        it failed (the others end with `Cancelled`, which `run_workers` ranks below that error)."""
        if self.cancel.is_set():
            raise Cancelled()
        if self.opts.deadline is not None and time.monotonic() > self.opts.deadline:
            raise TimedOut(
                f"--timeout reached while downloading {self.remote.display}",
                "the partial download is kept; run the same command again to resume",
            )
        if self.stop is not None and self.stop.is_set():
            raise Cancelled()

    def headers(self, url: str) -> dict[str, str]:
        """The remote's headers, minus credentials when `url` is not the remote's own origin."""
        return headers_for_redirect(self.remote.url, url, self.remote.headers)


class Buffers:
    """A stream's few reusable buffers; one comes back when the hasher is done with it."""

    def __init__(self, size: int, count: int) -> None:
        self.free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        for _ in range(count):
            self.free.put(memoryview(bytearray(size)))

    def get(self, job: Job) -> memoryview:
        while True:
            try:
                return self.free.get(timeout=0.2)
            except queue.Empty:
                job.check()

    def put(self, buf: memoryview) -> None:
        self.free.put(buf)

    def releaser(self, buf: memoryview) -> Callable[[], None]:
        return lambda: self.free.put(buf)


def fill(
    job: Job, resp: Response, buf: memoryview, room: Callable[[int], int]
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


def run_workers(
    job: Job,
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


def _saver(job: Job, finished: threading.Event) -> None:
    while not finished.wait(job.opts.save_interval):
        with contextlib.suppress(OSError):
            job.save()


def _first(errors: list[BaseException]) -> BaseException:
    """The most meaningful error: a real failure over a cancellation caused by it."""
    for exc in errors:
        if not isinstance(exc, Cancelled):
            return exc
    return errors[0]
