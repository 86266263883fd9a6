"""Verifying installed files: fast (stat against receipt), quick (xxh3-128) or full (sha256).

* fast: size + mtime_ns + inode against the receipt, O(1) per file, no content read. Catches a
  truncated, replaced or rewritten file; a byte flipped in place with the mtime restored is, by
  design, only caught by reading.
* quick: re-read every byte through xxh3-128 (memory speed) and compare with the fingerprint a
  previous full verify or pull stored; files without a fingerprint fall back to sha256.
* full: sha256 of every byte (files in parallel, see `hashing`), compared with the receipt and with
  what the manifest or its lock pins. Stores the xxh3 fingerprint for later quick runs.

A content check that matches while the stat changed (a `touch`, a copy back) re-stamps the receipt,
and a full check of a file that has no receipt but matches a pinned sha256 adopts it. An install
interrupted between its rename and its receipt (its intent record matches the file, see
`intents`) is finished first, in every mode (`finished`). Receipts are only rewritten when the
file's stat did not change while it was read and no other modelctl holds the destination's lock,
so a concurrent pull always wins. Those writes are the only ones a verify makes: on a read-only
(or full) volume every check still runs and its verdict stands, with a note that the receipt was
not updated.

A file whose receipt says no hash vouched for it at install (`Receipt.verified` `size`/`none`: the
source sent no sha256) is `unverified`, not `ok`: reading it again proves it unchanged since
install, not that it is the right file. It counts as good (exit 0); a pin (manifest or lock)
that equals its recorded sha256 makes it `ok`, and the receipt says so from then on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.errors import DiskFull, VolumeError, from_os_error
from modelctl.manifest.model import ResolvedAsset
from modelctl.manifest.uris import HEX40_RE
from modelctl.store import receipts
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt, outdated_reason

if TYPE_CHECKING:
    from modelctl.store.hashing import Digest

MODES = ("fast", "quick", "full")
GOOD = ("ok", "adopted", "finished", "unverified")
UNVERIFIED_DETAIL = "size only at install, no hash to check against: unchanged, not proven right"


@dataclass(frozen=True)
class Target:
    """One file to verify: its dest, its receipt, and what a manifest/lock expects (if any)."""

    dest: str
    receipt: Receipt | None
    asset: ResolvedAsset | None = None

    @property
    def expected_sha256(self) -> str | None:
        if self.asset is not None and self.asset.sha256:
            return self.asset.sha256.lower()
        return None


@dataclass(frozen=True)
class Verdict:
    dest: str
    # ok | adopted | finished | unverified | missing | modified | corrupt | outdated | unmanaged |
    # unreadable
    state: str
    detail: str = ""
    size: int | None = None
    sha256: str | None = None  # computed now (quick/full) or from the receipt
    restamped: bool = False
    asset: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in GOOD

    def to_json(self) -> dict[str, object]:
        return {
            "dest": self.dest,
            "asset": self.asset,
            "state": self.state,
            "ok": self.ok,
            "detail": self.detail,
            "size": self.size,
            "sha256": self.sha256,
            "restamped": self.restamped,
        }


def targets_for_receipts(layout: Layout) -> list[Target]:
    """Every installed file the volume has a receipt (or an unfinished install's intent) for."""
    from modelctl.store import intents
    from modelctl.store.inventory import load_receipts

    found, _, _ = load_receipts(layout)
    pending = [d for d in intents.load_all(layout) if d not in found]
    return [Target(dest, found.get(dest)) for dest in sorted([*found, *pending])]


def targets_for_assets(layout: Layout, assets: Iterable[ResolvedAsset]) -> list[Target]:
    """The assets of one or more selections, one target per destination."""
    seen: dict[str, Target] = {}
    for asset in assets:
        if asset.dest not in seen:
            seen[asset.dest] = Target(asset.dest, receipts.read(layout, asset.dest), asset)
    return list(seen.values())


def verify(
    layout: Layout,
    targets: list[Target],
    mode: str = "fast",
    jobs: int | None = None,
    on_verdict: Callable[[Verdict], None] | None = None,
) -> list[Verdict]:
    """Check each target; verdicts in target order."""
    if mode not in MODES:
        raise ValueError(mode)
    verdicts: dict[str, Verdict] = {}
    to_hash: dict[str, tuple[Target, os.stat_result, bool]] = {}  # dest -> (target, stat, sha?)
    root = str(layout.root)
    finished: set[str] = set()

    def mark(v: Verdict) -> Verdict:
        """A good verdict of a file whose interrupted install was just finished says so."""
        if v.dest not in finished or v.state not in ("ok", "unverified"):
            return v
        extra = UNVERIFIED_DETAIL if v.state == "unverified" else v.detail
        detail = "; ".join(filter(None, [FINISHED_DETAIL, extra]))
        return replace(v, state="finished", detail=detail)

    def emit(v: Verdict) -> None:
        if on_verdict:
            on_verdict(mark(v))

    try:  # one listing, not a stat per file: this is the hot path of a fast verify
        pending = set(os.listdir(layout.intents))
    except OSError:
        pending = set()
    for t in targets:
        receipt = _finish_interrupted(layout, t) if pending else None
        if receipt is not None:
            finished.add(t.dest)
            t = replace(t, receipt=receipt)
        first = _stat_verdict(root, t, mode)
        if isinstance(first, Verdict):
            verdicts[t.dest] = first
            emit(first)
            continue
        st = first
        need_sha = mode == "full" or t.receipt is None or not t.receipt.xxh3_128
        to_hash[t.dest] = (t, st, need_sha)
    if to_hash:
        verdicts.update(_hash_verdicts(layout, to_hash, jobs, emit))
    return [mark(verdicts[t.dest]) for t in targets]


FINISHED_DETAIL = "an install stopped before its receipt placed this file: receipt written"


def _finish_interrupted(layout: Layout, t: Target) -> Receipt | None:
    """Finish `t`'s install if one was interrupted after its rename (`intents.finish`): the
    receipt written, or None (no intent, a stale one, or the destination is busy)."""
    if not os.path.exists(layout.intent(t.dest)):  # (only called when some intent exists)
        return None
    from modelctl.store import intents
    from modelctl.store.locks import try_hold

    lock = try_hold(layout.lock(t.dest))
    if lock is None:
        return None  # a pull is working on it: it finishes or redoes the install itself
    try:
        return intents.finish(layout, t.dest)
    finally:
        lock.release()


def _unverified(t: Target, r: Receipt) -> bool:
    """No hash vouched for the bytes: none at install, and no pin equal to the recorded sha256."""
    return r.unverified and t.expected_sha256 != r.sha256


def _stat_verdict(root: str, t: Target, mode: str) -> Verdict | os.stat_result:
    """A final verdict from stat alone, or the stat result when contents must be read."""
    name = t.asset.id if t.asset else None
    try:
        st = os.stat(os.path.join(root, t.dest))
    except FileNotFoundError:
        why = "receipt present, file gone" if t.receipt else "not installed"
        return Verdict(t.dest, "missing", why, asset=name)
    except OSError as exc:
        return Verdict(t.dest, "unreadable", exc.strerror or str(exc), asset=name)
    if not stat.S_ISREG(st.st_mode):
        return Verdict(t.dest, "unmanaged", "not a regular file", asset=name)
    r = t.receipt
    if r is None:
        if mode == "full" and t.expected_sha256:
            return st  # may be adopted if its bytes match the pin
        why = "no receipt: modelctl did not install this file"
        if t.expected_sha256:
            why += " (verify --full adopts it when it matches the pinned sha256)"
        return Verdict(t.dest, "unmanaged", why, size=st.st_size, asset=name)
    reason = outdated_reason(t.asset, r) if t.asset is not None else ""
    if reason:
        return Verdict(t.dest, "outdated", reason, st.st_size, r.sha256, asset=name)
    if mode == "fast":
        if r.matches(st) and _unverified(t, r):
            detail = UNVERIFIED_DETAIL
            return Verdict(t.dest, "unverified", detail, st.st_size, r.sha256, asset=name)
        if r.matches(st):
            return Verdict(t.dest, "ok", "", st.st_size, r.sha256, asset=name)
        return Verdict(t.dest, "modified", _stat_change(r, st), st.st_size, asset=name)
    return st


def _stat_change(r: Receipt, st: os.stat_result) -> str:
    if st.st_size != r.size:
        return f"size is {st.st_size} bytes, receipt says {r.size}"
    if st.st_ino != r.inode:
        return "the file was replaced (inode changed)"
    return "the file was written after install (mtime changed)"


def _hash_verdicts(
    layout: Layout,
    to_hash: dict[str, tuple[Target, os.stat_result, bool]],
    jobs: int | None,
    on_verdict: Callable[[Verdict], None] | None,
) -> dict[str, Verdict]:
    from modelctl.store.hashing import hash_many

    by_path = {layout.dest(d): d for d in to_hash}
    out: dict[str, Verdict] = {}
    groups = {
        True: [p for p, d in by_path.items() if to_hash[d][2]],
        False: [p for p, d in by_path.items() if not to_hash[d][2]],
    }
    for need_sha, paths in groups.items():
        if not paths:
            continue

        def done(path: Path, result: Digest | OSError) -> None:
            dest = by_path[path]
            target, st, _ = to_hash[dest]
            verdict = _content_verdict(layout, target, st, result)
            out[dest] = verdict
            if on_verdict:
                on_verdict(verdict)

        hash_many(paths, jobs=jobs, sha256=need_sha, xxh3=True, on_done=done)
    return out


def _content_verdict(
    layout: Layout, t: Target, st: os.stat_result, result: Digest | OSError
) -> Verdict:
    from modelctl.store.hashing import Digest

    path = layout.dest(t.dest)
    name = t.asset.id if t.asset else None
    if not isinstance(result, Digest):
        return Verdict(t.dest, "unreadable", getattr(result, "strerror", None) or str(result))
    r = t.receipt
    expected = r.sha256 if r is not None else t.expected_sha256
    actual: str | None
    if result.sha256 is not None:
        good = result.sha256 == expected
        if good and t.expected_sha256 and result.sha256 != t.expected_sha256:
            good = False
        actual = result.sha256
    else:  # quick: xxh3 against the stored fingerprint
        good = r is not None and result.xxh3_128 == r.xxh3_128
        actual = r.sha256 if good and r is not None else None
    if r is not None and good and result.size != r.size:
        good = False
    if not good:
        what = "sha256" if result.sha256 is not None else "xxh3-128 fingerprint"
        detail = f"content does not match the recorded {what}"
        if r is None:
            assert actual is not None  # verify() always hashes receipt-less files with sha256
            detail = f"no receipt, and its sha256 {actual[:12]}… is not the pinned one"
            return Verdict(t.dest, "unmanaged", detail, result.size, actual, asset=name)
        return Verdict(t.dest, "corrupt", detail, result.size, actual, asset=name)
    try:
        stamped, refused = _restamp(layout, t, st, result, path), ""
    except (VolumeError, DiskFull) as exc:  # a read-only or full volume: the check still stands
        stamped, refused = False, exc.message
    if r is None:
        state = "adopted" if stamped else "unmanaged"
        detail = "receipt written: matches the pinned sha256" if stamped else "busy; not adopted"
        if refused:
            detail = f"matches the pinned sha256, but no receipt could be written: {refused}"
        return Verdict(t.dest, state, detail, result.size, actual, asset=name)
    changed = not r.matches(st)
    detail = "stat changed, content intact: receipt re-stamped" if changed and stamped else ""
    if refused:
        detail = f"content intact; the receipt was not updated: {refused}"
    state = "ok"
    if _unverified(t, r):
        state, detail = "unverified", "; ".join(filter(None, [UNVERIFIED_DETAIL, detail]))
    return Verdict(
        t.dest,
        state,
        detail,
        result.size,
        actual,
        restamped=changed and stamped,
        asset=name,
    )


def _restamp(layout: Layout, t: Target, before: os.stat_result, digest: Digest, path: Path) -> bool:
    """Record the new stat identity / xxh3 fingerprint, when that is safe. True when written.

    Only here does a verify write; a volume that refuses (read-only, full) raises `VolumeError`
    or `DiskFull`, and the caller keeps its verdict and says the receipt was not updated.
    """
    r = t.receipt
    xxh3 = getattr(digest, "xxh3_128", None)
    vouched = r is not None and r.unverified and t.expected_sha256 == r.sha256
    if r is not None and r.matches(before) and r.xxh3_128 == xxh3 and not vouched:
        return True  # nothing to record
    from modelctl.store.locks import try_hold

    lock = try_hold(layout.lock(t.dest))
    if lock is None:
        return False  # a pull (or rm) is working on this destination right now
    try:
        try:
            after = path.stat()
        except OSError:
            return False
        if not _same_stat(before, after):
            return False  # changed while we read it: our hash says nothing about it now
        current = receipts.read(layout, t.dest)
        if r is not None and current != r:
            return False  # someone re-installed meanwhile
        if r is None:
            if current is not None:
                return False
            a = t.asset
            assert a is not None  # a receipt-less file is hashed only when its asset pins a sha256
            new = Receipt.for_file(
                path,
                dest=t.dest,
                source=a.source,
                sha256=getattr(digest, "sha256", ""),
                commit=a.revision if a.revision and HEX40_RE.fullmatch(a.revision) else None,
                revision=a.revision,
                xxh3_128=xxh3,
                verified="sha256",
            )
        else:
            new = replace(
                r, size=after.st_size, mtime_ns=after.st_mtime_ns, inode=after.st_ino, xxh3_128=xxh3
            )
            if vouched:  # the pin equals the sha256 recorded at install, and the bytes still are
                new = replace(new, verified="sha256")
        try:
            receipts.write(layout, new)
        except OSError as exc:
            raise from_os_error(
                exc, f"while updating the receipt of {t.dest}", layout.receipt(t.dest)
            ) from None
        return True
    finally:
        lock.release()


def _same_stat(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino, a.st_dev) == (
        b.st_size,
        b.st_mtime_ns,
        b.st_ino,
        b.st_dev,
    )
