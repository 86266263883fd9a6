"""Facts every file gets whatever rule matched: sizes, quantization mix, GGUF general keys.

These are read, not inferred, so they are reported even when no rule recognises the file.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from modelctl.formats.model import Header


def general_facts(header: Header) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if header.tensors:
        facts["tensor_count"] = len(header.tensors)
        facts["parameter_count"] = sum(t.n_elements for t in header.tensors)
        facts["quantization"] = quantization_mix(header)
    if header.format == "gguf":
        facts.update(_gguf_general(header.metadata))
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


def _gguf_general(meta: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    arch = meta.get("general.architecture")
    if isinstance(arch, str):
        facts["architecture"] = arch
    for key, fact in (
        ("general.type", "general_type"),
        ("general.quantization_version", "quantization_version"),
        ("general.name", "name"),
    ):
        if meta.get(key) is not None and not isinstance(meta[key], (dict, list)):
            facts[fact] = meta[key]
    file_type = meta.get("general.file_type")
    if isinstance(file_type, int) and not isinstance(file_type, bool):
        facts["file_type"] = file_type
        name = _file_type_name(file_type)
        if name:
            facts["file_type_name"] = name
    return facts


def _file_type_name(value: int) -> str | None:
    from gguf import LlamaFileType

    try:
        return LlamaFileType(value).name.removeprefix("MOSTLY_")
    except ValueError:
        return None
