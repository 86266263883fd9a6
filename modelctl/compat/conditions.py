"""The condition language of compatibility rules: small, declarative, three-valued.

Rules are data (`compat/data/*.yaml`), so their conditions need a language, and it is kept tiny on
purpose: comparisons between facts of the parts of a stack, membership, presence, and/or/not, and
one quantifier (`exists`) for "some other part of the stack is …". No per-rule Python.

A condition is a mapping with exactly one key, the operator:

    eq / ne / lt / le / gt / ge: [A, B]   compare two operands
    in / not_in: [A, LIST]                A is (not) one of LIST (lists compare element-wise)
    contains: [A, B]                      B is a substring / element of A
    matches: [A, REGEX]                   A (a string) matches REGEX (re.search)
    present / absent: $REF                the fact is (not) known
    all / any: [COND, …]                  and / or
    not: COND
    exists: {as: ALIAS, part: FILTER, where: COND}
                                          another part of the stack passes FILTER and COND

Operands are literals (numbers, strings, booleans, null, lists) or references `$alias.path`, where
`alias` is a part bound by the rule (or `stack` / `env`), and `path` walks the part's facts. A
reference ending in `?` reads a missing fact as null instead of "unknown". Two functions transform
operands: `{lower: A}`, `{strip: [A, REGEX]}` (delete every REGEX match),
`{add: [A, B]}` and `{mul: [A, B]}`.

Evaluation is three-valued (Kleene logic): a comparison that reads an unknown fact is *unknown*
(`None`), not false, so a rule the files cannot decide is reported as skipped with the facts it
lacked, never as a pass or a failure. `all` is false if any part is false, `any` true if any is
true.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Truth = bool | None  # None = unknown

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
BINARY = (*COMPARISONS, "in", "not_in", "contains", "matches")
OPERATORS = (*BINARY, "present", "absent", "all", "any", "not", "exists")
FUNCTIONS = ("lower", "strip", "add", "mul")
SPECIAL_ALIASES = ("stack", "env")


class Unknown(Exception):
    """A referenced fact is not known for this part."""

    def __init__(self, ref: str) -> None:
        super().__init__(ref)
        self.ref = ref


class ConditionError(ValueError):
    """A condition in a rule file is malformed (a bug in the data, caught by the rule loader)."""


@dataclass
class Scope:
    """What a condition can see: the bound parts (alias -> fact mapping) and the whole stack.

    `parts` are all parts of the stack (for `exists`), each a mapping of facts; `bound` maps aliases
    to the parts chosen for them; `missing` collects the references that turned out unknown.
    """

    bound: dict[str, Mapping[str, Any]]
    parts: tuple[Mapping[str, Any], ...] = ()
    missing: set[str] = field(default_factory=set)

    def with_alias(self, alias: str, part: Mapping[str, Any]) -> Scope:
        return Scope({**self.bound, alias: part}, self.parts, self.missing)


_ABSENT = object()


def lookup(scope: Scope, ref: str) -> Any:
    """The value of `alias.path`, raising `Unknown` when any step is missing or None."""
    alias, _, path = ref.partition(".")
    value: Any = scope.bound.get(alias, _ABSENT)
    for step in filter(None, path.split(".")):
        if not isinstance(value, Mapping):
            value = _ABSENT
            break
        value = value.get(step, _ABSENT)
    if value is _ABSENT or value is None:
        raise Unknown(ref)
    return value


def operand(scope: Scope, term: Any) -> Any:
    """Resolve one operand (literal, `$ref`, `$ref?`, list or function)."""
    if isinstance(term, str) and term.startswith("$"):
        ref = term[1:]
        if ref.endswith("?"):
            try:
                return lookup(scope, ref[:-1])
            except Unknown:
                return None
        return lookup(scope, ref)
    if isinstance(term, list):
        return [operand(scope, t) for t in term]
    if isinstance(term, Mapping):
        ((name, arg),) = term.items()
        if name == "lower":
            return str(operand(scope, arg)).lower()
        if name == "strip":
            text, pattern = arg
            return re.sub(pattern, "", str(operand(scope, text)))
        if name in ("add", "mul"):
            a, b = (operand(scope, t) for t in arg)
            return a + b if name == "add" else a * b
        raise ConditionError(f"unknown function `{name}`")
    return term


def _binary(name: str, a: Any, b: Any) -> bool:
    if name in COMPARISONS:
        try:
            return bool(COMPARISONS[name](a, b))
        except TypeError:  # e.g. "16" < 2: the facts are not comparable, so the relation fails
            return False
    if name in ("in", "not_in"):
        found = a in b if isinstance(b, list) else False
        return found if name == "in" else not found
    if name == "contains":
        return b in a if isinstance(a, (str, list, dict)) else False
    return isinstance(a, str) and re.search(b, a) is not None  # matches


def evaluate(cond: Mapping[str, Any], scope: Scope) -> Truth:
    """Evaluate a condition: True, False, or None when it reads facts nobody knows."""
    ((name, arg),) = cond.items()
    if name in BINARY:
        try:
            a, b = operand(scope, arg[0]), operand(scope, arg[1])
        except Unknown as exc:
            scope.missing.add(exc.ref)
            return None
        return _binary(name, a, b)
    if name in ("present", "absent"):
        try:
            operand(scope, arg)
            known = True
        except Unknown:
            known = False
        return known if name == "present" else not known
    if name == "not":
        value = evaluate(arg, scope)
        return None if value is None else not value
    if name == "all":
        return _kleene((evaluate(c, scope) for c in arg), stop=False)
    if name == "any":
        return _kleene((evaluate(c, scope) for c in arg), stop=True)
    if name == "exists":
        return _exists(arg, scope)
    raise ConditionError(f"unknown operator `{name}`")


def _kleene(values: Iterable[Truth], stop: bool) -> Truth:
    """`all` (stop=False) / `any` (stop=True) over three-valued results."""
    unknown = False
    for value in values:
        if value is stop:
            return stop
        unknown = unknown or value is None
    return None if unknown else not stop


def _exists(arg: Mapping[str, Any], scope: Scope) -> Truth:
    bound_ids = {id(p) for p in scope.bound.values()}
    candidates = [
        p for p in scope.parts if id(p) not in bound_ids and part_matches(p, arg.get("part", {}))
    ]
    where = arg.get("where")
    if where is None:
        return bool(candidates)
    return _kleene((evaluate(where, scope.with_alias(arg["as"], p)) for p in candidates), stop=True)


FILTER_KEYS = ("role", "family", "format")


def part_matches(part: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    """Does a part pass a filter like `{role: text_encoder, family: [qwen3], format: gguf}`?"""
    for key, wanted in flt.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if part.get(key) not in allowed:
            return False
    return True


# ---- static validation (used by the rule loader, so bad data fails in tests, not for users) ----


def validate(cond: Any, aliases: set[str], where: str) -> None:
    """Raise `ConditionError` naming `where` if `cond` is not a well-formed condition."""
    if not isinstance(cond, Mapping) or len(cond) != 1:
        raise ConditionError(f"{where}: a condition is a mapping with one operator, got {cond!r}")
    ((name, arg),) = cond.items()
    if name not in OPERATORS:
        raise ConditionError(f"{where}: unknown operator `{name}`")
    if name in BINARY:
        if not isinstance(arg, list) or len(arg) != 2:
            raise ConditionError(f"{where}: `{name}` takes [A, B]")
        for term in arg:
            _validate_operand(term, aliases, where)
        if name == "matches":
            re.compile(arg[1])
    elif name in ("present", "absent"):
        if not (isinstance(arg, str) and arg.startswith("$")):
            raise ConditionError(f"{where}: `{name}` takes a $reference")
        _validate_operand(arg, aliases, where)
    elif name == "not":
        validate(arg, aliases, where)
    elif name in ("all", "any"):
        if not isinstance(arg, list) or not arg:
            raise ConditionError(f"{where}: `{name}` takes a non-empty list of conditions")
        for item in arg:
            validate(item, aliases, where)
    else:
        _validate_exists(arg, aliases, where)


def _validate_exists(arg: Any, aliases: set[str], where: str) -> None:
    if not isinstance(arg, Mapping) or not set(arg) <= {"as", "part", "where"}:
        raise ConditionError(f"{where}: `exists` takes {{as, part, where}}")
    flt = arg.get("part", {})
    if not isinstance(flt, Mapping) or not set(flt) <= set(FILTER_KEYS):
        raise ConditionError(f"{where}: a part filter uses only {', '.join(FILTER_KEYS)}")
    if "where" in arg:
        if "as" not in arg:
            raise ConditionError(f"{where}: `exists` with `where` needs `as`")
        validate(arg["where"], aliases | {arg["as"]}, where)


def _validate_operand(term: Any, aliases: set[str], where: str) -> None:
    if isinstance(term, str) and term.startswith("$"):
        alias = term[1:].rstrip("?").split(".", 1)[0]
        if alias not in aliases and alias not in SPECIAL_ALIASES:
            raise ConditionError(f"{where}: `{term}` names no bound part (have {sorted(aliases)})")
    elif isinstance(term, list):
        for t in term:
            _validate_operand(t, aliases, where)
    elif isinstance(term, Mapping):
        if len(term) != 1 or next(iter(term)) not in FUNCTIONS:
            raise ConditionError(f"{where}: unknown function {term!r}")
        ((name, arg),) = term.items()
        if name in ("strip", "add", "mul"):
            if not isinstance(arg, list) or len(arg) != 2:
                raise ConditionError(f"{where}: `{name}` takes [A, B]")
            if name == "strip":
                re.compile(arg[1])
            for t in arg:
                _validate_operand(t, aliases, where)
        else:
            _validate_operand(arg, aliases, where)
