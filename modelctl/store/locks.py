"""Locks on the models volume: one per destination, one per partial key.

Layout (under `<models>/.modelctl/`):

    locks/<sha256(dest)[:32]>.lock   held while a destination is being pulled / removed (fixed
                                     length: a basename near NAME_MAX still gets a lock)
    partial/<key>.lock                        held while a partial of that key is being written

Why on the volume and not in /tmp: containers that share the models volume do not share /tmp, so a
lock there excludes nothing. Lock files are kept after release (deleting a held lock file splits
the lock across two inodes). filelock falls back to a soft lock where the filesystem has no `flock`
(ENOSYS, e.g. Lustre: filelock 4.3.1 `_native/_unix.py`).

Locks are an optimisation, not the correctness argument (as in huggingface_hub: "Cache correctness
does not depend on it", src/huggingface_hub/file_download.py @ v2.4.0): partial files are claimed
by an atomic rename to a name unique to the process, and publishing is a no-clobber link, so a
lock that is silently a no-op (NFS `nolock`) costs bandwidth, not a corrupt file. Every acquire has
a timeout; waiting longer than it is `TimedOut` (exit 5). A lock that cannot be created or
opened (a read-only volume, no permission, a file where `.modelctl/` should be) is the volume's
error (`errors.from_os_error`), raised before any byte is fetched.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.errors import TimedOut, from_os_error

if TYPE_CHECKING:
    from filelock import BaseFileLock


def file_lock(path: Path) -> BaseFileLock:
    """A filelock lock object for `path` (created on first use, kept after release)."""
    from filelock import FileLock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc, "while creating the lock folder", path.parent) from None
    return FileLock(str(path), thread_local=False, preserve_lock_file=True)


@contextlib.contextmanager
def hold(
    path: Path,
    timeout: float | None,
    what: str,
    on_wait: Callable[[], None] | None = None,
    deadline: float | None = None,
) -> Iterator[None]:
    """Hold the lock at `path`; wait at most `timeout` seconds (None: forever), then raise TimedOut.

    `on_wait` is called once if the lock is busy (so the caller can say "waiting for …").
    `deadline` (time.monotonic) caps the wait further (the overall `--timeout`).
    """
    from filelock import Timeout

    lock = file_lock(path)
    limit = _limit(timeout, deadline)
    try:
        _acquire(lock, 0)
    except Timeout:
        if on_wait is not None:
            on_wait()
        try:
            _acquire(lock, -1 if limit is None else limit)
        except Timeout:
            raise TimedOut(
                f"timed out after {limit:.0f}s waiting for another modelctl to finish {what}",
                "another process or container is pulling the same file; wait, or raise "
                "--lock-timeout; if no modelctl is running, the lock is stale: run `modelctl gc`",
            ) from None
    try:
        yield
    finally:
        lock.release()


def try_hold(path: Path) -> BaseFileLock | None:
    """Acquire the lock at `path` without waiting; the acquired lock object, or None when busy."""
    from filelock import Timeout

    lock = file_lock(path)
    try:
        _acquire(lock, 0)
    except Timeout:
        return None
    return lock


def _acquire(lock: BaseFileLock, timeout: float) -> None:
    """`lock.acquire`, with the volume's refusal (EROFS, EACCES, ENAMETOOLONG…) as one error.

    filelock's `Timeout` (busy) is a `TimeoutError`, an OSError too: it goes to the caller as is.
    """
    from filelock import Timeout

    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise
    except OSError as exc:
        raise from_os_error(exc, "while taking the lock", lock.lock_file) from None


def _limit(timeout: float | None, deadline: float | None) -> float | None:
    limit = None if timeout is None or timeout < 0 else timeout
    if deadline is not None:
        left = max(0.0, deadline - time.monotonic())
        limit = left if limit is None else min(limit, left)
    return limit
