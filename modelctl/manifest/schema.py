"""The manifest v1 JSON Schema, built from the same constants the validator uses.

Editors (VS Code YAML, JetBrains) validate and complete manifests with it. It cannot express every
rule (placeholders must name axes, dest collisions across selections): the validator is
the authority.
"""

from __future__ import annotations

from typing import Any

from modelctl.manifest.model import EXPECT_KEYS, ROLES
from modelctl.manifest.validate import AXIS_RE, ID_RE, NAME_RE, SHA256_RE, VALUE_RE


def _pattern(regex: Any) -> str:
    return regex.pattern


def json_schema() -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://modelctl.dev/schema/manifest-v1.json",
        "title": "modelctl manifest v1",
        "type": "object",
        "additionalProperties": False,
        "required": ["schema", "name", "assets"],
        "properties": {
            "schema": {"const": 1},
            "name": {"type": "string", "pattern": _pattern(NAME_RE)},
            "description": string,
            "variants": {
                "type": "object",
                "propertyNames": {"pattern": _pattern(AXIS_RE)},
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["values", "default"],
                    "properties": {
                        "values": {
                            "type": "array",
                            "minItems": 1,
                            "uniqueItems": True,
                            "items": {"type": "string", "pattern": _pattern(VALUE_RE)},
                        },
                        "default": string,
                    },
                },
            },
            "assets": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/asset"}},
            "requires": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "gpu": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "min_vram_gib": {"type": "number", "minimum": 0},
                            "precision": string,
                        },
                    },
                    "packages": {"type": "object", "additionalProperties": string},
                    "python": string,
                },
            },
        },
        "$defs": {
            "asset": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "role", "source", "dest"],
                "properties": {
                    "id": {"type": "string", "pattern": _pattern(ID_RE)},
                    "role": {"enum": list(ROLES)},
                    "source": {"type": "string", "pattern": r"^(hf|https|file)://"},
                    "revision": {"type": ["string", "null"]},
                    "dest": {"type": "string", "pattern": r"^[^/.\\][^\\]*/[^\\]+$"},
                    "sha256": {"type": ["string", "null"], "pattern": _pattern(SHA256_RE)},
                    "size": {"type": ["integer", "null"], "minimum": 1},
                    "when": {
                        "type": "object",
                        "additionalProperties": {
                            "oneOf": [string, {"type": "array", "items": string}]
                        },
                    },
                    "expect": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            key: {"type": "integer", "minimum": 1} if kind is int else string
                            for key, kind in EXPECT_KEYS.items()
                        },
                    },
                    "allow_pickle": {"type": "boolean"},
                },
            }
        },
    }
