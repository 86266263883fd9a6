"""Identities as `modelctl.identify` reports them, written out, for engine tests without files.

The end-to-end tests (test_verdicts.py) build real files and identify them; these unit tests pin the
rule logic on identities alone, so a rule's meaning is tested apart from identification.
"""

from __future__ import annotations

from typing import Any

from modelctl.compat.parts import make_part
from modelctl.identify.model import Identity

Ident = Identity  # the real class, so parts carry the JSON form `check --json` prints


Z_IMAGE = Ident(
    "safetensors",
    "diffusion_model",
    "z-image",
    {"dim": 3840, "cap_feat_dim": 2560, "in_channels": 16},
)
Z_IMAGE_GGUF = Ident(
    "gguf",
    "diffusion_model",
    "z-image",
    {"dim": 3840, "cap_feat_dim": 2560, "in_channels": 16, "architecture": "lumina2"},
)
LUMINA2 = Ident(
    "safetensors",
    "diffusion_model",
    "lumina2",
    {"dim": 2304, "cap_feat_dim": 2304, "in_channels": 16},
)
QWEN_IMAGE = Ident(
    "safetensors", "diffusion_model", "qwen-image", {"in_channels": 64, "cap_feat_dim": 3584}
)
SVDQ_INT4_R32 = Ident(
    "safetensors",
    "diffusion_model",
    "qwen-image",
    {"in_channels": 64, "cap_feat_dim": 3584, "svdquant": {"precision": "int4", "rank": 32}},
)
SVDQ_FP4_R32 = Ident(
    "safetensors",
    "diffusion_model",
    "qwen-image",
    {"in_channels": 64, "cap_feat_dim": 3584, "svdquant": {"precision": "fp4", "rank": 32}},
)
QWEN3 = Ident(
    "safetensors",
    "text_encoder",
    "qwen3",
    {"embedding_length": 2560, "block_count": 36, "vocab_size": 151936},
)
QWEN3_GGUF = Ident(
    "gguf",
    "text_encoder",
    "qwen3",
    {"embedding_length": 2560, "architecture": "qwen3", "tokenizer_embedded": True},
)
GEMMA2 = Ident(
    "safetensors",
    "text_encoder",
    "gemma2",
    {"embedding_length": 2304, "block_count": 26, "vocab_size": 256000},
)
GEMMA2_GGUF = Ident(
    "gguf",
    "text_encoder",
    "gemma2",
    {
        "embedding_length": 2304,
        "architecture": "gemma2",
        "vocab_size": 256000,
        "tokenizer_embedded": False,
    },
)
GEMMA3_GGUF = Ident(
    "gguf",
    "text_encoder",
    "gemma3",
    {
        "embedding_length": 2560,
        "architecture": "gemma3",
        "vocab_size": 262208,
        "tokenizer_embedded": True,
    },
)
GEMMA3 = Ident("safetensors", "text_encoder", "gemma3", {"embedding_length": 2560})
QWEN25VL = Ident("safetensors", "text_encoder", "qwen2.5-vl", {"embedding_length": 3584})
QWEN25VL_GGUF = Ident(
    "gguf",
    "text_encoder",
    "qwen2.5-vl",
    {"embedding_length": 3584, "architecture": "qwen2vl", "tokenizer_embedded": True},
)
MMPROJ = Ident("gguf", "mmproj", None, {"architecture": "clip", "general_type": "mmproj"})
FLUX_VAE = Ident("safetensors", "vae", "flux-vae", {"latent_channels": 16, "vae_dims": 2})
SD_VAE = Ident("safetensors", "vae", "sd-vae", {"latent_channels": 4, "vae_dims": 2})
WAN21_VAE = Ident("safetensors", "vae", "wan2.1-vae", {"latent_channels": 16, "vae_dims": 3})
WAN22_VAE = Ident("safetensors", "vae", "wan2.2-vae", {"latent_channels": 48, "vae_dims": 3})


def tokenizer(vocab: int) -> Ident:
    return Ident("sentencepiece", "tokenizer", None, {"vocab_size": vocab})


def part(identity: Ident, name: str, folder: str = "/models/x", **kw: Any) -> Any:
    return make_part(identity, name=name, source=f"{folder}/{name}", folder=folder, **kw)
