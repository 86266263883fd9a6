"""What a file, repository or manifest name claims, read with patterns from `data/names.yaml`.

Names matter to compatibility because some differences live only there: Nunchaku's Qwen-Image-Edit
and Edit-2509 files share one tensor layout, so only `…-edit-2509-lightningv2.0…` vs
`…-edit-lightningv1.0…` tells them apart; the `_r32` in a Nunchaku file name is a promise the
tensors must keep; and a file sold as "Z-Image" should contain Z-Image. What a name claims is a
*claim*, kept apart from the identity read from the file's header, so a rule can compare the two.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from modelctl.compat.rules import DATA_DIR


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    from modelctl.datafiles import load_yaml

    doc = load_yaml(DATA_DIR / "names.yaml")
    return doc["names"]


def _first(patterns: list[dict[str, Any]], text: str) -> Any:
    """The value of the first pattern that matches `text` (its `value`, else its first group)."""
    for entry in patterns:
        match = re.search(entry["pattern"], text)
        if match:
            return entry.get("value", match.group(1) if match.groups() else match.group(0))
    return None


def read_name(text: str) -> dict[str, Any]:
    """Every fact the name `text` states, e.g. {'model': 'qwen-image-edit', 'lightning': '1.0'}.

    Precision and rank (`svdq-int4_r32-…`) are read with identify's grammar, the one copy of it.
    """
    from modelctl.identify.svdquant import read_name as svdquant_name

    facts = svdquant_name(text)
    for field, patterns in _table()["fields"].items():
        value = _first(patterns, text)
        if value is not None:
            facts[field] = value
    return facts


def claimed_family(*texts: str | None) -> str | None:
    """The diffusion-model family the first naming text claims (file name before repository)."""
    for text in texts:
        if text:
            family = _first(_table()["families"], text)
            if family:
                return family
    return None
