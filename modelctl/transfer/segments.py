"""Several connections for one file, when one is slow: ranged pieces, lowest offset first.

See the module doc of `fetch.py` for why a fast link keeps one stream; `segmented` measures it
and opens the others only when the lone stream receives slower than `solo_rate`.
"""

from __future__ import annotations

import functools
import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelctl.errors import SourceError, TimedOut
from modelctl.transfer.failures import on_network_error, on_status, slowness
from modelctl.transfer.http import NETWORK_OR_REDIRECT, BadAnswer, HttpStatusError, Pool
from modelctl.transfer.job import (
    SOLO_BUFFERS,
    Buffers,
    Cancelled,
    DiskError,
    Job,
    MiB,
    Restart,
    fill,
    run_workers,
)
from modelctl.transfer.retry import SpeedWatch
from modelctl.transfer.stream import check_partial, refuse_html, remember

MIN_PIECE = 1 * MiB  # no piece is cut smaller than this
SEGMENT_BUFFERS = 2
SEGMENT_BUFFER = 1 * MiB  # streams added for a slow link: small buffers keep RSS flat
SOLO_PIECE = 64 * MiB  # what a lone stream asks for at once (16 requests per GiB on one connection)
PROBE = 0.2  # seconds per measurement of a lone stream; two slow ones in a row open more streams


@dataclass(eq=False)
class Segment:
    pos: int
    end: int
    margin: int  # no cut closer than this ahead of `pos`: two of its stream's buffers


class Scheduler:
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
        self.active: list[Segment] = []
        self.lock = threading.Lock()

    def next(self, done: Segment | None, margin: int) -> Segment | None:
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
                seg = Segment(start, cut, margin)
            else:
                stolen = self._steal(margin)
                if stolen is None:
                    return None
                seg = stolen
            self.active.append(seg)
            return seg

    def _steal(self, margin: int) -> Segment | None:
        victim = max(self.active, key=lambda s: s.end - s.pos, default=None)
        if victim is None or victim.end - victim.pos < 2 * max(victim.margin, MIN_PIECE):
            return None
        mid = victim.pos + (victim.end - victim.pos) // 2
        seg = Segment(mid, victim.end, margin)
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


def segmented(job: Job) -> None:
    assert job.size is not None
    holes = job.written.snapshot().missing(job.size)
    if not holes:
        return
    o = job.opts
    piece = max(MIN_PIECE, min(o.segment_size, -(-job.size // max(1, o.connections))))
    sched = Scheduler(holes, piece, solo=True)
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

    run_workers(job, [lambda: _segment_worker(job, sched, o.buffer_size, SOLO_BUFFERS)], tick)


def _segment_worker(job: Job, sched: Scheduler, buffer_size: int, count: int) -> None:
    pool = Pool(job.opts.connect_timeout, job.opts.stall_timeout)
    bufs = Buffers(buffer_size, count)
    seg: Segment | None = None
    tries = job.opts.retry.start()
    watch = job.opts.retry.watch()
    try:
        while True:
            if buffer_size > SEGMENT_BUFFER and not sched.solo:  # the lone stream, now one of many
                buffer_size, bufs = SEGMENT_BUFFER, Buffers(SEGMENT_BUFFER, SEGMENT_BUFFERS)
            seg = sched.next(seg, 2 * buffer_size)
            if seg is None:
                return
            while seg.pos < seg.end:
                job.check()
                before = seg.pos
                try:
                    _fetch_piece(job, pool, seg, bufs, watch)
                    if not watch.slow:
                        tries.progressed()
                except HttpStatusError as exc:
                    if exc.status == 416:
                        raise Restart() from None
                    with watch.paused():
                        on_status(job, exc, tries)
                except (Restart, DiskError, Cancelled, TimedOut, SourceError):
                    raise
                except NETWORK_OR_REDIRECT as exc:
                    if not watch.settle() and seg.pos > before:  # this stream's own new bytes
                        tries.progressed()
                    with watch.paused():
                        on_network_error(job, exc, tries, slowness(watch))
    finally:
        pool.close()


def _fetch_piece(job: Job, pool: Pool, seg: Segment, bufs: Buffers, watch: SpeedWatch) -> None:
    """GET `seg` (its end may shrink while we read: the range was split for another stream).

    Anything but a 206 that starts at the piece (a 200: Range ignored; a Content-Range that
    starts elsewhere or does not parse) is a server that cannot serve pieces: `Restart`, one
    stream from byte 0, and no byte of that answer is written.
    """
    headers = job.headers(job.url)
    headers["range"] = f"bytes={seg.pos}-{seg.end - 1}"
    if job.validator:
        headers["if-range"] = job.validator
    resp = pool.request(job.url, headers)
    reusable = False
    try:
        if resp.status != 206:
            raise Restart()
        try:
            check_partial(job, resp, seg.pos)
        except BadAnswer:
            raise Restart() from None
        with job.lock:
            remember(job, resp)
        refuse_html(job, resp)
        asked_end = seg.end
        while seg.pos < seg.end:
            job.check()
            buf = bufs.get(job)
            n, ended, exc = fill(job, resp, buf, functools.partial(_room, seg, len(buf)))
            if n:
                job.write(buf[:n], seg.pos, bufs.releaser(buf))
                seg.pos += n
            else:
                bufs.put(buf)
            watch.count(n)
            if exc is not None:
                raise exc
            if ended and seg.pos < seg.end:
                raise http.client.IncompleteRead(b"", seg.end - seg.pos)
            watch.check()
        reusable = seg.end == asked_end
    finally:
        resp.close(reuse=reusable)


def _room(seg: Segment, size: int, got: int) -> int:
    """How much more a buffer of `size` may take without passing the segment's end (for `fill`)."""
    return min(size, seg.end - seg.pos) - got
