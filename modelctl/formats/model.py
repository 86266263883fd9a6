"""What a header reader hands back, whatever the format: tensors in torch order and metadata.

Shapes are always in torch (row-major, outermost first) order, the order ComfyUI and the
identification rules speak; GGUF's stored `ne` order is kept separately for the oracle tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header declares it. `offset` is absolute in the file."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    offset: int
    stored_shape: tuple[int, ...] | None = None  # GGUF `ne` order (innermost first)

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class Header:
    """A parsed file header.

    `format` is one of the Identity formats (gguf, safetensors, sentencepiece, pickle, torch-zip,
    lfs-pointer, html, json, unknown). `metadata` is JSON-ready: GGUF KVs (long arrays summarised
    as `{"type": "array", "item_type": ..., "length": N}`), safetensors `__metadata__`, or the
    facts a sniffer could read. `header_size` is how many leading bytes describe the file (what a
    remote reader must fetch). `detail` holds the format-specific parse result.
    """

    format: str
    size: int
    header_size: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: list[TensorInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    detail: Any = None

    def tensor_map(self) -> dict[str, TensorInfo]:
        return {t.name: t for t in self.tensors}
