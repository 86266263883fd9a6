"""`gc`: remove what modelctl itself left behind, never a user's file.

Candidates (from `inventory.scan`):
* stale partials: `<key>.<token>.part/.json` untouched for `older_than` seconds, deleted only while
  *we* hold `<key>.lock` (taken without waiting): whoever writes a partial holds that lock, so a
  partial another process is writing is never deleted (a killed run leaves its partial behind). Lock
  files themselves are kept (deleting a lock file another process holds splits the lock).
* orphaned receipts: a receipt whose file is gone (or whose JSON is unreadable), removed under the
  destination's lock, again only when it is free; and a legacy-named receipt whose destination
  has a fixed-length receipt already (`receipts.write` leaves one only if a crash came between).
* staging leftovers: `.<name>.<pid>.modelctl-tmp` beside destinations and `*.tmp` under
  `.modelctl/`, older than `older_than` (a live writer keeps touching its temp file).

* stale intent records (`intents`): an install's record whose file never got placed, or whose
  receipt was written before a kill stopped the record's removal.

Files without a receipt (unmanaged) are never candidates. A `--dry-run` on a volume that refuses
lock files (mounted read-only) lists without them: it removes nothing, and the answer a real run
would give there is the refusal.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from modelctl.errors import VolumeError
from modelctl.store.inventory import Inventory, PartialInfo, scan
from modelctl.store.layout import Layout

DEFAULT_OLDER_THAN = 24 * 3600.0


@dataclass(frozen=True)
class Removal:
    path: Path
    kind: str  # partial | receipt | staging
    bytes: int
    done: bool  # False on --dry-run, or when it vanished/failed
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "bytes": self.bytes,
            "removed": self.done,
            "note": self.note,
        }


@dataclass(frozen=True)
class Kept:
    path: Path
    kind: str
    why: str


def collect(
    layout: Layout,
    older_than: float = DEFAULT_OLDER_THAN,
    dry_run: bool = False,
    now: Callable[[], float] = time.time,
) -> tuple[list[Removal], list[Kept]]:
    """Remove (or, with `dry_run`, list) the garbage; also say what was kept and why."""
    inv = scan(layout)
    removed: list[Removal] = []
    kept: list[Kept] = []
    cutoff = now() - older_than
    _partials(layout, inv, cutoff, dry_run, removed, kept)
    _receipts(layout, inv, dry_run, removed, kept)
    _intents(layout, inv, dry_run, removed, kept)
    for info in inv.staging:
        path = layout.root / info.relpath
        if info.mtime > cutoff:
            kept.append(Kept(path, "staging", "recent: a writer may still be using it"))
            continue
        removed.append(_unlink(path, "staging", info.size, dry_run))
    return removed, kept


class _Held(Protocol):
    def release(self) -> None: ...


class _Unlocked:
    """What a dry run holds where the volume refuses the lock file: nothing to release."""

    def release(self) -> None:
        return None


def _hold(path: Path, dry_run: bool) -> _Held | None:
    """The lock at `path` without waiting (None when busy); see the module doc for dry runs."""
    from modelctl.store.locks import try_hold

    try:
        return try_hold(path)
    except VolumeError:
        if not dry_run:
            raise
        return _Unlocked()


def _partials(
    layout: Layout,
    inv: Inventory,
    cutoff: float,
    dry_run: bool,
    removed: list[Removal],
    kept: list[Kept],
) -> None:
    from modelctl.store.partials import lock_path

    by_key: dict[str, list[PartialInfo]] = {}
    for p in inv.partials:
        by_key.setdefault(p.key, []).append(p)
    for key, parts in sorted(by_key.items()):
        lock = _hold(lock_path(layout, key), dry_run)
        if lock is None:
            kept.extend(Kept(p.path, "partial", "in use by another modelctl") for p in parts)
            continue
        try:
            for p in parts:
                if p.mtime > cutoff:
                    kept.append(Kept(p.path, "partial", "recent: kept for resume"))
                    continue
                state = p.path.with_suffix(".json")
                target = p.path if _exists(p.path) else state
                removed.append(_unlink(target, "partial", _size(target), dry_run))
                if not dry_run:
                    with contextlib.suppress(FileNotFoundError):
                        state.unlink()
        finally:
            lock.release()


def _receipts(
    layout: Layout, inv: Inventory, dry_run: bool, removed: list[Removal], kept: list[Kept]
) -> None:
    orphans: list[tuple[str | None, Path]] = [
        (dest, inv.receipt_paths[dest]) for dest in inv.receipts if not _exists(layout.dest(dest))
    ]
    orphans += [(None, path) for path in inv.broken_receipts]
    for path in inv.superseded_receipts:  # a legacy name beside the fixed-length one it became
        removed.append(_unlink(path, "receipt", _size(path), dry_run, "superseded"))
    for dest, path in orphans:
        lock = _hold(layout.lock(dest), dry_run) if dest is not None else None
        if dest is not None and lock is None:
            kept.append(Kept(path, "receipt", "its destination is locked by another modelctl"))
            continue
        try:
            if dest is not None and _exists(layout.dest(dest)):
                continue  # installed meanwhile
            removed.append(
                _unlink(
                    path, "receipt", _size(path), dry_run, "file gone" if dest else "unreadable"
                )
            )
        finally:
            if lock is not None:
                lock.release()


def _intents(
    layout: Layout, inv: Inventory, dry_run: bool, removed: list[Removal], kept: list[Kept]
) -> None:
    """Stale intent records (the rename never happened, or the receipt was written and the kill
    came before the intent's removal), dropped under the destination's lock by `intents.finish`,
    which finishes instead an install that did place its file."""
    from modelctl.store import intents
    from modelctl.store.locks import try_hold

    for dest in intents.load_all(layout):
        path = layout.intent(dest)
        if dest in inv.interrupted:
            kept.append(Kept(path, "intent", "an interrupted install: pull, ensure or verify "
                             "finishes it"))  # fmt: skip
            continue
        if dry_run:
            removed.append(Removal(path, "intent", _size(path), False, "stale"))
            continue
        lock = try_hold(layout.lock(dest))
        if lock is None:
            kept.append(Kept(path, "intent", "its destination is locked by another modelctl"))
            continue
        try:
            size = _size(path)
            if intents.finish(layout, dest) is not None:
                kept.append(Kept(path, "intent", "an interrupted install: finished now"))
            elif not path.exists():
                removed.append(Removal(path, "intent", size, True, "stale"))
        finally:
            lock.release()


def _unlink(path: Path, kind: str, size: int, dry_run: bool, note: str = "") -> Removal:
    if dry_run:
        return Removal(path, kind, size, False, note)
    try:
        path.unlink()
    except FileNotFoundError:
        return Removal(path, kind, 0, False, "already gone")
    except OSError as exc:
        return Removal(path, kind, 0, False, exc.strerror or str(exc))
    return Removal(path, kind, size, True, note)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _size(path: Path) -> int:
    """Allocated bytes (a sparse partial frees what it holds on disk, not its length)."""
    try:
        st = path.stat()
    except OSError:
        return 0
    blocks = getattr(st, "st_blocks", None)
    return min(st.st_size, blocks * 512) if blocks is not None else st.st_size


def parse_age(text: str) -> float:
    """`90`, `30s`, `45m`, `24h`, `7d` -> seconds; ValueError when malformed."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    factor = units.get(text[-1:])
    number = text[:-1] if factor else text
    value = float(number)
    if value < 0 or value != value:
        raise ValueError(text)
    return value * (factor or 1)
