"""Facts every file gets whatever rule matched: sizes, quantization mix, GGUF general keys.

These are read, not inferred, so they are reported even when no rule recognises the file.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from modelctl.formats.model import Header
from modelctl.identify.values import MetadataReader


def general_facts(header: Header, reader: MetadataReader | None = None) -> dict[str, Any]:
    """`reader`: the header's typed metadata reader (one is made when not given)."""
    facts: dict[str, Any] = {}
    if header.tensors:
        facts["tensor_count"] = len(header.tensors)
        facts["parameter_count"] = sum(t.n_elements for t in header.tensors)
        facts["quantization"] = quantization_mix(header)
    if header.format == "gguf":
        facts.update(_gguf_general(reader or MetadataReader(header.metadata)))
    return facts


def quantization_mix(header: Header) -> dict[str, dict[str, Any]]:
    """Per tensor type: tensor count, bytes and share of all tensor bytes (largest first)."""
    count: dict[str, int] = defaultdict(int)
    size: dict[str, int] = defaultdict(int)
    for t in header.tensors:
        count[t.dtype] += 1
        size[t.dtype] += t.nbytes
    total = sum(size.values()) or 1
    order = sorted(size, key=lambda d: (-size[d], d))
    return {
        d: {"tensors": count[d], "bytes": size[d], "share": round(size[d] / total, 4)}
        for d in order
    }


GGUF_GENERAL = (  # key, fact, type (llama.cpp gguf-py/gguf/constants.py Keys.General)
    ("general.architecture", "architecture", "str"),
    ("general.type", "general_type", "str"),
    ("general.quantization_version", "quantization_version", "int"),
    ("general.name", "name", "str"),
    ("general.file_type", "file_type", "int"),
)


def _gguf_general(meta: MetadataReader) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for key, fact, kind in GGUF_GENERAL:
        value = meta.get(key, kind)
        if value is not None:
            facts[fact] = value
    name = _file_type_name(facts["file_type"]) if "file_type" in facts else None
    if name:
        facts["file_type_name"] = name
    return facts


def _file_type_name(value: int) -> str | None:
    from gguf import LlamaFileType

    try:
        return LlamaFileType(value).name.removeprefix("MOSTLY_")
    except ValueError:
        return None
