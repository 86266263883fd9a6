"""Identification of real-layout files (written by the gguf / safetensors writers) by the rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelctl.identify import identify
from modelctl.identify.rules import RuleError, _parse_rule, load_rules
from tests.formats.builders import write_safetensors
from tests.helpers.bytes_source import BytesSource
from tests.identify.specs import all_specs, build_all, qwen_image, svdq, svdq_metadata

SPECS = {s.name: s for s in all_specs()}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_all(tmp_path_factory.mktemp("models"))


def _subset(expect: dict[str, Any], got: dict[str, Any]) -> None:
    for key, want in expect.items():
        if isinstance(want, dict):
            assert isinstance(got.get(key), dict), (key, got.get(key))
            _subset(want, got[key])
        else:
            assert got.get(key) == want, f"{key}: expected {want!r}, got {got.get(key)!r}"


@pytest.mark.parametrize("name", list(SPECS))
def test_identifies(files: dict[str, Any], name: str) -> None:
    path, spec = files[name]
    identity = identify(path)
    _subset(spec.expect, identity.to_json())


def test_identity_from_byte_source(files: dict[str, Any]) -> None:
    path, _ = files["ae.safetensors"]
    identity = identify(BytesSource(Path(path).read_bytes(), name="ae"))
    assert (identity.format, identity.role, identity.family) == ("safetensors", "vae", "flux-vae")


def test_gemma3_is_not_mistaken_for_qwen3_despite_equal_width(files: dict[str, Any]) -> None:
    gemma = identify(files["gemma_3_4b.safetensors"][0])
    qwen = identify(files["qwen_3_4b.safetensors"][0])
    assert gemma.facts["embedding_length"] == qwen.facts["embedding_length"] == 2560
    assert (gemma.family, qwen.family) == ("gemma3", "qwen3")


def test_wan_and_flux_vae_share_channels_but_not_family(files: dict[str, Any]) -> None:
    wan = identify(files["qwen_image_vae.safetensors"][0]).facts
    flux = identify(files["ae.safetensors"][0]).facts
    assert wan["latent_channels"] == flux["latent_channels"] == 16
    assert (wan["vae_dims"], flux["vae_dims"]) == (3, 2)


def test_general_facts(files: dict[str, Any]) -> None:
    facts = identify(files["z_image_turbo-Q8_0.gguf"][0]).facts
    assert facts["quantization"]["Q8_0"]["tensors"] > 0
    assert abs(sum(v["share"] for v in facts["quantization"].values()) - 1) < 1e-3
    assert facts["file_type_name"] == "Q8_0"
    assert facts["parameter_count"] > 3840 * 2560


def test_gguf_vocab_mismatch_is_reported(files: dict[str, Any]) -> None:
    identity = identify(files["Qwen3-4B-Q4_K_M.gguf"][0])
    assert identity.facts["tokenizer_vocab_size"] == 40
    assert any("token_embd.weight has 151936 rows" in w for w in identity.warnings)


def test_svdquant_disagreements_are_warnings(tmp_path: Path) -> None:
    # weights say rank 32 / int4; metadata says rank 128 / fp4; the name says r64
    path = write_safetensors(
        tmp_path / "svdq-int4_r64-qwen-image.safetensors",
        qwen_image() + svdq("transformer_blocks.0.attn.to_qkv", 32, False),
        svdq_metadata(128, True, "NunchakuQwenImageTransformer2DModel"),
    )
    identity = identify(path)
    sq = identity.facts["svdquant"]
    assert (sq["precision"], sq["rank"]) == ("int4", 32)
    assert sq["sources"]["metadata"] == {"precision": "fp4", "rank": 128}
    assert sq["sources"]["filename"] == {"precision": "int4", "rank": 64}
    text = " | ".join(identity.warnings)
    assert "rank is 32 in the weights but 128 in quantization_config" in text
    assert "rank is 32 in the weights but 64 in the file name" in text
    assert "precision is int4 in the weights but fp4" in text


def test_svdquant_without_config_metadata_warns(tmp_path: Path) -> None:
    path = write_safetensors(
        tmp_path / "x.safetensors", qwen_image() + svdq("transformer_blocks.0.attn.to_qkv", 32, 0)
    )
    identity = identify(path)
    assert identity.facts["svdquant"]["rank"] == 32
    assert any("no `config` metadata" in w for w in identity.warnings)


def test_every_rule_cites_its_source() -> None:
    rules = load_rules()
    assert len(rules) >= 20
    for rule in rules:
        assert rule.sources, rule.id
        for s in rule.sources:
            assert s["repo"].count("/") == 1 and s["file"] and s["commit"], rule.id


def test_rule_validation() -> None:
    with pytest.raises(RuleError, match="cite"):
        _parse_rule({"id": "x", "role": "vae"}, "t.yaml")
    src = {"repo": "a/b", "file": "f", "commit": "c"}
    with pytest.raises(RuleError, match="unknown conditions"):
        _parse_rule({"id": "x", "role": "vae", "source": src, "when": {"alll": []}}, "t.yaml")
    with pytest.raises(RuleError, match="not an extractor"):
        _parse_rule({"id": "x", "role": "vae", "source": src, "facts": {"a": {"x": 1}}}, "t")
