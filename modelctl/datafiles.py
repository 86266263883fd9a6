"""The package's own data files (rules, tables, allow-lists) read as YAML, and bounded file reads.

Knowledge lives in YAML files beside the code that uses it. They are trusted (shipped with the
package), so the only concerns are safety (the safe loader, never a full one) and speed: the
C-accelerated loader reads the identify and compat rules in ~15 ms instead of ~140 ms, which every
`pull` pays in its identity check. Lock files (`plan/lockfile.py`), written by modelctl and
type-checked field by field after loading, are read through it too; user-written manifests are
not (`manifest/yamlload.py` reads those strictly).

`read_bounded` is how every file a user (or another program) can hand us is read: manifests,
lock files, workflows, caches, receipts, configuration. `Path.read_bytes()` would read a 3 GiB
file whole before any size cap could apply, `/dev/zero` until memory runs out, and a FIFO would
block until some writer appears. Stdlib only, with `os` calls on plain paths: the `ensure` fast
path reads its cache through it.
"""

from __future__ import annotations

import errno
import os
import stat

from modelctl.errors import file_kind

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` and `pathlib` cost milliseconds at import; the ensure fast path
    from pathlib import Path  # imports this module
    from typing import Any

CHUNK = 1 << 16


class NotRegularFile(OSError):
    """The path is a FIFO, socket or device: reading it could block forever or never end."""


class FileTooLarge(OSError):
    """The file holds more than the caller's limit; `size` is how much it holds (at least)."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"{size} bytes, over the {limit}-byte limit", path)
        self.size = size
        self.limit = limit


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at `path`, reading at most `limit + 1` of them.

    Raises `FileTooLarge` beyond `limit`, `IsADirectoryError` for a folder, `NotRegularFile` for
    anything else that is not a regular file (FIFO, socket, character or block device), and the
    usual `OSError`s (`FileNotFoundError`, `PermissionError`, …). All of them are `OSError`s, so a
    caller that treats an unreadable file as absent (a cache) keeps doing so.

    The file is opened with O_NONBLOCK, so opening a FIFO returns at once (instead of waiting for
    a writer) and `fstat` can refuse it; the flag does nothing to reads of regular files.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "it is a folder, not a file", os.fspath(path))
        if not stat.S_ISREG(st.st_mode):
            what = f"it is {file_kind(st.st_mode)}, not a regular file"
            raise NotRegularFile(errno.EINVAL, what, os.fspath(path))
        if st.st_size > limit:  # refuse before reading anything (a sparse 3 GiB file)
            raise FileTooLarge(os.fspath(path), st.st_size, limit)
        chunks = []
        left = limit + 1  # a file that grew since fstat, or a /proc file that reports size 0
        while left > 0:
            chunk = os.read(fd, min(CHUNK, left))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise FileTooLarge(os.fspath(path), len(data), limit)
    return data


def load_yaml(source: str | Path) -> Any:
    """Parse YAML text, or the file at a `Path`, with the fastest safe loader available."""
    import yaml

    text = source if isinstance(source, str) else source.read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
