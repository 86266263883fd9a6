"""A `ByteSource` over bytes in memory, so the header readers can be fed and fuzzed without files.

modelctl itself reads local files (`formats.source.FileSource`) and remote ones (`sources.remote`);
only the tests hand the readers bytes, so this lives here rather than in the package.
"""

from __future__ import annotations


class BytesSource:
    """Bytes in memory; `size` may claim more than `data` holds (a prefix of a larger file)."""

    def __init__(self, data: bytes, name: str = "<bytes>", size: int | None = None) -> None:
        self._data = bytes(data)
        self.name = name
        self._size = len(self._data) if size is None else size

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        if n <= 0:
            return b""
        return self._data[offset : offset + n]
