"""The install phase of a pull: download, verify and place each planned file.

`--jobs` files at once; each under its destination's lock on the volume (the second process waits,
then finds the receipt; a file without a current receipt is settled again and refused if it is in
the way), then its partial key's lock; claim the partial, fetch, compare size and sha256 (a
mismatch on a resumed partial retries once from zero), refuse pickles, run the identity hook
(`options.post_verify`), fsync, then `store.install.install`: intent record, publish without
clobbering (or replace a file modelctl installed, only if it is still the one looked at), fsync
the folder, receipt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from modelctl.errors import CheckFailed, ModelctlError, SourceError, from_os_error
from modelctl.manifest.uris import HEX40_RE
from modelctl.pull.options import PullOptions
from modelctl.pull.wants import (
    UNSETTLED,
    Want,
    blocker,
    check_of,
    identity,
    look,
    present,
    receipt_current,
    result_of,
    settle_locked,
    wanting_specs,
)
from modelctl.redact import redact
from modelctl.store import locks, partials
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt
from modelctl.transfer.fetch import FetchResult, fetch
from modelctl.transfer.ranges import Ranges
from modelctl.transfer.remote import RemoteFile


def download_all(
    todo: list[Want], layout: Layout, opts: PullOptions, deadline: float | None
) -> list[ModelctlError]:
    """Install `todo`, `opts.jobs` at a time; the errors of the failed ones, in `todo` order."""
    errors: dict[int, ModelctlError] = {}

    def one(i: int, w: Want) -> None:
        started = time.monotonic()
        try:
            _install(w, layout, opts, deadline)
        except ModelctlError as exc:
            w.result = result_of(w, "failed")
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


def _install(w: Want, layout: Layout, opts: PullOptions, deadline: float | None) -> None:
    asset, remote = w.asset, w.remote
    assert remote is not None  # `wants.decide` resolved every file it left to download
    dest = asset.dest

    def waiting(what: str) -> Callable[[], None]:
        return lambda: opts.reporter.event("waiting", dest=dest, id=asset.id, on=what)

    with locks.hold(
        layout.lock(dest), opts.lock_timeout, f"pulling {dest}", waiting("dest"), deadline
    ):
        look(w, layout)  # another process may have finished it while we waited
        if w.state in UNSETTLED:
            settle_locked(w, layout)
        if w.state == "installed" and receipt_current(w):
            present(w, layout, opts)
            return
        why = blocker(w, opts.force)
        if why is not None:
            raise CheckFailed(
                f"{dest}: {why}",
                "check it with `modelctl verify`, move it away, or pass --force to replace it",
            )
        key = partials.partial_key(remote.sha256, asset.source, remote.commit)
        with locks.hold(partials.lock_path(layout, key), opts.lock_timeout, f"downloading {dest}",
                        waiting("partial"), deadline):  # fmt: skip
            result = _fetch_verified(w, layout, opts, deadline, key)
            done = _publish(w, layout, result, replace=w.state != "missing")
    opts.reporter.event("done", **done)


def _fetch_verified(
    w: Want, layout: Layout, opts: PullOptions, deadline: float | None, key: str
) -> tuple[partials.Partial, FetchResult]:
    asset, remote = w.asset, w.remote
    assert remote is not None  # `wants.decide` resolved every file it left to download
    topts = dataclasses.replace(opts.transfer, deadline=deadline)
    for attempt in (0, 1):
        state = partials.PartialState(key, asset.source, remote.size, remote.sha256, remote.commit)
        part = partials.claim(layout, state)
        resumed = Ranges(part.state.written).total()
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
        try:
            part.discard()
        except OSError as exc:
            raise from_os_error(
                exc, f"while discarding the bad download of {asset.dest}", part.data
            ) from None
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


def _hash_problem(remote: RemoteFile, part: partials.Partial, result: FetchResult) -> str | None:
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
    w: Want, layout: Layout, fetched: tuple[partials.Partial, FetchResult], replace: bool
) -> dict[str, Any]:
    """Place the verified partial (`store.install.install`) and say what was checked.

    `replace`: the destination held a file (one `blocker` let through) when it was looked at; it
    is replaced only if it is still that file (same size, mtime and inode), so a file someone
    wrote there during the download is never overwritten. (Between this check and the rename
    there is a window of microseconds that no rename(2) flag closes.)
    """
    from modelctl.store.hashing import hash_file
    from modelctl.store.install import DestinationExists, fsync_file, install, write_receipt

    part, result = fetched
    asset, remote = w.asset, w.remote
    assert remote is not None  # `wants.decide` resolved every file it left to download
    path = layout.dest(asset.dest)
    verified = check_of(remote)
    fsync_file(part.data)
    if replace and identity(path) != w.seen:
        raise CheckFailed(
            f"{asset.dest} changed while it was being downloaded; nothing was replaced",
            "check it with `modelctl verify`, then run the same command again",
        )
    draft = Receipt(
        dest=asset.dest, source=asset.source, sha256=result.sha256, size=0, mtime_ns=0, inode=0,
        commit=remote.commit, revision=asset.revision,
        selections=wanting_specs(w, replacing=replace), verified=verified,
    )  # fmt: skip
    try:
        install(layout, part.data, draft, replace=replace and w.seen is not None)
    except DestinationExists:
        # someone placed a file meanwhile: fine if it is the same content (git-lfs), else refuse
        if not (remote.sha256 and hash_file(path, xxh3=False).sha256 == remote.sha256):
            raise CheckFailed(
                f"{asset.dest} appeared while downloading and is not the expected file",
                "check it with `modelctl verify`, move it away, or pass --force",
            ) from None
        write_receipt(layout, asset.dest, source=asset.source, sha256=result.sha256,
                      commit=remote.commit, revision=asset.revision, selections=draft.selections,
                      verified="sha256")  # fmt: skip
    # what is left of the partial: its state (the bytes were moved or are the same); a volume
    # that refuses this unlink leaves a stale state file `gc` removes, never a wrong file
    with contextlib.suppress(OSError):
        part.discard()
    w.result = result_of(w, "downloaded")
    w.result.sha256, w.result.size = result.sha256, result.size
    w.result.fetched, w.result.resumed = result.fetched, result.resumed
    w.result.verified = verified
    return {"dest": asset.dest, "id": asset.id, "sha256": result.sha256, "size": result.size,
            "fetched": result.fetched, "resumed": result.resumed,
            "verified": verified}  # fmt: skip
