"""`modelctl lock SPEC`: where the lock file goes, whether it still pins the manifest, new pins.

Without a variant selection every variant combination is locked; with one, only that selection's
entries are refreshed and the others kept (`plan.lockfile.merge`). Pins come from metadata only
(`pinning.pin_assets`); `--check` reads nothing but the two files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelctl.errors import BadInput
from modelctl.lock.pinning import pin_assets
from modelctl.manifest.catalog import find
from modelctl.manifest.model import Manifest, Selection
from modelctl.manifest.select import split_spec
from modelctl.plan import lockfile
from modelctl.plan.selections import lock_selections
from modelctl.store.hashing import hash_file


@dataclass(frozen=True)
class LockJob:
    """What one `modelctl lock` is about: the manifest, its selections and the lock file."""

    spec: str
    manifest: Manifest
    selections: list[Selection]
    path: Path
    partial: bool  # a variant was chosen: keep the other variants' entries
    old: lockfile.Lock | None


@dataclass(frozen=True)
class Written:
    entries: list[lockfile.LockEntry]  # what this run pinned
    lock: lockfile.Lock  # the whole lock file as written (or as it already was)
    changed: bool


def prepare(spec: str, manifests: str | None, output: str | None) -> LockJob:
    """Find the manifest and its lock file (beside it, or `output`) and read the current lock."""
    name, choices = split_spec(spec)
    manifest = find(name, manifests)
    selections = lock_selections(manifest, choices)
    if output:
        path = Path(os.path.expanduser(output))
    elif manifest.path is not None:
        path = lockfile.lock_path(manifest.path)
    else:
        raise BadInput(
            f"{manifest.name} has no manifest file to put a lock beside", "pass --output"
        )
    return LockJob(spec, manifest, selections, path, bool(choices), lockfile.read_lock(path))


def disagreements(job: LockJob, lock: lockfile.Lock) -> list[str]:
    """How the lock fails to pin the job's selections, each problem once."""
    problems = [p for s in job.selections for p in lockfile.disagreements(s, lock)]
    return list(dict.fromkeys(problems))


def pin_and_write(job: LockJob) -> Written:
    """Pin every asset of the job's selections from metadata and write the merged lock."""
    entries = pin_assets(a for s in job.selections for a in s.assets)
    path = job.manifest.path
    new = lockfile.Lock(
        job.manifest.name, tuple(entries), job.path, _sha256(path) if path else None
    )
    merged = lockfile.merge(job.old, new, keep_others=job.partial)
    return Written(entries, merged, lockfile.write_lock(merged, job.path))


def _sha256(path: Path) -> str | None:
    """The manifest file's sha256 (a lock records which manifest it pinned); None if unreadable."""
    try:
        return hash_file(path, xxh3=False).sha256
    except OSError:
        return None
