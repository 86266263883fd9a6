"""The manifest as typed, immutable values: what the user asked for, already validated.

A `Manifest` still holds `{axis}` placeholders; `Selection` (see `select.py`) is the manifest plus
chosen variant values, and `ResolvedAsset` is one asset with every placeholder filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES: tuple[str, ...] = (
    "diffusion_model",
    "text_encoder",
    "vae",
    "tokenizer",
    "lora",
    "mmproj",
    "other",
)

# Identity facts an asset may demand of its file (`expect:`); value type per key.
EXPECT_KEYS: dict[str, type] = {
    "family": str,
    "architecture": str,
    "format": str,
    "role": str,
    "dim": int,
    "cap_feat_dim": int,
    "embedding_length": int,
    "block_count": int,
    "vocab_size": int,
    "latent_channels": int,
    "vae_dims": int,
    "precision": str,
    "rank": int,
}


@dataclass(frozen=True)
class Axis:
    """One variant axis: its allowed values and the default."""

    name: str
    values: tuple[str, ...]
    default: str


@dataclass(frozen=True)
class Asset:
    """One file of a stack, as written in the manifest (placeholders unresolved)."""

    id: str
    role: str
    source: str
    dest: str
    revision: str | None = None
    sha256: str | None = None
    size: int | None = None
    when: dict[str, tuple[str, ...]] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    allow_pickle: bool = False
    line: int = 0

    def applies(self, values: dict[str, str]) -> bool:
        """True when the selected variant values satisfy this asset's `when` filter."""
        return all(values.get(axis) in allowed for axis, allowed in self.when.items())


@dataclass(frozen=True)
class Manifest:
    """A validated manifest v1."""

    name: str
    description: str
    axes: dict[str, Axis]
    assets: tuple[Asset, ...]
    requires: dict[str, Any]
    path: Path | None = None

    def defaults(self) -> dict[str, str]:
        return {name: axis.default for name, axis in self.axes.items()}


@dataclass(frozen=True)
class ResolvedAsset:
    """An asset of a selection with every `{axis}` filled in."""

    id: str
    role: str
    source: str
    dest: str
    revision: str | None
    sha256: str | None
    size: int | None
    expect: dict[str, Any]
    allow_pickle: bool

    @property
    def scheme(self) -> str:
        return self.source.split("://", 1)[0]


@dataclass(frozen=True)
class Selection:
    """A manifest with one value chosen per axis, and the assets that selection yields."""

    manifest: Manifest
    values: dict[str, str]
    assets: tuple[ResolvedAsset, ...]

    @property
    def spec(self) -> str:
        """The canonical SPEC string, e.g. `z-image-turbo:quant=Q8_0`."""
        if not self.values:
            return self.manifest.name
        axes = ",".join(f"{k}={v}" for k, v in sorted(self.values.items()))
        return f"{self.manifest.name}:{axes}"
