"""Build the parts of a stack and check them: from a manifest selection, or from loose files / URLs.

A selection's installed files are read locally; the others are read remotely through
`identify_target`, which fetches header bytes with Range requests only, so a check never downloads a
model. Reads run in a small thread pool: a stack is a handful of files, each a few round trips.
Loose files get their role from their identity (nothing declares one). The verdicts themselves come
from the pure `modelctl.compat.parts.run_check`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from modelctl.check.targets import identify_target
from modelctl.compat.model import Part, Report
from modelctl.compat.parts import make_part, run_check
from modelctl.errors import ModelctlError

if TYPE_CHECKING:
    from modelctl.manifest.model import ResolvedAsset, Selection
    from modelctl.plan.resolve import PlanItem
    from modelctl.store.layout import Layout

LOCAL_STATES = ("installed", "modified", "unmanaged")  # what is on disk is what ComfyUI will load
MAX_READERS = 8


def _read_all(jobs: Sequence[Callable[[], Part]]) -> list[Part]:
    """Run header reads concurrently; the first failure (in stack order) is raised."""
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_READERS, len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
        results, errors = [], []
        for future in futures:
            try:
                results.append(future.result())
            except ModelctlError as exc:
                errors.append(exc)
    if errors:
        raise errors[0]
    return results


# ---- manifest selections


def selection_target(asset: ResolvedAsset) -> str:
    """What `identify_target` reads for an asset not installed: its source, at its revision."""
    if asset.source.startswith("hf://") and asset.revision:
        return f"{asset.source}@{asset.revision}"
    if asset.source.startswith("file://"):
        return urlsplit(asset.source).path
    return asset.source


def dest_folder(dest: str) -> str:
    """The ComfyUI folder of a dest, aliases mapped (`clip/a/x.gguf` -> `text_encoders/a`)."""
    from modelctl.store.layout import canonical_folder

    parent = dest.partition("/")[2].rpartition("/")[0]
    return "/".join(filter(None, [canonical_folder(dest), parent]))


def check_selection(
    selection: Selection, layout: Layout, gpu_sm: int | None = None, offline: bool = False
) -> Report:
    """Check a manifest selection: installed files read locally, the rest by header over HTTP.

    `offline`: no socket is opened. Files on disk and file:// sources are read as usual; an hf://
    or https:// asset that is not on disk cannot be read, so that is a `SourceError` naming each
    one (as `pull --offline` words it), raised before any read.
    """
    from modelctl.machine.facts import machine_env
    from modelctl.plan.resolve import plan

    env = machine_env(gpu_sm)
    selection = _resolve_precision(selection, env)
    items = plan(selection, layout)
    if offline:
        refuse_remote(items)

    def job(item: PlanItem) -> Callable[[], Part]:
        def read() -> Part:
            local = item.state in LOCAL_STATES
            target = str(item.path) if local else selection_target(item.asset)
            identity, _ = identify_target(target)
            dest = item.asset.dest
            return make_part(
                identity,
                name=dest.rsplit("/", 1)[-1],
                source=item.asset.source,
                folder=dest_folder(dest),
                role=item.asset.role,
                asset=item.asset,
            )

        return read

    parts = _read_all([job(item) for item in items])
    return run_check(selection.manifest.name, parts, env, label=selection.spec)


def refuse_remote(items: Sequence[PlanItem]) -> None:
    """`SourceError` when reading `items` would need the network: some are neither on disk nor
    file:// sources."""
    from modelctl.errors import SourceError
    from modelctl.sources.resolve import is_network

    remote = [i for i in items if i.state not in LOCAL_STATES and is_network(i.asset)]
    if remote:
        names = ", ".join(f"{i.asset.dest} ({i.state})" for i in remote)
        raise SourceError(
            f"offline, and {len(remote)} asset(s) are not installed: {names}",
            "the check reads their headers over the network: run `modelctl pull` with network "
            "access first (drop --offline / HF_HUB_OFFLINE)",
        )


def _resolve_precision(selection: Selection, env: dict[str, Any]) -> Selection:
    """Resolve a `precision=auto` variant for the GPU the check is about (plan's resolver)."""
    from modelctl.plan.selections import needs_resolution, resolve_auto

    if not needs_resolution(selection):
        return selection
    return resolve_auto(selection, env.get("gpu_sm"))


# ---- loose files and URLs


def target_location(target: str) -> tuple[str, str]:
    """(file name, folder) of a path, hf:// URI or URL; folders compare equal for siblings."""
    if target.startswith("hf://"):
        base = target.rsplit("@", 1)[0] if "@" in target.rsplit("/", 1)[-1] else target
        folder, _, name = base.rpartition("/")
        return name, folder
    if "://" in target:
        parts = urlsplit(target)
        folder, _, name = parts.path.rpartition("/")
        return name, f"{parts.scheme}://{parts.netloc}{folder}"
    path = Path(os.path.expanduser(target))
    return path.name, str(path.absolute().parent)


def check_files(targets: Sequence[str], gpu_sm: int | None = None) -> Report:
    """Check loose files / URLs as one stack, roles inferred from each file's identity."""
    from modelctl.machine.facts import machine_env

    env = machine_env(gpu_sm)

    def job(target: str) -> Callable[[], Part]:
        def read() -> Part:
            identity, _ = identify_target(target)
            name, folder = target_location(target)
            return make_part(identity, name=name, source=target, folder=folder)

        return read

    parts = _read_all([job(t) for t in targets])
    label = f"{len(parts)} file{'s' if len(parts) != 1 else ''}"
    return run_check(None, parts, env, label=label)
