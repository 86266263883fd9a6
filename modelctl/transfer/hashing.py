"""sha256 over the growing contiguous prefix of a file that other threads are writing.

Writers `pwrite` at their offsets and report each written range; this thread reads back the part
of the file that has become contiguous from byte 0 (from the page cache: the bytes were written
moments ago) and feeds hashlib, which releases the GIL, so hashing overlaps the network on another
core. That is how a segmented, out-of-order download is still verified with no second pass over
the file after it completes, and how a resumed partial has its kept prefix re-hashed (git-lfs
pre-loads the hash of the partial bytes for the same reason). Memory stays flat: one read buffer.
"""

from __future__ import annotations

import hashlib
import os
import threading

from modelctl.store.partials import Ranges

READ_BLOCK = 8 << 20


class Written:
    """The ranges written so far, with a condition the hasher waits on (shared by all writers)."""

    def __init__(self, spans: list[list[int]] | None = None) -> None:
        self.ranges = Ranges(spans)
        self.cond = threading.Condition()

    def add(self, start: int, end: int) -> None:
        with self.cond:
            self.ranges.add(start, end)
            self.cond.notify_all()

    def prefix(self) -> int:
        with self.cond:
            return self.ranges.prefix()

    def snapshot(self) -> Ranges:
        with self.cond:
            return Ranges(self.ranges.spans())


class PrefixHasher(threading.Thread):
    """Hash `fd` from byte 0 as far as `written` is contiguous; `finish()` gives the digest."""

    def __init__(self, fd: int, written: Written) -> None:
        super().__init__(name="modelctl-sha256", daemon=True)
        self.fd = fd
        self.written = written
        self.hashed = 0
        self._finishing = False
        self._abandoned = False
        self._digest: str | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def _run(self) -> None:
        h = hashlib.sha256()
        buf = bytearray(READ_BLOCK)
        view = memoryview(buf)
        cond = self.written.cond
        while True:
            with cond:
                while (
                    not self._abandoned
                    and not self._finishing
                    and self.written.ranges.prefix() <= self.hashed
                ):
                    cond.wait(0.5)
                if self._abandoned:
                    return
                end = self.written.ranges.prefix()
                if end <= self.hashed and self._finishing:
                    break
            while self.hashed < end:
                want = min(READ_BLOCK, end - self.hashed)
                n = os.preadv(self.fd, [view[:want]], self.hashed)
                if n <= 0:
                    raise OSError(f"short read at {self.hashed} while hashing")
                h.update(view[:n])
                self.hashed += n
        self._digest = h.hexdigest()

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
