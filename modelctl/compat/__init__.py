"""Compatibility: do the parts of a stack fit together? Rules as data, a small engine, entry points.

- `check_selection(selection, layout, gpu_sm=None) -> Report`: a manifest selection (installed files
  read locally, the others by header over HTTP Range requests: never a download).
- `check_files(targets, gpu_sm=None) -> Report`: loose files / hf:// / https:// as one stack.
- `expect_mismatches(asset, identity) -> list[str]`: how a file contradicts its asset's role and
  `expect:` block (pull refuses to place such a file).

Rules live in `compat/data/*.yaml` (see `rules.py` for the schema, `conditions.py` for the
condition language); `engine.py` evaluates them over `Part`s built by `stack.py`.
"""

from __future__ import annotations

from modelctl.compat.expect import expect_mismatches
from modelctl.compat.model import Finding, Part, Report, Verdict
from modelctl.compat.stack import check_files, check_selection

__all__ = [
    "Finding",
    "Part",
    "Report",
    "Verdict",
    "check_files",
    "check_selection",
    "expect_mismatches",
]
