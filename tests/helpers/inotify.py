"""Wait until some process opens a file (Linux inotify, through ctypes: the stdlib has no binding).

For tests that must hold a state until a process they started has reached a point that leaves no
other trace, such as trying to take a lock: filelock opens the lock file on every attempt, so an
`IN_OPEN` on it means "someone is trying to take this lock now". That replaces a sleep of a guessed
length, which is too short on a loaded machine and wasted time on an idle one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import sys
from pathlib import Path
from types import TracebackType

IN_OPEN = 0x00000020  # <sys/inotify.h>: File was opened

AVAILABLE = sys.platform.startswith("linux")


class OpenWatch:
    """`with OpenWatch(path) as w: ...; w.wait(timeout)`: True once `path` was opened after the
    watch started (by any process), False when `timeout` seconds passed first."""

    def __init__(self, path: Path | str) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if libc.inotify_add_watch(self.fd, os.fsencode(str(path)), IN_OPEN) < 0:
            errno = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(errno, f"inotify_add_watch failed for {path}")

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        os.read(self.fd, 4096)  # the events themselves: only that one arrived matters
        return True

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> OpenWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
