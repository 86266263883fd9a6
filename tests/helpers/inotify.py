"""Wait until some process opens a file, or a name appears in (or leaves) a folder (Linux inotify,
through ctypes: the stdlib has no binding).

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
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

IN_OPEN = 0x00000020  # <sys/inotify.h>: File was opened
IN_MOVED_TO = 0x00000080  # <sys/inotify.h>: File was moved to Y (a rename into the folder)
IN_CREATE = 0x00000100  # <sys/inotify.h>: Subfile was created (open O_CREAT, link, mkdir)
IN_DELETE = 0x00000200  # <sys/inotify.h>: Subfile was deleted
EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then `len` name bytes

AVAILABLE = sys.platform.startswith("linux")


class FolderWatch:
    """`with FolderWatch(folder, IN_CREATE | IN_MOVED_TO) as w: ...; w.wait_for(pred, timeout)`:
    the first name in `folder` whose event matches the mask and `pred`, or None after `timeout`.

    For tests that must act at one moment of another process's work that only the file system
    shows, e.g. SIGKILL a pull the instant its file appears under the final name."""

    def __init__(self, folder: Path | str, mask: int) -> None:
        self.libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if self.libc.inotify_add_watch(self.fd, os.fsencode(str(folder)), mask) < 0:
            errno = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(errno, f"inotify_add_watch failed for {folder}")

    def wait_for(self, pred: Callable[[str, int], bool], timeout: float) -> str | None:
        """The first event name (and mask) for which `pred(name, mask)` holds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return None
            buf = os.read(self.fd, 65536)
            at = 0
            while at + EVENT.size <= len(buf):
                _, mask, _, length = EVENT.unpack_from(buf, at)
                raw = buf[at + EVENT.size : at + EVENT.size + length]
                at += EVENT.size + length
                name = os.fsdecode(raw.rstrip(b"\0"))
                if pred(name, mask):
                    return name
        return None

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> FolderWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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
