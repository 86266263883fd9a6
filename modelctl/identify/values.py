"""Typed reads of untrusted metadata: what a file declares is data, never a type to rely on.

A GGUF value can be any of thirteen types (an array where a name is expected, a megabyte string
kept truncated by the reader), a safetensors `__metadata__` string can hold any JSON, a tokenizer
JSON any structure. Identification reads such values only through `typed` / `MetadataReader.get`,
which return the value when it has the wanted type and None otherwise, noting why. So no rule or
handler can hash a list, compare a dict with a string or carry a megabyte into a message: a
mismatch is a warning and the fact stays unknown. Strings come back as printable text (control,
escape and bidi characters escaped, as `modelctl.errors.printable` does), because facts end up
in messages printed to a terminal (`check`: "... has general.architecture `<the value>`").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelctl.errors import printable

KINDS = ("str", "int", "float", "bool", "scalar")
MAX_TEXT = 1024  # characters of a string fact: names, architectures, model types are short


def mismatch(value: Any, kind: str) -> str | None:
    """Why `value` is not a `kind` value (a short phrase), or None when it is one."""
    if kind not in KINDS:
        raise ValueError(f"unknown value kind {kind!r}")  # a bug in a rule file, caught by tests
    if isinstance(value, str):
        if kind not in ("str", "scalar"):
            return f"is a string, not {_article(kind)}"
        return f"is a {len(value)}-character string (too long)" if len(value) > MAX_TEXT else None
    if isinstance(value, bool):
        return None if kind in ("bool", "scalar") else f"is a boolean, not {_article(kind)}"
    if isinstance(value, int):
        return None if kind in ("int", "float", "scalar") else f"is a number, not {_article(kind)}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"is {value}, not a finite number"
        return (
            None
            if kind in ("float", "scalar")
            else f"is a floating-point number, not {_article(kind)}"
        )
    return _describe(value) + f", not {_article(kind)}"


def typed(value: Any, kind: str) -> Any:
    """`value` when it is of `kind` (strings made printable), else None."""
    if value is None or mismatch(value, kind):
        return None
    return printable(value) if isinstance(value, str) else value


def _describe(value: Any) -> str:
    if isinstance(value, Mapping) and value.get("type") == "string":  # a reader's truncated string
        return f"is a {value.get('length')}-byte string (kept truncated)"
    if isinstance(value, Mapping) and value.get("type") == "array":  # a reader's array summary
        return f"is an array of {value.get('length')} {value.get('item_type')} items"
    if isinstance(value, (list, tuple)):
        return f"is an array of {len(value)} items"
    if isinstance(value, Mapping):
        return "is an object"
    return f"is a {type(value).__name__}"


def _article(kind: str) -> str:
    return {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
            "scalar": "a single value"}[kind]  # fmt: skip


class MetadataReader:
    """Values read with types; each key that had the wrong type is noted once.

    `where` names the values in notes: `metadata` (a header's), `quantization_config`, ..."""

    def __init__(self, metadata: Mapping[str, Any], where: str = "metadata") -> None:
        self.metadata = metadata
        self.where = where
        self._notes: dict[str, str] = {}

    def get(self, key: str, kind: str) -> Any:
        """The value at `key` if it is of `kind` (a string made printable); None (and a note)
        if it is not."""
        value = self.raw(key, kind)
        return printable(value) if isinstance(value, str) else value

    def raw(self, key: str, kind: str) -> Any:
        """`get` without the escaping: for building other keys from a value (`{arch}.*`), never
        for a fact."""
        value = self.metadata.get(key)
        if value is None:
            return None
        why = mismatch(value, kind)
        if why is None:
            return value
        self.note(key, why)
        return None

    def has(self, key: str) -> bool:
        return self.metadata.get(key) is not None

    def note(self, key: str, why: str) -> None:
        label = key if len(key) <= 80 else key[:80] + "..."
        self._notes.setdefault(key, f"{self.where} {label!r} {why}; ignored")

    def notes(self) -> list[str]:
        return list(self._notes.values())
