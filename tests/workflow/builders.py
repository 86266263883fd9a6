"""Build ComfyUI workflows in code (UI and API format), shaped like the frontend writes them.

Shapes follow Comfy-Org/ComfyUI_frontend `src/schemas/comfyWorkflowSchema.ts` (nodes with
positional `widgets_values`, `properties.models`, `definitions.subgraphs` whose instances are nodes
typed with the subgraph id) and the official templates (Comfy-Org/workflow_templates).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

HUB = "https://huggingface.co"


def model(name: str, directory: str, url: str | None = None, **extra: Any) -> dict:
    entry: dict[str, Any] = {"name": name, "directory": directory}
    if url is not None:
        entry["url"] = url
    entry.update(extra)
    return entry


def hub_url(repo: str, path: str, rev: str = "main", view: str = "resolve") -> str:
    return f"{HUB}/{repo}/{view}/{rev}/{path}"


ZIT = "Comfy-Org/z_image_turbo"


def zit_model(folder: str, name: str, view: str = "resolve") -> dict:
    """The `properties.models` entry of a Z-Image-Turbo file (`split_files/<folder>/<name>`)."""
    return model(name, folder, hub_url(ZIT, f"split_files/{folder}/{name}", view=view))


class UI:
    """A UI-format workflow under construction."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.doc: dict[str, Any] = {
            "id": "00000000-0000-4000-8000-000000000000",
            "revision": 0,
            "last_node_id": 0,
            "last_link_id": 0,
            "nodes": [],
            "links": [],
            "groups": [],
            "config": {},
            "extra": {},
            "version": 0.4,
        }

    def node(
        self,
        type_: str,
        widgets: list | dict | None = None,
        models: list[dict] | None = None,
        mode: int = 0,
        graph: dict | None = None,
        title: str | None = None,
    ) -> int:
        node_id = next(self._ids)
        node: dict[str, Any] = {
            "id": node_id,
            "type": type_,
            "pos": [0, 0],
            "size": [300, 100],
            "flags": {},
            "order": node_id,
            "mode": mode,
            "inputs": [],
            "outputs": [],
            "properties": {"Node name for S&R": type_, "cnr_id": "comfy-core", "ver": "0.3.66"},
        }
        if widgets is not None:
            node["widgets_values"] = widgets
        if models is not None:
            node["properties"]["models"] = models
        if title is not None:
            node["title"] = title
        (graph or self.doc)["nodes"].append(node)
        self.doc["last_node_id"] = node_id
        return node_id

    def subgraph(self, sub_id: str, name: str = "Subgraph", parent: dict | None = None) -> dict:
        """Define a subgraph (under `parent`'s definitions, default the root) and return it."""
        definition = {
            "id": sub_id,
            "version": 1,
            "state": {"lastGroupId": 0, "lastNodeId": 0, "lastLinkId": 0, "lastRerouteId": 0},
            "revision": 0,
            "config": {},
            "name": name,
            "inputNode": {"id": -10, "bounding": [0, 0, 120, 60]},
            "outputNode": {"id": -20, "bounding": [0, 0, 120, 60]},
            "inputs": [],
            "outputs": [],
            "widgets": [],
            "nodes": [],
            "groups": [],
            "links": [],
            "extra": {},
        }
        holder = parent if parent is not None else self.doc
        holder.setdefault("definitions", {}).setdefault("subgraphs", []).append(definition)
        return definition

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.doc, indent=1), encoding="utf-8")
        return path


def api(nodes: dict[str, tuple[str, dict]]) -> dict:
    """An API-format prompt from {id: (class_type, inputs)}."""
    return {k: {"class_type": t, "inputs": i, "_meta": {"title": t}} for k, (t, i) in nodes.items()}


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
