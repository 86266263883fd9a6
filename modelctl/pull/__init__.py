"""Pull: plan, check space, then download, verify and place every asset of some selections.

`pull_selections(selections, layout, options) -> PullSummary` is the library entry point (the `pull`
command and `ensure` both call it). It raises `ModelctlError` subclasses; when files failed, the
summary event has gone out first and the first failure is raised (`PullSummary.first_error`).

Order of work:
1. plan (`wants`): each destination's state; files without a current receipt settled under their
   lock (interrupted installs finished, touched files re-stamped, the wanted bytes adopted); a
   file whose content is not what modelctl installed for these stacks is never overwritten
   without `--force`; installed files skipped, with no request when provably current. Names that
   do not fit the filesystem, and folders or special files at a destination, are refused here
   (`plan.volume`).
2. `options.preflight(selections, layout, offline=…)`: the compatibility check hook (exit 1), before
   any GET; offline, it opens no socket.
3. resolve the rest (one metadata request per file, in parallel; `--require-hash` refuses what
   no hash vouches for, exit 3), then the disk-space verdict (bytes and inodes, exit 4) and
   whether the folders it writes are writable (exit 2), before the first byte.
4. install (`install`): per file under locks on the volume, fetch, verify, publish, receipt.

The caller's options are never changed: what the environment adds (`HF_HUB_OFFLINE`,
`MODELCTL_RETRY_MAX_DELAY`) and the run's deadline go into copies.
"""

from __future__ import annotations

import dataclasses
import os
import time

from modelctl.manifest.model import Selection
from modelctl.plan.space import check as check_space
from modelctl.plan.volume import check_destinations, check_writable
from modelctl.pull.install import download_all
from modelctl.pull.options import PullOptions, Reporter
from modelctl.pull.result import ItemResult, PullSummary
from modelctl.pull.wants import (
    collect,
    decide,
    look,
    plan_rows,
    refuse_in_the_way,
    result_of,
    settle_all,
    space_claims,
)
from modelctl.store.layout import Layout
from modelctl.transfer.retry import RetryPolicy

__all__ = ["ItemResult", "PullOptions", "PullSummary", "Reporter", "pull_selections"]

OFFLINE_VALUES = ("1", "true", "yes", "on")  # huggingface_hub's truthy HF_HUB_OFFLINE spellings


def _effective(opts: PullOptions) -> PullOptions:
    """`opts` as the environment amends it, in a copy: `HF_HUB_OFFLINE`, and every retry wait
    capped by `MODELCTL_RETRY_MAX_DELAY` (read once, before any work: a bad value is exit 2)."""
    retry = RetryPolicy.from_env(**dataclasses.asdict(opts.transfer.retry))
    opts = dataclasses.replace(opts, transfer=dataclasses.replace(opts.transfer, retry=retry))
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES:
        opts = dataclasses.replace(opts, offline=True)
    return opts


def pull_selections(
    selections: list[Selection], layout: Layout, options: PullOptions | None = None
) -> PullSummary:
    """Make every asset of `selections` present and verified under `layout`; see module doc."""
    opts = _effective(options or PullOptions())
    deadline = time.monotonic() + opts.timeout if opts.timeout else None
    wants = collect(selections)
    for want in wants:
        look(want, layout)
    check_destinations(layout, [w.asset.dest for w in wants if w.state != "installed"])
    settle_all(wants, layout, opts, deadline)
    refuse_in_the_way(wants, opts, later=True)
    if opts.preflight is not None:
        opts.preflight(selections, layout, offline=opts.offline)
    todo = decide(wants, layout, opts, deadline)
    verdicts = space_claims(todo, layout, opts)
    summary = PullSummary([], verdicts, opts.dry_run)
    opts.reporter.event("plan", space=[v.as_dict() for v in verdicts], items=plan_rows(wants))
    if opts.dry_run:
        for w in wants:
            if w.result is None:
                w.result = result_of(w, "planned")
        summary.items = [w.result for w in wants if w.result]
        return summary
    check_space(verdicts)
    check_writable(layout, [w.asset.dest for w in todo])
    summary.errors = download_all(todo, layout, opts, deadline)
    summary.items = [w.result for w in wants if w.result]
    opts.reporter.event("summary", **summary.as_dict())
    error = summary.first_error()
    if error is not None:
        raise error
    return summary
