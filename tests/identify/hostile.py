"""Files whose metadata holds values of the wrong type, written with the real gguf and safetensors
writers: what a crafted upload on a model hub can put in a header. Shared by tests/identify and
the CLI tests (inspect, check, pull, ensure read the same headers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.formats.builders import write_gguf, write_safetensors
from tests.identify.specs import hf_llm, qwen_image, svdq, svdq_metadata

HUGE_INDEX = "9" * 5000  # past Python's 4300-digit int() limit


def svdquant_with_weight_dtype(path: Path, dtype: Any) -> Path:
    """A Nunchaku SVDQuant Qwen-Image (int4, rank 32 in its weights) whose `quantization_config`
    says `weight.dtype` is `dtype` (a list, a dict, a number...)."""
    return svdquant_with_config(path, lambda config: config["weight"].update(dtype=dtype))


def svdquant_with_weight(path: Path, weight: Any) -> Path:
    """The same, with `quantization_config.weight` itself replaced (`weight` not an object)."""
    return svdquant_with_config(path, lambda config: config.update(weight=weight))


def svdquant_with_config(path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    meta = svdq_metadata(32, False, "NunchakuQwenImageTransformer2DModel")
    config = json.loads(meta["quantization_config"])
    edit(config)
    meta["quantization_config"] = json.dumps(config)
    tensors = qwen_image() + svdq("transformer_blocks.0.attn.to_q", 32, False)
    return write_safetensors(path, tensors, meta)


def mmproj_with_projector(path: Path, value: Any, vtype: str, item_type: str | None = None) -> Path:
    """A llama.cpp mmproj GGUF whose `clip.projector_type` is `value` of GGUF type `vtype`."""
    kv: list[Any] = [("general.type", "mmproj", "STRING")]
    kv.append(("clip.projector_type", value, vtype, item_type) if item_type else
              ("clip.projector_type", value, vtype))  # fmt: skip
    return write_gguf(path, "clip", [("v.patch_embd.weight", (32, 3, 14, 14), "F16")], kv)


def text_encoder_with_layer(path: Path, index: str = HUGE_INDEX) -> Path:
    """A Qwen3 text encoder (safetensors, 4 real layers) with one more tensor named
    `model.layers.<index>.mlp.weight`."""
    tensors = hf_llm(256, 4, q_norm=True, post_ff=False)
    tensors.append((f"model.layers.{index}.mlp.weight", (4,), "BF16"))
    return write_safetensors(path, tensors)
