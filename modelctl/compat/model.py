"""The values a check produces: the parts of a stack, each rule's verdict, and the report.

A `Part` is one file of the stack as the rules see it: its declared or inferred role, its identity
(from `modelctl.identify`) and facts derived from where it comes from (file name, folder, the
manifest's `expect`). Rules read a part through `Part.facts`, one flat mapping, so the condition
language needs no knowledge of Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelctl.compat.rules import Rule

STATUSES = ("fail", "skip", "pass", "n/a")


@dataclass(frozen=True)
class Part:
    """One file of a stack.

    `facts` holds identity facts (embedding_length, cap_feat_dim, …) plus `role`, `family`,
    `format`, `name`, `stem`, `dir`, `source`, `asset`, `expect`, `expect_mismatches`, `named`
    (facts read from the file name) and `claimed_family` (what the stack says the file is).
    """

    role: str
    name: str
    source: str
    facts: dict[str, Any]
    asset: str | None = None

    @property
    def family(self) -> str | None:
        return self.facts.get("family")

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "role": self.role,
            "file": self.name,
            "source": self.source,
            "family": self.family,
            "format": self.facts.get("format"),
            "identity": self.facts.get("identity", {}),
        }


@dataclass(frozen=True)
class Finding:
    """The outcome of one rule for one binding of its parts (e.g. this DiT with that encoder)."""

    status: str
    parts: dict[str, str]
    message: str = ""
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "parts": self.parts}
        if self.message:
            data["message"] = self.message
        if self.missing:
            data["missing"] = list(self.missing)
        return data


@dataclass(frozen=True)
class Verdict:
    """One rule's verdict over the whole stack: the worst of its findings."""

    rule: Rule
    status: str
    findings: tuple[Finding, ...] = ()
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_json(self) -> dict[str, Any]:
        rule = self.rule
        data: dict[str, Any] = {
            "id": rule.id,
            "title": rule.title,
            "status": self.status,
            "findings": [f.to_json() for f in self.findings],
        }
        if self.note:
            data["note"] = self.note
        data.update(
            explanation=rule.explanation,
            fix=rule.fix,
            sources=list(rule.sources),
        )
        return data


@dataclass
class Report:
    """A checked stack: its parts and every rule's verdict."""

    stack: str
    parts: list[Part]
    verdicts: list[Verdict] = field(default_factory=list)
    env: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no rule failed (skipped and not-applicable rules do not fail a stack)."""
        return not any(v.failed for v in self.verdicts)

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.failed]

    def counts(self) -> dict[str, int]:
        return {s: sum(v.status == s for v in self.verdicts) for s in STATUSES}

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "ok": self.ok,
            "env": self.env,
            "counts": self.counts(),
            "parts": [p.to_json() for p in self.parts],
            "verdicts": [v.to_json() for v in self.verdicts],
        }
