"""The plan phase of a pull: what each destination wants, what is there, and what to download.

One `Want` per destination (two selections that disagree about one are an error); its state comes
from the receipt and the file's stat (`plan.resolve.item_state`). Installed files are skipped with
no network request when the revision is a commit or the sha256 is pinned, with one metadata request
otherwise; a file modelctl did not install is never overwritten without `--force`. Then the rest is
resolved (one metadata request per file, in parallel) and the bytes still needed are summed per
filesystem for the disk-space verdict.
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
from modelctl.store.receipts import Receipt
from modelctl.transfer.remote import RemoteFile


@dataclass
class Want:
    asset: ResolvedAsset
    specs: list[str]
    base: Path | None
    state: str = "missing"
    receipt: Receipt | None = None
    remote: RemoteFile | None = None
    result: ItemResult | None = None


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


def confirm_unmanaged(
    wants: list[Want], layout: Layout, opts: PullOptions, deadline: float | None
) -> None:
    """Look again, under the destination's lock, at a file that has no receipt.

    Another process publishes a file and then writes its receipt, both under that lock; seen from
    outside the lock in between, its file looks like one modelctl did not install.
    """
    for want in wants:
        if want.state != "unmanaged" or opts.force:
            continue
        dest = want.asset.dest
        with locks.hold(layout.lock(dest), opts.lock_timeout, f"pulling {dest}", None, deadline):
            look(want, layout)


def look(want: Want, layout: Layout) -> None:
    """Read the destination's receipt and state (again: another process may have changed them)."""
    want.receipt = receipts.read(layout, want.asset.dest)
    want.state = item_state(want.asset, layout.dest(want.asset.dest), want.receipt)


def refuse_unmanaged(wants: list[Want], layout: Layout, opts: PullOptions) -> None:
    bad = [w.asset.dest for w in wants if w.state == "unmanaged"]
    if bad and not opts.force:
        raise CheckFailed(
            f"{', '.join(bad)}: a file modelctl did not install is in the way",
            "check it with `modelctl verify`, move it away, or pass --force to replace it",
        )


def _fast_skip(want: Want, opts: PullOptions) -> bool:
    """Installed and provably current with no network request."""
    if want.state != "installed":
        return False
    a = want.asset
    if opts.offline or a.scheme != "hf" or a.sha256:
        return True
    return bool(a.revision and HEX40_RE.fullmatch(a.revision))


def decide(wants: list[Want], layout: Layout, opts: PullOptions) -> list[Want]:
    """Skip what is present; resolve the rest (in parallel). Returns the wants to download."""
    from modelctl.sources.resolve import is_network

    need: list[Want] = []
    for w in wants:
        if _fast_skip(w, opts):
            present(w, layout, opts)
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
    todo = []
    for w in need:
        if w.state == "installed" and receipt_current(w):
            present(w, layout, opts, commit=w.remote.commit if w.remote else None)
        else:
            todo.append(w)
    return todo


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
    w.result = result_of(w, "present")
    _add_specs(layout, w, commit)
    opts.reporter.event("present", dest=w.asset.dest, id=w.asset.id)


def _add_specs(layout: Layout, w: Want, commit: str | None = None) -> None:
    """Record which selections want an installed file (its receipt's `selections`)."""
    r = w.receipt
    if r is None:
        return
    selections = wanting_specs(w)
    if selections != r.selections or (commit and r.commit != commit):
        r.selections = selections
        if commit:
            r.commit = commit
        with contextlib.suppress(OSError):
            receipts.write(layout, r)


def wanting_specs(w: Want) -> list[str]:
    """The receipt's selections plus those of this pull that it does not list yet."""
    have = w.receipt.selections if w.receipt is not None else []
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
            "action": "skip" if w.result is not None else "download",
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
    )
