"""ComfyUI's model folders, read from `data/comfyui_folders.json`: the one place for these facts.

The folder names, the legacy names ComfyUI maps (`unet` -> `diffusion_models`, `clip` ->
`text_encoders`), the keys of an `extra_model_paths.yaml` section that are no folder, the folders
ComfyUI-GGUF builds, the file suffixes of model files and the role a file in each folder plays.
Every fact in the data file names the upstream file and commit it was read from, so checking one
against a newer ComfyUI is a data edit.

JSON read with the stdlib, not YAML through `modelctl.datafiles`: `modelctl comfyui-paths` runs at
every container start on the stdlib-only fast path (`modelctl.ensure.fast`), which must not import
yaml nor pathlib, and `store.layout` (imported by every store module) maps legacy names with it.
"""

from __future__ import annotations

import json
import os
from functools import cache

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import; annotations are strings anyway
    from typing import Any

DATA_FILE = os.path.join(os.path.dirname(__file__), "data", "comfyui_folders.json")


@cache
def _data() -> dict[str, Any]:
    with open(DATA_FILE, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def folders() -> tuple[str, ...]:
    """ComfyUI's model folder keys, in the order `comfyui-paths` writes them."""
    return tuple(_data()["folders"]["names"])


def legacy_names() -> dict[str, str]:
    """Old folder name -> the key ComfyUI maps it to (`folder_paths.map_legacy`)."""
    return dict(_data()["legacy_names"]["names"])


def canonical(folder: str) -> str:
    """The folder ComfyUI reads for `folder`: legacy names mapped, any other name as it is."""
    return _data()["legacy_names"]["names"].get(folder, folder)


def subfolders(key: str) -> tuple[str, ...]:
    """The folders of a models dir that feed ComfyUI's `key`: its own, then its legacy names.

    `diffusion_models` and `unet` both read `diffusion_models/` and `unet/`, because a file may sit
    in either (older guides and tools write `unet/`); any other key reads its own folder.
    """
    names = _data()["legacy_names"]["names"]
    target = names.get(key, key)
    return (target, *(old for old, new in names.items() if new == target))


def not_folders() -> frozenset[str]:
    """Keys of an `extra_model_paths.yaml` section that name no model folder."""
    return frozenset(_data()["not_folders"]["names"])


def gguf_folders() -> dict[str, tuple[str, ...]]:
    """ComfyUI-GGUF's folder key -> the keys whose path list it takes (first one ComfyUI has)."""
    return {key: tuple(targets) for key, targets in _data()["gguf"]["folders"].items()}


def gguf_extensions() -> tuple[str, ...]:
    """The file suffixes ComfyUI-GGUF's folders list."""
    return tuple(_data()["gguf"]["extensions"])


def model_extensions() -> tuple[str, ...]:
    """Lower-case suffixes of model files (ComfyUI's `supported_pt_extensions` and more)."""
    ext = _data()["model_extensions"]
    return tuple(e.lower() for e in (*ext["supported_pt_extensions"], *ext["more"]))


def folder_roles() -> dict[str, str]:
    """Folder (legacy names included) -> the manifest role of a file there; others are `other`."""
    roles = dict(_data()["roles"]["by_folder"])
    for old, new in legacy_names().items():
        if new in roles:
            roles.setdefault(old, roles[new])
    return roles
