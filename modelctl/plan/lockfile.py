"""Lock files: `NAME.lock.yaml` beside `NAME.yaml`, pinning each asset to commit + sha256 + size.

A manifest says *what* a stack is (`revision: main`, maybe no sha256); its lock says *which bytes*
that meant when `modelctl lock` ran, so the same stack can be rebuilt months later even after
`main` moved (a branch can move between runs, so the lock pins a 40-hex commit and takes each
sha256 from that commit).

Entries are keyed by the asset's resolved source and the revision the manifest asked for, not by
asset id: variant combinations share ids but differ in source, and two combinations that resolve
to the same file share one entry. Consumers (`pull`, `ensure`, `verify`) call:

    lock = load_lock(manifest_path)          # None when there is no lock file
    selection = apply_lock(selection, lock)  # pins revision -> commit, sha256, size
    apply_lock(selection, lock, locked=True) # `--locked`: CheckFailed (exit 1) on any disagreement

The file is written as text (JSON strings are valid YAML double-quoted scalars, so no value is
ever re-typed by YAML 1.1 on the way back), and read with the safe loader plus a type check of
every field. Stdlib only apart from PyYAML at read time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modelctl.datafiles import FileTooLarge, read_bounded
from modelctl.errors import BadInput, CheckFailed
from modelctl.manifest.model import ResolvedAsset, Selection
from modelctl.manifest.uris import HEX40_RE, HEX64_RE
from modelctl.manifest.validate import MAX_SIZE

LOCK_SCHEMA = 1
MAX_BYTES = 16 << 20  # an entry is ~300 bytes: room for 50,000 pinned files
_ENTRY_KEYS = {"id", "source", "revision", "commit", "sha256", "size"}


@dataclass(frozen=True)
class LockEntry:
    """One pinned file. `revision` is what the manifest asked for (None when it named none)."""

    source: str
    revision: str | None
    sha256: str
    size: int | None
    commit: str | None = None
    id: str = ""

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.source, self.revision)

    def to_json(self) -> dict[str, Any]:
        """The fields in the order both the lock file and `modelctl lock --json` write them."""
        return {
            "id": self.id,
            "source": self.source,
            "revision": self.revision,
            "commit": self.commit,
            "sha256": self.sha256,
            "size": self.size,
        }


@dataclass(frozen=True)
class Lock:
    manifest: str
    entries: tuple[LockEntry, ...]
    path: Path | None = None
    manifest_sha256: str | None = None

    def find(self, asset: ResolvedAsset) -> LockEntry | None:
        for entry in self.entries:
            if entry.key == (asset.source, asset.revision):
                return entry
        return None


def lock_path(manifest_path: Path) -> Path:
    """`z-image-turbo.yaml` -> `z-image-turbo.lock.yaml` (same folder, same suffix)."""
    return manifest_path.with_name(f"{manifest_path.stem}.lock{manifest_path.suffix or '.yaml'}")


def load_lock(manifest_path: Path | None) -> Lock | None:
    """The lock beside `manifest_path`, or None when there is none (or the manifest has no file)."""
    if manifest_path is None:
        return None
    return read_lock(lock_path(Path(manifest_path)))


def read_lock(path: Path) -> Lock | None:
    """The lock file at `path`, or None when there is none."""
    try:
        data = read_bounded(path, MAX_BYTES)
    except FileNotFoundError:
        return None
    except FileTooLarge as exc:
        raise BadInput(
            f"lock file {path} is {exc.size} bytes, over the {MAX_BYTES >> 20} MiB limit",
            "run `modelctl lock` again to rewrite it",
        ) from None
    except OSError as exc:
        raise BadInput(
            f"cannot read lock file {path}: {exc.strerror}",
            "check that it is a readable file, or pass --output FILE",
        ) from None
    return parse_lock(data, path)


def parse_lock(data: bytes, path: Path | None = None) -> Lock:
    """Parse and type-check a lock file; BadInput (exit 2) naming the field on any problem."""
    import yaml

    from modelctl.datafiles import load_yaml

    where = str(path) if path else "lock file"
    try:
        doc = load_yaml(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _bad(where, f"is not valid YAML ({type(exc).__name__})") from None
    except ValueError:  # PyYAML's int() of a number past 4300 digits (CPython gh-95778)
        raise _bad(where, "holds a number of more digits than Python converts (4300)") from None
    if not isinstance(doc, dict) or doc.get("lock") != LOCK_SCHEMA:
        raise _bad(where, f"is not a modelctl lock file (expected `lock: {LOCK_SCHEMA}`)")
    name = doc.get("manifest")
    if not isinstance(name, str) or not name:
        raise _bad(where, "has no `manifest:` name")
    raw = doc.get("assets")
    if not isinstance(raw, list):
        raise _bad(where, "has no `assets:` list")
    entries = tuple(_entry(where, i, item) for i, item in enumerate(raw))
    digest = doc.get("manifest_sha256")
    return Lock(name, entries, path, digest if isinstance(digest, str) else None)


def _entry(where: str, index: int, item: Any) -> LockEntry:
    label = f"asset #{index + 1}"
    if not isinstance(item, dict) or set(item) - _ENTRY_KEYS:
        raise _bad(where, f"{label} is not a mapping of {', '.join(sorted(_ENTRY_KEYS))}")
    source, sha256 = item.get("source"), item.get("sha256")
    revision, commit, size = item.get("revision"), item.get("commit"), item.get("size")
    if not isinstance(source, str) or not source:
        raise _bad(where, f"{label} has no source")
    if not isinstance(sha256, str) or not HEX64_RE.fullmatch(sha256):
        raise _bad(where, f"{label} ({source}): sha256 must be 64 lowercase hex characters")
    if revision is not None and not isinstance(revision, str):
        raise _bad(where, f"{label} ({source}): revision must be a string")
    if commit is not None and not (isinstance(commit, str) and HEX40_RE.fullmatch(commit)):
        raise _bad(where, f"{label} ({source}): commit must be 40 lowercase hex characters")
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE
    ):
        raise _bad(where, f"{label} ({source}): size must be a whole number of bytes")
    ident = item.get("id")
    return LockEntry(
        source, revision, sha256, size, commit, ident if isinstance(ident, str) else ""
    )


def _bad(where: str, problem: str) -> BadInput:
    return BadInput(
        f"{where} {problem}", "regenerate it with `modelctl lock NAME`, or delete it to unpin"
    )


def render(lock: Lock) -> str:
    """The lock as YAML text (stable order, so re-locking an unchanged stack changes nothing)."""
    lines = [
        "# Written by `modelctl lock`: each asset pinned to a commit, sha256 and size.",
        "# `modelctl pull`/`ensure` use these pins; `--locked` fails when the manifest disagrees.",
        f"lock: {LOCK_SCHEMA}",
        f"manifest: {json.dumps(lock.manifest)}",
    ]
    if lock.manifest_sha256:
        lines.append(f"manifest_sha256: {json.dumps(lock.manifest_sha256)}")
    lines.append("assets:" if lock.entries else "assets: []")
    for e in sorted(lock.entries, key=lambda e: (e.source, e.revision or "")):
        for i, (key, value) in enumerate(e.to_json().items()):
            lines.append(f"{'  - ' if i == 0 else '    '}{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def write_lock(lock: Lock, path: Path) -> bool:
    """Write `lock` to `path` atomically; False when the file already said exactly that."""
    text = render(lock)
    try:
        if read_bounded(path, MAX_BYTES).decode("utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    from modelctl.store.atomic import write_text

    try:
        write_text(path, text)
    except OSError as exc:
        raise BadInput(
            f"cannot write lock file {path}: {exc.strerror}",
            "copy the manifest to a writable folder (--manifests) or pass --output FILE",
        ) from None
    return True


def merge(old: Lock | None, new: Lock, keep_others: bool) -> Lock:
    """`new`, plus (when `keep_others`) the entries of `old` for files `new` does not cover."""
    if old is None or not keep_others or old.manifest != new.manifest:
        return new
    keys = {e.key for e in new.entries}
    kept = tuple(e for e in old.entries if e.key not in keys)
    return replace(new, entries=new.entries + kept)


def disagreements(selection: Selection, lock: Lock) -> list[str]:
    """Why `lock` does not pin `selection` exactly (empty when it does)."""
    problems = []
    if lock.manifest != selection.manifest.name:
        problems.append(f"the lock is for `{lock.manifest}`, not `{selection.manifest.name}`")
        return problems
    for asset in selection.assets:
        entry = lock.find(asset)
        rev = f"@{asset.revision}" if asset.revision else ""
        if entry is None:
            problems.append(f"asset `{asset.id}` ({asset.source}{rev}) is not in the lock")
            continue
        if asset.sha256 and asset.sha256.lower() != entry.sha256:
            problems.append(
                f"asset `{asset.id}`: the manifest pins sha256 {asset.sha256[:12]}…, "
                f"the lock {entry.sha256[:12]}…"
            )
        if asset.size is not None and entry.size is not None and asset.size != entry.size:
            problems.append(
                f"asset `{asset.id}`: the manifest says {asset.size} bytes, the lock {entry.size}"
            )
    return problems


def apply_lock(selection: Selection, lock: Lock | None, locked: bool = False) -> Selection:
    """`selection` with every locked asset pinned (revision -> commit, sha256, size).

    Assets the lock does not cover, or covers in disagreement with the manifest, stay as the
    manifest says (the manifest is newer). With `locked=True` any disagreement, or a missing
    lock, is a CheckFailed (exit 1) instead.
    """
    if lock is None:
        if locked:
            raise CheckFailed(
                f"--locked: {selection.manifest.name} has no lock file",
                f"create one with `modelctl lock {selection.manifest.name}`",
            )
        return selection
    problems = disagreements(selection, lock)
    if problems and locked:
        where = f" ({lock.path})" if lock.path else ""
        raise CheckFailed(
            f"--locked: the manifest and its lock disagree{where}: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            f"re-pin with `modelctl lock {selection.manifest.name}`, or drop --locked",
        )
    if lock.manifest != selection.manifest.name:
        return selection
    return replace(selection, assets=tuple(_pin(a, lock) for a in selection.assets))


def _pin(asset: ResolvedAsset, lock: Lock) -> ResolvedAsset:
    entry = lock.find(asset)
    if entry is None:
        return asset
    if asset.sha256 and asset.sha256.lower() != entry.sha256:
        return asset
    if asset.size is not None and entry.size is not None and asset.size != entry.size:
        return asset
    return replace(
        asset,
        revision=entry.commit or asset.revision,
        sha256=entry.sha256,
        size=entry.size if entry.size is not None else asset.size,
    )
