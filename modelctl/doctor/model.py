"""Doctor's verdict type: one `Check` row (ok / warn / fail / skip, with a fix), shared by every
check module, plus the two formatting helpers they all use.

Severity policy: `fail` means something a selected stack needs is broken or missing (exit 1);
facts that only matter for some stacks (no GPU, a GPU Nunchaku cannot use, no token) are `warn`
or `ok` unless a SPEC's `requires` makes them needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from modelctl.units import GIB

STATUSES = ("ok", "warn", "fail", "skip")


@dataclass(frozen=True)
class Check:
    id: str
    status: str
    summary: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def gib(n: int | float) -> str:
    """Bytes as doctor prints them: always GiB, one decimal (`24.0 GiB`)."""
    return f"{n / GIB:.1f} GiB"


def version_in(version: str, spec: str) -> bool:
    """`version` within the PEP 440 range `spec` (pre-releases count)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    return SpecifierSet(spec).contains(Version(version), prereleases=True)
