"""SPEC strings to the selections every command works on, pinned by their lock files.

One place decides how a SPEC becomes a `Selection`: manifest lookup, variant choice,
`precision=auto` through the GPU rules, then the `NAME.lock.yaml` beside the manifest (commit +
sha256 + size) when there is one. With `locked=True` (`--locked`) a missing lock or any
disagreement between manifest and lock is a failed check (exit 1), so a reproducible build cannot
silently drift.
"""

from __future__ import annotations

from modelctl.manifest.model import Manifest, Selection
from modelctl.manifest.select import AUTO, resolve_spec, select, select_resolved
from modelctl.manifest.validate import combinations
from modelctl.plan.lockfile import apply_lock, load_lock


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
