"""The condition language: operators, three-valued logic, references, validation."""

from __future__ import annotations

import pytest

from modelctl.compat.conditions import ConditionError, Scope, evaluate, validate

TE = {"role": "text_encoder", "family": "gemma2", "embedding_length": 2304, "name": "g.gguf"}
DIT = {"role": "diffusion_model", "family": "z-image", "cap_feat_dim": 2560, "svdquant": None}


def ev(cond: dict, **bound: dict) -> bool | None:
    scope = Scope(
        bound or {"te": TE, "dit": DIT}, tuple((bound or {"te": TE, "dit": DIT}).values())
    )
    return evaluate(cond, scope)


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ({"eq": ["$te.embedding_length", "$dit.cap_feat_dim"]}, False),
        ({"ne": ["$te.embedding_length", "$dit.cap_feat_dim"]}, True),
        ({"lt": ["$te.embedding_length", 2560]}, True),
        ({"ge": ["$te.embedding_length", 2304]}, True),
        ({"in": ["$te.family", ["gemma2", "gemma3"]]}, True),
        ({"not_in": ["$te.family", ["qwen3"]]}, True),
        ({"contains": ["$te.name", "gguf"]}, True),
        ({"matches": ["$te.name", r"\.gguf$"]}, True),
        ({"present": "$te.embedding_length"}, True),
        ({"absent": "$te.vocab_size"}, True),
        ({"present": "$dit.svdquant"}, False),  # None counts as unknown
        ({"eq": [{"add": ["$te.embedding_length", 256]}, "$dit.cap_feat_dim"]}, True),
        ({"eq": [{"lower": "$te.name"}, "g.gguf"]}, True),
        ({"eq": [{"strip": ["$te.name", r"\.gguf$"]}, "g"]}, True),
        ({"in": [["$te.family", "$dit.family"], [["gemma2", "z-image"]]]}, True),
        ({"eq": ["$te.vocab_size?", None]}, True),
        ({"lt": ["$te.family", 3]}, False),  # incomparable facts: the relation fails, no crash
    ],
)
def test_operators(cond: dict, expected: bool) -> None:
    assert ev(cond) is expected


def test_unknown_facts_make_unknown_not_false() -> None:
    scope = Scope({"te": TE, "dit": DIT})
    assert evaluate({"eq": ["$te.vocab_size", 256000]}, scope) is None
    assert scope.missing == {"te.vocab_size"}
    assert evaluate({"not": {"eq": ["$te.vocab_size", 1]}}, Scope({"te": TE})) is None


@pytest.mark.parametrize(
    ("items", "all_", "any_"),
    [
        ([True, True], True, True),
        ([True, False], False, True),
        ([True, None], None, True),
        ([False, None], False, None),
        ([None, None], None, None),
    ],
)
def test_kleene_logic(items: list, all_: bool | None, any_: bool | None) -> None:
    literal = {True: {"eq": [1, 1]}, False: {"eq": [1, 2]}, None: {"eq": ["$te.nope", 1]}}
    conds = [literal[i] for i in items]
    assert ev({"all": conds}) is all_
    assert ev({"any": conds}) is any_


def test_exists_looks_at_other_parts_only() -> None:
    tok = {"role": "tokenizer", "vocab_size": 256000}
    scope = Scope({"te": TE}, (TE, tok))
    assert evaluate({"exists": {"part": {"role": "tokenizer"}}}, scope) is True
    assert evaluate({"exists": {"part": {"role": "text_encoder"}}}, scope) is False  # te is bound
    where = {"eq": ["$t.vocab_size", "$te.vocab_size"]}  # te.vocab_size unknown -> unknown
    assert (
        evaluate({"exists": {"as": "t", "part": {"role": "tokenizer"}, "where": where}}, scope)
        is None
    )


@pytest.mark.parametrize(
    "cond",
    [
        {"eq": ["$x.a", 1]},  # unbound alias
        {"eq": [1]},
        {"frobnicate": [1, 2]},
        {"eq": [1, 1], "ne": [1, 2]},
        {"present": "te.a"},
        {"all": []},
        {"exists": {"part": {"size": 3}}},
        {"exists": {"part": {}, "where": {"eq": [1, 1]}}},
        {"eq": [{"upper": "$te.a"}, 1]},
        {"matches": ["$te.a", "("]},
    ],
)
def test_validate_rejects_malformed(cond: dict) -> None:
    with pytest.raises((ConditionError, Exception)):
        validate(cond, {"te"}, "test")


def test_validate_accepts_special_aliases() -> None:
    validate({"eq": ["$env.gpu_sm", "$stack.name"]}, set(), "test")
