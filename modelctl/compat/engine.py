"""Evaluate rules over the parts of a stack.

For each rule, every binding of its aliases to distinct parts that pass the aliases' filters is
evaluated: `when` narrows applicability, `require` must hold. The rule's verdict is the worst
finding: `fail` if any binding fails, else `pass` if any holds, else `skip` when the files could not
decide it (a fact nobody knows), else `n/a` (no part of the stack is concerned).
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterable, Mapping
from typing import Any

from modelctl.compat import conditions
from modelctl.compat.conditions import Scope
from modelctl.compat.model import Finding, Part, Verdict
from modelctl.compat.rules import Rule


def evaluate_rules(
    rules: Iterable[Rule], parts: list[Part], stack: Mapping[str, Any], env: Mapping[str, Any]
) -> list[Verdict]:
    """Every rule's verdict over `parts`; `stack` and `env` are the `$stack` / `$env` facts."""
    return [evaluate_rule(rule, parts, stack, env) for rule in rules]


def evaluate_rule(
    rule: Rule, parts: list[Part], stack: Mapping[str, Any], env: Mapping[str, Any]
) -> Verdict:
    views = tuple(p.facts for p in parts)
    found = (_finding(rule, binding, views, stack, env) for binding in _bindings(rule, parts))
    findings = [f for f in found if f is not None]
    for status in ("fail", "pass", "skip"):
        if any(f.status == status for f in findings):
            chosen = tuple(f for f in findings if f.status in (status, "fail"))
            note = _skip_note(rule, findings) if status == "skip" else ""
            return Verdict(rule, status, chosen, note)
    return Verdict(rule, "n/a")


def _bindings(rule: Rule, parts: list[Part]) -> Iterable[dict[str, Part]]:
    """Each assignment of the rule's aliases to distinct matching parts."""
    aliases = list(rule.parts)
    choices = [
        [p for p in parts if conditions.part_matches(p.facts, rule.parts[a])] for a in aliases
    ]
    for combo in itertools.product(*choices):
        if len({id(p) for p in combo}) == len(combo):
            yield dict(zip(aliases, combo, strict=True))


def _finding(
    rule: Rule,
    binding: dict[str, Part],
    views: tuple[Mapping[str, Any], ...],
    stack: Mapping[str, Any],
    env: Mapping[str, Any],
) -> Finding | None:
    bound: dict[str, Mapping[str, Any]] = {a: p.facts for a, p in binding.items()}
    bound.update(stack=stack, env=env)
    names = {a: p.name for a, p in binding.items()}
    if rule.when is not None:
        scope = Scope(bound, views)
        applies = conditions.evaluate(rule.when, scope)
        if applies is False:
            return None
        if applies is None:
            return Finding("skip", names, missing=tuple(sorted(scope.missing)))
    scope = Scope(bound, views)
    holds = conditions.evaluate(rule.require, scope)
    if holds is None:
        return Finding("skip", names, missing=tuple(sorted(scope.missing)))
    if holds:
        return Finding("pass", names)
    return Finding("fail", names, render(rule.message, bound))


def _skip_note(rule: Rule, findings: list[Finding]) -> str:
    missing = sorted({m for f in findings for m in f.missing})
    if rule.unknown:
        return rule.unknown
    return "not known: " + ", ".join(missing) if missing else ""


class _Fields(string.Formatter):
    """`{alias.fact}` fields filled from the bound parts; unknown facts print as `?`."""

    def __init__(self, bound: Mapping[str, Mapping[str, Any]]) -> None:
        self.bound = bound

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        try:
            value = conditions.lookup(Scope(dict(self.bound)), field_name)
        except conditions.Unknown:
            value = "?"
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value) if value else "none"
        return value, field_name


def render(template: str, bound: Mapping[str, Mapping[str, Any]]) -> str:
    """Fill a rule message's `{alias.fact}` fields."""
    return " ".join(_Fields(bound).format(template).split())
