"""Intent records: an install that has placed, or is about to place, its file but may not have
written its receipt yet.

Why: publishing is rename, then receipt (`install.py`). A SIGKILL, a power cut or a receipt write
that fails (its filesystem full) between the two used to leave a correct file without a receipt,
which every later `pull` and `ensure` refused as "a file modelctl did not install is in the way"
(a container restart loop). So before the rename the installer durably writes
`.modelctl/intents/<dest_key>.json`: the receipt it is about to write, carrying the stat identity
(size, mtime_ns, inode) of the very file it is about to rename. rename(2) and link(2) keep an
inode and its mtime (POSIX.1-2017, rename() and link(): only the directories' and the file's
ctime change), so after the rename the destination has exactly that identity. Once the receipt is
written the intent is removed.

Recognition (`finish`, by `pull`, `ensure` and `verify`, under the destination's lock, so no live
installer is between its intent and its receipt):
* the file at the destination has the intent's stat identity: it is the file that was being
  placed; the receipt is written from the intent;
* same size, another identity (copied back, restored from a backup): its sha256 is computed and
  must equal the intent's;
* anything else (no file: the rename never happened; another file: replaced since, or a receipt
  that already matches: the install completed): the intent is stale and is dropped, and the file
  is judged by its receipt as ever, so a user's file stays a user's file.

`status` only reads intents (`load_all`) to say "interrupted" instead of "unmanaged".
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from modelctl.store import receipts
from modelctl.store.atomic import fsync_dir, write_text
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt

INTENT_SCHEMA = 1


@dataclass(frozen=True)
class Intent:
    receipt: Receipt  # what the installer will write, with the identity of the file it renames
    partial: str | None  # the partial renamed from (a second name of the file until unlinked)


def write(layout: Layout, receipt: Receipt, partial: Path | None) -> None:
    """Record, durably (file and folder fsynced), that `receipt.dest` is about to be placed."""
    path = layout.intent(receipt.dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "intent": INTENT_SCHEMA,
        "receipt": asdict(receipt),
        "partial": str(partial) if partial is not None else None,
        "pid": os.getpid(),
        "written_at": time.time(),
    }
    write_text(path, json.dumps(doc, indent=1, sort_keys=True), durable=True)
    fsync_dir(path.parent)


def read(layout: Layout, relpath: str) -> Intent | None:
    """The intent of `relpath`; None when there is none or it is unreadable (then it proves
    nothing, and the file is judged as if there were none)."""
    return _load(str(layout.intent(relpath)), relpath)


def remove(layout: Layout, relpath: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        layout.intent(relpath).unlink()


def load_all(layout: Layout) -> dict[str, Receipt]:
    """Every readable intent on the volume, by destination (for `status` and `verify`)."""
    out: dict[str, Receipt] = {}
    try:
        entries = list(os.scandir(layout.intents))
    except OSError:
        return out
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(".json"):
            continue
        intent = _load(entry.path, None)
        if intent is not None and layout.intent(intent.receipt.dest).name == entry.name:
            out[intent.receipt.dest] = intent.receipt
    return dict(sorted(out.items()))


def placed(intent: Receipt, st: os.stat_result) -> bool:
    """True when `st` is the file the intent was about to place (its stat identity)."""
    return stat.S_ISREG(st.st_mode) and intent.matches(st)


def finish(layout: Layout, relpath: str) -> Receipt | None:
    """Complete an interrupted install of `relpath`: the receipt now written, or None.

    The caller holds the destination's lock. See the module doc for what counts as the file.
    """
    intent = read(layout, relpath)
    if intent is None:
        return None
    path = layout.dest(relpath)
    try:
        st = path.lstat()
    except FileNotFoundError:
        remove(layout, relpath)  # the rename never happened
        return None
    current = receipts.read(layout, relpath)
    if current is not None and current.matches(st):
        remove(layout, relpath)  # completed, or stopped before the rename of a replacement
        return None
    done = _recognise(path, st, intent.receipt)
    if done is None:
        remove(layout, relpath)  # another file is there now: judged by its receipt, if any
        return None
    receipts.write(layout, done)
    _drop_partial_link(intent.partial, st)
    remove(layout, relpath)
    return done


def _recognise(path: Path, st: os.stat_result, intent: Receipt) -> Receipt | None:
    """The receipt for the file at `path` if it is the intent's file, else None."""
    if not stat.S_ISREG(st.st_mode):
        return None
    if intent.matches(st):
        return intent
    if st.st_size != intent.size:
        return None
    from modelctl.store.hashing import sha256_if_unchanged

    after = sha256_if_unchanged(path, st, intent.sha256)
    if after is None:
        return None
    return replace(intent, mtime_ns=after.st_mtime_ns, inode=after.st_ino)


def _drop_partial_link(partial: str | None, st: os.stat_result) -> None:
    """Unlink the partial the file was linked from, if it still is that file (same inode).

    A kill between link(2) and the partial's unlink leaves the partial as a second name of the
    installed file; a later download resuming into it would write into the installed file.
    """
    if not partial:
        return
    try:
        pst = os.lstat(partial)
    except OSError:
        return
    if (pst.st_ino, pst.st_dev) != (st.st_ino, st.st_dev):
        return  # claimed (renamed) by another download since, or a new file: not ours
    with contextlib.suppress(OSError):
        os.unlink(partial)
    state = os.path.splitext(partial)[0] + ".json"
    with contextlib.suppress(OSError):
        os.unlink(state)


def _load(path: str, relpath: str | None) -> Intent | None:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        if not isinstance(doc, dict) or doc.get("intent") != INTENT_SCHEMA:
            return None
        data = dict(doc["receipt"])
        data.pop("schema", None)
        receipt = Receipt(**data)
        partial = doc.get("partial")
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if not receipts.well_typed(receipt) or (relpath is not None and receipt.dest != relpath):
        return None
    return Intent(receipt, partial if isinstance(partial, str) else None)
