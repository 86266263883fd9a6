"""Receipts: proof that modelctl installed a file, and the cheap way to know it is still intact.

A receipt is written after a verified download and records where the bytes came from (source,
commit), what they are (sha256, size) and the file's stat identity (mtime_ns, inode) at
install time.
Checking size + mtime + inode is O(1) per file and needs no read of the contents, which is what lets
`ensure` return in milliseconds on a volume of many gigabytes. Receipts are JSON (stdlib only, so
the fast path imports nothing heavy) and are written atomically.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.datafiles import read_bounded
from modelctl.store.atomic import write_text
from modelctl.store.layout import Layout

if TYPE_CHECKING:
    from modelctl.manifest.model import ResolvedAsset

RECEIPT_SCHEMA = 1


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
    schema: int = RECEIPT_SCHEMA

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
    ) -> Receipt:
        """A receipt carrying `path`'s current stat identity."""
        st = path.stat()
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
        )


def read(layout: Layout, relpath: str) -> Receipt | None:
    """The receipt for `relpath`, or None when absent or unreadable (treated as not installed)."""
    return load_file(str(layout.receipt(relpath)))


def load_file(path: str) -> Receipt | None:
    """The receipt in the file at `path`; None when it is absent, unreadable or not a receipt.

    Plain `os` calls on a string path: `inventory.load_receipts` reads every receipt through this
    on the hot path of a fast verify. Any JSON that is not a receipt's object (a list, a number)
    is None too, never a traceback.
    """
    try:
        data = json.loads(read_bounded(path, 1 << 20))  # receipts are a few hundred bytes
        data.pop("schema", None)
        return Receipt(**data)
    except (OSError, ValueError, TypeError, AttributeError, RecursionError):  # nested 10^5 deep
        return None


def write(layout: Layout, receipt: Receipt) -> Path:
    """Atomically write (or replace) the receipt of `receipt.dest`."""
    path = layout.receipt(receipt.dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(asdict(receipt), indent=1, sort_keys=True), durable=False)
    return path


def remove(layout: Layout, relpath: str) -> None:
    layout.receipt(relpath).unlink(missing_ok=True)


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
