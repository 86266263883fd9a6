"""Issue 16 case 8: metadata is untrusted data. Values of the wrong type (a list where a string is
expected, a dict, a number, a megabyte string, a layer index of 5000 digits) leave their facts
unknown with a warning; the identity is otherwise what the tensors say, and nothing raises."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from modelctl.identify import identify
from modelctl.identify.rules import RuleError, _parse_rule
from modelctl.identify.values import MetadataReader, mismatch, typed
from tests.formats.builders import RawGGUF, write_gguf, write_safetensors
from tests.helpers.bytes_source import BytesSource
from tests.identify.hostile import (
    mmproj_with_projector,
    svdquant_with_weight,
    svdquant_with_weight_dtype,
    text_encoder_with_layer,
)
from tests.identify.specs import gguf_llm, z_image

SVDQ_NAME = "svdq-int4_r32-qwen-image.safetensors"


@pytest.mark.parametrize("dtype", [["int4"], {"dtype": "int4"}, 4, True, None, "x" * 5000])
def test_svdquant_weight_dtype_of_any_type(tmp_path: Path, dtype: Any) -> None:
    identity = identify(svdquant_with_weight_dtype(tmp_path / SVDQ_NAME, dtype))
    assert (identity.role, identity.family) == ("diffusion_model", "qwen-image")
    sq = identity.facts["svdquant"]
    assert (sq["precision"], sq["rank"]) == ("int4", 32)  # from the weights and the name
    assert "precision" not in sq["sources"]["metadata"]
    if dtype is not None:
        assert any("quantization_config 'weight.dtype'" in w for w in identity.warnings)


@pytest.mark.parametrize("weight", [["int4"], "int4", 7], ids=["list", "string", "number"])
def test_svdquant_weight_that_is_not_an_object(tmp_path: Path, weight: Any) -> None:
    identity = identify(svdquant_with_weight(tmp_path / SVDQ_NAME, weight))
    assert identity.facts["svdquant"]["precision"] == "int4"
    assert "precision" not in identity.facts["svdquant"]["sources"]["metadata"]


@pytest.mark.parametrize(
    ("value", "vtype", "item_type"),
    [
        (["qwen2vl_merger", "x"], "ARRAY", "STRING"),  # short: materialised as a list
        (["qwen2vl_merger"] * 40, "ARRAY", "STRING"),  # long: kept as a summary
        ([1, 2], "ARRAY", "INT32"),
        (7, "INT32", None),
        (True, "BOOL", None),
        (1.5, "FLOAT32", None),
    ],
    ids=["short-array", "long-array", "int-array", "int", "bool", "float"],
)
def test_mmproj_projector_type_of_another_type(
    tmp_path: Path, value: Any, vtype: str, item_type: str | None
) -> None:
    identity = identify(mmproj_with_projector(tmp_path / "mmproj.gguf", value, vtype, item_type))
    assert identity.role == "mmproj"
    assert "projector_type" not in identity.facts and "family_hint" not in identity.facts
    assert any("'clip.projector_type'" in w and "ignored" in w for w in identity.warnings)


def test_mmproj_projector_type_string_still_read(tmp_path: Path) -> None:
    path = mmproj_with_projector(tmp_path / "mmproj.gguf", "qwen2vl_merger", "STRING")
    facts = identify(path).facts
    assert (facts["projector_type"], facts["family_hint"]) == ("qwen2vl_merger", "qwen2.5-vl")


def test_layer_index_of_5000_digits_is_not_a_layer(tmp_path: Path) -> None:
    identity = identify(text_encoder_with_layer(tmp_path / "qwen_3_4b.safetensors"))
    assert (identity.role, identity.family) == ("text_encoder", "qwen3")
    assert identity.facts["block_count"] == 4
    assert any("index of more than 4 digits" in w for w in identity.warnings)


@pytest.mark.parametrize(
    "index", ["10000", "0" * 5000 + "3", "٣"], ids=["5-digits", "zeros", "arabic"]
)
def test_layer_indices_are_short_ascii_numbers(tmp_path: Path, index: str) -> None:
    facts = identify(text_encoder_with_layer(tmp_path / "te.safetensors", index)).facts
    assert facts["block_count"] == 4  # 10000 is ignored, 000…3 is 3, non-ASCII digits no index


def test_huge_layer_index_in_a_gguf_diffusion_model(tmp_path: Path) -> None:
    names = [t for t in z_image() if not t[0].startswith("layers.")]
    names.append(("layers." + "9" * 50 + ".w", (32,), "F16"))  # GGUF names are at most 63 bytes
    path = write_gguf(tmp_path / "z.gguf", "lumina2", [(n, s, "F16") for n, s, _ in names])
    identity = identify(path)
    assert identity.family == "z-image" and "n_layers" not in identity.facts


WRONG: dict[str, tuple[Any, ...]] = {
    "qwen3.block_count": ([4, 4], "ARRAY", "UINT32"),
    "qwen3.context_length": ("40960", "STRING"),
    "tokenizer.ggml.model": (["gpt2"], "ARRAY", "STRING"),
    "general.name": (3, "UINT32"),
    "general.file_type": ("Q4_K_M", "STRING"),
    "general.type": (True, "BOOL"),
    "general.quantization_version": (2.0, "FLOAT32"),
}


def test_every_typed_gguf_key_of_the_wrong_type(tmp_path: Path) -> None:
    """Each metadata key a rule reads, set to a type it does not expect: facts unknown, warned."""
    spec = gguf_llm("qwen3", 256, 4, 512, "gpt2")
    kv = [(k, *rest) for k, *rest in spec["kv"] if k not in WRONG]
    kv += [(k, *v) for k, v in WRONG.items()]
    path = write_gguf(tmp_path / "Qwen3-4B-Q4_K_M.gguf", "qwen3", spec["tensors"], kv)
    identity = identify(path)
    assert (identity.role, identity.family) == ("text_encoder", "qwen3")
    for fact in ("block_count", "context_length", "tokenizer_model", "name", "file_type",
                 "general_type", "quantization_version"):  # fmt: skip
        assert fact not in identity.facts, fact
    assert identity.facts["embedding_length"] == 256  # the one key left of the right type
    warned = " ".join(identity.warnings)
    for key in WRONG:
        assert repr(key) in warned, key


def test_architecture_that_is_not_a_string() -> None:
    raw = RawGGUF()
    raw.kv("general.architecture", 9, struct.pack("<IQ", 8, 1) + RawGGUF.string("llama"))
    raw.kv("llama.embedding_length", 4, struct.pack("<I", 64))
    identity = identify(BytesSource(raw.build(), name="arch.gguf"))
    assert identity.role == "unknown" and "architecture" not in identity.facts
    assert any("'general.architecture' is an array" in w for w in identity.warnings)


def test_tokenizer_json_with_hostile_fields(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text('{"model": {"type": ["BPE"], "vocab": {"a": 0}}, "added_tokens": 5}')
    identity = identify(path)
    assert identity.role == "tokenizer" and identity.facts["vocab_size"] == 1
    assert "tokenizer_model" not in identity.facts


def test_long_metadata_string_is_no_fact(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", "llama", kv=[("general.name", "n" * 5000, "STRING")])
    identity = identify(path)
    assert "name" not in identity.facts
    assert any("5000-character string (too long)" in w for w in identity.warnings)


# ------------------------------------------------------------------------- the accessors


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [
        ("a", "str", True), (1, "str", False), (["a"], "str", False), ({"a": 1}, "str", False),
        (1, "int", True), (True, "int", False), (1.0, "int", False), ("1", "int", False),
        (1, "float", True), (float("nan"), "float", False), (float("inf"), "scalar", False),
        (True, "bool", True), (1, "bool", False), ("x" * 2000, "str", False),
        ({"type": "string", "length": 1 << 26, "head": "a"}, "str", False),
        ({"type": "array", "item_type": "STRING", "length": 9}, "scalar", False),
    ],
)  # fmt: skip
def test_typed(value: Any, kind: str, ok: bool) -> None:
    assert (typed(value, kind) is not None) is ok
    assert (mismatch(value, kind) is None) is ok


def test_reader_notes_each_key_once() -> None:
    reader = MetadataReader({"a": [1], "b": "x"})
    assert reader.get("a", "str") is None and reader.get("a", "int") is None
    assert reader.get("b", "str") == "x" and reader.get("missing", "str") is None
    assert reader.notes() == ["metadata 'a' is an array of 1 items, not a string; ignored"]


def _rule(**extra: Any) -> dict[str, Any]:
    return {"id": "t", "role": "vae", "source": {"repo": "r", "file": "f", "commit": "c"}, **extra}


def test_rules_must_type_their_metadata() -> None:
    with pytest.raises(RuleError, match="needs `type:`"):
        _parse_rule(_rule(facts={"x": {"metadata": "general.name"}}), "t.yaml")
    with pytest.raises(RuleError, match="needs `type:`"):
        _parse_rule(_rule(facts={"x": {"lookup": {"metadata": "k"}, "table": {}}}), "t.yaml")
    with pytest.raises(RuleError, match="must list strings"):
        _parse_rule(_rule(when={"metadata": {"general.type": [1]}}), "t.yaml")
    _parse_rule(_rule(facts={"x": {"metadata": "general.name", "type": "str"}}), "t.yaml")


def test_safetensors_metadata_values_are_strings(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "ae.safetensors", [("decoder.conv_in.weight", (4,), "F16")],
                             {"quantization_config": "[1, 2]", "config": "NaN"})  # fmt: skip
    identity = identify(path)
    assert any("'config'] is not valid JSON" in w for w in identity.warnings)
