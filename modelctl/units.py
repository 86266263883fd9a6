"""Byte counts as people read them (binary units). Stdlib only: the ensure fast path uses it."""

from __future__ import annotations

GIB = 1024**3  # one gibibyte: VRAM and disk sizes are reported in GiB


def human_size(n: int | None) -> str:
    """Bytes as a short string (`512 B`, `4.0 MiB`, `25.7 GiB`), or `?` when unknown."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
