"""The loader table: which ComfyUI node loads which model file, read from `data/loaders.yaml`.

The knowledge lives in YAML with a source per loader (repo, file, commit) so adding a custom-node
pack is a data edit, not code. The facts about ComfyUI's folders themselves (model file suffixes,
the role of a file known only by its folder) come from `store.comfyui_folders`, where the other
users of those folders read them too. This module only types and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("data") / "loaders.yaml"


@dataclass(frozen=True)
class ModelWidget:
    """One widget of a loader that names a model file."""

    input: str
    index: int
    folder: str
    role: str


@dataclass(frozen=True)
class Loader:
    class_type: str
    models: tuple[ModelWidget, ...]
    source: dict[str, Any]


@dataclass(frozen=True)
class Table:
    loaders: dict[str, Loader]
    no_file_values: frozenset[str]
    model_extensions: tuple[str, ...]
    text_only_nodes: frozenset[str]
    inactive_modes: frozenset[int]
    folder_roles: dict[str, str]
    role_priority: tuple[str, ...]

    def looks_like_model(self, value: str) -> bool:
        """A short single-line string ending in a model file suffix."""
        return (
            0 < len(value) <= 512
            and "\n" not in value
            and "://" not in value
            and value.lower().endswith(self.model_extensions)
        )

    def folder_role(self, folder: str | None) -> str:
        return self.folder_roles.get(folder or "", "other")

    def best_role(self, roles: set[str]) -> str:
        for role in self.role_priority:
            if role in roles:
                return role
        return "other"


@cache
def load_table(path: Path = DATA_FILE) -> Table:
    """Read and check the loader table (cached: it is immutable data)."""
    from modelctl.datafiles import load_yaml
    from modelctl.manifest.model import ROLES
    from modelctl.store import comfyui_folders

    data = load_yaml(path)
    sources = data["sources"]
    loaders: dict[str, Loader] = {}
    for class_type, spec in data["loaders"].items():
        if spec["source"] not in sources:
            raise ValueError(f"{path}: loader {class_type} cites unknown source {spec['source']}")
        widgets = tuple(ModelWidget(**w) for w in spec["models"])
        for w in widgets:
            if w.role not in ROLES:
                raise ValueError(f"{path}: loader {class_type} has unknown role {w.role}")
        loaders[class_type] = Loader(class_type, widgets, sources[spec["source"]])
    folder_roles = comfyui_folders.folder_roles()
    for role in folder_roles.values():
        if role not in ROLES:
            raise ValueError(f"{comfyui_folders.DATA_FILE}: unknown role {role}")
    for role in data["role_priority"]:
        if role not in ROLES:
            raise ValueError(f"{path}: unknown role {role}")
    return Table(
        loaders=loaders,
        no_file_values=frozenset(data["no_file_values"]),
        model_extensions=comfyui_folders.model_extensions(),
        text_only_nodes=frozenset(data["text_only_nodes"]),
        inactive_modes=frozenset(int(m) for m in data["inactive_modes"]),
        folder_roles=folder_roles,
        role_priority=tuple(data["role_priority"]),
    )
