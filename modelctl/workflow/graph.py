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
from dataclasses import dataclass, field, replace
from typing import Any

from modelctl.errors import BadInput
from modelctl.workflow.table import Table

MAX_BYTES = 16 << 20  # a real workflow is KBs to a few MB; json.loads needs ~25x the text in RAM
MAX_DEPTH = 64
# Nodes in one workflow, its subgraph definitions included: ComfyUI workflows hold hundreds
# (the official templates at most a few hundred); each is parsed once, however often placed.
MAX_NODES = 100_000
# The longest integer a workflow may hold: ComfyUI's server parses /prompt bodies with Python's
# `json`, which refuses more than 4300 digits (CPython's default int_max_str_digits, gh-95778),
# and its frontend reads numbers as doubles (Infinity past ~309 digits). Fixed here rather than
# taken from the interpreter, where PYTHONINTMAXSTRDIGITS=0 would make int() of a 64 MiB number
# quadratic.
MAX_INT_DIGITS = 4300
# JSON strings and numbers (RFC 8259 section 6 and 7), to find a number outside any string
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')
# JSON can encode lone surrogates ("\ud800"), which no UTF-8 output can print
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_TITLE = 80  # characters of a node's title in labels (and so in manifest comments)
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
    copies: int = 1  # how many placements of its subgraph hold it (see `_Graphs`)

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
        title = f' "{short(self.title)}"' if self.title and self.title != self.type else ""
        return f"{self.type}{title} (node {self.path}{copies_note(self.copies)})"


@dataclass(frozen=True)
class Workflow:
    format: str  # "ui" or "api"
    nodes: tuple[Node, ...]
    root_models: tuple[tuple[str, Any], ...]  # (where, raw entry) of workflow-level `models`


def shown(text: str) -> str:
    """A node's id, type or title as we keep it for output: lone surrogates become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def short(title: str) -> str:
    """A title cut to MAX_TITLE characters: a 5 MB title must not become a 5 MB comment."""
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def copies_note(copies: int) -> str:
    """`, 1 of 3 copies` for a node of a subgraph placed three times; empty for one."""
    return f", 1 of {copies} copies" if copies > 1 else ""


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


def _check_node_count(count: int, where: str, note: str = "") -> None:
    if count > MAX_NODES:
        raise BadInput(
            f"{where} has {count} nodes{note}, over the {MAX_NODES} modelctl reads",
            "a ComfyUI workflow has hundreds of nodes; " + RESAVE,
        )


def _parse_api(prompt: dict[str, Any], where: str) -> Workflow:
    if not _is_api(prompt):
        raise BadInput(
            f"{where}: `prompt` is not an API-format workflow", "export it with Export (API)"
        )
    _check_node_count(len(prompt), where)
    nodes = []
    for node_id, node in prompt.items():
        inputs = node.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise BadInput(f"{where}: node {node_id} has `inputs` that is not an object", RESAVE)
        title = _dict(node.get("_meta")).get("title")
        if not isinstance(title, str):
            title = node["class_type"]
        path, kind = shown(str(node_id)), shown(node["class_type"])
        nodes.append(Node(path, kind, shown(title), True, named=dict(inputs)))
    return Workflow("api", tuple(nodes), ())


def _parse_ui(doc: dict[str, Any], where: str, table: Table) -> Workflow:
    defs = _definitions(doc, where)
    root_models: list[tuple[str, Any]] = []
    _root_models(doc, "workflow", where, root_models)
    for sid, sub in defs.items():
        _root_models(sub, f"subgraph {sid}", where, root_models)
    graphs = _Graphs(doc, defs, table, where)
    return Workflow("ui", graphs.expand(), tuple(root_models))


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
            if not isinstance(sub, dict) or not isinstance(sub.get("id"), str) or not sub["id"]:
                raise BadInput(f"{where}: a subgraph definition has no id", RESAVE)
            if not isinstance(sub.get("nodes", []), list):
                raise BadInput(
                    f"{where}: subgraph {sub['id']} has `nodes` that is not a list", RESAVE
                )
            if sub["id"] not in found:
                found[sub["id"]] = sub
                stack.append(sub)
    return found


@dataclass(frozen=True)
class _Local:
    """A node as its own graph holds it: parsed once however often the graph is placed."""

    id: str
    node: Node  # path = the local id, active = its own mode
    subgraph: str | None  # the definition it places, for a subgraph instance


ROOT = ""  # the workflow's own graph, among subgraph ids


class _Graphs:
    """The workflow's graphs (its own and each subgraph definition), expanded by reference.

    A definition placed N times is not copied N times: its nodes are parsed once (`_Local`) and
    listed once, at the path of their first placement (the first through running instances when
    there is one), active when some placement runs, with `copies` = the number of placements.
    What `collect` needs of a model's users (whether any runs, and where to point at one) is
    the same either way, and a 2 KB file whose subgraphs each place 10 copies of the next no
    longer expands to 10^7 nodes. The work is linear in the nodes of the file, at most
    MAX_NODES of them.
    """

    def __init__(
        self, doc: dict[str, Any], defs: dict[str, dict[str, Any]], table: Table, where: str
    ) -> None:
        self.defs, self.where = defs, where
        graphs = {ROOT: doc, **defs}
        count = sum(len(g.get("nodes") or []) for g in graphs.values())
        _check_node_count(count, where, " (subgraph definitions included)")
        self.local = {gid: _local_nodes(g, gid, table, where, defs) for gid, g in graphs.items()}
        self.height: dict[str, int] = {}
        for gid in graphs:
            self._height(gid, (gid,))
        placed = self._first_paths(ROOT, active_only=False)
        self.roots = [ROOT, *(sid for sid in defs if sid not in placed)]  # unplaced: never run
        self.copies = self._copies(self.roots)
        self.running = self._first_paths(ROOT, active_only=True)

    def _children(self, gid: str) -> list[tuple[_Local, str]]:
        return [(n, n.subgraph) for n in self.local[gid] if n.subgraph is not None]

    def _height(self, gid: str, stack: tuple[str, ...]) -> int:
        """The deepest nesting below `gid`; refuses cycles and nesting past MAX_DEPTH (the
        recursion stops there, so it never runs deeper than MAX_DEPTH frames)."""
        if gid in self.height:
            return self.height[gid]
        best = 0
        for node, sid in self._children(gid):
            if sid in stack:
                raise BadInput(
                    f"{self.where}: subgraph {sid} contains itself (node {node.id} of "
                    f"{_graph_label(gid)})",
                    RESAVE,
                )
            if len(stack) > MAX_DEPTH:
                raise BadInput(
                    f"{self.where}: subgraphs are nested more than {MAX_DEPTH} deep", RESAVE
                )
            best = max(best, 1 + self._height(sid, (*stack, sid)))
        if best > MAX_DEPTH:
            raise BadInput(f"{self.where}: subgraphs are nested more than {MAX_DEPTH} deep", RESAVE)
        self.height[gid] = best
        return best

    def _copies(self, roots: list[str]) -> dict[str, int]:
        """How many placements (paths from a root) each graph has: one DP over the DAG."""
        order: list[str] = []  # post-order: every graph after all the graphs it places
        done: set[str] = set()

        def visit(gid: str) -> None:  # depth <= MAX_DEPTH: `_height` checked every chain
            done.add(gid)
            for _node, sid in self._children(gid):
                if sid not in done:
                    visit(sid)
            order.append(gid)

        for root in roots:
            if root not in done:
                visit(root)
        copies = dict.fromkeys(order, 0)
        for root in roots:
            copies[root] = 1
        for gid in reversed(order):  # parents before children
            for _node, sid in self._children(gid):
                copies[sid] += copies[gid]
        return copies

    def _first_paths(self, root: str, active_only: bool) -> dict[str, str]:
        """The path prefix of the first placement (in node order, depth first, as a full
        expansion meets them) of each graph placed under `root`; with `active_only`, through
        running instances only, so its keys are the graphs that run at all."""
        first = {root: ""}

        def visit(gid: str) -> None:  # depth <= MAX_DEPTH: `_height` checked every chain
            for node, sid in self._children(gid):
                if sid not in first and (node.node.active or not active_only):
                    first[sid] = f"{first[gid]}{node.id}:"
                    visit(sid)

        visit(root)
        return first

    def expand(self) -> tuple[Node, ...]:
        """Every graph's nodes once, in the order a full expansion would first meet them."""
        out: list[Node] = []
        listed: set[str] = set()
        for root in self.roots:
            prefix = "" if root == ROOT else f"{root}:"
            self._emit(root, prefix, out, listed)
        return tuple(out)

    def _emit(self, gid: str, prefix: str, out: list[Node], listed: set[str]) -> None:
        listed.add(gid)
        running = gid in self.running
        prefix = self.running.get(gid, prefix)
        copies = self.copies[gid]
        as_parsed = gid == ROOT and copies == 1  # paths, modes and copies as `_local_nodes` set
        for local in self.local[gid]:
            node = local.node
            if not as_parsed:
                path, active = prefix + local.id, running and node.active
                node = replace(node, path=path, active=active, copies=copies)
            out.append(node)
            if local.subgraph is not None and local.subgraph not in listed:
                self._emit(local.subgraph, f"{node.path}:", out, listed)


def _graph_label(gid: str) -> str:
    return "the workflow" if gid == ROOT else f"subgraph {gid}"


def _local_nodes(
    graph: dict[str, Any], gid: str, table: Table, where: str, defs: dict[str, dict[str, Any]]
) -> list[_Local]:
    out = []
    for i, raw in enumerate(graph.get("nodes") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise BadInput(f"{where}: node #{i} of {_graph_label(gid)} has no `type`", RESAVE)
        local_id = shown(str(raw.get("id", i)))
        mode = raw.get("mode", 0)
        active = not (isinstance(mode, int) and mode in table.inactive_modes)
        node = _ui_node(raw, local_id, active, where, defs, _graph_label(gid))
        out.append(_Local(local_id, node, raw["type"] if node.subgraph_instance else None))
    return out


def _ui_node(
    raw: dict[str, Any],
    path: str,
    active: bool,
    where: str,
    defs: dict[str, dict[str, Any]],
    graph: str = "the workflow",
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
        raise BadInput(
            f"{where}: node {path} of {graph} has properties.models that is not a list", RESAVE
        )
    title = raw.get("title")
    if not isinstance(title, str):
        title = raw["type"]
    return Node(
        path,
        shown(raw["type"]),
        shown(title),
        active,
        widgets,
        named,
        tuple(models or ()),
        raw["type"] in defs,
    )
