"""What a pull returns: one `ItemResult` per destination and the `PullSummary` of the run.

A failed run still has a summary (what was present, what was downloaded, which failed and why):
`PullSummary.errors` keeps every failure in plan order, and `pull_selections` raises the first
one after the summary event went out, so scripts and the CLI see both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelctl.errors import ModelctlError
from modelctl.plan.space import FsVerdict


@dataclass
class ItemResult:
    id: str
    dest: str
    source: str
    state: str  # present | downloaded | planned | failed
    size: int | None = None
    sha256: str | None = None
    commit: str | None = None
    fetched: int = 0
    resumed: int = 0
    seconds: float = 0.0
    error: str | None = None
    verified: str | None = None  # the check the bytes passed: a receipt's `verified`


@dataclass
class PullSummary:
    items: list[ItemResult]
    space: list[FsVerdict]
    dry_run: bool = False
    errors: list[ModelctlError] = field(default_factory=list)

    @property
    def fetched(self) -> int:
        return sum(i.fetched for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "ok": not any(i.state == "failed" for i in self.items),
            "fetched_bytes": self.fetched,
            "items": [asdict(i) for i in self.items],
            "space": [v.as_dict() for v in self.space],
        }

    def first_error(self) -> ModelctlError | None:
        """The first failure in plan order, its hint counting the others (a new error object:
        the one raised by the failing step is left as it was)."""
        if not self.errors:
            return None
        first = self.errors[0]
        if len(self.errors) == 1:
            return first
        hint = ((first.hint or "") + f"\n{len(self.errors) - 1} other asset(s) failed too").strip()
        error = type(first)(first.message, hint)
        error.__cause__ = first
        return error
