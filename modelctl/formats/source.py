"""Byte sources: the one interface every header reader reads through, local or remote.

A header reader never opens files or sockets itself; it asks a `ByteSource` for
`read_at(offset, n)`.
That keeps the readers pure (easy to fuzz on bytes in memory), lets the same code read a local
file with `pread` (no mmap in the inspecting process: a mapped file truncated under it is a
SIGBUS) or a remote file
through HTTP Range requests that grow only as far as the header needs (`sources/remote.py`).

`Cursor` adds sequential reading with bounds checks on top: every length a file declares is
compared with the bytes that remain *before* anything is allocated or looped over.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from modelctl.errors import FormatError

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@runtime_checkable
class ByteSource(Protocol):
    """Random-access bytes of known total size.

    `read_at` returns exactly `n` bytes unless the range crosses the end of the source, where it
    returns the bytes up to the end. `name` is a redacted label for messages.
    """

    name: str

    @property
    def size(self) -> int: ...

    def read_at(self, offset: int, n: int) -> bytes: ...


class FileSource:
    """A local file read with `os.pread` (no mmap: a truncated file cannot SIGBUS us)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = str(path)
        # O_NONBLOCK: opening a FIFO (a named pipe at a model's path) must not wait for a writer;
        # it changes nothing for a regular file, and anything else is refused below
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            st = os.fstat(self._fd)
            if not stat.S_ISREG(st.st_mode):
                raise FormatError(
                    f"{self.name} is not a regular file (a folder, a named pipe or a device)",
                    "point it at a model file; move whatever is at that path away",
                )
            self._size = st.st_size
        except BaseException:
            os.close(self._fd)
            raise

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        if n <= 0 or offset >= self._size:
            return b""
        return os.pread(self._fd, min(n, self._size - offset), offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shown(value: Any, limit: int = 80) -> str:
    """`value` for a one-line message: names and values a file declares may be megabytes long
    (or lists nested a thousand deep), a message is one short line."""
    import reprlib

    if isinstance(value, str):
        text = repr(value[:limit])
        return text if len(value) <= limit else f"{text}... ({len(value)} characters)"
    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother = 3, limit, limit
    short.maxlist = short.maxtuple = short.maxdict = 6
    return short.repr(value)


def bad(
    source: ByteSource, kind: str, offset: int, what: str, hint: str | None = None
) -> FormatError:
    """A FormatError naming the file, the format, the byte offset and what was wrong there."""
    return FormatError(
        f"{source.name}: invalid {kind} at byte {offset}: {what}",
        hint or f"the file is corrupt, truncated or not a {kind} file; re-download it",
    )


class Cursor:
    """Sequential little-endian reads over a ByteSource through a window buffer.

    `chunk` is how far ahead one refill reads. Remote sources fetch what the cursor asks for, so
    a small chunk keeps the bytes fetched close to the header size.
    """

    def __init__(self, source: ByteSource, kind: str, pos: int = 0, chunk: int = 1 << 20) -> None:
        self.source = source
        self.kind = kind
        self.size = source.size
        self.chunk = chunk
        self.buf = b""
        self.base = pos  # absolute offset of buf[0]
        self.off = 0  # position inside buf

    @property
    def pos(self) -> int:
        return self.base + self.off

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def error(self, what: str, at: int | None = None) -> FormatError:
        return bad(self.source, self.kind, self.pos if at is None else at, what)

    def _fill(self, need: int) -> None:
        """Make `need` bytes available at the cursor, or fail with a truncation error."""
        pos = self.pos
        if need > self.size - pos:
            raise self.error(
                f"needs {need} bytes but the file ends after {max(self.size - pos, 0)} "
                f"(file is {self.size} bytes: truncated?)"
            )
        data = self.source.read_at(pos, max(need, self.chunk))
        if len(data) < need:
            raise self.error(f"short read: wanted {need} bytes, got {len(data)}")
        self.buf, self.base, self.off = data, pos, 0

    def take(self, n: int) -> bytes:
        if self.off + n > len(self.buf):
            self._fill(n)
        start = self.off
        self.off = start + n
        return self.buf[start : self.off]

    def u32(self) -> int:
        if self.off + 4 > len(self.buf):
            self._fill(4)
        (v,) = _U32.unpack_from(self.buf, self.off)
        self.off += 4
        return v

    def u64(self) -> int:
        if self.off + 8 > len(self.buf):
            self._fill(8)
        (v,) = _U64.unpack_from(self.buf, self.off)
        self.off += 8
        return v

    def unpack(self, st: struct.Struct) -> tuple[Any, ...]:
        if self.off + st.size > len(self.buf):
            self._fill(st.size)
        v = st.unpack_from(self.buf, self.off)
        self.off += st.size
        return v

    def skip(self, n: int) -> None:
        """Move forward `n` bytes without reading them (bounded by the file size)."""
        if n > self.remaining:
            raise self.error(
                f"skipping {n} bytes runs past the end of the file ({self.remaining} left)"
            )
        if self.off + n <= len(self.buf):
            self.off += n
        else:
            self.base, self.buf, self.off = self.pos + n, b"", 0

    def skip_strings(self, count: int) -> None:
        """Skip `count` u64-length-prefixed strings without materialising them.

        The hot path of reading a GGUF vocabulary (up to ~800k strings). Runs of short strings
        are found and verified with numpy (`_short_string_run`); whatever that cannot prove
        (long strings, empty strings, a buffer edge) goes through the plain loop, which checks
        every declared length against the bytes left in the file. Runs of empty strings (eight
        zero bytes each: what a sparse hole reads as) are skipped a buffer at a time, or a 1 GB
        hole would take the plain loop a minute.
        """
        done, slow = 0, 16
        while done < count:
            empty = _empty_run(self.buf, self.off, count - done)
            if empty:
                self.off += 8 * empty
                done += empty
                continue
            if len(self.buf) - self.off >= _FAST_MIN and count - done >= 64:
                k, self.off = _short_string_run(self.buf, self.off, count - done)
                done += k
                slow = 16 if k >= 1024 else min(slow * 2, 1 << 16)
                if done >= count:
                    break
            done += self._skip_strings_slow(min(slow, count - done), done)

    def _skip_strings_slow(self, count: int, first: int) -> int:
        unpack = _U64.unpack_from
        size = self.size
        i = 0
        while i < count:
            buf, off, base = self.buf, self.off, self.base
            limit = len(buf) - 8
            end = size - base  # the file end, relative to buf
            while i < count and off <= limit:
                (n,) = unpack(buf, off)
                off += 8
                if n > end - off:
                    self.off = off - 8
                    raise self.error(
                        f"string {first + i} of the array declares {n} bytes, more than the "
                        f"{max(end - off, 0)} left in the file"
                    )
                off += n
                i += 1
            if off <= len(buf):
                self.off = off
            else:
                self.base, self.buf, self.off = base + off, b"", 0
            if i < count:
                self._fill(8)
        return count


_FAST_MIN = 4096
_ZERO8 = bytes(8)
_EMPTY_WINDOW = 1 << 16


def _empty_run(buf: bytes, off: int, count: int) -> int:
    """How many empty strings (zero u64 lengths) start at `buf[off]`, at most `count`."""
    if buf[off : off + 8] != _ZERO8:
        return 0
    import numpy as np

    n = min(_EMPTY_WINDOW // 8, count, (len(buf) - off) // 8)
    lengths = np.frombuffer(buf, "<u8", n, off)
    nonzero = np.flatnonzero(lengths)
    return int(nonzero[0]) if len(nonzero) else n


_FAST_WINDOW = 256 << 10
_FAST_BYTES_PER_STRING = 32  # window sizing guess; a wrong guess only costs another round


def _short_string_run(buf: bytes, off: int, count: int) -> tuple[int, int]:
    """How many strings starting at `buf[off]` are provably short, and where they end.

    A string under 256 bytes has a length field whose top 7 bytes are zero. numpy reads a u64 at
    every byte offset of the window (an overlapping stride-1 view, no copy), takes the offsets
    whose value is < 256 as candidates, and accepts the chain while each candidate's end is the
    next candidate. Induction from `off` makes every accepted start a real one, so a stray match
    inside a string only ends the run early; it can never be taken for a string start.
    """
    import numpy as np

    end = min(len(buf), off + _FAST_WINDOW, off + 4096 + count * _FAST_BYTES_PER_STRING)
    n = end - off - 7
    if n <= 0:
        return 0, off
    values = np.ndarray((n,), "<u8", buf, off, (1,))
    starts = np.flatnonzero(values < 256)
    if not len(starts) or starts[0] != 0:
        return 0, off
    ends = starts + 8 + values[starts].astype(np.int64)
    broken = np.flatnonzero(ends[:-1] != starts[1:])
    k = int(broken[0]) if len(broken) else len(starts) - 1
    k = min(k, count)
    return k, (off + int(ends[k - 1]) if k else off)
