"""The package's own data files (rules, tables, allow-lists) read as YAML.

Knowledge lives in YAML files beside the code that uses it. They are trusted (shipped with the
package), so the only concerns are safety (the safe loader, never a full one) and speed: the
C-accelerated loader reads the identify and compat rules in ~15 ms instead of ~140 ms, which every
`pull` pays in its identity check. Lock files (`plan/lockfile.py`), written by modelctl and
type-checked field by field after loading, are read through it too; user-written manifests are not
(`manifest/yamlload.py` reads those strictly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_yaml(source: str | Path) -> Any:
    """Parse YAML text, or the file at a `Path`, with the fastest safe loader available."""
    import yaml

    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
