"""The plan phase of a pull: what each destination wants, what is there, and what to download.

One `Want` per destination (two selections that disagree about one are an error); its state comes
from the receipt and the file's stat (`plan.resolve.item_state`). A destination whose file has no
current receipt is first settled under its lock (`store.settle`: an interrupted install is
finished, a touched file re-stamped, a file with exactly the wanted bytes adopted). What then
still holds a file whose content is not the one modelctl installed for these stacks is never
overwritten without `--force` (`blocker`): no receipt, changed since install, or installed for
another stack. Installed files are skipped with no network request when the revision is a commit
or the sha256 is pinned, with one metadata request otherwise. Then the rest is resolved (one
metadata request per file, in parallel) and the bytes still needed are summed per filesystem for
the disk-space verdict. `--require-hash` (and `--locked`) refuse, before any download, a file
whose source gives no hash to check it against.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelctl.errors import BadInput, CheckFailed, SourceError
from modelctl.manifest.model import ResolvedAsset, Selection
from modelctl.manifest.uris import HEX40_RE
from modelctl.plan.resolve import item_state
from modelctl.plan.space import FsVerdict, Need, plan_space, same_fs
from modelctl.pull.options import PullOptions
from modelctl.pull.result import ItemResult
from modelctl.redact import redact
from modelctl.store import locks, partials, receipts
from modelctl.store.layout import Layout
from modelctl.store.receipts import HASH_CHECKS, Receipt
from modelctl.store.settle import settle
from modelctl.transfer.remote import RemoteFile

# states whose file no receipt matches: settled under the lock before anything is decided
UNSETTLED = ("unmanaged", "modified", "interrupted")


@dataclass
class Want:
    asset: ResolvedAsset
    specs: list[str]
    base: Path | None
    state: str = "missing"
    receipt: Receipt | None = None
    remote: RemoteFile | None = None
    result: ItemResult | None = None
    seen: tuple[int, int, int] | None = None  # the file's (size, mtime_ns, inode) at the last look


def collect(selections: list[Selection]) -> list[Want]:
    """One want per destination; two selections that disagree about a destination are an error."""
    by_dest: dict[str, Want] = {}
    for sel in selections:
        base = sel.manifest.path.parent if sel.manifest.path else None
        for asset in sel.assets:
            have = by_dest.get(asset.dest)
            if have is None:
                by_dest[asset.dest] = Want(asset, [sel.spec], base)
                continue
            a, b = have.asset, asset
            if (a.source, a.revision, a.sha256) != (b.source, b.revision, b.sha256):
                raise BadInput(
                    f"{a.dest} is wanted from two different sources: {a.source} and {b.source}",
                    "pull the selections separately or give one asset another dest",
                )
            if sel.spec not in have.specs:
                have.specs.append(sel.spec)
    return list(by_dest.values())


def settle_all(
    wants: list[Want], layout: Layout, opts: PullOptions, deadline: float | None
) -> None:
    """Settle, each under its destination's lock, the wants whose file has no current receipt.

    Another process publishes a file and then writes its receipt, both under that lock; seen from
    outside the lock in between, its file looks like one modelctl did not install. Under the lock
    that cannot be, and what is left is settled by content (`store.settle`).
    """
    if opts.dry_run:
        return  # a dry run writes nothing: an interrupted install is finished by the real run
    for want in wants:
        if want.state not in UNSETTLED:
            continue
        dest = want.asset.dest
        with locks.hold(layout.lock(dest), opts.lock_timeout, f"pulling {dest}", None, deadline):
            settle_locked(want, layout)


def settle_locked(want: Want, layout: Layout) -> None:
    """`settle_all` for one want whose destination's lock the caller holds."""
    look(want, layout)
    if want.state not in UNSETTLED:
        return
    r = want.remote
    settle(
        layout,
        want.asset,
        wanting_specs(want),
        expected_sha256=r.sha256 if r else None,
        expected_size=r.size if r else None,
        commit=r.commit if r else None,
    )
    look(want, layout)


def look(want: Want, layout: Layout) -> None:
    """Read the destination's receipt and state (again: another process may have changed them)."""
    path = layout.dest(want.asset.dest)
    want.receipt = receipts.read(layout, want.asset.dest)
    want.state = item_state(want.asset, path, want.receipt, layout)
    want.seen = identity(path)


def identity(path: Path) -> tuple[int, int, int] | None:
    """(size, mtime_ns, inode) of the file at `path`; None when there is none."""
    try:
        st = path.lstat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def manifest_of(spec: str) -> str:
    """The manifest name of a canonical SPEC as receipts record it (`name:axis=value,…`)."""
    return spec.split(":", 1)[0]


def foreign_owners(w: Want) -> list[str]:
    """The selections of other manifests that the installed file's receipt was written for."""
    if w.receipt is None:
        return []
    mine = {manifest_of(s) for s in w.specs}
    return [s for s in w.receipt.selections if manifest_of(s) not in mine]


def blocker(w: Want, force: bool) -> str | None:
    """Why `w`'s destination may not be written without `--force`; None when it may.

    Never overwritten without `--force`: a file without a receipt, a file whose content changed
    since modelctl installed it (settling re-stamped it if only its stat did), and a file that
    another stack's manifest installed and now disagrees with this one (replacing it would break
    that stack; `ensure` "never updates files that are present" for the same reason). An
    `interrupted` install is not in the way: settling finishes it (only a dry run, which writes
    nothing, still sees that state).
    """
    if force:
        return None
    if w.state == "unmanaged":
        return "a file modelctl did not install is in the way"
    if w.state == "modified":
        return "it changed since modelctl installed it (its content is not the installed one)"
    others = foreign_owners(w) if w.state == "outdated" else []
    if others:
        return f"it was installed for {', '.join(others)}, which wants it as it is"
    return None


def refuse_in_the_way(wants: list[Want], opts: PullOptions, later: bool = False) -> None:
    """CheckFailed (exit 1) naming every destination a `blocker` holds, before any download.

    `later`: leave out receipt-less files that the source's sha256, once resolved, may still
    prove to be the wanted bytes (`decide` adopts those or refuses them then).
    """
    bad = []
    for w in wants:
        why = blocker(w, opts.force)
        if why is None or (later and adoptable_later(w, opts.offline)):
            continue
        bad.append((w.asset.dest, why))
    if not bad:
        return
    whys = sorted({why for _, why in bad})
    what = whys[0] if len(whys) == 1 else "files modelctl must not overwrite are in the way"
    raise CheckFailed(
        f"{', '.join(dest for dest, _ in bad)}: {what}",
        "check it with `modelctl verify`, move it away, or pass --force to replace it",
    )


def adoptable_later(w: Want, offline: bool) -> bool:
    """A receipt-less file that the Hub's LFS sha256, once asked for, may prove to be the
    wanted bytes (a pinned sha256 was already compared by `settle_all`)."""
    return w.state == "unmanaged" and not w.asset.sha256 and not offline and w.asset.scheme == "hf"


def _fast_skip(want: Want, opts: PullOptions) -> bool:
    """Installed and provably current with no network request."""
    if want.state != "installed":
        return False
    a = want.asset
    if a.sha256:
        return True  # installed means the receipt's sha256 is the pin: checked against it
    if opts.require_hash and want.receipt is not None and want.receipt.unverified:
        return False  # the source may give a hash now; else `require_hashes` refuses it
    if opts.offline or a.scheme != "hf":
        return True
    return bool(a.revision and HEX40_RE.fullmatch(a.revision))


def decide(
    wants: list[Want], layout: Layout, opts: PullOptions, deadline: float | None = None
) -> list[Want]:
    """Skip what is present; resolve the rest (in parallel). Returns the wants to download.

    After resolving, a receipt-less file the source's sha256 proves to be the wanted bytes is
    adopted (under its lock), the rest of what is in the way is refused, and so, with
    `--require-hash`, is every file no hash would vouch for: all before the first byte.
    """
    from modelctl.sources.resolve import is_network

    need: list[Want] = []
    current: list[Want] = []  # installed and current: reported present once nothing is refused
    for w in wants:
        if _fast_skip(w, opts) or (opts.offline and w.state == "installed"):
            current.append(w)  # offline: nothing to ask; `require_hashes` judges it
        else:
            need.append(w)
    if opts.offline:
        missing = [w for w in need if is_network(w.asset)]
        if missing:
            names = ", ".join(f"{w.asset.dest} ({w.state})" for w in missing)
            raise SourceError(
                f"offline, and {len(missing)} asset(s) are not installed: {names}",
                "run `modelctl pull` with network access first (drop --offline / HF_HUB_OFFLINE)",
            )
    if need:
        with ThreadPoolExecutor(max_workers=min(8, len(need))) as ex:
            list(ex.map(lambda w: _resolve(w, opts), need))
    settle_all([w for w in need if w.state == "unmanaged"], layout, opts, deadline)
    refuse_in_the_way(need, opts)
    todo: list[Want] = []
    for w in need:
        (current if w.state == "installed" and receipt_current(w) else todo).append(w)
    if opts.require_hash:
        require_hashes(current, todo)
    for w in current:
        present(w, layout, opts, commit=w.remote.commit if w.remote else None)
    return todo


def check_of(remote: RemoteFile) -> str:
    """Which check a download of `remote` gets before it is placed (a receipt's `verified`)."""
    if remote.sha256:
        return "sha256"
    if remote.commit and HEX40_RE.fullmatch((remote.etag or "").lower()):
        return "git-blob-sha1"  # a small git file: its etag is the blob sha1
    return "size" if remote.size is not None else "none"


def require_hashes(current: list[Want], todo: list[Want]) -> None:
    """`--require-hash`: SourceError (exit 3), before any download, naming every file that would
    be placed, or is installed, without a hash check."""
    bad = [f"{w.asset.dest} (installed with a size check only)" for w in current if _unvouched(w)]
    bad += [w.asset.dest for w in todo if w.remote and check_of(w.remote) not in HASH_CHECKS]
    if bad:
        raise SourceError(
            f"--require-hash: no sha256 to check against for {', '.join(bad)}: the source sent "
            "no hash (no LFS sha256, no git blob id)",
            "pin `sha256:` in the manifest or run `modelctl lock`; a proxy that rewrites ETag "
            "headers hides the Hub's sha256; without --require-hash the file is checked by its "
            "size only",
        )


def _vouching(w: Want) -> set[str]:
    """The sha256 values a pin or the source vouch for."""
    return {h.lower() for h in (w.asset.sha256, w.remote.sha256 if w.remote else None) if h}


def _unvouched(w: Want) -> bool:
    """Installed without a hash check, and no pin or source hash equals its recorded sha256."""
    r = w.receipt
    return r is not None and r.unverified and r.sha256 not in _vouching(w)


def _resolve(want: Want, opts: PullOptions) -> None:
    from modelctl.sources.resolve import resolve

    want.remote = resolve(
        want.asset,
        want.base,
        opts.allow_unverified,
        opts.transfer.retry,
        timeout=min(10.0, opts.transfer.stall_timeout),
    )


def receipt_current(w: Want) -> bool:
    r, remote = w.receipt, w.remote
    if r is None or remote is None:
        return False
    if remote.sha256:
        return r.sha256 == remote.sha256
    return bool(remote.commit) and r.commit == remote.commit


def present(w: Want, layout: Layout, opts: PullOptions, commit: str | None = None) -> None:
    """An installed, current file: nothing to fetch; its receipt learns the wanting selections."""
    _add_specs(layout, w, commit)
    w.result = result_of(w, "present")
    opts.reporter.event("present", dest=w.asset.dest, id=w.asset.id)


def _add_specs(layout: Layout, w: Want, commit: str | None = None) -> None:
    """Record which selections want an installed file (its receipt's `selections`), and that its
    bytes were checked against a sha256 when a pin or the source now vouches for the sha256 the
    receipt recorded (it was computed over the bytes that were placed). A receipt read from its
    legacy name is rewritten under the fixed-length one."""
    r = w.receipt
    if r is None:
        return
    selections = wanting_specs(w)
    vouched = r.unverified and r.sha256 in _vouching(w)
    legacy = not layout.receipt(r.dest).is_file()  # read from an old name: rewrite it (migrate)
    if selections != r.selections or (commit and r.commit != commit) or vouched or legacy:
        r.selections = selections
        if commit:
            r.commit = commit
        if vouched:
            r.verified = "sha256"
        with contextlib.suppress(OSError):
            receipts.write(layout, r)


def wanting_specs(w: Want, replacing: bool = False) -> list[str]:
    """The receipt's selections plus those of this pull that it does not list yet.

    `replacing`: the file is being replaced, so selections of other manifests (only with
    `--force`) no longer have their file there and are dropped.
    """
    have = w.receipt.selections if w.receipt is not None else []
    if replacing:
        mine = {manifest_of(s) for s in w.specs}
        have = [s for s in have if manifest_of(s) in mine]
    return [*have, *[s for s in w.specs if s not in have]]


def space_claims(todo: list[Want], layout: Layout, opts: PullOptions) -> list[FsVerdict]:
    claims: list[tuple[Path, Need]] = []
    folders = [layout.locks, layout.partials]
    for w in todo:
        remote = w.remote
        assert remote is not None  # `decide` resolved every file it left to download
        key = partials.partial_key(remote.sha256, w.asset.source, remote.commit)
        held = partials.held_bytes(layout, key) if layout.partials.is_dir() else 0
        claims.append((layout.partials, Need(w.asset.dest, remote.size, held)))
        dest_dir = layout.dest(w.asset.dest).parent
        folders += [dest_dir, layout.receipt(w.asset.dest).parent]
        if not same_fs(layout.partials, dest_dir):
            claims.append((dest_dir, Need(w.asset.dest + " (copy)", remote.size, inodes=2)))
    return plan_space(claims, opts.min_free, folders)


def plan_rows(wants: list[Want]) -> list[dict[str, Any]]:
    rows = []
    for w in wants:
        r, rec = w.remote, w.receipt
        rows.append({
            "id": w.asset.id,
            "dest": w.asset.dest,
            "source": redact(w.asset.source),
            "state": w.state,
            "action": "skip" if w.result is not None else (
                "finish" if w.state == "interrupted" else "download"
            ),
            "size": (r.size if r else None) or w.asset.size or (rec.size if rec else None),
            "sha256": (r.sha256 if r else None) or w.asset.sha256,
            "commit": r.commit if r else None,
        })  # fmt: skip
    return rows


def result_of(w: Want, state: str) -> ItemResult:
    r, rec = w.remote, w.receipt
    return ItemResult(
        id=w.asset.id,
        dest=w.asset.dest,
        source=redact(w.asset.source),
        state=state,
        size=(r.size if r else None) or w.asset.size or (rec.size if rec else None),
        sha256=(r.sha256 if r else None) or w.asset.sha256 or (rec.sha256 if rec else None),
        commit=(r.commit if r else None) or (rec.commit if rec else None),
        verified=rec.verified if rec is not None and state == "present" else None,
    )
