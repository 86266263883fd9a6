"""Pull: plan, check space, then download, verify and place every asset of some selections.

`pull_selections(selections, layout, options) -> PullSummary` is the library entry point (the `pull`
command and `ensure` both call it). It raises `ModelctlError` subclasses; a failed pull's error
carries the summary as `exc.summary`.

Order of work, per file (robustness section 4):
1. plan: installed (receipt matches the file's stat) files are skipped with no network request
   when the revision is a commit or the sha256 is pinned, with one metadata request otherwise;
   a file modelctl did not install is never overwritten without `--force`.
2. `options.preflight(selections, layout)` — the compatibility check hook (exit 1), before any GET.
3. resolve (one metadata request per file, in parallel), then the disk-space verdict (exit 4).
4. `--jobs` files at once; each under its destination's lock on the volume (the second process
   waits, then finds the receipt), then its partial key's lock; claim the partial, fetch, compare
   size and sha256 (a mismatch on a resumed partial retries once from zero), refuse pickles,
   `options.post_verify(asset, path)` — the identity check hook — fsync, publish without clobbering,
   fsync the folder, write the receipt.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelctl.errors import BadInput, CheckFailed, ModelctlError, SourceError
from modelctl.manifest.model import ResolvedAsset, Selection
from modelctl.manifest.uris import HEX40_RE
from modelctl.plan.resolve import item_state
from modelctl.plan.space import FsVerdict, Need, plan_space, same_fs
from modelctl.plan.space import check as check_space
from modelctl.redact import redact
from modelctl.sources.base import RemoteFile
from modelctl.store import locks, partials, receipts
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt

if TYPE_CHECKING:
    from modelctl.transfer.retry import RetryPolicy

MiB = 1 << 20


class Reporter:
    """Receives state changes (`event`) and byte counts (`advance`); the default ignores them."""

    def event(self, name: str, **data: Any) -> None:
        pass

    def advance(self, dest: str, n: int) -> None:
        pass


@dataclass
class PullOptions:
    jobs: int = 3
    connections: int = 8
    segment_threshold: int = 64 * MiB
    force: bool = False
    dry_run: bool = False
    allow_unverified: bool = False
    min_free: str | None = None
    lock_timeout: float | None = 1800.0
    timeout: float | None = None
    offline: bool = False
    stall_timeout: float = 30.0
    retries: int = 6
    backoff: float = 0.5
    retry: RetryPolicy | None = None  # default: `retries` and `backoff`, capped by the environment
    preflight: Callable[[list[Selection], Layout], None] | None = None
    post_verify: Callable[[ResolvedAsset, Path], None] | None = None
    reporter: Reporter = field(default_factory=Reporter)
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class ItemResult:
    id: str
    dest: str
    source: str
    state: str  # present | downloaded | planned | failed
    size: int | None = None
    sha256: str | None = None
    commit: str | None = None
    fetched: int = 0
    resumed: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass
class PullSummary:
    items: list[ItemResult]
    space: list[FsVerdict]
    dry_run: bool = False

    @property
    def fetched(self) -> int:
        return sum(i.fetched for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "ok": not any(i.state == "failed" for i in self.items),
            "fetched_bytes": self.fetched,
            "items": [asdict(i) for i in self.items],
            "space": [v.as_dict() for v in self.space],
        }


@dataclass
class _Want:
    asset: ResolvedAsset
    specs: list[str]
    base: Path | None
    state: str = "missing"
    receipt: Receipt | None = None
    remote: RemoteFile | None = None
    result: ItemResult | None = None


def pull_selections(
    selections: list[Selection], layout: Layout, options: PullOptions | None = None
) -> PullSummary:
    """Make every asset of `selections` present and verified under `layout`; see module doc."""
    opts = options or PullOptions()
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        opts.offline = True
    if opts.retry is None:  # once, before any work: a bad MODELCTL_RETRY_MAX_DELAY is exit 2
        from modelctl.transfer.retry import RetryPolicy

        opts.retry = RetryPolicy.from_env(attempts=opts.retries, base=opts.backoff)
    deadline = time.monotonic() + opts.timeout if opts.timeout else None
    wants = _collect(selections)
    for want in wants:
        _look(want, layout)
    _confirm_unmanaged(wants, layout, opts, deadline)
    _refuse_unmanaged(wants, layout, opts)
    if opts.preflight is not None:
        opts.preflight(selections, layout)
    todo = _decide(wants, layout, opts)
    verdicts = _space(todo, layout, opts)
    summary = PullSummary([], verdicts, opts.dry_run)
    opts.reporter.event("plan", space=[v.as_dict() for v in verdicts], items=_plan_rows(wants))
    if opts.dry_run:
        for w in wants:
            if w.result is None:
                w.result = _result(w, "planned")
        summary.items = [w.result for w in wants if w.result]
        return summary
    check_space(verdicts)
    errors = _download_all(todo, layout, opts, deadline)
    summary.items = [w.result for w in wants if w.result]
    opts.reporter.event("summary", **summary.as_dict())
    if errors:
        exc = errors[0]
        if len(errors) > 1:
            exc.hint = ((exc.hint or "") + f"\n{len(errors) - 1} other asset(s) failed too").strip()
        exc.summary = summary  # type: ignore[attr-defined]
        raise exc
    return summary


def _collect(selections: list[Selection]) -> list[_Want]:
    """One want per destination; two selections that disagree about a destination are an error."""
    by_dest: dict[str, _Want] = {}
    for sel in selections:
        base = sel.manifest.path.parent if sel.manifest.path else None
        for asset in sel.assets:
            have = by_dest.get(asset.dest)
            if have is None:
                by_dest[asset.dest] = _Want(asset, [sel.spec], base)
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


def _confirm_unmanaged(
    wants: list[_Want], layout: Layout, opts: PullOptions, deadline: float | None
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
            _look(want, layout)


def _look(want: _Want, layout: Layout) -> None:
    """Read the destination's receipt and state (again: another process may have changed them)."""
    want.receipt = receipts.read(layout, want.asset.dest)
    want.state = item_state(want.asset, layout.dest(want.asset.dest), want.receipt)


def _refuse_unmanaged(wants: list[_Want], layout: Layout, opts: PullOptions) -> None:
    bad = [w.asset.dest for w in wants if w.state == "unmanaged"]
    if bad and not opts.force:
        raise CheckFailed(
            f"{', '.join(bad)}: a file modelctl did not install is in the way",
            "check it with `modelctl verify`, move it away, or pass --force to replace it",
        )


def _fast_skip(want: _Want, opts: PullOptions) -> bool:
    """Installed and provably current with no network request."""
    if want.state != "installed":
        return False
    a = want.asset
    if opts.offline or a.scheme != "hf" or a.sha256:
        return True
    return bool(a.revision and HEX40_RE.fullmatch(a.revision))


def _decide(wants: list[_Want], layout: Layout, opts: PullOptions) -> list[_Want]:
    """Skip what is present; resolve the rest (in parallel). Returns the wants to download."""
    from modelctl.sources.resolve import is_network

    need: list[_Want] = []
    for w in wants:
        if _fast_skip(w, opts):
            _present(w, layout, opts)
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
        if w.state == "installed" and _receipt_current(w):
            _present(w, layout, opts, commit=w.remote.commit if w.remote else None)
        else:
            todo.append(w)
    return todo


def _resolve(want: _Want, opts: PullOptions) -> None:
    from modelctl.sources.resolve import resolve

    want.remote = resolve(
        want.asset,
        want.base,
        opts.allow_unverified,
        opts.retry,
        timeout=min(10.0, opts.stall_timeout),
    )


def _receipt_current(w: _Want) -> bool:
    r, remote = w.receipt, w.remote
    if r is None or remote is None:
        return False
    if remote.sha256:
        return r.sha256 == remote.sha256
    return bool(remote.commit) and r.commit == remote.commit


def _present(w: _Want, layout: Layout, opts: PullOptions, commit: str | None = None) -> None:
    """An installed, current file: nothing to fetch; its receipt learns the wanting selections."""
    w.result = _result(w, "present")
    _add_specs(layout, w, commit)
    opts.reporter.event("present", dest=w.asset.dest, id=w.asset.id)


def _add_specs(layout: Layout, w: _Want, commit: str | None = None) -> None:
    """Record which selections want an installed file (its receipt's `selections`)."""
    r = w.receipt
    if r is None:
        return
    selections = _selections(w)
    if selections != r.selections or (commit and r.commit != commit):
        r.selections = selections
        if commit:
            r.commit = commit
        with contextlib.suppress(OSError):
            receipts.write(layout, r)


def _selections(w: _Want) -> list[str]:
    """The receipt's selections plus those of this pull that it does not list yet."""
    have = w.receipt.selections if w.receipt is not None else []
    return [*have, *[s for s in w.specs if s not in have]]


def _space(todo: list[_Want], layout: Layout, opts: PullOptions) -> list[FsVerdict]:
    claims: list[tuple[Path, Need]] = []
    for w in todo:
        remote = w.remote
        assert remote is not None  # `_decide` resolved every file it left to download
        key = partials.partial_key(remote.sha256, w.asset.source, remote.commit)
        held = partials.held_bytes(layout, key) if layout.partials.is_dir() else 0
        claims.append((layout.partials, Need(w.asset.dest, remote.size, held)))
        dest_dir = layout.dest(w.asset.dest).parent
        if not same_fs(layout.partials, dest_dir):
            claims.append((dest_dir, Need(w.asset.dest + " (copy)", remote.size)))
    return plan_space(claims, opts.min_free)


def _plan_rows(wants: list[_Want]) -> list[dict[str, Any]]:
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


def _result(w: _Want, state: str) -> ItemResult:
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


def _download_all(
    todo: list[_Want], layout: Layout, opts: PullOptions, deadline: float | None
) -> list[ModelctlError]:
    """Install `todo`, `opts.jobs` at a time; the errors of the failed ones, in `todo` order."""
    errors: dict[int, ModelctlError] = {}

    def one(i: int, w: _Want) -> None:
        started = time.monotonic()
        try:
            _install(w, layout, opts, deadline)
        except ModelctlError as exc:
            w.result = _result(w, "failed")
            w.result.error = redact(exc.message)
            errors[i] = exc
            opts.reporter.event("failed", dest=w.asset.dest, id=w.asset.id, error=w.result.error)
        finally:
            if w.result is not None:
                w.result.seconds = round(time.monotonic() - started, 3)

    if not todo:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(opts.jobs, len(todo)))) as ex:
        futures = [ex.submit(one, i, w) for i, w in enumerate(todo)]
        try:
            for f in futures:
                while not f.done():
                    wait([f], timeout=0.1)  # wakes when done; the timeout lets Ctrl-C through
                f.result()
        except BaseException:
            opts.cancel.set()
            raise
    return [errors[i] for i in sorted(errors)]


def _install(w: _Want, layout: Layout, opts: PullOptions, deadline: float | None) -> None:
    asset, remote = w.asset, w.remote
    assert remote is not None
    dest = asset.dest

    def waiting(what: str) -> Callable[[], None]:
        return lambda: opts.reporter.event("waiting", dest=dest, id=asset.id, on=what)

    with locks.hold(
        layout.lock(dest), opts.lock_timeout, f"pulling {dest}", waiting("dest"), deadline
    ):
        _look(w, layout)  # another process may have finished it while we waited
        state = w.state
        if state == "installed" and _receipt_current(w):
            _present(w, layout, opts)
            return
        if state == "unmanaged" and not opts.force:
            _refuse_unmanaged([w], layout, opts)
        key = partials.partial_key(remote.sha256, asset.source, remote.commit)
        with locks.hold(partials.lock_path(layout, key), opts.lock_timeout, f"downloading {dest}",
                        waiting("partial"), deadline):  # fmt: skip
            result = _fetch_verified(w, layout, opts, deadline, key)
            replace = state in ("modified", "outdated") or (state == "unmanaged" and opts.force)
            done = _publish(w, layout, result, replace)
    opts.reporter.event("done", **done)


def _fetch_verified(
    w: _Want, layout: Layout, opts: PullOptions, deadline: float | None, key: str
) -> tuple[partials.Partial, Any]:
    from modelctl.transfer.fetch import TransferOptions, fetch

    asset, remote = w.asset, w.remote
    assert remote is not None and opts.retry is not None
    topts = TransferOptions(
        connections=max(1, opts.connections),
        segment_threshold=opts.segment_threshold,
        stall_timeout=opts.stall_timeout,
        retry=opts.retry,
        deadline=deadline,
    )
    for attempt in (0, 1):
        state = partials.PartialState(key, asset.source, remote.size, remote.sha256, remote.commit)
        part = partials.claim(layout, state)
        resumed = partials.Ranges(part.state.written).total()
        opts.reporter.event(
            "start", dest=asset.dest, id=asset.id, size=remote.size, resumed=resumed,
            source=remote.display,
        )  # fmt: skip
        result = fetch(
            remote, part, topts, lambda n: opts.reporter.advance(asset.dest, n), opts.cancel
        )
        problem = _hash_problem(remote, part, result)
        if problem is None:
            break
        part.discard()
        if result.resumed and attempt == 0:
            opts.reporter.event("retry", dest=asset.dest, id=asset.id, reason=problem)
            continue  # kept bytes from an earlier run may be the bad ones: once more from zero
        raise SourceError(
            f"{remote.display}: {problem}; nothing was placed at {asset.dest}",
            "the source sent corrupt or different bytes; run again later, or check the "
            "manifest's sha256 and revision",
        )
    from modelctl.formats.sniff import pickle_reason

    reason = pickle_reason(part.data, asset.dest)
    if reason and not (asset.allow_pickle and asset.sha256):
        raise CheckFailed(
            f"{asset.dest}: refusing to place {reason} (pickle runs code when loaded)",
            "prefer a .safetensors build; to accept this file set `allow_pickle: true` and pin its "
            "`sha256:` in the manifest",
        )
    if opts.post_verify is not None:
        opts.post_verify(asset, part.data)
    return part, result


def _hash_problem(remote: RemoteFile, part: partials.Partial, result: Any) -> str | None:
    if remote.sha256:
        if result.sha256 != remote.sha256:
            return f"sha256 mismatch: expected {remote.sha256}, got {result.sha256}"
        return None
    etag = (remote.etag or "").lower()
    if remote.commit and HEX40_RE.fullmatch(etag):  # a small git file: its etag is the blob sha1
        from modelctl.store.hashing import git_blob_sha1

        got = git_blob_sha1(part.data, result.size)
        if got != etag:
            return f"git blob sha1 mismatch: expected {etag}, got {got}"
    return None


def _publish(
    w: _Want, layout: Layout, fetched: tuple[partials.Partial, Any], replace: bool
) -> dict[str, Any]:
    from modelctl.store.hashing import hash_file
    from modelctl.store.install import DestinationExists, fsync_file, publish, write_receipt

    part, result = fetched
    asset, remote = w.asset, w.remote
    assert remote is not None
    path = layout.dest(asset.dest)
    fsync_file(part.data)
    try:
        publish(part.data, path, replace=replace)
    except DestinationExists:
        # someone placed a file meanwhile: fine if it is the same content (git-lfs), else refuse
        if not (remote.sha256 and hash_file(path, xxh3=False).sha256 == remote.sha256):
            raise CheckFailed(
                f"{asset.dest} appeared while downloading and is not the expected file",
                "check it with `modelctl verify`, move it away, or pass --force",
            ) from None
    part.discard()  # what is left of the partial: its state (the bytes were moved or are the same)
    write_receipt(
        layout,
        asset.dest,
        source=asset.source,
        sha256=result.sha256,
        commit=remote.commit,
        revision=asset.revision,
        selections=_selections(w),
    )
    w.result = _result(w, "downloaded")
    w.result.sha256, w.result.size = result.sha256, result.size
    w.result.fetched, w.result.resumed = result.fetched, result.resumed
    return {"dest": asset.dest, "id": asset.id, "sha256": result.sha256, "size": result.size,
            "fetched": result.fetched, "resumed": result.resumed}  # fmt: skip
