"""Receipts: proof that modelctl installed a file, and the cheap way to know it is still intact.

A receipt is written after a verified download and records where the bytes came from (source,
commit), what they are (sha256, size) and the file's stat identity (mtime_ns, inode) at
install time.
Checking size + mtime + inode is O(1) per file and needs no read of the contents, which is what lets
`ensure` return in milliseconds on a volume of many gigabytes. Receipts are JSON (stdlib only, so
the fast path imports nothing heavy) and are written atomically.

Names: `receipts/<top folder>/<32 hex of sha256(dest)>.json` (`Layout.receipt`), so a destination
whose basename is near NAME_MAX still gets a receipt; the receipt names its `dest` inside. Volumes
written before that keep `receipts/<dest>.json` (`Layout.legacy_receipt`): read as well, and
replaced by the new name whenever the receipt is rewritten.

`verified` says which check the bytes passed before they were placed, and nothing more:
`sha256` (the manifest's, the lock's or the Hub's LFS sha256), `git-blob-sha1` (a small git file's
blob id from the Hub), `size` (the source gave no hash at all: only the size was checked) or
`none` (neither); None in receipts written before the field existed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.datafiles import read_bounded
from modelctl.store.atomic import write_text
from modelctl.store.layout import Layout, inside

if TYPE_CHECKING:
    from modelctl.manifest.model import ResolvedAsset

RECEIPT_SCHEMA = 1
HASH_CHECKS = ("sha256", "git-blob-sha1")  # `verified` values that are a content check
UNVERIFIED = ("size", "none")  # `verified` values where no hash was checked


@dataclass
class Receipt:
    dest: str
    source: str
    sha256: str
    size: int
    mtime_ns: int
    inode: int
    commit: str | None = None
    revision: str | None = None
    installed_at: float = field(default_factory=time.time)
    selections: list[str] = field(default_factory=list)
    xxh3_128: str | None = None
    verified: str | None = None  # sha256 | git-blob-sha1 | size | none (see the module doc)
    schema: int = RECEIPT_SCHEMA

    @property
    def unverified(self) -> bool:
        """True when no hash vouched for the bytes at install (the source gave none)."""
        return self.verified in UNVERIFIED

    def matches(self, st: os.stat_result) -> bool:
        """True when the file's stat identity is unchanged since install."""
        return (
            st.st_size == self.size and st.st_mtime_ns == self.mtime_ns and st.st_ino == self.inode
        )

    @classmethod
    def for_file(
        cls,
        path: Path,
        *,
        dest: str,
        source: str,
        sha256: str,
        commit: str | None = None,
        revision: str | None = None,
        selections: list[str] | None = None,
        xxh3_128: str | None = None,
        verified: str | None = None,
        st: os.stat_result | None = None,
    ) -> Receipt:
        """A receipt carrying `path`'s current stat identity (or `st`, taken by the caller)."""
        st = st if st is not None else path.stat()
        return cls(
            dest=dest,
            source=source,
            sha256=sha256,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
            commit=commit,
            revision=revision,
            selections=list(selections or []),
            xxh3_128=xxh3_128,
            verified=verified,
        )


def read(layout: Layout, relpath: str) -> Receipt | None:
    """The receipt for `relpath`, or None when absent or unreadable (treated as not installed)."""
    found = locate(layout, relpath)
    return found[1] if found is not None else None


def locate(layout: Layout, relpath: str) -> tuple[Path, Receipt] | None:
    """The receipt file of `relpath` and its content: the fixed-length name, else a legacy one.

    A receipt must name the destination it is found for: a file copied to another receipt name
    (or a hash collision, never seen) proves nothing about this destination.
    """
    for path in (layout.receipt(relpath), layout.legacy_receipt(relpath)):
        receipt = load_file(str(path))  # a legacy name too long for the filesystem is None too
        if receipt is not None and receipt.dest == relpath:
            return path, receipt
    return None


def load_file(path: str) -> Receipt | None:
    """The receipt in the file at `path`; None when it is absent, unreadable or not a receipt.

    Plain `os` calls on a string path: `inventory.load_receipts` reads every receipt through this
    on the hot path of a fast verify. Any JSON that is not a receipt's object (a list, a number)
    is None too, never a traceback.
    """
    try:
        data = json.loads(read_bounded(path, 1 << 20))  # receipts are a few hundred bytes
        data.pop("schema", None)
        receipt = Receipt(**data)
    except (OSError, ValueError, TypeError, AttributeError, RecursionError):  # nested 10^5 deep
        return None
    return receipt if well_typed(receipt) else None


def well_typed(r: Receipt) -> bool:
    """The fields every reader compares or does arithmetic with have their types (a receipt
    edited by hand to `"size": "12"` is no receipt, not a crash in `status`)."""
    ints = (r.size, r.mtime_ns, r.inode)
    return (
        all(isinstance(v, int) and not isinstance(v, bool) for v in ints)
        and all(isinstance(v, str) for v in (r.dest, r.source, r.sha256))
        and inside(r.dest)
        and isinstance(r.selections, list)
        and all(isinstance(s, str) for s in r.selections)
    )


def write(layout: Layout, receipt: Receipt) -> Path:
    """Atomically and durably write (or replace) the receipt of `receipt.dest`.

    Durable (fsynced before the rename): a receipt is the only proof a file was installed, and one
    lost to a power cut turns a correct file into one "in the way". A legacy-named receipt of the
    same destination is removed afterwards (this is the migration; a crash in between leaves two
    receipts of one dest, and readers take the new one).
    """
    path = layout.receipt(receipt.dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(asdict(receipt), indent=1, sort_keys=True), durable=True)
    with contextlib.suppress(OSError):  # readers prefer the new name; `gc` drops the old one
        _remove_legacy(layout, receipt.dest)
    return path


def remove(layout: Layout, relpath: str) -> None:
    layout.receipt(relpath).unlink(missing_ok=True)
    _remove_legacy(layout, relpath)


def _remove_legacy(layout: Layout, relpath: str) -> None:
    legacy = layout.legacy_receipt(relpath)
    try:
        legacy.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # never written under that name, so nothing to drop
            return
        raise


def outdated_reason(asset: ResolvedAsset, receipt: Receipt) -> str:
    """Why an installed file is not what the manifest (or its lock) asks for; '' when it is."""
    from modelctl.manifest.uris import HEX40_RE  # urllib.parse: off the no-op `ensure` path

    pinned = asset.sha256.lower() if asset.sha256 else None
    if pinned and receipt.sha256 != pinned:
        return f"installed sha256 {receipt.sha256[:12]}…, pinned {pinned[:12]}…"
    if receipt.source != asset.source:
        return f"installed from {receipt.source}"
    rev = asset.revision
    # a receipt without a commit (a file placed by hand and adopted) is judged by its sha256 alone
    if rev and HEX40_RE.fullmatch(rev) and receipt.commit and receipt.commit != rev:
        return f"installed from commit {receipt.commit[:12]}, pinned {rev[:12]}"
    return ""
