"""ComfyUI workflow JSON -> a flat list of nodes, whatever the format and nesting.

Two formats exist (Comfy-Org/ComfyUI_frontend `src/schemas/comfyWorkflowSchema.ts`):
- UI format (what "Save" writes and templates ship): `nodes` with positional `widgets_values`,
  `properties.models` (`zModelFile`: name, url, hash?, hash_type?, directory), a root `models` list,
  and `definitions.subgraphs[*]`, each a graph of its own whose instances are nodes whose `type` is
  the subgraph's id. Subgraphs may contain instances of other subgraphs, to any depth.
- API format (what "Export (API)" writes and `/prompt` takes): `{id: {class_type, inputs}}` with
  named inputs; links are `[node_id, slot]` lists. A `/prompt` body or a history entry wraps it as
  `{"prompt": {...}}` and may carry the UI workflow too, which we prefer since only it has URLs.

A node runs only when it and every subgraph instance around it is active (mode not NEVER/BYPASS),
as the frontend's `isNodeAndAncestorsActive` decides. Nodes of subgraph definitions that no node
instantiates never run either.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from modelctl.errors import BadInput
from modelctl.workflow.table import Table

MAX_BYTES = 64 << 20
MAX_DEPTH = 64
# The longest integer a workflow may hold: ComfyUI's server parses /prompt bodies with Python's
# `json`, which refuses more than 4300 digits (CPython's default int_max_str_digits, gh-95778),
# and its frontend reads numbers as doubles (Infinity past ~309 digits). Fixed here rather than
# taken from the interpreter, where PYTHONINTMAXSTRDIGITS=0 would make int() of a 64 MiB number
# quadratic.
MAX_INT_DIGITS = 4300
# JSON strings and numbers (RFC 8259 section 6 and 7), to find a number outside any string
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')
RESAVE = "save the workflow again from ComfyUI (Save or Export (API)); do not edit it by hand"


@dataclass(frozen=True)
class Node:
    """One node, with its place in the subgraph nesting (`path`, e.g. `5:12`)."""

    path: str
    type: str
    title: str
    active: bool
    widgets: tuple[Any, ...] = ()
    named: dict[str, Any] = field(default_factory=dict)
    models: tuple[Any, ...] = ()
    subgraph_instance: bool = False

    def value(self, name: str, index: int) -> Any:
        """A widget's value: by name (API inputs, mapping widgets_values), else by position."""
        if name in self.named:
            return self.named[name]
        if 0 <= index < len(self.widgets):
            return self.widgets[index]
        return None

    def strings(self) -> list[str]:
        """Every string widget/input value of this node (links are lists and are skipped)."""
        values = [*self.widgets, *self.named.values()]
        return [v for v in values if isinstance(v, str)]

    def label(self) -> str:
        title = f' "{self.title}"' if self.title and self.title != self.type else ""
        return f"{self.type}{title} (node {self.path})"


@dataclass(frozen=True)
class Workflow:
    format: str  # "ui" or "api"
    nodes: tuple[Node, ...]
    root_models: tuple[tuple[str, Any], ...]  # (where, raw entry) of workflow-level `models`


def too_large(where: str, size: int) -> BadInput:
    """The error for a workflow of `size` bytes, over `MAX_BYTES`."""
    return BadInput(
        f"{where} is {size} bytes, over the {MAX_BYTES >> 20} MiB limit",
        "give a workflow .json file (workflows are far smaller)",
    )


def load_json(data: bytes, where: str) -> Any:
    """Parse workflow bytes as JSON, with one readable error for anything that is not."""
    if len(data) > MAX_BYTES:
        raise too_large(where, len(data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"{where} is not UTF-8 text (byte {exc.start})", "give a workflow .json file"
        ) from None
    try:
        return json.loads(text, parse_int=_int)
    except _LongInteger as exc:
        raise BadInput(
            f"{where}:{_line_of_long_int(text, exc.limit)}: a {exc.digits}-digit integer, "
            f"over the {exc.limit} digits a workflow may hold",
            RESAVE,
        ) from None
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            "give a workflow saved by ComfyUI (Save or Export (API))",
        ) from None
    except RecursionError:
        raise BadInput(f"{where} is nested too deeply to be a workflow", RESAVE) from None


class _LongInteger(ValueError):
    def __init__(self, digits: int, limit: int) -> None:
        super().__init__(f"{digits}-digit integer")
        self.digits = digits
        self.limit = limit


def _digit_limit() -> int:
    """MAX_INT_DIGITS, or the interpreter's own limit where PYTHONINTMAXSTRDIGITS set it lower."""
    # the limit (and this function) arrived in CPython 3.11 and 3.10.7
    interpreter = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
    return min(MAX_INT_DIGITS, interpreter) if interpreter else MAX_INT_DIGITS


def _int(text: str) -> int:
    """`json`'s `parse_int`: digits counted before `int()` converts them (see MAX_INT_DIGITS)."""
    digits = len(text) - text.startswith("-")
    limit = _digit_limit()
    if digits > limit:
        raise _LongInteger(digits, limit)
    return int(text)


def _line_of_long_int(text: str, limit: int) -> int:
    """The 1-based line of the first integer of more than `limit` digits outside strings: the
    one `_int` refused, since `json` parses the numbers in document order."""
    for match in _JSON_TOKEN.finditer(text):
        digits = match.group().lstrip("-")
        if len(digits) > limit and digits.isdigit():  # not a string, not a float
            return text.count("\n", 0, match.start()) + 1
    return 1


def parse(doc: Any, where: str, table: Table) -> Workflow:
    """Turn a parsed JSON document into a `Workflow`, or explain why it is not one."""
    if isinstance(doc, dict) and isinstance(doc.get("prompt"), dict):
        pnginfo = _dict(_dict(doc.get("extra_data")).get("extra_pnginfo"))
        ui = (
            doc.get("workflow")
            if isinstance(doc.get("workflow"), dict)
            else pnginfo.get("workflow")
        )
        if isinstance(ui, dict) and isinstance(ui.get("nodes"), list):
            return _parse_ui(ui, where, table)
        return _parse_api(doc["prompt"], where)
    if isinstance(doc, dict) and isinstance(doc.get("nodes"), list):
        return _parse_ui(doc, where, table)
    if _is_api(doc):
        return _parse_api(doc, where)
    raise BadInput(
        f"{where} is not a ComfyUI workflow: expected `nodes` (UI format) or "
        "`{id: {class_type, inputs}}` (API format)",
        "save the workflow from ComfyUI with Save or Export (API)",
    )


def _dict(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (for optional wrapper fields)."""
    return value if isinstance(value, dict) else {}


def _is_api(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and bool(doc)
        and all(isinstance(v, dict) and isinstance(v.get("class_type"), str) for v in doc.values())
    )


def _parse_api(prompt: dict[str, Any], where: str) -> Workflow:
    if not _is_api(prompt):
        raise BadInput(
            f"{where}: `prompt` is not an API-format workflow", "export it with Export (API)"
        )
    nodes = []
    for node_id, node in prompt.items():
        inputs = node.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise BadInput(f"{where}: node {node_id} has `inputs` that is not an object", RESAVE)
        title = _dict(node.get("_meta")).get("title")
        if not isinstance(title, str):
            title = node["class_type"]
        nodes.append(Node(str(node_id), node["class_type"], title, True, named=dict(inputs)))
    return Workflow("api", tuple(nodes), ())


def _parse_ui(doc: dict[str, Any], where: str, table: Table) -> Workflow:
    defs = _definitions(doc, where)
    root_models: list[tuple[str, Any]] = []
    _root_models(doc, "workflow", where, root_models)
    for sid, sub in defs.items():
        _root_models(sub, f"subgraph {sid}", where, root_models)
    out: list[Node] = []
    seen: set[str] = set()
    _walk(doc, "", True, (), defs, table, where, out, seen)
    for sid, sub in defs.items():
        if sid not in seen:  # defined but never placed: its nodes never run
            _walk(sub, f"{sid}:", False, (sid,), defs, table, where, out, seen)
    return Workflow("ui", tuple(out), tuple(root_models))


def _root_models(graph: dict[str, Any], label: str, where: str, out: list[tuple[str, Any]]) -> None:
    models = graph.get("models")
    if models is None:
        return
    if not isinstance(models, list):
        raise BadInput(f"{where}: the {label} `models` is not a list", RESAVE)
    out.extend((f"{label} models[{i}]", m) for i, m in enumerate(models))


def _definitions(doc: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Every subgraph definition by id, including definitions nested inside definitions."""
    found: dict[str, dict[str, Any]] = {}
    stack = [doc]
    while stack:
        graph = stack.pop()
        definitions = graph.get("definitions")
        if definitions is not None and not isinstance(definitions, dict):
            raise BadInput(f"{where}: `definitions` is not an object", RESAVE)
        subs = (definitions or {}).get("subgraphs") or []
        if not isinstance(subs, list):
            raise BadInput(f"{where}: definitions.subgraphs is not a list", RESAVE)
        for sub in subs:
            if not isinstance(sub, dict) or not isinstance(sub.get("id"), str):
                raise BadInput(f"{where}: a subgraph definition has no id", RESAVE)
            if not isinstance(sub.get("nodes", []), list):
                raise BadInput(
                    f"{where}: subgraph {sub['id']} has `nodes` that is not a list", RESAVE
                )
            if sub["id"] not in found:
                found[sub["id"]] = sub
                stack.append(sub)
    return found


def _walk(
    graph: dict[str, Any],
    prefix: str,
    active: bool,
    stack: tuple[str, ...],
    defs: dict[str, dict[str, Any]],
    table: Table,
    where: str,
    out: list[Node],
    seen: set[str],
) -> None:
    if len(stack) > MAX_DEPTH:
        raise BadInput(f"{where}: subgraphs are nested more than {MAX_DEPTH} deep", RESAVE)
    for i, raw in enumerate(graph.get("nodes") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise BadInput(
                f"{where}: node #{i} of {prefix or 'the workflow'} has no `type`", RESAVE
            )
        path = f"{prefix}{raw.get('id', i)}"
        mode = raw.get("mode", 0)
        node_active = active and not (isinstance(mode, int) and mode in table.inactive_modes)
        node = _ui_node(raw, path, node_active, where, defs)
        out.append(node)
        if node.subgraph_instance:
            sid = raw["type"]
            if sid in stack:
                raise BadInput(f"{where}: subgraph {sid} contains itself (node {path})", RESAVE)
            seen.add(sid)
            _walk(defs[sid], f"{path}:", node_active, (*stack, sid), defs, table, where, out, seen)


def _ui_node(
    raw: dict[str, Any], path: str, active: bool, where: str, defs: dict[str, dict[str, Any]]
) -> Node:
    values = raw.get("widgets_values")
    widgets: tuple[Any, ...] = ()
    named: dict[str, Any] = {}
    if isinstance(values, list):
        widgets = tuple(values)
    elif isinstance(values, dict):
        named = dict(values)
    models = _dict(raw.get("properties")).get("models")
    if models is not None and not isinstance(models, list):
        raise BadInput(f"{where}: node {path} has properties.models that is not a list", RESAVE)
    title = raw.get("title")
    if not isinstance(title, str):
        title = raw["type"]
    return Node(
        path,
        raw["type"],
        title,
        active,
        widgets,
        named,
        tuple(models or ()),
        raw["type"] in defs,
    )
