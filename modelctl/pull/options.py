"""What a pull is told: `PullOptions` (its own choices plus the nested `TransferOptions`) and the
`Reporter` it tells about progress.

The transfer settings are not copied field by field: `PullOptions.transfer` is the transfer
layer's own options object, which the pull hands on (with the run's deadline filled in).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modelctl.manifest.model import ResolvedAsset, Selection
from modelctl.store.layout import Layout
from modelctl.transfer.job import TransferOptions


class Reporter(Protocol):
    """Receives state changes (`event`) and byte counts (`advance`) from a running pull."""

    def event(self, name: str, **data: Any) -> None: ...

    def advance(self, dest: str, n: int) -> None: ...


class Preflight(Protocol):
    """The compatibility check run before any download; `offline`: it must open no socket."""

    def __call__(self, selections: list[Selection], layout: Layout, *, offline: bool) -> None: ...


class Silent:
    """The default `Reporter`: ignores everything."""

    def event(self, name: str, **data: Any) -> None:
        pass

    def advance(self, dest: str, n: int) -> None:
        pass


@dataclass(frozen=True)
class PullOptions:
    jobs: int = 3
    force: bool = False
    dry_run: bool = False
    allow_unverified: bool = False
    require_hash: bool = False  # refuse files no sha256 / git blob id vouches for (exit 3)
    min_free: str | None = None
    lock_timeout: float | None = 1800.0
    timeout: float | None = None
    offline: bool = False
    transfer: TransferOptions = field(default_factory=TransferOptions)
    preflight: Preflight | None = None
    post_verify: Callable[[ResolvedAsset, Path], None] | None = None
    reporter: Reporter = field(default_factory=Silent)
    cancel: threading.Event = field(default_factory=threading.Event)
