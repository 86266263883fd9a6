"""Which model files a workflow needs, where each goes, and where to download it from.

Two kinds of evidence, joined by file name:
- *declared* models: `properties.models` entries on nodes and the workflow-level `models` lists
  (name, url, directory, hash, hash_type), written by template authors and the frontend;
- *referenced* models: the file names that loader widgets hold (the loader table says which widget,
  which folder, which role), plus any model-looking value of a node the table does not know.

Following the frontend (`getSelectedModelsMetadata`), a declared model counts only when some node
still selects it in a widget: metadata left behind after the user picked another file is stale. We
join declared and referenced models across the whole workflow, not per node, so a URL given on one
node serves the same file loaded by another. A referenced file with no URL anywhere (nor in a known
manifest, see `catalog_lookup`) is reported as unresolved with a hint; a declared or referenced file
that no running node uses is reported as skipped with the reason. Nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelctl.errors import BadInput
from modelctl.manifest.validate import SHA256_RE
from modelctl.store.comfyui_folders import canonical
from modelctl.workflow.graph import Node, Workflow, copies_note, short
from modelctl.workflow.table import Table
from modelctl.workflow.urls import UrlError, removed_credentials, to_source

if TYPE_CHECKING:
    from modelctl.workflow.catalog_lookup import CatalogHit

# Characters no file name should hold and YAML cannot print raw: C0/C1 controls, Unicode line
# separators, lone surrogates (JSON can encode them) and the non-characters U+FFFE/U+FFFF.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Use:
    """A node that loads (or selects) a model."""

    node: str
    node_type: str
    title: str
    widget: str | None
    active: bool
    copies: int = 1  # placements of the subgraph that holds the node (`graph.Node.copies`)

    def label(self) -> str:
        title = f' "{short(self.title)}"' if self.title and self.title != self.node_type else ""
        return f"{self.node_type}{title} (node {self.node}{copies_note(self.copies)})"


@dataclass(frozen=True)
class Declared:
    """A validated `properties.models` / `models` entry."""

    name: str
    directory: str | None
    url: str | None
    source: str | None
    revision: str | None
    sha256: str | None
    where: str


@dataclass
class Model:
    """One file the workflow needs, merged over every node that uses it."""

    folder: str | None
    relpath: str
    roles: set[str] = field(default_factory=set)
    uses: list[Use] = field(default_factory=list)
    source: str | None = None
    revision: str | None = None
    sha256: str | None = None
    url: str | None = None
    origin: str | None = None  # "workflow" or "catalog:<manifest>"
    declared_where: str | None = None

    @property
    def name(self) -> str:
        return self.relpath.rsplit("/", 1)[-1]

    @property
    def dest(self) -> str | None:
        return f"{self.folder}/{self.relpath}" if self.folder else None

    @property
    def active(self) -> bool:
        return any(u.active for u in self.uses)

    def where(self) -> str:
        return self.dest or self.relpath


@dataclass
class Report:
    """The outcome of reading one workflow."""

    workflow: str
    format: str
    models: list[Model]  # resolved, used by a running node: the manifest's assets
    unresolved: list[tuple[Model, str]]  # (model, hint)
    skipped: list[tuple[Model, str]]  # (model, reason)
    warnings: list[str]


MAX_LISTED_USERS = 10


def users_label(uses: list[Use], limit: int = MAX_LISTED_USERS) -> str:
    """The distinct nodes in `uses` as one line, the first `limit` of them and a count of the
    rest: a file loaded by 100,000 nodes must not write a 3 MB comment into the manifest."""
    labels = list(dict.fromkeys(u.label() for u in uses))
    more = f", and {len(labels) - limit} more" if len(labels) > limit else ""
    return ", ".join(labels[:limit]) + more


def clean_text(text: str) -> str:
    """One printable line (for messages and YAML comments)."""
    return _CONTROL.sub("?", text)


def collect(
    wf: Workflow,
    where: str,
    table: Table,
    catalog: Callable[[], dict[str, CatalogHit]] | None = None,
) -> Report:
    """Join the workflow's declared and referenced models; see the module docstring.

    `catalog` is a callable returning `catalog_lookup.catalog_index()`-shaped dicts, or None.
    """
    warnings: list[str] = []
    declared = _declared(wf, where, table, warnings)
    decl = _Declarations(declared)

    models: dict[tuple[str, str], Model] = {}
    loose: list[tuple[str, Use]] = []
    for node in wf.nodes:
        loader = table.loaders.get(node.type)
        if loader:
            for widget in loader.models:
                value = node.value(widget.input, widget.index)
                if not isinstance(value, str) or value.strip() in table.no_file_values:
                    continue
                rel = _relpath(value, f"{where}: {node.label()} {widget.input}")
                _add(models, widget.folder, rel, widget.role, _use(node, widget.input))
        elif node.type not in table.text_only_nodes:
            for value in node.strings():
                if table.looks_like_model(value.strip()):
                    soft = _soft_relpath(value)
                    if soft is None:
                        warnings.append(
                            f"{node.label()}: ignored the odd file name `{clean_text(value)}`"
                        )
                        continue
                    loose.append((soft, _use(node)))

    for model in models.values():
        _resolve(model, decl, warnings)
    index = _ModelIndex(models)
    for rel, use in loose:
        _absorb(models, index, rel, use, decl, table, warnings)
    _selected_declared(wf, models, declared, decl.used, table)
    if catalog is not None and any(m.source is None and m.folder for m in models.values()):
        _from_catalog(models, catalog())
    return _partition(wf, where, models, declared, decl.used, warnings)


def _declared(wf: Workflow, where: str, table: Table, warnings: list[str]) -> list[Declared]:
    entries: list[tuple[str, Any]] = []
    for node in wf.nodes:
        entries.extend(
            (f"{node.label()} properties.models[{i}]", m) for i, m in enumerate(node.models)
        )
    entries.extend(wf.root_models)
    out = []
    for label, raw in entries:
        d = _parse_declared(raw, f"{where}: {label}", table, warnings)
        if d:
            out.append(d)
    return out


def _parse_declared(raw: Any, label: str, table: Table, warnings: list[str]) -> Declared | None:
    if not isinstance(raw, dict):
        raise BadInput(f"{label} is not an object", "each entry is {name, url, directory}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadInput(f"{label} has no `name`", "name the model file, e.g. ae.safetensors")
    name = name.strip()
    problem = _name_problem(name)
    if problem:
        raise BadInput(f"{label}: name `{clean_text(name)}` {problem}", "give the bare file name")
    directory = raw.get("directory")
    if directory is not None:
        if not isinstance(directory, str):
            raise BadInput(f"{label}: `directory` is not a string", "e.g. directory: vae")
        directory = directory.strip() or None
    if directory:
        problem = _name_problem(directory)
        if problem or directory.startswith("."):
            raise BadInput(
                f"{label}: directory `{clean_text(directory)}` {problem or 'is hidden'}",
                "use a ComfyUI models folder such as diffusion_models, text_encoders, vae, loras",
            )
        directory = canonical(directory)
    url = raw.get("url")
    if url is not None and not isinstance(url, str):
        raise BadInput(f"{label}: `url` is not a string", "give the download link as text")
    url = (url or "").strip() or None
    source = revision = None
    if url:
        try:
            converted = to_source(url)
        except UrlError as exc:
            raise BadInput(f"{label} ({clean_text(name)}): {exc}", exc.hint) from None
        source, revision = converted.source, converted.revision
        warnings.extend(removed_credentials(converted, f"{label}: ", name))
    return Declared(
        name, directory, url, source, revision, _sha256(raw, label, name, warnings), label
    )


def _sha256(raw: dict[str, Any], label: str, name: str, warnings: list[str]) -> str | None:
    value, kind = raw.get("hash"), raw.get("hash_type")
    if value in (None, ""):
        return None
    if not isinstance(kind, str) or kind.strip().lower() != "sha256":
        return None  # other hash kinds (AutoV2, blake3, …) cannot be verified against sha256
    if isinstance(value, str) and SHA256_RE.fullmatch(value.strip()):
        return value.strip().lower()
    warnings.append(f"{label}: ignored the hash of {name}: not 64 hexadecimal characters")
    return None


def _name_problem(name: str) -> str | None:
    if _CONTROL.search(name):
        return "contains control characters"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if name in (".", ".."):
        return f"is `{name}`"
    return None


def _relpath(value: str, label: str) -> str:
    """A loader widget value as a path inside its folder (subfolders allowed, never outside)."""
    rel = _soft_relpath(value)
    if rel is None:
        raise BadInput(
            f"{label} `{clean_text(value)}` is not a file inside the models folder",
            "pick the model from the loader's list; names may not contain `..` or be absolute",
        )
    return rel


def _soft_relpath(value: str) -> str | None:
    text = value.strip().replace("\\", "/")
    if not text or _CONTROL.search(text) or text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return None
    parts = text.split("/")
    if any(p in ("", ".", "..") for p in parts) or parts[0].startswith("."):
        return None
    return text


def _add(models: dict[tuple[str, str], Model], folder: str, rel: str, role: str, use: Use) -> None:
    folder = canonical(folder)
    key = (folder, rel.casefold())
    model = models.setdefault(key, Model(folder, rel))
    model.roles.add(role)
    model.uses.append(use)


class _Declarations:
    """The declared models by file name, which of them some node uses (`used`, by id), and the
    per-name answers `_resolve` and `_absorb` need, worked out once per name (and folder): 50,000
    nodes loading `sub{i}/x.safetensors` beside 50,000 declarations of `x.safetensors` must not
    compare every pair (a 100,000-node workflow is within `graph.MAX_NODES`)."""

    def __init__(self, declared: list[Declared]) -> None:
        self.by_name: dict[str, list[Declared]] = {}
        for d in declared:
            self.by_name.setdefault(d.name, []).append(d)
        self.used: set[int] = set()
        self._marked: set[str] = set()
        self._picks: dict[tuple[str, str | None], tuple[Declared | None, bool]] = {}
        self._folders: dict[str, str | None] = {}

    def key(self, rel: str) -> str | None:
        """The name `rel`'s declarations are listed under: the whole relpath, else its base."""
        if rel in self.by_name:
            return rel
        base = rel.rsplit("/", 1)[-1]
        return base if base in self.by_name else None

    def mark_used(self, key: str) -> None:
        if key not in self._marked:
            self._marked.add(key)
            self.used.update(id(d) for d in self.by_name[key])

    def pick(self, key: str, folder: str | None) -> tuple[Declared | None, bool]:
        """The declaration to take the URL from for a file in `folder` (one for that folder
        first), and whether others give another URL."""
        if (key, folder) not in self._picks:
            candidates = self.by_name[key]
            same_folder = (d for d in candidates if d.directory in (None, folder))
            pick = next((d for d in same_folder if d.source), None) or next(
                (d for d in candidates if d.source), None
            )
            several = pick is not None and any(
                d.source and (d.source, d.revision) != (pick.source, pick.revision)
                for d in candidates
            )
            self._picks[key, folder] = (pick, several)
        return self._picks[key, folder]

    def folder(self, key: str | None) -> str | None:
        """The directory of the first declaration under `key` that names one."""
        if key is None:
            return None
        if key not in self._folders:
            self._folders[key] = next((d.directory for d in self.by_name[key] if d.directory), None)
        return self._folders[key]


class _ModelIndex:
    """The models by case-folded relpath and by case-folded file name, each the first in
    `models` order (what `_absorb` used to find by scanning every model per value)."""

    def __init__(self, models: dict[tuple[str, str], Model]) -> None:
        self._order: dict[int, int] = {}
        self._by_rel: dict[str, Model] = {}
        self._by_name: dict[str, Model] = {}
        for model in models.values():
            self.add(model)

    def add(self, model: Model) -> None:
        self._order.setdefault(id(model), len(self._order))
        self._by_rel.setdefault(model.relpath.casefold(), model)
        self._by_name.setdefault(model.name.casefold(), model)

    def first(self, rel: str) -> Model | None:
        """The first model whose relpath is `rel`, or whose file name is `rel`'s (case-folded)."""
        hits = [
            m
            for m in (
                self._by_rel.get(rel.casefold()),
                self._by_name.get(rel.rsplit("/", 1)[-1].casefold()),
            )
            if m is not None
        ]
        return min(hits, key=lambda m: self._order[id(m)]) if hits else None


def _resolve(model: Model, decl: _Declarations, warnings: list[str]) -> None:
    key = decl.key(model.relpath)
    if key is None:
        return
    decl.mark_used(key)
    pick, several = decl.pick(key, model.folder)
    if pick is None:
        return
    if pick.directory and pick.directory != model.folder:
        warnings.append(
            f"{model.name} is declared for {pick.directory}/ but "
            f"{model.uses[0].label()} reads it from {model.folder}/; using {model.folder}/"
        )
    _apply(model, pick)
    if several:
        warnings.append(f"{model.name} has several download URLs; using the one from {pick.where}")


def _apply(model: Model, d: Declared) -> None:
    model.source, model.revision, model.sha256 = d.source, d.revision, d.sha256
    model.url, model.origin, model.declared_where = d.url, "workflow", d.where


def _absorb(
    models: dict[tuple[str, str], Model],
    index: _ModelIndex,
    rel: str,
    use: Use,
    decl: _Declarations,
    table: Table,
    warnings: list[str],
) -> None:
    """A model-looking value of an unknown node: join a known file, else use its declaration."""
    known = index.first(rel)
    if known is not None:
        known.uses.append(use)
        return
    folder = decl.folder(decl.key(rel))
    key = (folder or "", rel.casefold())
    model = models.setdefault(key, Model(folder, rel))
    index.add(model)
    model.roles.add(table.folder_role(folder))
    model.uses.append(use)
    if folder:
        _resolve(model, decl, warnings)


def _selected_declared(
    wf: Workflow,
    models: dict[tuple[str, str], Model],
    declared: list[Declared],
    used: set[int],
    table: Table,
) -> None:
    """Declared files that no loader names but some node still selects (e.g. a model folder)."""
    selecting: dict[str, list[Node]] = {}
    for node in wf.nodes:
        for value in {s.strip() for s in node.strings()}:
            selecting.setdefault(value, []).append(node)
    joined: set[tuple[str, str]] = set()  # each file's users are added once, not per declaration
    for d in declared:
        if id(d) in used or not d.directory:
            continue
        users = selecting.get(d.name)
        if not users:
            continue
        used.add(id(d))
        key = (d.directory, d.name.casefold())
        model = models.setdefault(key, Model(d.directory, d.name))
        if key not in joined:
            joined.add(key)
            model.roles.add(table.folder_role(d.directory))
            model.uses.extend(_use(n) for n in users)
        if model.source is None and d.source:
            _apply(model, d)


def _use(node: Node, widget: str | None = None) -> Use:
    return Use(node.path, node.type, node.title, widget, node.active, node.copies)


def _from_catalog(models: dict[tuple[str, str], Model], index: dict[str, CatalogHit]) -> None:
    from modelctl.workflow.catalog_lookup import dest_key

    for model in models.values():
        if model.source is None and model.dest:
            hit = index.get(dest_key(model.dest))
            if hit:
                model.source, model.revision, model.sha256 = hit.source, hit.revision, hit.sha256
                model.origin = f"catalog:{hit.manifest}"


def _partition(
    wf: Workflow,
    where: str,
    models: dict[tuple[str, str], Model],
    declared: list[Declared],
    used: set[int],
    warnings: list[str],
) -> Report:
    assets, unresolved, skipped = [], [], []
    for model in models.values():
        if not model.active:
            why = "used only by bypassed or muted nodes"
            skipped.append((model, why if model.source else f"{why} (and it has no download URL)"))
        elif model.source:
            assets.append(model)
        else:
            unresolved.append((model, _hint(model)))
    seen: set[tuple[str | None, str]] = set()
    for d in declared:
        if id(d) in used or (d.directory, d.name) in seen:
            continue
        seen.add((d.directory, d.name))
        model = Model(d.directory, d.name, source=d.source, revision=d.revision, url=d.url)
        model.declared_where = d.where
        skipped.append((model, "declared but not selected by any node (stale metadata)"))
    return Report(where, wf.format, assets, unresolved, skipped, warnings)


def _hint(model: Model) -> str:
    user = model.uses[0]
    if model.folder is None:
        return (
            f"{user.node_type} is not in modelctl's loader table, so its folder is unknown; "
            "add {name, url, directory} to that node's properties.models"
        )
    return (
        f"add {{name: {model.name}, url: <download link>, directory: {model.folder}}} to the "
        f"properties.models of {user.label()}, or put the file in {model.folder}/ yourself"
    )
