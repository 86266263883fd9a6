"""The slow path: resolve, plan, check the whole stacks and pull only what is missing.

Everything happens inside one `--timeout` deadline; `--offline` never touches the network and
lists what is missing. Heavy imports happen inside the functions.

Before anything is called missing or in the way, each destination whose file has no current
receipt is settled under its lock (`store.settle`, offline too): an install interrupted between
its rename and its receipt is finished, a touched file re-stamped, a file with the pinned bytes
adopted. A file that still is not what modelctl installed for these stacks (no receipt, changed
since install, installed for another stack) is refused (exit 1), never replaced: ensure makes
files present, it never overwrites one (`modelctl pull --force` does, when asked).
"""

from __future__ import annotations

import os
import sys
import time

from modelctl.ensure.cache import cache_key, stamp, write_cache
from modelctl.ensure.config import check_models_root, env_offline
from modelctl.ensure.report import report_error, report_ok

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import; annotations are strings anyway
    from collections.abc import Callable
    from typing import Any

    from modelctl.manifest.model import ResolvedAsset, Selection
    from modelctl.plan.resolve import PlanItem
    from modelctl.pull.options import Reporter
    from modelctl.pull.result import PullSummary
    from modelctl.store.layout import Layout


def run(
    specs: list[str],
    *,
    models_dir: str | None = None,
    manifests: str | None = None,
    offline: bool = False,
    timeout: float | None = None,
    json_output: bool = False,
    jobs: int | None = None,
    lock_timeout: float | None = None,
    reporter: Reporter | None = None,
    locked: bool = False,
    gpu_sm: int | None = None,
) -> int:
    """Resolve, plan, pull what is missing (unless offline), record the fast-path cache.

    Raises `ModelctlError` subclasses (the CLI maps them to exit codes). `timeout` bounds the whole
    run: it is handed to the pull as a deadline, and a watchdog ends the process with exit 5 a
    little after it in case something does not honour it (partials stay resumable: the transfer
    layer survives SIGKILL by design, so it survives this too).
    """
    from modelctl.errors import ModelctlError

    started = time.monotonic()
    offline = offline or env_offline()
    if offline:
        # huggingface_hub reads this at import time and then refuses every request itself.
        os.environ["HF_HUB_OFFLINE"] = "1"
    deadline = started + timeout if timeout else None
    cancel = start_watchdog(timeout, deadline, json_output)
    try:
        return _run(specs, models_dir, manifests, offline, deadline, json_output, jobs,
                    lock_timeout, started, reporter, locked, gpu_sm)  # fmt: skip
    except ModelctlError as exc:
        if json_output:  # scripts get a final summary either way; the error line goes to stderr
            report_error(exc.exit_code, exc.message)
        raise
    finally:
        cancel()


def start_watchdog(
    timeout: float | None, deadline: float | None, json_output: bool
) -> Callable[[], None]:
    """End the process with exit 5 shortly after `deadline`; returns the function that disarms it.

    The pull honours the deadline itself and stops cleanly; this is the backstop for what cannot be
    interrupted (a DNS lookup, a blocked read in a library). `os._exit` leaves partial files and
    releases flocks with the process, exactly like the SIGKILL the transfer layer is built for.
    """
    if deadline is None or timeout is None:
        return lambda: None
    import threading

    # the transfer checks the deadline between 1 MiB reads; give that a moment on slow links
    grace = min(30.0, max(2.0, 0.1 * timeout))

    def fire() -> None:
        if json_output:
            report_error(5, f"--timeout {timeout:g}s reached; stopped")
        sys.stderr.write(
            f"error: --timeout {timeout:g}s reached; stopped\n"
            "  hint: partial downloads are kept; run the same command again to resume\n"
        )
        sys.stderr.flush()
        os._exit(5)

    timer = threading.Timer(max(0.0, deadline - time.monotonic()) + grace, fire)
    timer.daemon = True
    timer.start()
    return timer.cancel


def _run(
    specs: list[str],
    models_dir: str | None,
    manifests: str | None,
    offline: bool,
    deadline: float | None,
    json_output: bool,
    jobs: int | None,
    lock_timeout: float | None,
    started: float,
    reporter: Reporter | None,
    locked: bool = False,
    gpu_sm: int | None = None,
) -> int:
    from modelctl.errors import BadInput
    from modelctl.plan.selections import pinned_selections
    from modelctl.store.layout import Layout
    from modelctl.store.layout import models_dir as find_models_dir

    if not specs:
        raise BadInput(
            "no SPEC to ensure",
            "pass SPECs (`modelctl ensure z-image-turbo:quant=Q8_0`) or set MODELCTL_ENSURE",
        )
    key = cache_key(specs, manifests, locked, str(gpu_sm) if gpu_sm is not None else None)
    # Stamp what resolution reads *before* reading it: a manifest edited meanwhile then fails the
    # stamp check next time instead of being trusted with the old content.
    watched = [[path, stamp(path)] for path in watch_paths(specs, manifests)]
    selections = pinned_selections(specs, manifests, gpu_sm, locked)
    layout = Layout(find_models_dir(models_dir))
    check_models_root(str(layout.root))
    items = unique_items(selections, layout)
    if settle_items(selections, items, layout, lock_timeout, deadline):
        items = unique_items(selections, layout)
    refuse_in_the_way(selections, items, offline)
    pending = [i for i in items if i.state != "installed"]
    if offline:
        from modelctl.sources.resolve import is_network

        remote = [i for i in pending if is_network(i.asset)]
        if remote:
            raise_offline(remote)
    downloaded = 0
    if pending:
        result = pull(selections, pending, layout, deadline, offline, reporter, jobs, lock_timeout,
                      gpu_sm, locked)  # fmt: skip
        downloaded = sum(1 for r in result.items if r.state == "downloaded")
        items = unique_items(selections, layout)
        left = [i for i in items if i.state != "installed"]
        if left:
            raise_not_installed(left)
    root = str(layout.root)
    assets = [asset_facts(i.asset, layout) for i in items]
    specs_out = [s.spec for s in selections]
    write_cache(root, key, {"written": time.time(), "specs": specs_out, "watch": watched,
                            "assets": assets})  # fmt: skip
    # all installed: each has a receipt that matched its file's stat
    total = sum(i.receipt.size for i in items if i.receipt is not None)
    report_ok(
        json_output,
        specs=specs_out,
        root=root,
        assets=len(items),
        total=total,
        downloaded=downloaded,
        seconds=time.monotonic() - started,
        fast=False,
    )
    return 0


def watch_paths(specs: list[str], manifests: str | None) -> list[str]:
    """Every file and folder whose change could change what `specs` resolve to."""
    from modelctl.manifest.catalog import entries, is_path_spec, search_dirs
    from modelctl.manifest.select import split_spec

    paths: list[str] = []
    dirs = search_dirs(manifests)
    catalog = None
    for spec in specs:
        name, _ = split_spec(spec)
        if is_path_spec(name):
            files = [os.path.abspath(os.path.expanduser(name))]
        else:
            paths.extend(os.path.abspath(d) for d in dirs)
            catalog = catalog if catalog is not None else entries(dirs)
            files = [os.path.abspath(catalog[name].path)] if name in catalog else []
        for file in files:
            stem, ext = os.path.splitext(file)
            paths.extend([file, f"{stem}.lock{ext}"])
    return list(dict.fromkeys(paths))


def unique_items(selections: list[Selection], layout: Layout) -> list[PlanItem]:
    """Plan items of every selection, one per destination (two stacks may share a VAE)."""
    from modelctl.plan.resolve import plan

    seen: dict[str, PlanItem] = {}
    for selection in selections:
        for item in plan(selection, layout):
            seen.setdefault(item.asset.dest, item)
    return list(seen.values())


def asset_facts(asset: ResolvedAsset, layout: Layout) -> dict[str, Any]:
    """What the fast path compares with a receipt (`store.receipts.outdated_reason`'s rules), and
    where that receipt is (relative to the receipts folder: the fast path computes no names)."""
    from modelctl.manifest.uris import HEX40_RE
    from modelctl.store.receipts import locate

    pinned = asset.revision if asset.revision and HEX40_RE.fullmatch(asset.revision) else None
    found = locate(layout, asset.dest)
    receipt = found[0].relative_to(layout.receipts).as_posix() if found else None
    return {"dest": asset.dest, "source": asset.source, "sha256": asset.sha256, "commit": pinned,
            "receipt": receipt}  # fmt: skip


def settle_items(
    selections: list[Selection],
    items: list[PlanItem],
    layout: Layout,
    lock_timeout: float | None,
    deadline: float | None,
) -> bool:
    """Settle (`store.settle`, under each destination's lock) the items whose file has no current
    receipt; True when any was looked at (plan again)."""
    from modelctl.pull.wants import UNSETTLED
    from modelctl.store import locks
    from modelctl.store.settle import settle

    todo = [i for i in items if i.state in UNSETTLED]
    timeout = lock_timeout if lock_timeout is not None else 1800.0
    for item in todo:
        dest = item.asset.dest
        specs = [s.spec for s in selections if any(a.dest == dest for a in s.assets)]
        with locks.hold(layout.lock(dest), timeout, f"ensuring {dest}", None, deadline):
            settle(layout, item.asset, specs)
    return bool(todo)


def refuse_in_the_way(
    selections: list[Selection], items: list[PlanItem], offline: bool = False
) -> None:
    """CheckFailed (exit 1) naming every file ensure must not overwrite (`pull.wants.blocker`);
    a receipt-less file the Hub's sha256 may still prove right is left to the pull, which adopts
    it or refuses it the same way."""
    from modelctl.errors import CheckFailed
    from modelctl.pull.wants import Want, adoptable_later, blocker

    bad = []
    for item in items:
        specs = [s.spec for s in selections if any(a.dest == item.asset.dest for a in s.assets)]
        want = Want(item.asset, specs, None, item.state, item.receipt)
        why = blocker(want, force=False)
        if why is not None and not adoptable_later(want, offline):
            bad.append(f"{item.asset.dest} ({why})")
    if bad:
        raise CheckFailed(
            f"{len(bad)} file(s) in the way, which ensure never overwrites: {'; '.join(bad)}",
            "check with `modelctl verify`; move the file away, or replace it on purpose with "
            "`modelctl pull --force SPEC`",
        )


def describe(items: list[PlanItem]) -> str:
    return ", ".join(f"{i.asset.id} -> {i.asset.dest} ({i.state})" for i in items)


def raise_offline(pending: list[PlanItem]) -> None:
    from modelctl.errors import CheckFailed

    raise CheckFailed(
        f"offline, and {len(pending)} asset(s) are not installed: {describe(pending)}",
        "run `modelctl ensure` once with network access (unset MODELCTL_OFFLINE/HF_HUB_OFFLINE, "
        "drop --offline), or copy the files in and run `modelctl pull` with a file:// mirror",
    )


def raise_not_installed(left: list[PlanItem]) -> None:
    from modelctl.errors import CheckFailed

    raise CheckFailed(
        f"{len(left)} asset(s) are still not installed after the pull: {describe(left)}",
        "run `modelctl status` and `modelctl verify` to see why",
    )


def pull(
    selections: list[Selection],
    pending: list[PlanItem],
    layout: Layout,
    deadline: float | None,
    offline: bool,
    reporter: Reporter | None,
    jobs: int | None,
    lock_timeout: float | None,
    gpu_sm: int | None = None,
    locked: bool = False,
) -> PullSummary:
    """Check the whole stacks, then hand only what is not installed to the pull library.

    Ensure means "make present", never "update": an installed file that tracks a branch is left
    alone (no metadata request, no upgrade in passing; `modelctl pull` does that). So the pull gets
    selections trimmed to the pending assets, and the compatibility check, which needs every part
    of a stack, runs here on the full selections instead of as the pull's preflight (once, not
    twice). The pull checks disk space, then downloads under per-file locks on the volume, so
    concurrent ensures fetch each file once. Offline, only local (file://) sources are copied.
    """
    from dataclasses import replace

    from modelctl.check.hooks import post_verify, preflight
    from modelctl.errors import TimedOut
    from modelctl.pull import PullOptions, pull_selections

    preflight(selections, layout, gpu_sm, offline=offline)
    wanted = {i.asset.dest for i in pending}
    trimmed = [replace(s, assets=tuple(a for a in s.assets if a.dest in wanted))
               for s in selections]  # fmt: skip
    left = deadline - time.monotonic() if deadline is not None else None
    if left is not None and left <= 0:
        raise TimedOut("--timeout reached before the download started", "raise --timeout")
    defaults = PullOptions()
    options = PullOptions(
        offline=offline,
        require_hash=locked,
        post_verify=post_verify,
        reporter=PullEvents(reporter) if reporter is not None else defaults.reporter,
        timeout=left,
        jobs=jobs or defaults.jobs,
        lock_timeout=lock_timeout if lock_timeout is not None else defaults.lock_timeout,
    )
    return pull_selections([s for s in trimmed if s.assets], layout, options)


class PullEvents:
    """Passes pull events to the CLI's reporter; the pull's own `summary` becomes `pull_summary`
    so that the last JSON line of an ensure is always ensure's summary."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner

    def event(self, name: str, **data: Any) -> None:
        self.inner.event("pull_summary" if name == "summary" else name, **data)

    def advance(self, dest: str, n: int) -> None:
        self.inner.advance(dest, n)
