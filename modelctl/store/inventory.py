"""What is on the models volume: managed files, unmanaged files, partials, staging leftovers.

One walk of the models dir (`os.scandir`, stat only, no file is opened) plus one read of each
receipt and partial state file, so `status` stays fast on a volume with hundreds of files.
Symlinked folders are listed, not followed (a link may point back up the tree or to another disk).

Leftover names come from the writers: `install.py` stages cross-filesystem copies as
`.<name>.<pid>.modelctl-tmp` beside the destination; receipts, partial states and lock files are
replaced through `<name>.<pid>.tmp` / `<name>.tmp` files under `.modelctl/`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from modelctl.store import intents
from modelctl.store.install import STAGING_RE
from modelctl.store.layout import STATE_DIR, Layout, canonical_folder, dest_key
from modelctl.store.receipts import Receipt, load_file


@dataclass(frozen=True)
class FileInfo:
    relpath: str
    size: int
    mtime: float


@dataclass(frozen=True)
class PartialInfo:
    key: str
    token: str
    path: Path
    written: int  # bytes recorded as written
    size: int | None  # expected size
    source: str | None
    sha256: str | None
    mtime: float
    has_state: bool


@dataclass
class Inventory:
    root: Path
    files: dict[str, FileInfo] = field(default_factory=dict)  # regular files under the models dir
    receipts: dict[str, Receipt] = field(default_factory=dict)
    receipt_paths: dict[str, Path] = field(default_factory=dict)  # dest -> its receipt file
    broken_receipts: list[Path] = field(default_factory=list)
    superseded_receipts: list[Path] = field(default_factory=list)  # legacy names, replaced
    # installs that placed their file and were stopped before its receipt (`store.intents`): the
    # file at the destination is the one the intent describes; `pull`/`ensure`/`verify` finish them
    interrupted: dict[str, Receipt] = field(default_factory=dict)
    partials: list[PartialInfo] = field(default_factory=list)
    staging: list[FileInfo] = field(default_factory=list)  # relpaths from root
    skipped_links: list[str] = field(default_factory=list)

    @property
    def unmanaged(self) -> list[FileInfo]:
        """Files no receipt covers and no unfinished install of modelctl placed."""
        return [
            f
            for p, f in sorted(self.files.items())
            if p not in self.receipts and p not in self.interrupted
        ]

    def folder_totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for f in self.files.values():
            folder = canonical_folder(f.relpath) if "/" in f.relpath else "."
            totals[folder] = totals.get(folder, 0) + f.size
        return dict(sorted(totals.items()))

    def disk(self) -> dict[str, int] | None:
        """Usage of the volume holding the models dir (or its nearest existing parent)."""
        path = self.root
        while not path.exists() and path.parent != path:
            path = path.parent
        try:
            usage = shutil.disk_usage(path)
        except OSError:
            return None
        return {"total": usage.total, "used": usage.used, "free": usage.free}


def scan(layout: Layout) -> Inventory:
    inv = Inventory(layout.root)
    if layout.root.is_dir():
        _walk(layout.root, "", inv)
    files = receipt_files(layout)
    inv.receipts = files.found
    inv.receipt_paths = {dest: Path(p) for dest, p in files.paths.items()}
    inv.broken_receipts = [Path(p) for p in files.broken]
    inv.superseded_receipts = [Path(p) for p in files.superseded]
    inv.staging.extend(_info(layout.root, Path(p)) for p in files.temps)
    inv.interrupted = _interrupted(layout, files.found)
    try:  # e.g. ensure's `.ensure-cache.json.<pid>.tmp` (store.atomic.write_text)
        top = [e for e in os.scandir(layout.state) if e.is_file(follow_symlinks=False)]
    except OSError:
        top = []
    inv.staging.extend(_info(layout.root, Path(e.path)) for e in top if e.name.endswith(".tmp"))
    inv.partials = scan_partials(layout, inv)
    return inv


def _interrupted(layout: Layout, found: dict[str, Receipt]) -> dict[str, Receipt]:
    out = {}
    for dest, intent in intents.load_all(layout).items():
        try:
            st = os.lstat(layout.dest(dest))
        except OSError:
            continue
        receipt = found.get(dest)
        if intents.placed(intent, st) and not (receipt is not None and receipt.matches(st)):
            out[dest] = intent
    return out


def load_receipts(layout: Layout) -> tuple[dict[str, Receipt], list[str], list[str]]:
    """Every receipt by dest, plus unreadable receipt files and temp files, in one walk."""
    files = receipt_files(layout)
    return files.found, files.broken, files.temps


@dataclass
class ReceiptFiles:
    """What one walk of `receipts/` found (string paths: see `receipt_files`)."""

    found: dict[str, Receipt] = field(default_factory=dict)  # dest -> receipt
    paths: dict[str, str] = field(default_factory=dict)  # dest -> the receipt file read
    broken: list[str] = field(default_factory=list)  # unreadable, or naming another dest
    superseded: list[str] = field(default_factory=list)  # legacy names with a new one beside
    temps: list[str] = field(default_factory=list)


def receipt_files(layout: Layout) -> ReceiptFiles:
    """Every receipt file, keyed by the destination it names (`Receipt.dest`).

    A file counts only under the name its dest gives it: the fixed-length `Layout.receipt`, or
    the legacy `<dest>.json` of volumes written before (when both exist, the fixed-length one
    wins and the legacy one is superseded, for `gc`). Plain `os.scandir` and string paths: this is
    the hot path of a fast verify (pathlib's per-call parsing cost more than the stat calls on a
    few hundred files).
    """
    out = ReceiptFiles()
    legacy: dict[str, tuple[str, Receipt]] = {}
    stack = [(str(layout.receipts), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, f"{prefix}{entry.name}/"))
                continue
            name = entry.name
            if name.startswith(".") or not name.endswith(".json"):
                if name.endswith(".tmp"):
                    out.temps.append(entry.path)
                continue
            receipt = load_file(entry.path)
            stem = name[: -len(".json")]
            if receipt is not None and _named_for(receipt.dest, prefix, stem):
                out.found[receipt.dest] = receipt
                out.paths[receipt.dest] = entry.path
            elif receipt is not None and receipt.dest == f"{prefix}{stem}":
                legacy[receipt.dest] = (entry.path, receipt)
            else:
                out.broken.append(entry.path)
    for dest, (path, receipt) in legacy.items():
        if dest in out.found:
            out.superseded.append(path)
        else:
            out.found[dest], out.paths[dest] = receipt, path
    out.found = dict(sorted(out.found.items()))
    out.broken.sort()
    out.superseded.sort()
    out.temps.sort()
    return out


def _named_for(dest: str, prefix: str, stem: str) -> bool:
    """True when `prefix + stem + .json` is the fixed-length receipt name of `dest`."""
    top, sep, _ = dest.partition("/")
    return stem == dest_key(dest) and prefix == (f"{top}/" if sep else "")


def scan_partials(layout: Layout, inv: Inventory | None = None) -> list[PartialInfo]:
    """Every `<key>.<token>.part` (and state without data) in the partial folder."""
    from modelctl.store.partials import read_state
    from modelctl.transfer.ranges import Ranges

    out: list[PartialInfo] = []
    try:
        entries = list(os.scandir(layout.partials))
    except OSError:
        return out
    names = {e.name: e for e in entries if e.is_file(follow_symlinks=False)}
    seen: set[str] = set()
    for name, entry in sorted(names.items()):
        if name.endswith(".tmp"):
            if inv is not None:
                inv.staging.append(_info(layout.root, Path(entry.path)))
            continue
        stem, dot, ext = name.rpartition(".")
        if not dot or ext not in ("part", "json") or stem in seen:
            continue
        key, _, token = stem.partition(".")
        if not token:
            continue
        seen.add(stem)
        part = layout.partials / f"{stem}.part"
        state = read_state(layout.partials / f"{stem}.json")
        mtimes = [names[n].stat().st_mtime for n in (f"{stem}.part", f"{stem}.json") if n in names]
        if state is not None:
            mtimes.append(state.updated_at)
        out.append(
            PartialInfo(
                key=key,
                token=token,
                path=part,
                written=Ranges(state.written).total() if state else 0,
                size=state.size if state else None,
                source=state.source if state else None,
                sha256=state.sha256 if state else None,
                mtime=max(mtimes) if mtimes else 0.0,
                has_state=state is not None,
            )
        )
    return out


def _walk(folder: Path, prefix: str, inv: Inventory) -> None:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        rel = f"{prefix}{entry.name}"
        if not prefix and entry.name == STATE_DIR:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                _walk(Path(entry.path), rel + "/", inv)
                continue
            if entry.is_symlink() and entry.is_dir():
                inv.skipped_links.append(rel)
                continue
            if not entry.is_file():
                continue
            st = entry.stat()
        except OSError:
            continue
        info = FileInfo(rel, st.st_size, st.st_mtime)
        if STAGING_RE.match(entry.name):
            inv.staging.append(info)
        else:
            inv.files[rel] = info


def _info(root: Path, path: Path) -> FileInfo:
    try:
        st = path.stat()
        size, mtime = st.st_size, st.st_mtime
    except OSError:
        size, mtime = 0, 0.0
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = str(path)
    return FileInfo(rel, size, mtime)


def partial_for(partials: list[PartialInfo], source: str, sha256: str | None) -> PartialInfo | None:
    """The most advanced partial of this asset (matched by expected sha256, else by source)."""
    best = None
    for p in partials:
        same = (sha256 and p.key == sha256.lower()) or (p.source is not None and p.source == source)
        if same and (best is None or p.written > best.written):
            best = p
    return best
