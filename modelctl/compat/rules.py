"""Compatibility rules: loaded from `compat/data/*.yaml` and validated before any is evaluated.

Each rule file holds `rules:`, a list of mappings:

    id: z-image-text-encoder-width          # unique, kebab-case
    title: one line stating what must hold
    parts: {dit: {role: diffusion_model, family: [z-image]}, te: {role: text_encoder}}
    when: CONDITION                          # optional: further narrows where the rule applies
    require: CONDITION                       # what must hold for every binding of the parts
    message: "{te.name} is {te.embedding_length} wide"   # the failure, with {alias.fact} fields
    unknown: "why facts may be missing"      # optional: shown when the rule is skipped
    explanation: one paragraph: what goes wrong at run time and why
    fix: {text: what to do, use: FILE, from: hf://owner/repo/path}   # use/from optional
    sources: [{repo: owner/name, file: path, commit: abc1234}]       # where the fact comes from

The knowledge lives in the data; this module only checks its shape (so a typo in a rule file fails
the test suite, not a user's check) and the condition language lives in `conditions.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from modelctl.compat import conditions

DATA_DIR = Path(__file__).resolve().parent / "data"
RULE_KEYS = {
    "id",
    "title",
    "parts",
    "when",
    "require",
    "message",
    "unknown",
    "explanation",
    "fix",
    "sources",
}
REQUIRED_KEYS = {"id", "title", "parts", "require", "message", "explanation", "fix", "sources"}
FIX_KEYS = {"text", "use", "from"}
SOURCE_KEYS = {"repo", "file", "commit", "note"}
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9.]+)*$")
FIELD_RE = re.compile(r"\{([A-Za-z_][\w.]*)\}")


@dataclass(frozen=True)
class Rule:
    """One compatibility rule, validated."""

    id: str
    title: str
    parts: dict[str, dict[str, Any]]
    require: dict[str, Any]
    message: str
    explanation: str
    fix: dict[str, str]
    sources: tuple[dict[str, str], ...]
    when: dict[str, Any] | None = None
    unknown: str = ""
    file: str = ""


class RuleError(ValueError):
    """A rule file is malformed: a bug in the package data."""


def load_rules(folder: Path | None = None) -> tuple[Rule, ...]:
    """Every rule of every `*.yaml` file in `folder` (default: the package data), in file order."""
    return _load(str(folder or DATA_DIR))


@lru_cache(maxsize=4)
def _load(folder: str) -> tuple[Rule, ...]:
    from modelctl.datafiles import load_yaml

    rules: list[Rule] = []
    seen: set[str] = set()
    for path in sorted(Path(folder).glob("*.yaml")):
        doc = load_yaml(path) or {}
        for raw in doc.get("rules", ()):
            rule = parse_rule(raw, path.name)
            if rule.id in seen:
                raise RuleError(f"{path.name}: duplicate rule id `{rule.id}`")
            seen.add(rule.id)
            rules.append(rule)
    return tuple(rules)


def parse_rule(raw: Any, file: str = "<rule>") -> Rule:
    """Validate one rule mapping and return it as a `Rule`."""
    if not isinstance(raw, dict):
        raise RuleError(f"{file}: a rule must be a mapping, got {raw!r}")
    where = f"{file}: rule `{raw.get('id', '?')}`"
    unknown_keys = set(raw) - RULE_KEYS
    if unknown_keys:
        raise RuleError(f"{where}: unknown keys {sorted(unknown_keys)}")
    missing = REQUIRED_KEYS - set(raw)
    if missing:
        raise RuleError(f"{where}: missing keys {sorted(missing)}")
    if not isinstance(raw["id"], str) or not ID_RE.fullmatch(raw["id"]):
        raise RuleError(f"{where}: id must be kebab-case")
    for key in ("title", "message", "explanation"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise RuleError(f"{where}: `{key}` must be non-empty text")
    parts = _parts(raw["parts"], where)
    aliases = set(parts)
    for key in ("when", "require"):
        if key in raw:
            conditions.validate(raw[key], aliases, f"{where} {key}")
    for name in FIELD_RE.findall(raw["message"]):
        alias = name.split(".", 1)[0]
        if alias not in aliases and alias not in conditions.SPECIAL_ALIASES:
            raise RuleError(f"{where}: message field {{{name}}} names no bound part")
    return Rule(
        id=raw["id"],
        title=raw["title"].strip(),
        parts=parts,
        require=raw["require"],
        message=raw["message"].strip(),
        explanation=" ".join(raw["explanation"].split()),
        fix=_fix(raw["fix"], where),
        sources=_sources(raw["sources"], where),
        when=raw.get("when"),
        unknown=str(raw.get("unknown", "")).strip(),
        file=file,
    )


def _parts(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict) or not raw:
        raise RuleError(f"{where}: `parts` must map aliases to part filters")
    for alias, flt in raw.items():
        if alias in conditions.SPECIAL_ALIASES or not re.fullmatch(r"[a-z][a-z0-9_]*", alias):
            raise RuleError(f"{where}: `{alias}` is not a usable alias")
        if not isinstance(flt, dict) or not set(flt) <= set(conditions.FILTER_KEYS):
            raise RuleError(f"{where}: filter of `{alias}` uses only {conditions.FILTER_KEYS}")
    return raw


def _fix(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or "text" not in raw or not set(raw) <= FIX_KEYS:
        raise RuleError(f"{where}: `fix` is {{text, use?, from?}}")
    if "from" in raw and not str(raw["from"]).startswith(("hf://", "https://")):
        raise RuleError(f"{where}: fix.from must be an hf:// or https:// address")
    return {k: " ".join(str(v).split()) for k, v in raw.items()}


def _sources(raw: Any, where: str) -> tuple[dict[str, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise RuleError(f"{where}: `sources` must list at least one upstream reference")
    for src in raw:
        if not isinstance(src, dict) or not {"repo", "file", "commit"} <= set(src) <= SOURCE_KEYS:
            raise RuleError(f"{where}: each source is {{repo, file, commit, note?}}")
        if not re.fullmatch(r"[0-9a-f]{7,40}", str(src["commit"])):
            raise RuleError(f"{where}: source commit `{src['commit']}` is not a hex commit id")
    return tuple({k: str(v) for k, v in src.items()} for src in raw)
