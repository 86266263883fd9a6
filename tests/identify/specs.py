"""Model files to identify: real key names, the identity-deciding shapes at their real sizes.

Each spec builds one file (GGUF or safetensors) and states what identification must find.
Everything that does not decide identity is tiny. Shapes are torch order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.formats.builders import write_gguf, write_safetensors

T = tuple[str, tuple[int, ...], str]


@dataclass
class Spec:
    name: str  # the file name
    tensors: list[T]
    expect: dict[str, Any]  # subset of Identity.to_json()
    arch: str | None = "x"  # GGUF only
    kv: list[tuple] = field(default_factory=list)  # GGUF only
    metadata: dict[str, str] | None = None  # safetensors only

    @property
    def gguf(self) -> bool:
        return self.name.endswith(".gguf")

    def write(self, folder: Path) -> Path:
        path = folder / self.name
        if self.gguf:
            return write_gguf(path, self.arch, self.tensors, self.kv)
        return write_safetensors(path, self.tensors, self.metadata)


def _layers(fmt: str, count: int, names: list[tuple[str, tuple[int, ...]]], dtype: str) -> list[T]:
    return [(fmt.format(i) + n, shape, dtype) for i in range(count) for n, shape in names]


def z_image(prefix: str = "", big: str = "F8_E4M3", small: str = "BF16") -> list[T]:
    p = prefix
    return [
        (p + "x_embedder.weight", (3840, 64), big),
        (p + "x_embedder.bias", (3840,), small),
        (p + "cap_embedder.0.weight", (2560,), small),
        (p + "cap_embedder.1.weight", (3840, 2560), big),
        (p + "cap_embedder.1.bias", (3840,), small),
        (p + "noise_refiner.0.attention.k_norm.weight", (128,), small),
        (p + "context_refiner.0.attention.qkv.weight", (96, 32), small),
        (p + "cap_pad_token", (1, 3840), small),
        *_layers(p + "layers.{}.", 3, [("attention.qkv.weight", (96, 32)),
                                       ("attention.k_norm.weight", (128,))], small),
    ]  # fmt: skip


def z_image_diffusers() -> list[T]:
    return [
        ("all_x_embedder.2-1.weight", (3840, 64), "F8_E4M3"),
        ("cap_embedder.0.weight", (2560,), "BF16"),
        ("cap_embedder.1.weight", (3840, 2560), "F8_E4M3"),
        ("noise_refiner.0.attention.norm_k.weight", (128,), "BF16"),
        *_layers("layers.{}.", 2, [("attention.to_q.weight", (32, 32))], "BF16"),
    ]


def lumina2() -> list[T]:
    return [
        ("x_embedder.weight", (2304, 64), "BF16"),
        ("cap_embedder.0.weight", (2304,), "BF16"),
        ("cap_embedder.1.weight", (2304, 2304), "F8_E4M3"),
        ("noise_refiner.0.attention.k_norm.weight", (96,), "BF16"),
        ("context_refiner.0.attention.qkv.weight", (96, 32), "BF16"),
        *_layers("layers.{}.", 2, [("attention.qkv.weight", (96, 32))], "BF16"),
    ]


def qwen_image(prefix: str = "") -> list[T]:
    return [
        (prefix + "img_in.weight", (3072, 64), "BF16"),
        (prefix + "txt_norm.weight", (3584,), "BF16"),
        (prefix + "txt_in.weight", (32, 3584), "BF16"),
        *_layers(prefix + "transformer_blocks.{}.", 2, [("attn.to_q.weight", (32, 32))], "BF16"),
    ]


def svdq(prefix: str, rank: int, fp4: bool, n_in: int = 64, n_out: int = 96) -> list[T]:
    group = 16 if fp4 else 64
    t: list[T] = [
        (prefix + ".qweight", (n_out, n_in // 2), "I8"),
        (prefix + ".wscales", (n_in // group, n_out), "F8_E4M3" if fp4 else "BF16"),
        (prefix + ".smooth_factor", (n_in,), "BF16"),
        (prefix + ".proj_down", (n_in, rank), "BF16"),
        (prefix + ".proj_up", (n_out, rank), "BF16"),
        (prefix + ".bias", (n_out,), "BF16"),
    ]
    if fp4:
        t += [(prefix + ".wcscales", (n_out,), "BF16"), (prefix + ".wtscale", (), "F32")]
    return t


def svdq_metadata(rank: int, fp4: bool, model: str) -> dict[str, str]:
    dtype = "fp4_e2m1_all" if fp4 else "int4"
    group = 16 if fp4 else 64
    qc = {"method": "svdquant", "weight": {"dtype": dtype, "scale_dtype": None, "group_size": group},
          "activation": {"dtype": dtype, "scale_dtype": None, "group_size": group}, "rank": rank}  # fmt: skip
    return {"config": json.dumps({"_class_name": model}), "quantization_config": json.dumps(qc),
            "model_class": model}  # fmt: skip


def hf_llm(hidden: int, layers: int, *, q_norm: bool, post_ff: bool, k_bias: int | None = None,
           vocab: int = 64, visual: bool = False, head_dim: int = 128) -> list[T]:  # fmt: skip
    names = [("input_layernorm.weight", (hidden,)), ("post_attention_layernorm.weight", (hidden,))]
    if q_norm:
        names += [
            ("self_attn.q_norm.weight", (head_dim,)),
            ("self_attn.k_norm.weight", (head_dim,)),
        ]
    if post_ff:
        names += [("post_feedforward_layernorm.weight", (hidden,))]
    if k_bias:
        names += [("self_attn.k_proj.bias", (k_bias,))]
    t = [
        ("model.embed_tokens.weight", (vocab, hidden), "BF16"),
        ("model.norm.weight", (hidden,), "BF16"),
    ]
    t += _layers("model.layers.{}.", layers, names, "BF16")
    if visual:
        t += [("visual.blocks.0.attn.qkv.weight", (48, 16), "BF16")]
    return t


def flux_vae(prefix: str = "") -> list[T]:
    return [
        (prefix + "encoder.conv_in.weight", (128, 3, 3, 3), "F32"),
        (prefix + "encoder.conv_out.weight", (32, 512, 3, 3), "F32"),
        (prefix + "decoder.conv_in.weight", (512, 16, 3, 3), "F32"),
        (prefix + "decoder.conv_out.weight", (3, 128, 3, 3), "F32"),
    ]


def wan_vae(v22: bool = False) -> list[T]:
    z = 48 if v22 else 16
    t = [
        ("encoder.conv1.weight", (96, 3, 3, 3, 3), "BF16"),
        ("decoder.conv1.weight", (384, z, 3, 3, 3), "BF16"),
        ("conv1.weight", (2 * z, 2 * z, 1, 1, 1), "BF16"),
        ("conv2.weight", (z, z, 1, 1, 1), "BF16"),
        ("decoder.middle.0.residual.0.gamma", (384, 1, 1, 1), "BF16"),
        ("decoder.head.0.gamma", (96, 1, 1, 1), "BF16"),
        ("decoder.head.2.weight", (3, 96, 3, 3, 3), "BF16"),
    ]
    if v22:
        t.append(("decoder.upsamples.0.upsamples.0.residual.2.weight", (8, 8, 3, 3, 3), "BF16"))
    return t


def gguf_llm(arch: str, hidden: int, layers: int, vocab: int, tok_model: str) -> dict[str, Any]:
    tokens = [f"t{i}" for i in range(40)]
    return dict(
        arch=arch,
        kv=[
            (f"{arch}.embedding_length", hidden, "UINT32"),
            (f"{arch}.block_count", layers, "UINT32"),
            (f"{arch}.context_length", 4096, "UINT32"),
            ("general.file_type", 15, "UINT32"),
            ("tokenizer.ggml.model", tok_model, "STRING"),
            ("tokenizer.ggml.tokens", tokens, "ARRAY", "STRING"),
            ("tokenizer.ggml.scores", [0.0] * 40, "ARRAY", "FLOAT32"),
        ],
        tensors=[
            ("token_embd.weight", (vocab, hidden), "Q4_K"),
            ("output_norm.weight", (hidden,), "F32"),
            *_layers("blk.{}.", layers, [("attn_norm.weight", (hidden,))], "F32"),
        ],
    )


def all_specs() -> list[Spec]:
    zi_gguf = [(n, s, "F32" if len(s) == 1 else ("Q8_0" if s[-1] % 32 == 0 else "F16"))
               for n, s, _ in z_image()]  # fmt: skip
    return [
        Spec("z_image_turbo_bf16.safetensors", z_image(),
             {"role": "diffusion_model", "family": "z-image", "dim": 3840, "cap_feat_dim": 2560,
              "in_channels": 16, "n_layers": 3, "layout": "comfyui"}),
        Spec("z_image_prefixed.safetensors", z_image("model.diffusion_model."),
             {"role": "diffusion_model", "family": "z-image", "cap_feat_dim": 2560,
              "key_prefix": "model.diffusion_model."}),
        Spec("z_image_diffusers.safetensors", z_image_diffusers(),
             {"role": "diffusion_model", "family": "z-image", "dim": 3840, "cap_feat_dim": 2560,
              "layout": "diffusers", "in_channels": 16}),
        Spec("z_image_turbo-Q8_0.gguf", zi_gguf,
             {"role": "diffusion_model", "family": "z-image", "dim": 3840, "cap_feat_dim": 2560,
              "architecture": "lumina2", "file_type": 7},
             arch="lumina2", kv=[("general.file_type", 7, "UINT32"),
                                 ("general.quantization_version", 2, "UINT32")]),
        Spec("lumina_2.safetensors", lumina2(),
             {"role": "diffusion_model", "family": "lumina2", "dim": 2304, "cap_feat_dim": 2304}),
        Spec("lumina_next_sft.safetensors",
             [("x_embedder.weight", (2304, 16), "BF16"), ("cap_embedder.0.weight", (2048,), "BF16"),
              ("cap_embedder.1.weight", (1024, 2048), "BF16"),
              ("layers.0.attention.wk_y.weight", (64, 2048), "BF16"),
              ("layers.0.attention.gate", (32,), "BF16"), ("pad_token", (2304,), "BF16")],
             {"role": "diffusion_model", "family": "lumina-next", "dim": 2304,
              "cap_feat_dim": 2048, "in_channels": 4}),
        Spec("qwen_image_bf16.safetensors", qwen_image(),
             {"role": "diffusion_model", "family": "qwen-image", "cap_feat_dim": 3584, "dim": 3072}),
        Spec("qwen-image-Q4_K_M.gguf",
             [(n, s, "F32" if len(s) == 1 else "Q8_0") for n, s, _ in qwen_image()],
             {"role": "diffusion_model", "family": "qwen-image", "cap_feat_dim": 3584,
              "architecture": "qwen_image"}, arch="qwen_image"),
        Spec("flux1-dev.safetensors",
             [("img_in.weight", (3072, 64), "BF16"), ("txt_in.weight", (3072, 4096), "F8_E4M3"),
              ("double_blocks.0.img_attn.proj.weight", (32, 32), "BF16"),
              ("single_blocks.0.linear1.weight", (32, 32), "BF16"),
              ("guidance_in.in_layer.weight", (32, 256), "BF16")],
             {"role": "diffusion_model", "family": "flux", "dim": 3072, "cap_feat_dim": 4096,
              "guidance_embed": True}),
        Spec("svdq-int4_r32-qwen-image.safetensors",
             qwen_image() + svdq("transformer_blocks.0.attn.to_qkv", 32, False)
             + svdq("transformer_blocks.1.attn.to_qkv", 32, False),
             {"role": "diffusion_model", "family": "qwen-image",
              "svdquant": {"precision": "int4", "rank": 32}},
             metadata=svdq_metadata(32, False, "NunchakuQwenImageTransformer2DModel")),
        Spec("svdq-fp4_r128-qwen-image-edit-2509.safetensors",
             qwen_image() + svdq("transformer_blocks.0.attn.to_qkv", 128, True),
             {"role": "diffusion_model", "family": "qwen-image",
              "svdquant": {"precision": "fp4", "rank": 128}},
             metadata=svdq_metadata(128, True, "NunchakuQwenImageTransformer2DModel")),
        Spec("svdq-int4_r128-z-image-turbo.safetensors",
             z_image_diffusers() + svdq("layers.0.attention.to_qkv", 128, False),
             {"role": "diffusion_model", "family": "z-image", "cap_feat_dim": 2560,
              "svdquant": {"precision": "int4", "rank": 128}},
             metadata=svdq_metadata(128, False, "NunchakuZImageTransformer2DModel")),
        Spec("qwen_3_4b.safetensors", hf_llm(2560, 36, q_norm=True, post_ff=False),
             {"role": "text_encoder", "family": "qwen3", "embedding_length": 2560,
              "block_count": 36, "comfy_te_model": "QWEN3_4B"}),
        Spec("gemma_2_2b.safetensors", hf_llm(2304, 26, q_norm=False, post_ff=True, head_dim=256),
             {"role": "text_encoder", "family": "gemma2", "embedding_length": 2304,
              "block_count": 26}),
        Spec("gemma_3_4b.safetensors", hf_llm(2560, 34, q_norm=True, post_ff=True, head_dim=256),
             {"role": "text_encoder", "family": "gemma3", "embedding_length": 2560,
              "block_count": 34}),
        Spec("qwen_2.5_vl_7b.safetensors",
             hf_llm(3584, 28, q_norm=False, post_ff=False, k_bias=512, visual=True),
             {"role": "text_encoder", "family": "qwen2.5-vl", "embedding_length": 3584,
              "block_count": 28, "comfy_te_model": "QWEN25_7B"}),
        Spec("Qwen3-4B-Q4_K_M.gguf", expect={"role": "text_encoder", "family": "qwen3",
             "embedding_length": 2560, "block_count": 36, "vocab_size": 151936,
             "tokenizer_embedded": True, "tokenizer_model": "gpt2", "file_type": 15},
             **gguf_llm("qwen3", 2560, 36, 151936, "gpt2")),
        Spec("gemma-3-4b-it-Q4_K_M.gguf", expect={"role": "text_encoder", "family": "gemma3",
             "embedding_length": 2560, "norm_shift_baked": True, "tokenizer_model": "llama"},
             **gguf_llm("gemma3", 2560, 34, 262208, "llama")),
        Spec("gemma-2-2b-it-Q4_K_M.gguf", expect={"role": "text_encoder", "family": "gemma2",
             "embedding_length": 2304, "norm_shift_baked": True},
             **gguf_llm("gemma2", 2304, 26, 256000, "llama")),
        Spec("mmproj-Qwen2.5-VL-7B-F16.gguf", [("v.patch_embd.weight", (32, 3, 14, 14), "F16")],
             {"role": "mmproj", "projector_type": "qwen2vl_merger", "family_hint": "qwen2.5-vl"},
             arch="clip", kv=[("general.type", "mmproj", "STRING"),
                              ("clip.projector_type", "qwen2vl_merger", "STRING")]),
        Spec("ae.safetensors", flux_vae(),
             {"role": "vae", "family": "flux-vae", "latent_channels": 16, "vae_dims": 2}),
        Spec("flux_vae_prefixed.safetensors", flux_vae("first_stage_model."),
             {"role": "vae", "family": "flux-vae", "latent_channels": 16}),
        Spec("sdxl_vae.safetensors",
             [("decoder.conv_in.weight", (512, 4, 3, 3), "F16"),
              ("post_quant_conv.weight", (4, 4, 1, 1), "F16")],
             {"role": "vae", "family": "sd-vae", "latent_channels": 4, "vae_dims": 2}),
        Spec("qwen_image_vae.safetensors", wan_vae(),
             {"role": "vae", "family": "wan2.1-vae", "latent_channels": 16, "vae_dims": 3,
              "conv_ndim": 5}),
        Spec("wan2.2_vae.safetensors", wan_vae(v22=True),
             {"role": "vae", "family": "wan2.2-vae", "latent_channels": 48, "vae_dims": 3}),
        Spec("pixel_art_lora.safetensors",
             [("diffusion_model.layers.0.attention.qkv.lora_A.weight", (32, 3840), "BF16"),
              ("diffusion_model.layers.0.attention.qkv.lora_B.weight", (11520, 32), "BF16")],
             {"role": "lora", "rank": 32, "lora_pairs": 1}),
        Spec("mystery.safetensors", [("foo.weight", (4, 4), "F16")],
             {"role": "unknown", "family": None, "tensor_count": 1}),
        Spec("mystery.gguf", [("foo.weight", (32, 4), "F32")],
             {"role": "unknown", "family": None, "architecture": "mystery"}, arch="mystery"),
    ]  # fmt: skip


def build_all(folder: Path) -> dict[str, tuple[Path, Spec]]:
    folder.mkdir(parents=True, exist_ok=True)
    return {s.name: (s.write(folder), s) for s in all_specs()}
