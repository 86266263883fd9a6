"""A set of byte ranges: which parts of a file are written (resume state, holes to fetch).

Shared by `transfer` (which fills a file's holes) and `store.partials` (which records them across
runs); it lives in the lower layer, `transfer`, so `store` can import it without a cycle.
"""

from __future__ import annotations

import bisect


class Ranges:
    """A set of half-open byte ranges, kept sorted and merged (not thread-safe: callers lock)."""

    def __init__(self, spans: list[list[int]] | None = None) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in sorted(spans or []):
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        i = bisect.bisect_left(self._ends, start)
        j = bisect.bisect_right(self._starts, end)
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def prefix(self) -> int:
        """End of the contiguous written range that starts at 0."""
        return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def total(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def missing(self, size: int) -> list[tuple[int, int]]:
        """The holes in [0, size)."""
        out, pos = [], 0
        for s, e in zip(self._starts, self._ends, strict=True):
            if s >= size:
                break
            if s > pos:
                out.append((pos, s))
            pos = max(pos, e)
        if pos < size:
            out.append((pos, size))
        return out

    def spans(self) -> list[list[int]]:
        return [[s, e] for s, e in zip(self._starts, self._ends, strict=True)]
