"""Bounds on what a JSON text may make Python build, checked on the bytes before parsing.

`json.loads` spends ~60 bytes per list and far more per object and per value: a 64 MiB file of
`[],[],...` takes 1.7 GB, a 100 MB safetensors header of 1.6 million tensor entries 1.5 GB. Every
object or list needs a `{` or `[` byte and every further value a `,` byte (structural ones cannot
be escaped; those inside strings only make the count larger), so counting them (in C, one pass)
bounds the objects a parse can create, and refusing texts over the limit bounds its memory.
"""

from __future__ import annotations


def too_many_values(raw: bytes, max_containers: int, max_values: int) -> str | None:
    """Why `raw` would build more than the given objects/lists or values, or None."""
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > max_containers:
        return f"{containers} '{{' and '[' (at most {max_containers} are read)"
    values = raw.count(b",")
    if values > max_values:
        return f"{values} ',' (at most {max_values} are read)"
    return None
