"""sha256 over the growing contiguous prefix of a file that other threads are writing.

Writers `pwrite` at their offsets and report each written range to `Written`, optionally *offering*
the buffer they wrote from. This thread hashes the prefix that has become contiguous from byte 0:

- from the offered buffer when it starts exactly where the hash stands (a single stream, and the
  lowest piece in flight of a segmented transfer): no read back, and the receiving thread goes on
  filling its next buffer while this one is hashed, so recv+write and sha256 run on two cores
  (hashlib releases the GIL for large buffers);
- by reading the file back (from the page cache: the bytes were written moments ago) for what
  arrived out of order, i.e. pieces that completed before the piece below them, and for the kept
  prefix of a resumed partial (git-lfs pre-loads the hash of the partial bytes for the same reason).

Either way a segmented, out-of-order download is verified with no second pass over the file after
it completes. An offered buffer is handed back (`release`) as soon as it is hashed or found useless,
so a writer owns a small fixed set of buffers and memory stays flat. The buffer hashed is the one
`pwrite` wrote in full before the range was reported, so it holds exactly the file's bytes there;
the transfer never writes one offset from two streams at once (see segments.py's cut margin).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable

from modelctl.transfer.ranges import Ranges

READ_BLOCK = 8 << 20

Release = Callable[[], None]


class Written:
    """The ranges written so far and the buffers offered for hashing (shared by all writers)."""

    def __init__(self, spans: list[list[int]] | None = None) -> None:
        self.ranges = Ranges(spans)
        self.cond = threading.Condition()
        self.offers: list[tuple[int, memoryview, Release]] = []
        self.closed = False  # no hasher takes offers any more: release them at once

    def add(
        self, start: int, end: int, data: memoryview | None = None, release: Release | None = None
    ) -> None:
        """Record [start, end) as written; `data` (those bytes) may be hashed before `release`."""
        with self.cond:
            self.ranges.add(start, end)
            keep = False
            if data is not None and release is not None and not self.closed:
                self.offers.append((start, data, release))
                keep = True
            self.cond.notify_all()
        if release is not None and not keep:
            release()

    def prefix(self) -> int:
        with self.cond:
            return self.ranges.prefix()

    def snapshot(self) -> Ranges:
        with self.cond:
            return Ranges(self.ranges.spans())

    def close(self) -> None:
        """Stop taking offers and hand back every buffer still waiting."""
        with self.cond:
            self.closed = True
            pending, self.offers = self.offers, []
        for _, _, release in pending:
            release()


class PrefixHasher(threading.Thread):
    """Hash `fd` from byte 0 as far as `written` is contiguous; `finish()` gives the digest."""

    def __init__(self, fd: int, written: Written) -> None:
        super().__init__(name="modelctl-sha256", daemon=True)
        self.fd = fd
        self.written = written
        self.hashed = 0
        self.read_back = 0  # bytes hashed by reading the file (not from an offered buffer)
        self._finishing = False
        self._abandoned = False
        self._digest: str | None = None
        self._h = hashlib.sha256()
        self._buf: memoryview | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by finish()
            self.error = exc
        finally:
            self.written.close()

    def _run(self) -> None:
        cond = self.written.cond
        while True:
            with cond:
                while (
                    not self._abandoned
                    and not self._finishing
                    and not self.written.offers
                    and self.written.ranges.prefix() <= self.hashed
                ):
                    cond.wait(0.5)
                if self._abandoned:
                    return
                batch, self.written.offers = self.written.offers, []
                end = self.written.ranges.prefix()
                if not batch and end <= self.hashed and self._finishing:
                    break
            batch.sort(key=lambda offer: offer[0])
            for i, (start, data, release) in enumerate(batch):
                try:
                    self._take(start, data, end)
                except BaseException:
                    for _, _, rest in batch[i + 1 :]:
                        rest()
                    raise
                finally:
                    release()
            self._read_until(end)
        self._digest = self._h.hexdigest()

    def _take(self, start: int, data: memoryview, end: int) -> None:
        """Hash `data` (written at `start`) if it continues the hash; read back any gap first."""
        if start > self.hashed:
            self._read_until(min(start, end))
        stop = start + len(data)
        if start <= self.hashed < stop <= end:
            self._h.update(data[self.hashed - start :])
            self.hashed = stop

    def _read_until(self, end: int) -> None:
        """Hash [hashed, end) by reading the file back."""
        if self.hashed >= end:
            return
        if self._buf is None:
            self._buf = memoryview(bytearray(READ_BLOCK))
        view = self._buf
        while self.hashed < end:
            want = min(READ_BLOCK, end - self.hashed)
            n = os.preadv(self.fd, [view[:want]], self.hashed)
            if n <= 0:
                raise OSError(f"short read at {self.hashed} while hashing")
            self._h.update(view[:n])
            self.hashed += n
            self.read_back += n

    def finish(self) -> str:
        """Wait until everything written is hashed; the sha256 hex digest of the prefix."""
        with self.written.cond:
            self._finishing = True
            self.written.cond.notify_all()
        self.join()
        if self.error is not None:
            raise self.error
        assert self._digest is not None
        return self._digest

    def abandon(self) -> None:
        with self.written.cond:
            self._abandoned = True
            self.written.cond.notify_all()
        self.join()
        self.written.close()
