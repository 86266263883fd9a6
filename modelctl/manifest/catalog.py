"""Where manifests come from: the bundled set, `$MODELCTL_MANIFESTS` / `--manifests` folders, files.

A catalog manifest lives in `<name>.yaml` (or `.yml`), so finding one by name reads one file, not
every file. Folders listed later win over earlier ones, and user folders win over the bundled set,
so a team can override a bundled stack by dropping a file of the same name. Lock files
(`NAME.lock.yaml`) sit beside manifests and are skipped here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelctl.datafiles import FileTooLarge, NotRegularFile, read_bounded
from modelctl.errors import BadInput, ManifestError
from modelctl.manifest.model import Manifest
from modelctl.manifest.validate import parse_manifest
from modelctl.manifest.yamlload import MAX_BYTES, too_large

SUFFIXES = (".yaml", ".yml")


def bundled_dir() -> Path:
    """The bundled manifests: inside the installed wheel, or `manifests/` of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "bundled_manifests"
    return installed if installed.is_dir() else package.parent / "manifests"


def search_dirs(extra: str | None = None) -> list[Path]:
    """Bundled folder first, then `$MODELCTL_MANIFESTS`, then `--manifests` (later wins)."""
    dirs = [bundled_dir()]
    for value in (os.environ.get("MODELCTL_MANIFESTS"), extra):
        if value:
            dirs.extend(Path(os.path.expanduser(p)) for p in value.split(os.pathsep) if p)
    return dirs


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    bundled: bool


def entries(dirs: Iterable[Path]) -> dict[str, Entry]:
    """Every manifest file by name (file stem); later folders override earlier ones."""
    bundled = bundled_dir()
    found: dict[str, Entry] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in SUFFIXES and not path.stem.endswith(".lock") and path.is_file():
                found[path.stem] = Entry(path.stem, path, folder == bundled)
    return found


def read_manifest(path: Path) -> Manifest:
    """Read and validate one manifest file (at most `MAX_BYTES + 1` bytes of it are read)."""
    try:
        data = read_bounded(path, MAX_BYTES)
    except FileNotFoundError:
        raise BadInput(
            f"manifest file {path} does not exist",
            "check the path, or name a bundled stack (see `modelctl list`)",
        ) from None
    except FileTooLarge as exc:
        raise too_large(str(path), exc.size) from None
    except (NotRegularFile, IsADirectoryError) as exc:
        raise BadInput(
            f"cannot read manifest {path}: {exc.strerror}", "give the path of a .yaml manifest"
        ) from None
    except OSError as exc:
        raise BadInput(
            f"cannot read manifest {path}: {exc.strerror}", "check that it is a readable file"
        ) from None
    return parse_manifest(data, path)


def load_entry(entry: Entry) -> Manifest:
    """Read a catalog entry and insist its `name:` matches its file name."""
    manifest = read_manifest(entry.path)
    if manifest.name != entry.name:
        raise ManifestError(
            f"{entry.path}: name `{manifest.name}` does not match the file name `{entry.name}`",
            f"rename the file to {manifest.name}{entry.path.suffix} or change `name:`",
        )
    return manifest


def is_path_spec(name: str) -> bool:
    return "/" in name or name.endswith(SUFFIXES) or name.startswith(".")


def find(name: str, extra_dirs: str | None = None) -> Manifest:
    """The manifest named `name`, or read from the file path `name`."""
    if is_path_spec(name):
        return read_manifest(Path(os.path.expanduser(name)))
    found = entries(search_dirs(extra_dirs))
    if name not in found:
        known = ", ".join(sorted(found)) or "(none)"
        raise BadInput(
            f"no manifest named `{name}`", f"known manifests: {known}; or give a file path"
        )
    return load_entry(found[name])
