"""Compatibility: do the parts of a stack fit together? Rules as data and a small, pure engine.

- `parts.make_part(identity, …)` / `parts.run_check(name, parts, env) -> Report`: identities (read
  by the caller) plus the machine facts `env` in, verdicts out.
- `expect_mismatches(asset, identity) -> list[str]`: how a file contradicts its asset's role and
  `expect:` block (pull refuses to place such a file).

Rules live in `compat/data/*.yaml` (see `rules.py` for the schema, `conditions.py` for the
condition language); `engine.py` evaluates them over `Part`s. Reading the files is the `check` use
case's job (`modelctl.check`); this package does no I/O beyond its own data files.
"""

from __future__ import annotations

from modelctl.compat.expect import expect_mismatches
from modelctl.compat.model import Finding, Part, Report, Verdict

__all__ = ["Finding", "Part", "Report", "Verdict", "expect_mismatches"]
