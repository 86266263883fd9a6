"""SPEC strings to the selections every command works on, pinned by their lock files.

One place decides how a SPEC becomes a `Selection`: manifest lookup, variant choice,
`precision=auto` through the GPU rules, then the `NAME.lock.yaml` beside the manifest (commit +
sha256 + size) when there is one. With `locked=True` (`--locked`) a missing lock or any
disagreement between manifest and lock is a failed check (exit 1), so a reproducible build cannot
silently drift.
"""

from __future__ import annotations

from modelctl.manifest.model import Selection
from modelctl.manifest.select import resolve_spec
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
