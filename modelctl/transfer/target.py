"""Where the transfer layer writes: a `Target` it is handed, which it never locates or names itself.

The engine needs a file to write at final offsets (`data`), the resume state it starts from
(`written` spans, the server's `validator`), a way to record progress (`save`), to start over in a
new file (`reset`, never truncating a shared inode), and two folders for messages. The models
store's `store.partials.Partial` is the implementation; transfer imports nothing from the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from modelctl.transfer.ranges import Ranges


class TargetState(Protocol):
    written: list[list[int]]  # byte spans of `data` already written, as saved by `save`
    validator: str | None  # the server's ETag / Last-Modified that the written bytes came with


class Target(Protocol):
    @property
    def state(self) -> TargetState:
        """The resume state the transfer starts from and updates."""
        ...

    @property
    def data(self) -> Path:
        """The file the bytes go into (may be sparse while segments are in flight)."""
        ...

    @property
    def directory(self) -> Path:
        """The folder holding `data` (named when it cannot be written)."""
        ...

    @property
    def volume(self) -> Path:
        """The folder whose filesystem needs free space (named when the disk is full)."""
        ...

    def save(self, written: Ranges, validator: str | None = None) -> None:
        """Durably record `written` (called only after those bytes were written)."""
        ...

    def reset(self) -> None:
        """Drop every byte and start over in a new, empty file."""
        ...
