"""The rule files: every rule is well formed, documented, sourced, and its fix names a file."""

from __future__ import annotations

import pytest

from modelctl.compat.rules import RuleError, load_rules, parse_rule

RULES = load_rules()


def test_rules_load_and_ids_are_unique() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids)) >= 15


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_is_documented(rule) -> None:  # type: ignore[no-untyped-def]
    assert len(rule.explanation) > 80, "one paragraph saying what fails and why"
    assert rule.fix["text"]
    for src in rule.sources:
        assert "/" in src["repo"] and src["file"] and src["commit"]
        assert "model-facts" not in src["file"], "cite upstream, not our notes"


def test_issue_cases_each_have_a_rule() -> None:
    ids = {r.id for r in RULES}
    for wanted in (
        "z-image-text-encoder-width",  # 1
        "z-image-text-encoder-family",  # 2
        "gguf-gemma-norm-shift",  # 2
        "flux-latent-vae",  # 3
        "qwen-image-vae",  # 3
        "diffusion-model-is-what-it-claims",  # 4
        "gguf-text-architecture",  # 5
        "gguf-image-architecture",  # 5
        "gguf-qwen2vl-mmproj",  # 5
        "svdquant-precision-matches-gpu",  # 6
        "svdquant-gpu-supported",  # 6
        "svdquant-rank-matches-name",  # 6
        "nunchaku-lightning-release",  # 6
        "gguf-text-encoder-tokenizer",  # 7
        "tokenizer-vocab-matches-encoder",  # 7
        "vae-latent-channels",  # 8
    ):
        assert wanted in ids


BASE = {
    "id": "x-rule",
    "title": "t",
    "parts": {"a": {"role": "vae"}},
    "require": {"eq": ["$a.latent_channels", 16]},
    "message": "{a.name}",
    "explanation": "e",
    "fix": {"text": "f"},
    "sources": [{"repo": "o/r", "file": "f.py", "commit": "abcdef1"}],
}


@pytest.mark.parametrize(
    "change",
    [
        {"id": "Not Kebab"},
        {"colour": "red"},
        {"parts": {"env": {"role": "vae"}}},
        {"parts": {"a": {"size": 1}}},
        {"require": {"eq": ["$b.x", 1]}},
        {"message": "{b.name}"},
        {"fix": {"text": "f", "from": "ftp://x"}},
        {"sources": [{"repo": "o/r", "file": "f", "commit": "main"}]},
        {"sources": []},
    ],
)
def test_malformed_rules_are_refused(change: dict) -> None:
    parse_rule(BASE)
    with pytest.raises(Exception):  # noqa: B017 - RuleError or ConditionError
        parse_rule({**BASE, **change})


def test_missing_key_is_named() -> None:
    raw = dict(BASE)
    del raw["sources"]
    with pytest.raises(RuleError, match="sources"):
        parse_rule(raw)
