"""`expect_mismatches`: a file's identity against its asset's role and `expect:` block."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from modelctl.compat import expect_mismatches
from tests.compat import idents as I


def asset(role: str, **expect: object) -> SimpleNamespace:
    return SimpleNamespace(id="a", role=role, expect=expect)


def test_matching_identity_has_no_mismatch() -> None:
    a = asset("diffusion_model", family="z-image", cap_feat_dim=2560, format="safetensors")
    assert expect_mismatches(a, I.Z_IMAGE) == []


def test_each_contradiction_is_one_line() -> None:
    a = asset("diffusion_model", family="z-image", cap_feat_dim=2560, dim=3840)
    assert expect_mismatches(a, I.LUMINA2) == [
        "family: expected z-image, the file has lumina2",
        "cap_feat_dim: expected 2560, the file has 2304",
        "dim: expected 3840, the file has 2304",
    ]


def test_a_fact_the_file_does_not_show_is_a_mismatch() -> None:
    assert expect_mismatches(asset("vae", latent_channels=16), I.QWEN3) == [
        "role: the manifest says vae, the file is a text_encoder",
        "latent_channels: expected 16, the file does not show it",
    ]


def test_svdquant_precision_and_rank_are_nested_facts() -> None:
    assert (
        expect_mismatches(asset("diffusion_model", precision="int4", rank=32), I.SVDQ_INT4_R32)
        == []
    )
    assert expect_mismatches(asset("diffusion_model", precision="fp4"), I.SVDQ_INT4_R32) == [
        "precision: expected fp4, the file has int4"
    ]
    # `auto` is resolved from the GPU later; any precision keeps that promise
    assert expect_mismatches(asset("diffusion_model", precision="auto"), I.SVDQ_FP4_R32) == []


@pytest.mark.parametrize(
    ("role", "found", "mismatch"),
    [
        ("vae", "unknown", False),  # a file identify has no rule for contradicts nothing
        ("lora", "unknown", False),
        ("other", "vae", False),
        ("tokenizer", "tokenizer", False),
    ],
)
def test_roles(role: str, found: str, mismatch: bool) -> None:
    identity = I.Ident("safetensors", found, None, {})
    assert bool(expect_mismatches(asset(role), identity)) is mismatch


@pytest.mark.parametrize(("fmt", "role"), [("html", "unknown"), ("lfs-pointer", "unknown"),
                                           ("json", "unknown")])  # fmt: skip
def test_impostor_bytes_contradict_any_role(fmt: str, role: str) -> None:
    (problem,) = expect_mismatches(asset("vae"), I.Ident(fmt, role, None, {}))
    assert problem.startswith("role: the manifest says vae, the file is")


def test_a_tokenizer_json_is_no_impostor() -> None:
    assert expect_mismatches(asset("tokenizer"), I.Ident("json", "tokenizer", None, {})) == []
