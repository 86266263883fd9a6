"""The identification rule engine: rules are data (`identify/data/*.yaml`), this only evaluates.

Each rule names the role and family it decides, the conditions on tensor names, shapes and
metadata that must hold, the facts to read, and the upstream source it was taken from. Identity
rules are tried by descending priority (then file and list order) and the first that matches
decides role and family; trait rules (SVDQuant, scaled fp8, GGUF LLM facts, ...) add facts to
whatever matched. Rule files are validated when loaded, so a typo fails the test suite rather than
silently never matching.

Metadata is untrusted: rules read it only through `identify.values.MetadataReader`, each
`metadata:` fact with the type it declares (`type: str`), each `when: metadata:` condition as a
string; a value of another type never matches and leaves the fact unknown, with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from modelctl.formats.model import Header, TensorInfo
from modelctl.identify.values import KINDS, MetadataReader

RULE_KEYS = {
    "id", "kind", "role", "family", "priority", "source", "sources", "formats", "prefixes",
    "when", "facts", "handler", "note",
}  # fmt: skip
WHEN_KEYS = {
    "all", "any", "none", "shape", "ndim", "dtype", "metadata", "has_metadata",
    "root_prefix_any", "key_regex", "none_regex",
}  # fmt: skip
EXTRACTORS = {
    "shape", "ndim", "dtype", "count", "metadata", "array_length", "has", "has_metadata",
    "value", "first_of", "lookup", "regex_shape", "regex_count",
}  # fmt: skip
SOURCE_KEYS = {"repo", "file", "commit", "note"}
MAX_INDEX_DIGITS = 4  # `layers.{}.` indices counted up to 9999; llama.cpp caps block_count at 512


class RuleError(ValueError):
    """A rule file is malformed (a bug in modelctl's data, caught by the tests)."""


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    role: str | None
    family: str | None
    priority: int
    sources: tuple[dict[str, str], ...]
    formats: tuple[str, ...]
    prefixes: tuple[str, ...]
    when: dict[str, Any]
    facts: dict[str, Any]
    handler: str | None
    origin: str

    def citation(self) -> str:
        return "; ".join(f"{s['repo']} {s['file']}@{s['commit']}" for s in self.sources)


class Subject:
    """One header as every rule sees it: typed metadata, and its tensors under each key prefix,
    built once per prefix (a header may hold a quarter of a million tensors, and ~30 rules each
    try up to three prefixes). The one `reader` notes each mistyped key once."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.reader = MetadataReader(header.metadata)
        self._by_prefix: dict[str, dict[str, TensorInfo]] = {}

    def tensors(self, prefix: str) -> dict[str, TensorInfo]:
        if prefix not in self._by_prefix:
            n = len(prefix)
            ts = self.header.tensors
            self._by_prefix[prefix] = {t.name[n:]: t for t in ts if t.name.startswith(prefix)}
        return self._by_prefix[prefix]


@dataclass
class View:
    """The header seen through one key prefix (e.g. `model.diffusion_model.` stripped)."""

    header: Header
    prefix: str
    reader: MetadataReader
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # what the extractors ignored, and why

    @classmethod
    def of(cls, subject: Subject, prefix: str) -> View:
        return cls(subject.header, prefix, subject.reader, subject.tensors(prefix))

    def arch(self) -> str:
        return self.reader.raw("general.architecture", "str") or ""

    def key(self, key: str) -> str:
        return key.replace("{arch}", self.arch())

    def meta(self, key: str, kind: str) -> Any:
        """The metadata value at `key` (`{arch}` substituted) if it is of `kind`, else None."""
        return self.reader.get(self.key(key), kind)

    def has_meta(self, key: str) -> bool:
        return self.reader.has(self.key(key))


@cache
def load_rules() -> tuple[Rule, ...]:
    """All rules from the package's data files, in evaluation order."""
    from modelctl.datafiles import load_yaml

    rules: list[tuple[int, int, Rule]] = []
    files = sorted(
        (p for p in resources.files("modelctl.identify").joinpath("data").iterdir()
         if p.name.endswith(".yaml")),
        key=lambda p: p.name,
    )  # fmt: skip
    seen: set[str] = set()
    for path in files:
        doc = load_yaml(path.read_text(encoding="utf-8")) or {}
        for raw in doc.get("rules", []):
            rule = _parse_rule(raw, path.name)
            if rule.id in seen:
                raise RuleError(f"{path.name}: duplicate rule id {rule.id!r}")
            seen.add(rule.id)
            rules.append((-rule.priority, len(rules), rule))
    return tuple(r for _, _, r in sorted(rules, key=lambda x: (x[0], x[1])))


def _parse_rule(raw: dict[str, Any], origin: str) -> Rule:
    where = f"{origin}: rule {raw.get('id', '?')!r}"
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
    sources = raw.get("sources") or ([raw["source"]] if "source" in raw else [])
    if not sources:
        raise RuleError(f"{where}: every rule must cite its upstream source")
    for s in sources:
        if (
            not isinstance(s, dict)
            or not {"repo", "file", "commit"} <= set(s)
            or set(s) - SOURCE_KEYS
        ):
            raise RuleError(f"{where}: a source needs repo, file and commit")
    when = raw.get("when") or {}
    if set(when) - WHEN_KEYS:
        raise RuleError(f"{where}: unknown conditions {sorted(set(when) - WHEN_KEYS)}")
    for key, values in (when.get("metadata") or {}).items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise RuleError(f"{where}: `when: metadata: {key}` must list strings")
    facts = raw.get("facts") or {}
    for name, ex in facts.items():
        _check_extractor(ex, f"{where}: fact {name!r}")
    kind = raw.get("kind", "identity")
    if kind not in ("identity", "trait"):
        raise RuleError(f"{where}: kind must be identity or trait")
    if kind == "identity" and not raw.get("role"):
        raise RuleError(f"{where}: an identity rule needs a role")
    return Rule(
        id=raw["id"],
        kind=kind,
        role=raw.get("role"),
        family=raw.get("family"),
        priority=int(raw.get("priority", 0)),
        sources=tuple(dict(s) for s in sources),
        formats=tuple(raw.get("formats") or ()),
        prefixes=tuple(raw.get("prefixes") or ("",)),
        when=when,
        facts=facts,
        handler=raw.get("handler"),
        origin=origin,
    )


def _check_extractor(ex: Any, where: str) -> None:
    if not isinstance(ex, dict) or not (set(ex) & EXTRACTORS):
        raise RuleError(f"{where}: not an extractor ({ex!r})")
    if "metadata" in ex and ex.get("type") not in KINDS:
        raise RuleError(f"{where}: a metadata fact needs `type:` one of {', '.join(KINDS)}")
    for sub in ex.get("first_of", []):
        _check_extractor(sub, where)
    if "lookup" in ex:
        _check_extractor(ex["lookup"], where)


def _as_list(value: Any) -> list[Any]:
    """A rule value that may be one item or a list of them (`dtype: F16` or `dtype: [F16, F32]`)."""
    return list(value) if isinstance(value, list) else [value]


def matches(rule: Rule, subject: Subject) -> View | None:
    """The view (prefix) under which `rule` holds for the subject's header, or None."""
    if rule.formats and subject.header.format not in rule.formats:
        return None
    for prefix in rule.prefixes:
        view = View.of(subject, prefix)
        if (view.tensors or not prefix) and _holds(rule.when, view):
            return view
    return None


def _holds(when: dict[str, Any], v: View) -> bool:
    t = v.tensors
    if not all(k in t for k in when.get("all", ())):
        return False
    if "any" in when and not any(k in t for k in when["any"]):
        return False
    if any(k in t for k in when.get("none", ())):
        return False
    for key, axes in (when.get("shape") or {}).items():
        if key not in t:
            return False
        shape = t[key].shape
        for axis, want in axes.items():
            if int(axis) >= len(shape) or shape[int(axis)] not in _as_list(want):
                return False
    for key, n in (when.get("ndim") or {}).items():
        if key not in t or len(t[key].shape) != n:
            return False
    for key, dtypes in (when.get("dtype") or {}).items():
        if key not in t or t[key].dtype not in _as_list(dtypes):
            return False
    for key, values in (when.get("metadata") or {}).items():
        if v.meta(key, "str") not in values:
            return False
    if not all(v.has_meta(k) for k in when.get("has_metadata", ())):
        return False
    if "root_prefix_any" in when:
        prefixes = tuple(when["root_prefix_any"])
        if not any(x.name.startswith(prefixes) for x in v.header.tensors):
            return False
    if "key_regex" in when and not _any_match(when["key_regex"], t):
        return False
    return not ("none_regex" in when and _any_match(when["none_regex"], t))


def _any_match(pattern: str, tensors: dict[str, TensorInfo]) -> bool:
    rx = re.compile(pattern)
    return any(rx.search(k) for k in tensors)


def extract(ex: dict[str, Any], v: View) -> Any:
    """Evaluate one fact extractor; None when the file does not hold that fact."""
    t = v.tensors
    if "first_of" in ex:
        for sub in ex["first_of"]:
            value = extract(sub, v)
            if value is not None:
                return value
        return None
    if "lookup" in ex:
        key = extract(ex["lookup"], v)
        table = ex.get("table") or {}
        return table.get(key) if key is not None else None
    if "value" in ex:
        return ex["value"]
    if "shape" in ex:
        info = next((t[k] for k in _as_list(ex["shape"]) if k in t), None)
        axis = ex.get("axis", 0)
        if info is None or not -len(info.shape) <= axis < len(info.shape):
            return None
        value = info.shape[axis]
        divide = ex.get("divide")
        return value // divide if divide and value % divide == 0 else (None if divide else value)
    if "ndim" in ex:
        info = next((t[k] for k in _as_list(ex["ndim"]) if k in t), None)
        return None if info is None else len(info.shape)
    if "dtype" in ex:
        info = next((t[k] for k in _as_list(ex["dtype"]) if k in t), None)
        return None if info is None else info.dtype
    if "count" in ex:
        return _count(ex["count"], v)
    if "metadata" in ex:
        return v.meta(ex["metadata"], ex["type"])
    if "array_length" in ex:
        return _array_length(v.header.metadata.get(v.key(ex["array_length"])))
    if "has" in ex:
        return any(k in t for k in _as_list(ex["has"]))
    if "has_metadata" in ex:
        return v.has_meta(ex["has_metadata"])
    if "regex_shape" in ex:
        rx = re.compile(ex["regex_shape"])
        hit = next((t[k] for k in sorted(t) if rx.search(k)), None)
        axis = ex.get("axis", 0)
        return (
            hit.shape[axis]
            if hit is not None and -len(hit.shape) <= axis < len(hit.shape)
            else None
        )
    if "regex_count" in ex:
        rx = re.compile(ex["regex_count"])
        return sum(1 for k in t if rx.search(k))
    return None


def _count(pattern: str, v: View) -> int | None:
    """1 + the largest index `{}` in tensor names like `layers.{}.`; None when there is none.

    Indices are ASCII digits, at most MAX_INDEX_DIGITS of them: `layers.<5000 digits>.` is no
    layer (and past 4300 digits `int()` refuses the text), so such names are ignored, noted once.
    """
    rx = re.compile("^" + re.escape(pattern).replace(r"\{\}", r"([0-9]+)"))
    found, ignored = [], 0
    for k in v.tensors:
        m = rx.match(k)
        if m is None:
            continue
        digits = m.group(1).lstrip("0") or "0"
        if len(digits) > MAX_INDEX_DIGITS:
            ignored += 1
        else:
            found.append(int(digits))
    if ignored:
        v.notes[pattern] = (
            f"{ignored} tensor name(s) matching {pattern!r} have an index of more than "
            f"{MAX_INDEX_DIGITS} digits; not counted as layers"
        )
    return max(found) + 1 if found else None


def _array_length(value: Any) -> int | None:
    """How many items a GGUF array holds: a long one is kept as a summary dict with its length."""
    if isinstance(value, dict) and value.get("type") == "array":
        length = value.get("length")
        return length if isinstance(length, int) else None
    return len(value) if isinstance(value, list) else None


def read_facts(rule: Rule, view: View) -> dict[str, Any]:
    out = {}
    for name, ex in rule.facts.items():
        value = extract(ex, view)
        if value is not None:
            out[name] = value
    return out
