"""Strict YAML reading for manifests: node trees with line numbers, never silent coercion.

PyYAML alone is unsafe for user-written manifests: duplicate keys are last-wins, YAML 1.1 turns
`no` into False and `0123` into 83, and alias bombs blow up memory on traversal. So we only
*compose* the document (SafeLoader, C-accelerated when available) into nodes and let the validator
convert each scalar to the type its field expects, reporting `file:line` on any mismatch.
"""

from __future__ import annotations

from typing import Protocol

import yaml

from modelctl.errors import ManifestError

MAX_BYTES = 1 << 20
MAX_ALIASES = 32
MAX_DEPTH = 16

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
FLOAT = "tag:yaml.org,2002:float"

_TAG_WORDS = {
    BOOL: "a boolean",
    INT: "a number",
    FLOAT: "a number",
    NULL: "null",
    "tag:yaml.org,2002:timestamp": "a date",
}


def tag_word(tag: str) -> str:
    """How a user would describe what YAML turned a plain scalar into."""
    return _TAG_WORDS.get(tag, tag.rsplit(":", 1)[-1])


def too_large(where: str, size: int) -> ManifestError:
    """The error for a manifest of `size` bytes, over `MAX_BYTES`."""
    return ManifestError(
        f"{where}: manifest is {size} bytes, over the {MAX_BYTES}-byte limit",
        "split it into several manifests",
    )


def compose(data: bytes, where: str) -> yaml.Node:
    """Parse `data` into a YAML node tree, enforcing size, alias, depth and encoding caps."""
    if len(data) > MAX_BYTES:
        raise too_large(where, len(data))
    try:
        text = data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"{where}: byte {exc.start} is not valid UTF-8", "save the manifest as UTF-8"
        ) from None
    try:
        _check_events(text, where)
        docs = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        line = _at(exc.problem_mark or exc.context_mark)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ManifestError(f"{where}{line}: invalid YAML: {problem}", _yaml_hint(text)) from None
    except yaml.reader.ReaderError as exc:
        raise ManifestError(
            f"{where}: character {exc.position} ({exc.character!r}) is not allowed in YAML",
            "remove control characters from the manifest",
        ) from None
    except yaml.YAMLError as exc:
        raise ManifestError(
            f"{where}: invalid YAML: {' '.join(str(exc).split())}",
            "fix the YAML at that line (indentation, a missing ':' or an unclosed quote)",
        ) from None
    if len(docs) != 1 or docs[0] is None:
        raise ManifestError(
            f"{where}: expected exactly one YAML document, found {len([d for d in docs if d])}",
            "a manifest is one mapping starting with `schema: 1`",
        )
    return docs[0]


class _Mark(Protocol):
    """A parser position: `yaml.Mark`, or the C parser's `yaml._yaml.Mark`."""

    line: int


def _at(mark: _Mark | None) -> str:
    """`:line` (1-based) of a parser mark; empty when PyYAML gave none."""
    return f":{mark.line + 1}" if mark else ""


def _yaml_hint(text: str) -> str:
    if "\t" in text:
        return "YAML does not allow tabs for indentation; use spaces"
    return "check indentation and quoting around that line"


def _check_events(text: str, where: str) -> None:
    aliases = 0
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ManifestError(
                    f"{where}{_at(event.start_mark)}: more than {MAX_ALIASES} YAML aliases",
                    "write the values out instead of using anchors (*alias)",
                )
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ManifestError(
                    f"{where}{_at(event.start_mark)}: nesting deeper than {MAX_DEPTH} levels",
                    "a manifest needs at most four levels",
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
