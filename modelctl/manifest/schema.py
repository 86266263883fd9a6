"""The manifest v1 JSON Schema, generated from the validator's own tables.

Editors (VS Code YAML, JetBrains) validate and complete manifests with it. Every key set, role,
`expect` key and type, pattern and limit here comes from `validate`, `model` or `uris`, and the
grammar of sources, dests and revisions comes from the very `uris` rules that `check_source`,
`check_dest` and `check_revision` run; nothing is restated. So the schema refuses exactly what
the validator refuses, except for the rules below, which JSON Schema cannot say: the validator
alone checks them, and the schema accepts what breaks only them (it never refuses a manifest the
validator accepts; tests/manifest/test_schema.py checks both directions).

- YAML spelling. The schema sees parsed values, the validator the YAML text: duplicate keys (YAML
  keeps the last), numbers written other than as plain digits (`0123`, `1_000`, `+5`, `1e3`,
  `.inf`, or `5.0` where a whole number is due: JSON Schema's "integer" accepts 5.0), booleans
  spelled other than `true`/`false`, and `yamlload`'s caps on size, aliases and nesting.
- References from one value to another, which JSON Schema cannot make: a default is one of its
  axis's values; `when` names declared axes and their values, and `{placeholders}` name declared
  axes (the schema checks only that they are shaped like axis names and values, and that there
  are none without variants); asset ids are unique (`uniqueItems` compares whole assets); no two
  assets of one selection write the same dest; at most `MAX_COMBINATIONS` variant combinations
  and `MAX_EXPANSIONS` assets once placeholders are filled in.
- Values checked after `{axis}` substitution. The validator checks source, dest and revision
  once per combination of axis values; the schema checks the template. Axis values hold no `/`,
  `\\`, `@`, `:` or spaces and start with a letter or digit, so a template breaks a rule exactly
  when every substitution of it does, except where a placeholder stands in: the scheme of a
  source (`{proto}://` may become `hf://`), an hf:// owner or repository name (a value may hold
  `+` or `..`), a revision (a value may add `..` or `.lock`) and the length of a dest (a value may
  be longer or shorter than its `{axis}`). There the schema leaves the check to the validator.
- What `urllib.parse.urlsplit` refuses in an https:// URL: unbalanced or invalid `[IPv6]` hosts,
  a non-ASCII host that NFKC-normalizes to a delimiter.

The `revision`-only-for-hf:// rule is an `if`/`then`; the rules of `uris` become `not` of their
`bad` patterns, or lookaheads where they apply to a part of a value (the path of an hf:// URI).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelctl.manifest import uris as U
from modelctl.manifest import validate as V
from modelctl.manifest.model import EXPECT_KEYS, ROLES

Schema = dict[str, Any]

TEXT: Schema = {"$ref": "#/$defs/text"}
# a `{...}` whose name cannot be an axis: the validator refuses it whatever the variants are
_NOT_AN_AXIS = r"\{(?!" + V.AXIS + r"\})[^{}]*\}"
# a part of a value (up to the next `/`) that holds a placeholder
_PART_WITH_PLACEHOLDER = r"[^/{]*\{[^{}/]*\}[^/]*"
# a source whose scheme holds a placeholder: a `{...}` before the first `://`
_TEMPLATE_SCHEME = r"^[^:/{]*\{[^{}:/]*\}[^:/]*://"


def _text(**more: Any) -> Schema:
    return {**TEXT, **more}


def _whole(body: str) -> Schema:
    return _text(pattern=U.whole(body))


def _at_start(pattern: str) -> str:
    return f"^(?:{pattern})"


def _not(rule: U.Rule, what: str) -> Schema:
    return {"not": {"pattern": _at_start(rule.bad)}, "$comment": rule.problem.format(what=what)}


def _free_of(rules: Iterable[U.Rule], what: str = "") -> list[Schema]:
    """Each rule as a `not`; one an `{axis}` may flip applies only to a value without one."""
    out = []
    for rule in rules:
        if rule.on_template:
            out.append(_not(rule, what))
        else:
            out.append({"if": {"not": {"pattern": V.PLACEHOLDER}}, "then": _not(rule, what)})
    return out


def _fields(keys: set[str], schemas: dict[str, Schema]) -> dict[str, Schema]:
    """`schemas` for exactly the validator's `keys`, so a key cannot be added to one alone."""
    if set(schemas) != keys:
        raise AssertionError(f"schema fields {sorted(schemas)} are not {sorted(keys)}")
    return {key: schemas[key] for key in sorted(keys)}


def _object(keys: set[str], schemas: dict[str, Schema], required: Iterable[str] = ()) -> Schema:
    out: Schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": _fields(keys, schemas),
    }
    if required:
        out["required"] = sorted(required)
    return out


def _hf_source() -> str:
    """A whole hf:// source: owner and repository names, and a path free of every relpath rule."""
    part = f"(?:{U.REPO_PART}|{_PART_WITH_PLACEHOLDER})"
    sep = U.REVISION_SEP
    path = f"(?![^{sep}]*{sep})" + "".join(f"(?!{rule.bad})" for rule in U.RELPATH_RULES)
    return "^" + U.hf_pattern(part, part, path + r"[\s\S]+") + U.END


def _source() -> Schema:
    schemes = "|".join(U.SCHEMES)
    return _text(
        allOf=[
            *_free_of(U.SOURCE_RULES),
            {"anyOf": [{"pattern": f"^(?:{schemes})://"}, {"pattern": _TEMPLATE_SCHEME}]},
            {"if": {"pattern": "^hf://"}, "then": {"pattern": _hf_source()}},
            *_free_of(U.HTTPS_RULES),
            *_free_of(U.FILE_RULES),
            {"not": {"pattern": _NOT_AN_AXIS}},
        ]
    )


def _dest() -> Schema:
    return _text(allOf=[*_free_of(U.DEST_RULES, "destination"), {"not": {"pattern": _NOT_AN_AXIS}}])


def _revision() -> Schema:
    """`""` counts as no revision; one with a placeholder is checked once it is filled in."""
    return {
        "anyOf": [
            {"type": "null"},
            _text(
                anyOf=[{"maxLength": 0}, {"pattern": V.PLACEHOLDER}, {"pattern": U.whole(U.REF)}],
                **{"not": {"pattern": _NOT_AN_AXIS}},
            ),
        ]
    }


def _one_or_list(item: Schema, **list_rules: Any) -> Schema:
    """A list of `item`s, or one `item` standing for a list of one (`_Walker.strings`)."""
    return {"anyOf": [item, {"type": "array", "items": item, **list_rules}]}


def _asset() -> Schema:
    expect = {
        key: (
            {"type": "integer", "minimum": V.MIN_EXPECT_INT, "maximum": V.MAX_EXPECT_INT}
            if kind is int
            else _text(**{"not": {"pattern": _NOT_AN_AXIS}})
        )
        for key, kind in EXPECT_KEYS.items()
    }
    fields = {
        "id": _whole(V.ID),
        "role": {"enum": list(ROLES)},
        "source": _source(),
        "revision": _revision(),
        "dest": _dest(),
        "sha256": {"anyOf": [{"type": "null"}, _whole(V.SHA256)]},
        "size": {"type": ["integer", "null"], "minimum": V.MIN_SIZE, "maximum": V.MAX_SIZE},
        "when": {
            "type": "object",
            "propertyNames": _whole(V.AXIS),
            "additionalProperties": _one_or_list(_whole(V.VALUE)),
        },
        "expect": _object(set(EXPECT_KEYS), expect),
        "allow_pickle": {"type": "boolean"},
    }
    return {
        **_object(V.ASSET_KEYS, fields, V.ASSET_REQUIRED),
        "if": {"required": ["revision"], "properties": {"revision": {"type": "string"}}},
        "then": {"properties": {"source": {"pattern": "^hf://"}}},
        "$comment": "revision applies to hf:// sources only",
    }


def _no_placeholders() -> Schema:
    """An asset of a manifest without variants: no `{axis}` to fill in, no axis to filter on."""
    none: Schema = {"not": {"type": "string", "pattern": V.PLACEHOLDER}}
    return {
        "properties": {
            "source": none,
            "dest": none,
            "revision": none,
            "when": {"maxProperties": 0},
            "expect": {"additionalProperties": none},
        }
    }


def _requires() -> Schema:
    gpu = {
        "min_vram_gib": {
            "type": "number",
            "minimum": V.MIN_VRAM_GIB,
            "maximum": V.MAX_VRAM_GIB,
        },
        "precision": TEXT,
    }
    fields = {
        "gpu": _object(V.GPU_KEYS, gpu),
        "packages": {"type": "object", "propertyNames": TEXT, "additionalProperties": TEXT},
        "python": TEXT,
    }
    return _object(V.REQUIRES_KEYS, fields)


def json_schema() -> Schema:
    value = _whole(V.VALUE)
    axis = _object(
        V.AXIS_KEYS,
        {"values": _one_or_list(value, minItems=1, uniqueItems=True), "default": value},
        V.AXIS_KEYS,
    )
    top = {
        "schema": {"const": V.SCHEMA_VERSION},
        "name": _whole(V.NAME),
        "description": TEXT,
        "variants": {
            "type": "object",
            "propertyNames": _whole(V.AXIS),
            "additionalProperties": axis,
        },
        "assets": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/asset"}},
        "requires": _requires(),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://modelctl.dev/schema/manifest-v1.json",
        "title": "modelctl manifest v1",
        **_object(V.TOP_KEYS, top, V.TOP_REQUIRED),
        "if": {"required": ["variants"], "properties": {"variants": {"minProperties": 1}}},
        "else": {"properties": {"assets": {"items": _no_placeholders()}}},
        "$defs": {
            "text": {"type": "string", "not": {"pattern": V.NUL}},
            "asset": _asset(),
        },
    }
