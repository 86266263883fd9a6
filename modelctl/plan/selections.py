"""SPEC strings to the selections every command works on, pinned by their lock files.

One place decides how a SPEC becomes a `Selection`: manifest lookup, variant choice,
`precision=auto` through the GPU rules (`resolve_spec`, `resolve_auto`), then the `NAME.lock.yaml`
beside the manifest (commit + sha256 + size) when there is one. With `locked=True` (`--locked`) a
missing lock or any disagreement between manifest and lock is a failed check (exit 1), so a
reproducible build cannot silently drift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelctl.errors import BadInput
from modelctl.manifest.catalog import find
from modelctl.manifest.model import Manifest, Selection
from modelctl.manifest.select import select, split_spec
from modelctl.manifest.validate import combinations
from modelctl.plan.lockfile import apply_lock, load_lock

if TYPE_CHECKING:
    from modelctl.machine.gpu import GpuReport

# The value that stands for "the precision this GPU runs" (gpu_rules.yaml `precision_axis.auto`):
# a cheap first test, so a selection without it never loads the GPU rules.
AUTO = "auto"


def resolve_spec(spec: str, extra_dirs: str | None = None, gpu_sm: int | None = None) -> Selection:
    """SPEC -> Selection, reading the manifest from the catalog or a file.

    A `precision=auto` choice is resolved for the target GPU (`gpu_sm`, `$MODELCTL_GPU_SM`, else
    the GPU probe), so every later step sees the concrete file names.
    """
    name, choices = split_spec(spec)
    return select_resolved(find(name, extra_dirs), choices, gpu_sm)


def select_resolved(
    manifest: Manifest, choices: dict[str, str], gpu_sm: int | None = None
) -> Selection:
    """`select`, then a `precision=auto` value resolved for the target GPU (see `resolve_spec`)."""
    selection = select(manifest, choices)
    if AUTO in selection.values.values():
        selection = resolve_auto(selection, gpu_sm)
    return selection


# ---- `precision: auto`
#
# Nunchaku's own loaders choose the precision from the GPU (`get_precision("auto")`) and refuse a
# file of the other one, so a manifest's `auto` default must be resolved the same way before
# anything is downloaded: for the GPU `machine.target.target_sm` names (`--gpu-sm` /
# `$MODELCTL_GPU_SM`, else the GPU probe). Without either, or on a GPU with no 4-bit kernels
# (Hopper, Volta…), it is bad input (exit 2) with a hint, never a silent guess.


def axis_name() -> str:
    """The variant axis whose `auto` value is resolved from the GPU (`precision`)."""
    from modelctl.compat.gpu_rules import rules

    return rules()["precision_axis"]["name"]


def needs_resolution(selection: Selection) -> bool:
    """True when the selection still says `precision=auto`."""
    from modelctl.compat.gpu_rules import rules

    return selection.values.get(axis_name()) == rules()["precision_axis"]["auto"]


def resolve_auto(
    selection: Selection, gpu_sm: int | None, report: GpuReport | None = None
) -> Selection:
    """The same selection with `precision=auto` replaced by the concrete precision for the GPU.

    `gpu_sm` (from `--gpu-sm`) wins, then `$MODELCTL_GPU_SM`, then the GPU probe (`report`, probed
    here when not given). Selections without `precision=auto` come back unchanged.
    """
    if not needs_resolution(selection):
        return selection
    from modelctl.compat.gpu_rules import (
        precision_choices,
        svdquant_support,
        svdquant_unsupported_reason,
    )
    from modelctl.machine.target import target_sm

    sm, where = target_sm(selection.manifest.name, gpu_sm, report)
    precision = svdquant_support(sm)
    if precision is None:
        raise BadInput(
            f"{selection.manifest.name}: precision=auto cannot be resolved for {where}: "
            + svdquant_unsupported_reason(sm),
            f"choose {precision_choices()} explicitly to prepare files for another GPU, "
            "or pass --gpu-sm for the GPU that will run it",
        )
    return select(selection.manifest, {**selection.values, axis_name(): precision})


# ---- pinned by lock files


def pinned_selection(
    spec: str, manifests: str | None = None, gpu_sm: int | None = None, locked: bool = False
) -> Selection:
    """SPEC -> Selection with every asset pinned by the manifest's lock file, if any."""
    selection = resolve_spec(spec, manifests, gpu_sm)
    return apply_lock(selection, load_lock(selection.manifest.path), locked=locked)


def pinned_selections(
    specs: list[str], manifests: str | None = None, gpu_sm: int | None = None, locked: bool = False
) -> list[Selection]:
    return [pinned_selection(spec, manifests, gpu_sm, locked) for spec in specs]


def lock_selections(manifest: Manifest, choices: dict[str, str]) -> list[Selection]:
    """What `modelctl lock` pins: the chosen selection, or every variant combination.

    A chosen (or defaulted) `precision=auto` resolves for this machine's GPU. Without a choice,
    combinations with `auto` are left out: it stands for another value of its axis, which is
    locked in its own right.
    """
    if choices:
        return [select_resolved(manifest, choices)]
    combos = [c for c in combinations(manifest.axes) if AUTO not in c.values()] or [{}]
    return [select(manifest, combo) for combo in combos]
