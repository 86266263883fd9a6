"""Tiny model files with real key names and the shapes that decide compatibility.

Why sparse: the shapes that decide a verdict are the real ones (a Z-Image `cap_embedder.1.weight` is
3840x2560; a Qwen3-4B embedding table 151936x2560), so writing their bytes would cost gigabytes.
A compatibility check reads headers only, so every file here has a real header and a *sparse*
data section (the file is truncated to its full length without writing the zeros): full-size
files that cost no disk and no time.

- GGUF: the header, KV pairs and tensor infos are written by `gguf.GGUFWriter` itself
  (`tests.formats.builders.write_gguf`); only the data section is left sparse.
- safetensors: the header is hand-written (8-byte little-endian length + JSON, padded with spaces
  to 8 bytes as the Rust crate does) because the `safetensors` writer needs the tensors' bytes in
  memory. modelctl's reader, which tests/formats checks against the `safetensors` package, parses
  every one of them in the verdict tests.
- tokenizer.model: a SentencePiece ModelProto in protobuf wire format (pieces + trainer_spec).

Key names and shapes: the upstream files named below (the same ones modelctl/compat/data cites).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.formats import builders

Tensor = tuple[str, tuple[int, ...], str]  # name, torch-order shape, dtype / GGML type name


# ---- writers


def write_safetensors(
    path: Path, tensors: list[Tensor], metadata: dict[str, str] | None = None
) -> Path:
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, shape, dtype in tensors:
        n = builders.ST_BYTES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        fh.truncate(8 + len(raw) + offset)
    return path


def write_gguf(path: Path, arch: str | None, kv: dict[str, object], tensors: list[Tensor]) -> Path:
    """GGUF written by GGUFWriter (header, KVs, tensor infos); the data section is sparse.

    `kv` values are typed by their Python type (bool, int as UINT32, float as FLOAT32, str, list).
    `arch=None` writes no `general.architecture` (a stable-diffusion.cpp style file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    return builders.write_gguf(path, arch, tensors, [_typed(k, v) for k, v in kv.items()])


_KV_TYPES = ((bool, "BOOL"), (int, "UINT32"), (float, "FLOAT32"), (str, "STRING"))


def _typed(key: str, value: Any) -> tuple[str, Any, str]:
    """(key, value, GGUFValueType name) for `builders.write_gguf`; other values are arrays."""
    for kind, name in _KV_TYPES:  # bool before int: a bool is an int
        if isinstance(value, kind):
            return key, value, name
    return key, list(value), "ARRAY"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def write_tokenizer_model(path: Path, n_pieces: int, model_type: int = 1) -> Path:
    """A SentencePiece ModelProto: `n_pieces` pieces, trainer_spec {model_type, vocab_size}."""
    score = struct.Struct("<f")
    chunks = []
    for i in range(n_pieces):
        kind = 2 if i == 0 else (3 if i < 3 else 1)  # <unk>, <s>, </s>, then normal pieces
        text = (("<unk>", "<s>", "</s>")[i] if i < 3 else f"p{i}").encode()
        # SentencePiece{piece=1 (string), score=2 (float), type=3 (enum)}; all lengths < 128
        piece = b"\x0a" + bytes([len(text)]) + text + b"\x15" + score.pack(-i) + bytes([0x18, kind])
        chunks.append(b"\x0a" + bytes([len(piece)]) + piece)
    trainer = bytes([0x18]) + _varint(model_type) + bytes([0x20]) + _varint(n_pieces)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(chunks) + _field(2, trainer))
    return path


# ---- diffusion models (ComfyUI layout: Comfy-Org/ComfyUI comfy/ldm/lumina/model.py @dcbf1c1d
# NextDiT, detected by comfy/model_detection.py @0b61ce5b detect_unet_config)


def lumina_family_tensors(
    dim: int, cap: int, layers: int, heads: int, prefix: str = ""
) -> list[Tensor]:
    """NextDiT keys (Lumina-Image-2.0 and Z-Image share them); dim and cap_feat_dim decide."""
    head = dim // heads
    ffn = int(dim / 3 * 8) if dim == 3840 else 4 * dim
    t: list[Tensor] = [
        ("x_embedder.weight", (dim, 64), "BF16"),
        ("x_embedder.bias", (dim,), "BF16"),
        ("cap_embedder.0.weight", (cap,), "BF16"),
        ("cap_embedder.1.weight", (dim, cap), "BF16"),
        ("cap_embedder.1.bias", (dim,), "BF16"),
        ("t_embedder.mlp.0.weight", (1024, 256), "BF16"),
        ("t_embedder.mlp.2.weight", (min(dim, 256), 1024), "BF16"),
        ("final_layer.linear.weight", (64, dim), "BF16"),
    ]
    if dim == 3840:
        t += [("x_pad_token", (1, dim), "BF16"), ("cap_pad_token", (1, dim), "BF16")]
    for block in ("noise_refiner.0", "noise_refiner.1", "context_refiner.0", "context_refiner.1"):
        t += [
            (f"{block}.attention.qkv.weight", (3 * dim, dim), "BF16"),
            (f"{block}.attention.q_norm.weight", (head,), "BF16"),
            (f"{block}.attention.k_norm.weight", (head,), "BF16"),
            (f"{block}.attention.out.weight", (dim, dim), "BF16"),
        ]
    for n in range(layers):
        t += [
            (f"layers.{n}.attention.qkv.weight", (3 * dim, dim), "BF16"),
            (f"layers.{n}.attention.out.weight", (dim, dim), "BF16"),
            (f"layers.{n}.attention.q_norm.weight", (head,), "BF16"),
            (f"layers.{n}.attention.k_norm.weight", (head,), "BF16"),
            (f"layers.{n}.feed_forward.w1.weight", (ffn, dim), "BF16"),
            (f"layers.{n}.feed_forward.w2.weight", (dim, ffn), "BF16"),
            (f"layers.{n}.feed_forward.w3.weight", (ffn, dim), "BF16"),
            (f"layers.{n}.attention_norm1.weight", (dim,), "BF16"),
            (f"layers.{n}.ffn_norm1.weight", (dim,), "BF16"),
            (f"layers.{n}.adaLN_modulation.0.weight", (4 * dim, min(dim, 256)), "BF16"),
        ]
    return [(prefix + name, shape, dtype) for name, shape, dtype in t]


def z_image_tensors(prefix: str = "") -> list[Tensor]:
    return lumina_family_tensors(3840, 2560, 30, 30, prefix)


def lumina2_tensors(prefix: str = "") -> list[Tensor]:
    return lumina_family_tensors(2304, 2304, 26, 24, prefix)


def as_gguf(tensors: list[Tensor], big: str = "Q5_K") -> list[Tensor]:
    """ComfyUI-GGUF's convert rules: 1-D and small tensors F32, the rest quantized."""
    out = []
    for name, shape, _ in tensors:
        n = 1
        for d in shape:
            n *= d
        qtype = "F32" if len(shape) == 1 or n <= 1024 or shape[-1] % 256 else big
        out.append((name, shape, qtype))
    return out


QWEN_IMAGE_IO: list[Tensor] = [  # txt_norm 3584 (Qwen2.5-VL width), img_in 64 latent channels
    ("img_in.weight", (3072, 64), "BF16"),
    ("txt_norm.weight", (3584,), "BF16"),
    ("txt_in.weight", (3072, 3584), "BF16"),
    ("proj_out.weight", (64, 3072), "BF16"),
]


def qwen_image_tensors(blocks: int = 60) -> list[Tensor]:
    """Qwen-Image (diffusers layout as in Comfy-Org's repackage): txt_norm 3584, img_in 64."""
    t = list(QWEN_IMAGE_IO)
    for n in range(blocks):
        t += [
            (f"transformer_blocks.{n}.attn.to_q.weight", (3072, 3072), "BF16"),
            (f"transformer_blocks.{n}.attn.to_k.weight", (3072, 3072), "BF16"),
            (f"transformer_blocks.{n}.attn.norm_q.weight", (128,), "BF16"),
            (f"transformer_blocks.{n}.img_mod.1.weight", (18432, 3072), "BF16"),
        ]
    return t


def svdquant_qwen_image_tensors(precision: str, rank: int, blocks: int = 60) -> list[Tensor]:
    """Nunchaku SVDQuant Qwen-Image (nunchaku-tech/nunchaku nunchaku/models/linear.py @3a3cc3d:
    qweight, wscales, proj_down/proj_up)."""
    group, scale = (16, "F8_E4M3") if precision == "fp4" else (64, "BF16")
    t = list(QWEN_IMAGE_IO)
    for n in range(blocks):
        b = f"transformer_blocks.{n}"
        for layer, out_f, in_f in (("attn.to_qkv", 9216, 3072), ("attn.to_out.0", 3072, 3072)):
            t += [
                (f"{b}.{layer}.qweight", (out_f, in_f // 2), "I8"),
                (f"{b}.{layer}.wscales", (in_f // group, out_f), scale),
                (f"{b}.{layer}.smooth_factor", (in_f,), "BF16"),
                (f"{b}.{layer}.smooth_factor_orig", (in_f,), "BF16"),
                (f"{b}.{layer}.proj_down", (in_f, rank), "BF16"),
                (f"{b}.{layer}.proj_up", (out_f, rank), "BF16"),
                (f"{b}.{layer}.bias", (out_f,), "BF16"),
            ]
            if precision == "fp4":
                t += [
                    (f"{b}.{layer}.wcscales", (out_f,), "BF16"),
                    (f"{b}.{layer}.wtscale", (), "F32"),
                ]
        t += [
            (f"{b}.img_mod.1.qweight", (18432 // 4, 3072 // 2), "I32"),
            (f"{b}.img_mod.1.wscales", (3072 // 64, 18432), "BF16"),
            (f"{b}.img_mod.1.wzeros", (3072 // 64, 18432), "BF16"),
        ]
    return t


def svdquant_metadata(precision: str, rank: int) -> dict[str, str]:
    dtype = "fp4_e2m1_all" if precision == "fp4" else "int4"
    group = 16 if precision == "fp4" else 64
    qc = {"method": "svdquant", "weight": {"dtype": dtype, "group_size": group},
          "activation": {"dtype": dtype, "group_size": group}, "rank": rank}  # fmt: skip
    config = {"_class_name": "QwenImageTransformer2DModel", "in_channels": 64, "num_layers": 60}
    return {
        "config": json.dumps(config),
        "quantization_config": json.dumps(qc),
        "model_class": "NunchakuQwenImageTransformer2DModel",
    }


# ---- text encoders (HF layout for safetensors, llama.cpp names for GGUF; sizes from
# Comfy-Org/ComfyUI comfy/text_encoders/llama.py @00a76cac)


def hf_llm_tensors(hidden: int, layers: int, vocab: int, heads: int, kv: int, head_dim: int,
                   *, q_norm: bool, post_ffw_norm: bool, k_bias: bool) -> list[Tensor]:  # fmt: skip
    t: list[Tensor] = [("model.embed_tokens.weight", (vocab, hidden), "BF16"),
                       ("model.norm.weight", (hidden,), "BF16")]  # fmt: skip
    if k_bias:  # Qwen2.5-VL: the vision tower travels with the text model
        t += [("visual.patch_embed.proj.weight", (1280, 3, 2, 14, 14), "BF16"),
              ("visual.merger.mlp.2.weight", (hidden, 5120), "BF16")]  # fmt: skip
    for n in range(layers):
        p = f"model.layers.{n}"
        t += [
            (f"{p}.self_attn.q_proj.weight", (heads * head_dim, hidden), "BF16"),
            (f"{p}.self_attn.k_proj.weight", (kv * head_dim, hidden), "BF16"),
            (f"{p}.self_attn.v_proj.weight", (kv * head_dim, hidden), "BF16"),
            (f"{p}.self_attn.o_proj.weight", (hidden, heads * head_dim), "BF16"),
            (f"{p}.input_layernorm.weight", (hidden,), "BF16"),
            (f"{p}.post_attention_layernorm.weight", (hidden,), "BF16"),
        ]
        if q_norm:
            t += [(f"{p}.self_attn.q_norm.weight", (head_dim,), "BF16"),
                  (f"{p}.self_attn.k_norm.weight", (head_dim,), "BF16")]  # fmt: skip
        if post_ffw_norm:
            t += [(f"{p}.pre_feedforward_layernorm.weight", (hidden,), "BF16"),
                  (f"{p}.post_feedforward_layernorm.weight", (hidden,), "BF16")]  # fmt: skip
        if k_bias:
            t += [(f"{p}.self_attn.q_proj.bias", (heads * head_dim,), "BF16"),
                  (f"{p}.self_attn.k_proj.bias", (kv * head_dim,), "BF16")]  # fmt: skip
    return t


LLMS = {  # CO comfy/text_encoders/llama.py @00a76cac: hidden, layers, vocab, heads, kv, head_dim
    "qwen3": dict(hidden=2560, layers=36, vocab=151936, heads=32, kv=8, head_dim=128,
                  q_norm=True, post_ffw_norm=False, k_bias=False),
    "gemma2": dict(hidden=2304, layers=26, vocab=256000, heads=8, kv=4, head_dim=256,
                   q_norm=False, post_ffw_norm=True, k_bias=False),
    "gemma3": dict(hidden=2560, layers=34, vocab=262208, heads=8, kv=4, head_dim=256,
                   q_norm=True, post_ffw_norm=True, k_bias=False),
    "qwen2vl": dict(hidden=3584, layers=28, vocab=152064, heads=28, kv=4, head_dim=128,
                    q_norm=False, post_ffw_norm=False, k_bias=True),
}  # fmt: skip


def gguf_llm(
    arch: str, *, tokenizer: bool = False, vocab: int | None = None
) -> tuple[dict, list[Tensor]]:
    """llama.cpp-style KVs and tensors for `arch` (ggml-org/llama.cpp gguf-py/gguf/constants.py
    @0024aa74: MODEL_ARCH_NAMES, Keys)."""
    c = LLMS[arch]
    hidden, layers, heads, kv, hd = c["hidden"], c["layers"], c["heads"], c["kv"], c["head_dim"]
    vocab = vocab or c["vocab"]
    kvs: dict[str, object] = {
        f"{arch}.embedding_length": hidden,
        f"{arch}.block_count": layers,
        f"{arch}.context_length": 32768,
        f"{arch}.attention.head_count": heads,
        f"{arch}.attention.head_count_kv": kv,
        "general.file_type": 15,
        "general.quantization_version": 2,
    }
    if tokenizer:
        model = "gpt2" if arch.startswith("qwen") else "llama"
        kvs["tokenizer.ggml.model"] = model
        kvs["tokenizer.ggml.tokens"] = [f"t{i}" for i in range(vocab)]
    t: list[Tensor] = [("token_embd.weight", (vocab, hidden), "Q4_K"),
                       ("output_norm.weight", (hidden,), "F32")]  # fmt: skip
    for n in range(layers):
        t += [
            (f"blk.{n}.attn_q.weight", (heads * hd, hidden), "Q4_K"),
            (f"blk.{n}.attn_k.weight", (kv * hd, hidden), "Q4_K"),
            (f"blk.{n}.attn_norm.weight", (hidden,), "F32"),
            (f"blk.{n}.ffn_norm.weight", (hidden,), "F32"),
        ]
        if c["q_norm"]:
            t += [
                (f"blk.{n}.attn_q_norm.weight", (hd,), "F32"),
                (f"blk.{n}.attn_k_norm.weight", (hd,), "F32"),
            ]
        if c["post_ffw_norm"]:
            t += [(f"blk.{n}.post_ffw_norm.weight", (hidden,), "F32")]
    return kvs, t


def mmproj_gguf() -> tuple[dict, list[Tensor]]:
    """A Qwen2.5-VL vision projector GGUF (llama.cpp `clip` arch, general.type mmproj)."""
    kvs: dict[str, object] = {"general.type": "mmproj", "clip.has_vision_encoder": True,
                              "clip.projector_type": "qwen2.5vl_merger"}  # fmt: skip
    t: list[Tensor] = [("v.patch_embd.weight", (1280, 3, 14, 14), "F16"),
                       ("mm.0.weight", (5120, 5120), "F16"), ("mm.2.weight", (3584, 5120), "F16")]  # fmt: skip
    return kvs, t


# ---- VAEs (Comfy-Org/ComfyUI comfy/sd.py @033046cc VAE, comfy/ldm/wan/vae.py @dcbf1c1d WanVAE)


def flux_vae_tensors() -> list[Tensor]:
    t: list[Tensor] = [
        ("encoder.conv_in.weight", (128, 3, 3, 3), "F32"),
        ("encoder.conv_out.weight", (32, 512, 3, 3), "F32"),
        ("encoder.mid.attn_1.q.weight", (512, 512, 1, 1), "F32"),
        ("decoder.conv_in.weight", (512, 16, 3, 3), "F32"),
        ("decoder.conv_out.weight", (3, 128, 3, 3), "F32"),
        ("decoder.mid.block_1.conv1.weight", (512, 512, 3, 3), "F32"),
    ]
    for i in range(4):
        t += [(f"encoder.down.{i}.block.0.conv1.weight", (128, 128, 3, 3), "F32"),
              (f"decoder.up.{i}.block.0.conv1.weight", (128, 128, 3, 3), "F32")]  # fmt: skip
    return t


def sd_vae_tensors() -> list[Tensor]:
    """An SD1/SDXL 4-channel KL VAE (quant_conv / post_quant_conv present)."""
    return [
        ("encoder.conv_in.weight", (128, 3, 3, 3), "F16"),
        ("encoder.conv_out.weight", (8, 512, 3, 3), "F16"),
        ("quant_conv.weight", (8, 8, 1, 1), "F16"),
        ("post_quant_conv.weight", (4, 4, 1, 1), "F16"),
        ("decoder.conv_in.weight", (512, 4, 3, 3), "F16"),
        ("decoder.conv_out.weight", (3, 128, 3, 3), "F16"),
    ]


def wan21_vae_tensors() -> list[Tensor]:
    """Wan-2.1 / Qwen-Image 3-D causal VAE: 5-D convolutions, z_dim 16 (WanVAE, see above)."""
    return [
        ("encoder.conv1.weight", (96, 3, 3, 3, 3), "BF16"),
        ("encoder.head.2.weight", (32, 384, 3, 3, 3), "BF16"),
        ("conv1.weight", (32, 32, 1, 1, 1), "BF16"),
        ("conv2.weight", (16, 16, 1, 1, 1), "BF16"),
        ("decoder.conv1.weight", (384, 16, 3, 3, 3), "BF16"),
        ("decoder.middle.0.residual.0.gamma", (384, 1, 1, 1), "BF16"),
        ("decoder.middle.0.residual.2.weight", (384, 384, 3, 3, 3), "BF16"),
        ("decoder.head.0.gamma", (96, 1, 1, 1), "BF16"),
        ("decoder.head.2.weight", (3, 96, 3, 3, 3), "BF16"),
    ]


# ---- the catalog: file name -> how to build it

Builder = Callable[[Path], Path]


def _st(tensors: Callable[[], list[Tensor]], metadata: dict[str, str] | None = None) -> Builder:
    return lambda p: write_safetensors(p, tensors(), metadata)


def _gguf(arch: str | None, parts: Callable[[], tuple[dict, list[Tensor]]]) -> Builder:
    def build(p: Path) -> Path:
        kvs, tensors = parts()
        return write_gguf(p, arch, kvs, tensors)

    return build


def _dit_gguf(arch: str | None, tensors: Callable[[], list[Tensor]]) -> Builder:
    kv = {"general.file_type": 17, "general.quantization_version": 2}
    return _gguf(arch, lambda: (kv, as_gguf(tensors())))


def _llm_st(arch: str) -> Builder:
    return _st(lambda: hf_llm_tensors(**LLMS[arch]))


FILES: dict[str, Builder] = {
    # diffusion models
    "z_image_turbo_bf16.safetensors": _st(lambda: z_image_tensors("model.diffusion_model.")),
    "z_image_turbo-Q5_K_M.gguf": _dit_gguf("lumina2", z_image_tensors),
    "z_image_turbo-Q4_K_M-zimage-arch.gguf": _dit_gguf("z_image", z_image_tensors),
    "lumina_2_model_bf16.safetensors": _st(lumina2_tensors),
    # a Lumina-Image-2.0 GGUF under a Z-Image name (sold as Z-Image)
    "z_image_turbo-lumina2-inside.gguf": _dit_gguf("lumina2", lumina2_tensors),
    "qwen_image_edit_2509_fp8_e4m3fn.safetensors": _st(qwen_image_tensors),
    # text encoders
    "qwen_3_4b.safetensors": _llm_st("qwen3"),
    "gemma_2_2b_fp16.safetensors": _llm_st("gemma2"),
    "gemma_3_4b_it.safetensors": _llm_st("gemma3"),
    "qwen_2.5_vl_7b_fp8_scaled.safetensors": _llm_st("qwen2vl"),
    "Qwen3-4B.i1-Q5_K_S.gguf": _gguf("qwen3", lambda: gguf_llm("qwen3")),
    "gemma-2-2b-it-Q8_0.gguf": _gguf("gemma2", lambda: gguf_llm("gemma2")),
    "gemma-2-2b-it-tok-Q8_0.gguf": _gguf("gemma2", lambda: gguf_llm("gemma2", tokenizer=True)),
    "gemma-3-4b-it-Q4_K_M.gguf": _gguf("gemma3", lambda: gguf_llm("gemma3")),
    "Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf": _gguf("qwen2vl", lambda: gguf_llm("qwen2vl")),
    "Qwen2.5-VL-7B-Instruct-mmproj-F16.gguf": _gguf("clip", mmproj_gguf),
    # VAEs
    "ae.safetensors": _st(flux_vae_tensors),
    "qwen_image_vae.safetensors": _st(wan21_vae_tensors),
    "sdxl_vae.safetensors": _st(sd_vae_tensors),
    # tokenizers
    "gemma2-tokenizer.model": lambda p: write_tokenizer_model(p, 256000),
    "llama-tokenizer.model": lambda p: write_tokenizer_model(p, 32000),
}
for _precision in ("int4", "fp4"):
    for _rank in (32, 128):
        for _suffix in ("", "-lightningv2.0-4steps"):
            _name = f"svdq-{_precision}_r{_rank}-qwen-image-edit-2509{_suffix}.safetensors"
            FILES[_name] = _st(
                lambda p=_precision, r=_rank: svdquant_qwen_image_tensors(p, r),
                svdquant_metadata(_precision, _rank),
            )
# The original Edit's Lightning v1.0 (not 2509's); and a file whose name says r128 but holds rank 32.
FILES["svdq-int4_r32-qwen-image-edit-lightningv1.0-4steps.safetensors"] = _st(
    lambda: svdquant_qwen_image_tensors("int4", 32), svdquant_metadata("int4", 32)
)
# A renamed file mixing the releases: 2509 with the original Edit's Lightning v1.0.
FILES["svdq-int4_r32-qwen-image-edit-2509-lightningv1.0-4steps.safetensors"] = _st(
    lambda: svdquant_qwen_image_tensors("int4", 32), svdquant_metadata("int4", 32)
)
FILES["svdq-int4_r128-qwen-image-edit-2509-mislabelled.safetensors"] = _st(
    lambda: svdquant_qwen_image_tensors("int4", 32), svdquant_metadata("int4", 32)
)


def build(folder: Path, name: str) -> Path:
    """Build fixture `name` under `folder` once (files are reused across tests)."""
    path = folder / name
    if not path.exists():
        FILES[name](path)
    return path
