"""Settling a destination before anyone decides it is "in the way": let the bytes speak.

A file at a destination without a current receipt is one of:
* an install that was interrupted after its rename (`intents.finish` writes its receipt);
* the file modelctl installed, whose stat changed but not its content (a `touch`, a restore from
  a backup, a copy back): same size and the receipt's sha256 -> the receipt is re-stamped;
* a file with exactly the bytes the asset asks for (a pinned sha256, or the source's sha256 once
  resolved), placed by hand or left by an older modelctl without a receipt -> adopted (receipt
  written, `verified: sha256`): replacing it would write the same bytes;
* anything else: a user's file, which `pull` and `ensure` never overwrite without `--force`.

Only files of the expected (known) size are read; the caller holds the destination's lock (so no
live install is half-way, and a concurrent pull always wins).
"""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

from modelctl.manifest.model import ResolvedAsset
from modelctl.manifest.uris import HEX40_RE
from modelctl.store import intents, receipts
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt


def settle(
    layout: Layout,
    asset: ResolvedAsset,
    specs: list[str],
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    commit: str | None = None,
) -> Receipt | None:
    """The receipt that now holds for the file at `asset.dest` (maybe just written), or None.

    `expected_sha256`/`expected_size`/`commit`: what the source said (after a metadata request);
    without them only the manifest's pins can adopt a receipt-less file.
    """
    finished = intents.finish(layout, asset.dest)
    if finished is not None:
        return finished
    receipt = receipts.read(layout, asset.dest)
    path = layout.dest(asset.dest)
    try:
        st = path.lstat()
    except OSError:
        return receipt
    if not stat.S_ISREG(st.st_mode) or (receipt is not None and receipt.matches(st)):
        return receipt
    if receipt is not None:
        return _restamp(layout, path, st, receipt) or receipt
    want = (asset.sha256 or expected_sha256 or "").lower()
    size = asset.size if asset.size is not None else expected_size
    if not want or size is None or st.st_size != size:
        return None  # an unknown size would mean reading any user's file, at every run
    from modelctl.store.hashing import sha256_if_unchanged

    after = sha256_if_unchanged(path, st, want)
    if after is None:
        return None
    pinned = asset.revision if asset.revision and HEX40_RE.fullmatch(asset.revision) else None
    adopted = Receipt.for_file(
        path,
        dest=asset.dest,
        source=asset.source,
        sha256=want,
        commit=commit or pinned,
        revision=asset.revision,
        selections=list(specs),
        verified="sha256",
        st=after,
    )
    receipts.write(layout, adopted)
    return adopted


def _restamp(layout: Layout, path: Path, st: os.stat_result, receipt: Receipt) -> Receipt | None:
    """The receipt re-stamped with the file's new stat identity when its bytes are unchanged."""
    if st.st_size != receipt.size:
        return None
    from modelctl.store.hashing import sha256_if_unchanged

    after = sha256_if_unchanged(path, st, receipt.sha256)
    if after is None:
        return None
    new = replace(receipt, mtime_ns=after.st_mtime_ns, inode=after.st_ino, size=after.st_size)
    receipts.write(layout, new)
    return new
