"""Rule verdicts on identities (no files): each issue case fails for its reason, good stacks pass."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from modelctl.compat.parts import run_check
from tests.compat import idents as I
from tests.compat.idents import part

GPU_89 = {"gpu_sm": 89, "gpu": "--gpu-sm", "svdquant_precision": "int4"}
GPU_120 = {"gpu_sm": 120, "gpu": "--gpu-sm", "svdquant_precision": "fp4"}
GPU_90 = {"gpu_sm": 90, "gpu": "--gpu-sm", "svdquant_precision": "none"}


def statuses(parts: list, stack: str | None = None, env: dict | None = None) -> dict[str, str]:
    report = run_check(stack, parts, env or {})
    return {v.rule.id: v.status for v in report.verdicts}


def failed(parts: list, stack: str | None = None, env: dict | None = None) -> set[str]:
    return {k for k, v in statuses(parts, stack, env).items() if v == "fail"}


def test_z_image_good_stack_passes() -> None:
    s = statuses([part(I.Z_IMAGE, "z_image_turbo_bf16.safetensors"),
                  part(I.QWEN3, "qwen_3_4b.safetensors"),
                  part(I.FLUX_VAE, "ae.safetensors")])  # fmt: skip
    assert "fail" not in s.values()
    for rule in ("z-image-text-encoder-width", "z-image-text-encoder-family", "flux-latent-vae",
                 "vae-latent-channels", "diffusion-model-is-what-it-claims"):  # fmt: skip
        assert s[rule] == "pass", rule


def test_case1_gemma2_width() -> None:
    report = run_check(
        None, [part(I.Z_IMAGE, "z.safetensors"), part(I.GEMMA2, "gemma_2_2b.st")], {}
    )
    v = {v.rule.id: v for v in report.verdicts}["z-image-text-encoder-width"]
    assert v.status == "fail"
    assert "2304 wide" in v.findings[0].message and "2560" in v.findings[0].message
    assert v.rule.fix["use"] == "qwen_3_4b.safetensors"


def test_case2_gemma3_same_width_wrong_family_and_norm_shift() -> None:
    f = failed([part(I.Z_IMAGE_GGUF, "z_image_turbo-Q5_K_M.gguf"),
                part(I.GEMMA3_GGUF, "gemma-3-4b-it-Q4_K_M.gguf")])  # fmt: skip
    assert "z-image-text-encoder-width" not in f  # 2560 == 2560
    assert {"z-image-text-encoder-family", "gguf-gemma-norm-shift", "gguf-text-architecture"} <= f


def test_case3_vae_both_ways() -> None:
    assert "flux-latent-vae" in failed(
        [part(I.Z_IMAGE, "z.st"), part(I.WAN21_VAE, "qwen_image_vae.st")]
    )
    assert "qwen-image-vae" in failed([part(I.QWEN_IMAGE, "q.st"), part(I.FLUX_VAE, "ae.st")])
    assert "qwen-image-vae" not in failed([part(I.QWEN_IMAGE, "q.st"), part(I.WAN21_VAE, "v.st")])


def test_case4_file_sold_as_z_image() -> None:
    assert "diffusion-model-is-what-it-claims" in failed([part(I.LUMINA2, "z_image_turbo_Q8.gguf")])
    # a name that claims nothing leaves the rule not applicable
    assert statuses([part(I.LUMINA2, "model.gguf")])["diffusion-model-is-what-it-claims"] == "n/a"


def test_case4_claim_from_manifest_expect() -> None:
    asset = SimpleNamespace(id="diffusion", role="diffusion_model",
                            expect={"family": "z-image", "cap_feat_dim": 2560})  # fmt: skip
    f = failed([part(I.LUMINA2, "model.safetensors", asset=asset)])
    assert {"diffusion-model-is-what-it-claims", "asset-matches-manifest"} <= f


def test_case5_gguf_loader_lists_and_mmproj() -> None:
    zimage_arch = I.Ident("gguf", "diffusion_model", "z-image",
                          {"dim": 3840, "cap_feat_dim": 2560, "architecture": "z_image"})  # fmt: skip
    assert "gguf-image-architecture" in failed([part(zimage_arch, "z.gguf")])
    assert statuses([part(I.Z_IMAGE_GGUF, "z.gguf")])["gguf-image-architecture"] == "pass"
    te = part(I.QWEN25VL_GGUF, "Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf", "/m/text_encoders")
    assert "gguf-qwen2vl-mmproj" in failed([te])
    mm = part(I.MMPROJ, "Qwen2.5-VL-7B-Instruct-mmproj-F16.gguf", "/m/text_encoders")
    assert statuses([te, mm])["gguf-qwen2vl-mmproj"] == "pass"
    elsewhere = part(I.MMPROJ, "Qwen2.5-VL-7B-Instruct-mmproj-F16.gguf", "/m/clip_vision")
    assert "gguf-qwen2vl-mmproj" in failed([te, elsewhere])
    other = part(I.MMPROJ, "gemma-3-mmproj-F16.gguf", "/m/text_encoders")
    assert "gguf-qwen2vl-mmproj" in failed([te, other])


@pytest.mark.parametrize(
    ("ident", "env", "gpu_ok", "precision_ok"),
    [
        (I.SVDQ_INT4_R32, GPU_89, "pass", "pass"),
        (I.SVDQ_FP4_R32, GPU_89, "pass", "fail"),
        (I.SVDQ_FP4_R32, GPU_120, "pass", "pass"),
        (I.SVDQ_INT4_R32, GPU_120, "pass", "fail"),
        (I.SVDQ_INT4_R32, GPU_90, "fail", "n/a"),  # Hopper: unsupported, precision moot
        (I.SVDQ_INT4_R32, {}, "skip", "skip"),
    ],
)
def test_case6_gpu(ident: Any, env: dict, gpu_ok: str, precision_ok: str) -> None:
    s = statuses([part(ident, "svdq-x.safetensors")], env=env)
    assert (s["svdquant-gpu-supported"], s["svdquant-precision-matches-gpu"]) == (
        gpu_ok,
        precision_ok,
    )


def test_case6_gpu_unknown_says_how_to_fix() -> None:
    report = run_check(None, [part(I.SVDQ_INT4_R32, "svdq-x.safetensors")], {})
    v = {v.rule.id: v for v in report.verdicts}["svdquant-gpu-supported"]
    assert v.status == "skip" and "--gpu-sm" in v.note


def test_case6_rank_and_precision_in_name() -> None:
    assert "svdquant-rank-matches-name" in failed(
        [part(I.SVDQ_INT4_R32, "svdq-int4_r128-qwen-image-edit-2509.safetensors")], env=GPU_89
    )
    assert "svdquant-precision-matches-name" in failed(
        [part(I.SVDQ_INT4_R32, "svdq-fp4_r32-qwen-image-edit-2509.safetensors")], env=GPU_89
    )
    assert not failed([part(I.SVDQ_INT4_R32, "svdq-int4_r32-qwen-image-edit-2509.safetensors")],
                      env=GPU_89)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "stack", "rule"),
    [
        ("svdq-int4_r32-qwen-image-edit-lightningv1.0-4steps.safetensors", "qwen-image-edit-2509-nunchaku",
         "stack-release-matches-file"),
        ("svdq-int4_r32-qwen-image-edit-2509-lightningv1.0-4steps.safetensors", None,
         "nunchaku-lightning-release"),
        ("svdq-int4_r32-qwen-image-edit-lightningv2.0-4steps.safetensors", None,
         "nunchaku-lightning-release"),
    ],
)  # fmt: skip
def test_case6_lightning_naming(name: str, stack: str | None, rule: str) -> None:
    assert rule in failed([part(I.SVDQ_INT4_R32, name)], stack=stack, env=GPU_89)


@pytest.mark.parametrize(
    "name",
    [
        "svdq-int4_r32-qwen-image-edit-2509-lightningv2.0-4steps.safetensors",
        "svdq-int4_r32-qwen-image-edit-2509-lightning-8steps-251115.safetensors",
        "svdq-int4_r32-qwen-image-edit-lightningv1.0-8steps.safetensors",
    ],
)
def test_case6_lightning_naming_good(name: str) -> None:
    assert not failed([part(I.SVDQ_INT4_R32, name)], env=GPU_89)


def test_case7_tokenizer() -> None:
    te = part(I.GEMMA2_GGUF, "gemma-2-2b-it-Q8_0.gguf")
    assert "gguf-text-encoder-tokenizer" in failed([te])
    assert statuses([te, part(I.tokenizer(256000), "tokenizer.model")])[
        "gguf-text-encoder-tokenizer"] == "pass"  # fmt: skip
    assert "tokenizer-vocab-matches-encoder" in failed([te, part(I.tokenizer(262144), "t.model")])
    assert "tokenizer-vocab-matches-encoder" in failed([te, part(I.tokenizer(32000), "t.model")])
    # Gemma-3's table is padded past its vocabulary: 262208 rows, 262144 pieces.
    assert "tokenizer-vocab-matches-encoder" not in failed(
        [part(I.GEMMA3_GGUF, "g3.gguf"), part(I.tokenizer(262144), "t.model")]
    )
    # Qwen encoders use ComfyUI's bundled tokenizer: no tokenizer.model needed.
    qwen = I.Ident("gguf", "text_encoder", "qwen3", {"embedding_length": 2560,
                   "architecture": "qwen3", "tokenizer_embedded": False})  # fmt: skip
    assert statuses([part(qwen, "q.gguf")])["gguf-text-encoder-tokenizer"] == "n/a"


def test_case8_latent_channels() -> None:
    assert "vae-latent-channels" in failed([part(I.Z_IMAGE, "z.st"), part(I.SD_VAE, "sdxl_vae.st")])
    assert "vae-latent-channels-packed" in failed(
        [part(I.QWEN_IMAGE, "q.st"), part(I.WAN22_VAE, "w.st")]
    )


@pytest.mark.parametrize(
    "parts",
    [
        [(I.LUMINA2, "lumina_2_model_bf16.safetensors"), (I.GEMMA2, "gemma_2_2b_fp16.safetensors"),
         (I.FLUX_VAE, "ae.safetensors")],
        [(I.SVDQ_INT4_R32, "svdq-int4_r32-qwen-image-edit-2509-lightningv2.0-4steps.safetensors"),
         (I.QWEN25VL, "qwen_2.5_vl_7b_fp8_scaled.safetensors"), (I.WAN21_VAE, "qwen_image_vae.safetensors")],
        [(I.Z_IMAGE_GGUF, "z_image_turbo-Q5_K_M.gguf"), (I.QWEN3_GGUF, "Qwen3-4B.i1-Q5_K_S.gguf"),
         (I.FLUX_VAE, "ae.safetensors")],
    ],
)  # fmt: skip
def test_good_stacks_pass(parts: list) -> None:
    assert not failed(
        [part(i, n) for i, n in parts], stack="qwen-image-edit-2509-nunchaku", env=GPU_89
    )


def test_unknown_facts_skip_instead_of_failing() -> None:
    te = I.Ident("safetensors", "text_encoder", "qwen3", {})
    s = statuses([part(I.Z_IMAGE, "z.st"), part(te, "q.st")])
    assert s["z-image-text-encoder-width"] == "skip"
    assert s["z-image-text-encoder-family"] == "pass"


def test_report_json_shape() -> None:
    report = run_check("z", [part(I.Z_IMAGE, "z.st"), part(I.GEMMA2, "g.st")], {})
    data = report.to_json()
    assert data["ok"] is False
    assert {p["role"] for p in data["parts"]} == {"diffusion_model", "text_encoder"}
    v = next(v for v in data["verdicts"] if v["id"] == "z-image-text-encoder-width")
    assert v["status"] == "fail" and v["sources"] and v["fix"]["from"].startswith("hf://")
    assert v["findings"][0]["parts"] == {"dit": "z.st", "te": "g.st"}
