"""Property: whatever types a file gives the metadata keys identification reads, identify and the
compatibility rules run to a verdict; facts are of their declared types and JSON-clean.

Files are written with the real gguf and safetensors writers; every key a rule or fact reads
(`identify/data/*.yaml`, `identify/facts.py`, the SVDQuant handler) gets a random GGUF value or a
random JSON document. This is the class issue 16 case 8 found three members of.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelctl.compat.parts import make_part, run_check
from modelctl.formats.read import read_header
from modelctl.formats.source import FileSource
from modelctl.identify import identify_header
from tests.formats.builders import write_gguf, write_safetensors
from tests.identify.specs import qwen_image, svdq, svdq_metadata

ARCHES = ["qwen3", "gemma3", "llama", "clip", "t5"]
KEYS = [
    "general.type", "general.name", "general.file_type", "general.quantization_version",
    "{arch}.embedding_length", "{arch}.block_count", "{arch}.context_length",
    "{arch}.vocab_size", "tokenizer.ggml.tokens", "tokenizer.ggml.model", "clip.projector_type",
]  # fmt: skip
TEXT = st.one_of(
    st.sampled_from(["qwen3", "mmproj", "clip-vision", "qwen2vl_merger", "gpt2", "", "15"]),
    st.text(max_size=40),
)
SCALARS = st.one_of(
    st.tuples(TEXT, st.just("STRING")),
    st.tuples(st.integers(0, 2**32 - 1), st.just("UINT32")),
    st.tuples(st.integers(-(2**63), 2**63 - 1), st.just("INT64")),
    st.tuples(st.floats(width=32), st.just("FLOAT32")),
    st.tuples(st.booleans(), st.just("BOOL")),
)
ARRAYS = st.one_of(
    st.tuples(st.lists(TEXT, min_size=1, max_size=20), st.just("ARRAY"), st.just("STRING")),
    st.tuples(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=20), st.just("ARRAY"),
              st.just("INT32")),
)  # fmt: skip
VALUES = st.one_of(SCALARS, ARRAYS)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
GPU = {"gpu_sm": 89, "gpu": "--gpu-sm", "svdquant_precision": "int4"}


def _check(path: Path, name: str) -> None:
    with FileSource(path) as src:
        header = read_header(src)
    identity = identify_header(header, filename=name)
    facts = identity.to_json()
    json.dumps(facts, allow_nan=False)  # no NaN, no object JSON cannot carry
    for key in ("embedding_length", "block_count", "context_length", "vocab_size", "file_type"):
        value = facts.get(key)
        assert value is None or (isinstance(value, int) and not isinstance(value, bool)), key
    for key in ("architecture", "general_type", "name", "tokenizer_model", "projector_type"):
        value = facts.get(key)
        assert value is None or (isinstance(value, str) and len(value) <= 1024), key
    part = make_part(identity, name=name, source=str(path), folder="text_encoders")
    report = run_check(None, [part], GPU)
    json.dumps(report.to_json(), allow_nan=False, default=str)


@FUZZ
@given(arch=st.sampled_from(ARCHES), values=st.dictionaries(st.sampled_from(KEYS), VALUES))
def test_gguf_metadata_of_any_type(tmp_path: Path, arch: str, values: dict[str, Any]) -> None:
    kv = [(key.replace("{arch}", arch), *value) for key, value in values.items()]
    tensors = [
        ("token_embd.weight", (64, 32), "F16"),
        ("v.patch_embd.weight", (32, 3, 14, 14), "F16"),
    ]
    path = write_gguf(tmp_path / "m.gguf", arch, tensors, kv)
    _check(path, "mmproj-model-F16.gguf")


@FUZZ
@given(config=JSON, extra=st.dictionaries(st.sampled_from(["config", "comfy_config"]), JSON))
def test_svdquant_config_of_any_shape(tmp_path: Path, config: Any, extra: dict[str, Any]) -> None:
    meta = svdq_metadata(32, False, "NunchakuQwenImageTransformer2DModel")
    meta["quantization_config"] = json.dumps(config)
    meta.update({k: json.dumps(v) for k, v in extra.items()})
    tensors = qwen_image() + svdq("transformer_blocks.0.attn.to_q", 32, False)
    path = write_safetensors(tmp_path / "svdq-int4_r32-x.safetensors", tensors, meta)
    _check(path, path.name)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_no_facts(tmp_path: Path, value: float) -> None:
    path = write_gguf(tmp_path / "m.gguf", "qwen3", kv=[("qwen3.embedding_length", value,
                                                          "FLOAT32")])  # fmt: skip
    _check(path, "m.gguf")
