"""A ComfyUI install on disk (`doctor --comfyui DIR`): ComfyUI's version and the ComfyUI-nunchaku
plugin's version, read from files, without importing either.

DIR may be the ComfyUI root (with `comfyui_version.py` and `custom_nodes/`) or the plugin folder
itself. The plugin's version lives in its `pyproject.toml` (`[project] version`, what its own
`get_plugin_version()` reads); ComfyUI's in `comfyui_version.py` (`__version__ = "0.3.60"`).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelctl.compat.gpu_rules import rules
from modelctl.datafiles import read_bounded
from modelctl.errors import BadInput

MAX_BYTES = 1 << 20  # a pyproject.toml or version file of ComfyUI is a few KiB


def _read(path: Path) -> bytes:
    return read_bounded(path, MAX_BYTES)


_PY_VERSION_RE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


@dataclass(frozen=True)
class ComfyInstall:
    root: Path | None  # the ComfyUI checkout, when DIR was one
    version: str | None  # ComfyUI's own version
    plugin_dir: Path | None  # ComfyUI-nunchaku's folder, when present
    plugin_version: str | None


def inspect(directory: Path) -> ComfyInstall:
    """What `directory` holds: a ComfyUI root, a ComfyUI-nunchaku folder, or neither (bad input)."""
    directory = Path(os.path.expanduser(directory)).absolute()
    if not directory.is_dir():
        raise BadInput(
            f"--comfyui {directory}: no such folder",
            "give the ComfyUI folder or its custom_nodes/ComfyUI-nunchaku folder",
        )
    project = _project_table(directory / "pyproject.toml")
    if _is_plugin(directory, project):
        return ComfyInstall(None, None, directory, project.get("version"))
    version_file = directory / "comfyui_version.py"
    plugin = _find_plugin(directory / "custom_nodes")
    if not version_file.is_file() and plugin is None and not (directory / "custom_nodes").is_dir():
        raise BadInput(
            f"--comfyui {directory} is neither a ComfyUI folder nor ComfyUI-nunchaku",
            "give the folder holding ComfyUI's main.py and custom_nodes/, or the plugin folder",
        )
    version = _read_py_version(version_file)
    plugin_version = _project_table(plugin / "pyproject.toml").get("version") if plugin else None
    return ComfyInstall(directory, version, plugin, plugin_version)


def _names() -> set[str]:
    return {n.lower() for n in rules()["comfyui_nunchaku"]["folder_names"]}


def _is_plugin(directory: Path, project: dict[str, Any]) -> bool:
    """Named like the plugin (with a pyproject.toml), or its `[project]` table names it."""
    if directory.name.lower() in _names() and (directory / "pyproject.toml").is_file():
        return True
    return str(project.get("name") or "").lower() in _names()


def _find_plugin(custom_nodes: Path) -> Path | None:
    if not custom_nodes.is_dir():
        return None
    for child in sorted(custom_nodes.iterdir()):
        if child.is_dir() and child.name.lower() in _names():
            return child
    return None


def _read_py_version(path: Path) -> str | None:
    try:
        match = _PY_VERSION_RE.search(_read(path).decode("utf-8", errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None


def _project_table(path: Path) -> dict[str, Any]:
    if sys.version_info < (3, 11):  # tomllib arrived in 3.11
        return _project_table_fallback(path)
    else:
        import tomllib

        try:
            return tomllib.loads(_read(path).decode("utf-8")).get("project") or {}
        except (OSError, ValueError):
            return {}


def _project_table_fallback(path: Path) -> dict[str, Any]:
    """Enough TOML for `[project] name/version = "…"` when tomllib is missing."""
    try:
        text = _read(path).decode("utf-8")
    except (OSError, ValueError):
        return {}
    section = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    body = section.group(1) if section else ""
    pairs = re.findall(r"""^(name|version)\s*=\s*["']([^"']+)["']""", body, re.MULTILINE)
    return dict(pairs)
