"""Byte counts as people read them (binary units). Stdlib only: the ensure fast path uses it."""

from __future__ import annotations

GIB = 1024**3  # one gibibyte: VRAM and disk sizes are reported in GiB
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
# 1024 EiB: no file is that large (2**63 - 1 bytes, the largest `off_t`, is 8 EiB)
_BEYOND = 1024 ** len(_UNITS)


def human_size(n: int | None) -> str:
    """Bytes as a short string (`512 B`, `4.0 MiB`, `25.7 GiB`), or `?` when unknown.

    Total over every int: a count of 1024 EiB or more (only a hostile file can claim one) is
    never turned into a float, whose conversion raises OverflowError past ~10^308.
    """
    if n is None:
        return "?"
    if abs(n) >= _BEYOND:
        return f"{'-' if n < 0 else ''}more than 1023 EiB"
    size = float(n)
    for unit in _UNITS[:-1]:
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} {_UNITS[-1]}"


def decimal(text: str | None, max_digits: int = 20) -> int | None:
    """`text` as a non-negative integer when it is 1 to `max_digits` ASCII digits, else None.

    Why not `text.isdigit()` then `int(text)`: `isdigit` accepts "²" and other Unicode digits
    (HTTP header values are decoded as Latin-1, which has three), which `int` refuses with
    ValueError, and `int` refuses more than 4300 digits (CPython's int_max_str_digits). Every
    count read from untrusted text (headers, pointer files, options) goes through here.
    """
    limit = min(max_digits, 4300)  # CPython's default sys.get_int_max_str_digits()
    if text is None or not 0 < len(text) <= limit or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
