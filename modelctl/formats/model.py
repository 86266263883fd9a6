"""What a header reader hands back, whatever the format: tensors in torch order and metadata.

Shapes are always in torch (row-major, outermost first) order, the order ComfyUI and the
identification rules speak; GGUF's stored `ne` order is kept separately for the oracle tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_WARNINGS = 20  # one file's warnings shown; the rest are counted
MAX_TENSORS = 1 << 18  # per file; real ones hold at most ~150k (a whole MoE LLM in one file)
MAX_INLINE_STRING = (
    64 << 10
)  # longer metadata strings are kept truncated (chat templates: ~2-20 KiB)
TRUNCATED_HEAD = 256  # bytes a truncated string keeps (a preview)


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


@dataclass(frozen=True)
class TruncatedString:
    """A metadata string too long to keep: its first bytes (decoded) and its true length.

    Header readers keep one of these instead of the value when a string is longer than they
    materialise, so a sparse file declaring gigabytes of metadata costs kilobytes. Its JSON form,
    `{"type": "string", "length": N, "head": "..."}`, sits beside the long-array summary
    `{"type": "array", "item_type": ..., "length": N}`: a dict in metadata is always a summary.
    """

    head: str
    length: int  # bytes

    def to_json(self) -> dict[str, Any]:
        return {"type": "string", "length": self.length, "head": self.head}


def bounded(text: str) -> str | dict[str, Any]:
    """`text`, or the JSON summary of it truncated when it is longer than MAX_INLINE_STRING."""
    if len(text) <= MAX_INLINE_STRING // 4:  # 4 bytes per character at most: surely short
        return text
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_INLINE_STRING:
        return text
    head = raw[:TRUNCATED_HEAD].decode("utf-8", "ignore")  # drops a character cut at the end
    return TruncatedString(head, len(raw)).to_json()


class Warnings:
    """A bounded list of warnings: the first `limit` are kept, the others only counted.

    A hostile header can provoke one warning per key or per tensor (a million of them); the
    reader still reports the first few and how many more there were, in bounded memory.
    """

    def __init__(self, limit: int = MAX_WARNINGS) -> None:
        self.limit = limit
        self.items: list[str] = []
        self.dropped = 0

    def append(self, text: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(text)
        else:
            self.dropped += 1

    def as_list(self) -> list[str]:
        more = [f"... and {self.dropped} more warnings"] if self.dropped else []
        return [*self.items, *more]


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
