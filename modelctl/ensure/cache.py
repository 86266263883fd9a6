"""The fast-path cache: `<models>/.modelctl/ensure-cache.json`, what SPECs resolved to, stamped.

An entry records each asset's dest and the facts that decide "outdated", plus the stat stamps of
every manifest file and folder the resolution read; a later run trusts it only while every stamp,
receipt and file stat still matches. Writers replace the file atomically, so a race costs at most
one slow run. Stdlib only.
"""

from __future__ import annotations

import json
import os

from modelctl.datafiles import read_bounded
from modelctl.ensure.config import GPU_SM_ENV, MANIFESTS_ENV, STATE_DIR

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import; annotations are strings anyway
    from typing import Any

CACHE_NAME = "ensure-cache.json"
CACHE_SCHEMA = 1
MAX_ENTRIES = 32
MAX_BYTES = 16 << 20  # a bigger (or unreadable) cache is no cache: the slow path runs
MAX_RECEIPT_BYTES = 1 << 20  # = the bound `modelctl.store.receipts.read` reads


def cache_path(root: str) -> str:
    return os.path.join(root, STATE_DIR, CACHE_NAME)


def cache_key(
    specs: list[str], manifests: str | None, locked: bool = False, gpu_sm: str | None = None
) -> str:
    """What decides how SPECs resolve: cwd (relative paths), the SPECs, the manifest folders,
    `--locked` (a cache entry written without it proves nothing about the lock) and the target
    GPU (`precision=auto`)."""
    extra = os.environ.get(MANIFESTS_ENV) or ""
    sm = gpu_sm or os.environ.get(GPU_SM_ENV) or ""
    return json.dumps(
        [os.getcwd(), list(specs), extra, manifests or ""] + ([True, sm] if locked or sm else [])
    )


def stamp(path: str) -> list[int] | None:
    """A file's or folder's stat stamp; None when it does not exist (its appearing must count)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in a path from a hand-edited cache
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def read_cache(root: str) -> dict[str, Any]:
    """The cache, with only the entries `write_cache` could have written: a damaged or
    hand-edited file (`entries` not a list, an entry that is not an object) loses those parts,
    so neither path trips over them."""
    empty: dict[str, Any] = {"schema": CACHE_SCHEMA, "entries": []}
    try:
        data = json.loads(read_bounded(cache_path(root), MAX_BYTES))
    except (OSError, ValueError, RecursionError):
        return empty
    if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA:
        return empty
    entries = data.get("entries")
    if not isinstance(entries, list):
        return empty
    return {"schema": CACHE_SCHEMA, "entries": [e for e in entries if _well_formed(e)]}


def _well_formed(entry: Any) -> bool:
    """An entry in the shape `ensure.run` writes: a key, the SPECs, watched paths with their
    stamps (or None), and assets each with a dest and a source (text)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        return False
    watch, assets, specs = entry.get("watch"), entry.get("assets"), entry.get("specs")
    if not (isinstance(watch, list) and isinstance(assets, list) and isinstance(specs, list)):
        return False
    if not all(isinstance(spec, str) for spec in specs):
        return False
    for item in watch:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            return False
    return all(isinstance(a, dict) and isinstance(a.get("dest"), str)
               and isinstance(a.get("source"), str) for a in assets)  # fmt: skip


def cached_entry(root: str, key: str) -> dict[str, Any] | None:
    """The cache entry for `key` when every manifest file and folder it read is unchanged."""
    for entry in read_cache(root)["entries"]:
        if entry["key"] == key:
            if all(stamp(path) == recorded for path, recorded in entry["watch"]):
                return entry
            return None
    return None


def intact_bytes(root: str, assets: list[dict[str, Any]]) -> int | None:
    """Total size when every asset's receipt matches its file and the manifest's pins; else None."""
    total = 0
    receipts = os.path.join(root, STATE_DIR, "receipts")
    for asset in assets:
        # the receipt's file as the slow path found it (`Layout.receipt`, or a legacy name); an
        # entry written before names were recorded points at the legacy `<dest>.json`
        name = asset.get("receipt") or asset["dest"] + ".json"
        try:
            path = os.path.join(receipts, name)
            receipt = json.loads(read_bounded(path, MAX_RECEIPT_BYTES))
            st = os.stat(os.path.join(root, asset["dest"]))
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(receipt, dict) or receipt.get("dest") != asset["dest"]:
            return None
        if not isinstance(receipt, dict):
            return None
        same_file = (
            st.st_size == receipt.get("size")
            and st.st_mtime_ns == receipt.get("mtime_ns")
            and st.st_ino == receipt.get("inode")
        )
        if not same_file or receipt.get("source") != asset["source"]:
            return None
        if asset.get("sha256") and receipt.get("sha256") != asset["sha256"]:
            return None
        if asset.get("commit") and receipt.get("commit") != asset["commit"]:
            return None
        total += st.st_size
    return total


def write_cache(root: str, key: str, entry: dict[str, Any]) -> None:
    """Add or replace `key`'s entry (newest first, at most MAX_ENTRIES), atomically. Best effort.

    Written like every other state file (`store.atomic.write_text`), without the fsync: a cache
    lost in a power cut costs one slow run. Imported here, not at the top: the fast path only
    reads the cache, and `store.atomic` brings `contextlib` along.
    """
    entries = [e for e in read_cache(root)["entries"] if e["key"] != key]
    entries.insert(0, {"key": key, **entry})
    data = {"schema": CACHE_SCHEMA, "entries": entries[:MAX_ENTRIES]}
    path = cache_path(root)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        from modelctl.store.atomic import write_text

        write_text(path, json.dumps(data, indent=1), durable=False)
    except OSError:
        pass
