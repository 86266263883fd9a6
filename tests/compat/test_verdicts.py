"""Every verdict case of the issue, end to end: fixture files served by the test hub, the real CLI
reading them by header (HTTP Range requests only), the verdict, exit 1 - and proof from the hub's
request log that no file was downloaded whole. Correct stacks (the bundled manifests, served under
their real repository paths) pass every rule.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.compat.fixtures import build
from tests.helpers.cli import Result, run_cli

HEADER_BUDGET = 4 << 20  # a header read may grow past the header by at most a read-ahead block


@pytest.fixture(scope="session")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture folder (files are built on first use and shared by every test)."""
    return tmp_path_factory.mktemp("compat-fixtures")


def serve(hub: Any, fx: Path, files: dict[str, str]) -> dict[str, str]:
    """Serve fixture files at `repo/path` (`owner/repo/dir/file` -> fixture name).

    The files are sparse (real headers, multi-GB logical size), so the hub is told a sha256 instead
    of hashing gigabytes of zeros; a check never verifies content hashes.
    """
    uris = {}
    for where, name in files.items():
        owner, repo, path = where.split("/", 2)
        fake_sha = hashlib.sha256(where.encode()).hexdigest()
        hub.add_file(f"{owner}/{repo}", path, build(fx, name), sha256=fake_sha)
        uris[where] = f"hf://{where}"
    return uris


def check(hub: Any, tmp_path: Path, *args: str) -> tuple[Result, Any]:
    env = hub.env(tmp_path, MODELCTL_MODELS_DIR=str(tmp_path / "models"))
    result = run_cli("check", *args, "--json", env=env)
    try:
        data = json.loads(result.out)
    except json.JSONDecodeError:
        data = None
    return result, data


def status(data: dict, rule: str) -> str:
    return next(v["status"] for v in data["verdicts"] if v["id"] == rule)


def failed(data: dict) -> set[str]:
    return {v["id"] for v in data["verdicts"] if v["status"] == "fail"}


def assert_header_only(hub: Any, fx: Path, files: dict[str, str]) -> None:
    """Each file was read, only with Range requests, and far less than the whole file came back."""
    for where, name in files.items():
        path = where.split("/", 2)[2]
        gets = hub.gets(path)
        assert gets, f"{path} was not read"
        assert all(g.range for g in gets), f"a GET without Range for {path}"
        size, header = (fx / name).stat().st_size, _header_size(fx / name)
        served = hub.bytes_served(path)
        assert served <= min(size, header + HEADER_BUDGET), f"{path}: more than its header"
        if header < size:  # a tokenizer.model is all header; a model file never is
            assert served < size, f"{path}: the whole file was served"


def _header_size(path: Path) -> int:
    from modelctl.formats.read import read_header
    from modelctl.formats.source import FileSource

    with FileSource(path) as src:
        return read_header(src).header_size


def run_case(hub: Any, fx: Path, tmp_path: Path, files: dict[str, str], *extra: str) -> dict:
    uris = serve(hub, fx, files)
    result, data = check(hub, tmp_path, *uris.values(), *extra)
    assert result.code == 1, result.err
    assert data is not None and data["ok"] is False
    assert_header_only(hub, fx, files)
    return data


# ---- the cases 1-8


def test_case1_z_image_with_gemma2_2b(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "jayn7/Z-Image-Turbo-GGUF/z_image_turbo-Q5_K_M.gguf": "z_image_turbo-Q5_K_M.gguf",
        "google/gemma-2-2b/gemma_2_2b_fp16.safetensors": "gemma_2_2b_fp16.safetensors",
        "Comfy-Org/z_image_turbo/split_files/vae/ae.safetensors": "ae.safetensors",
    })  # fmt: skip
    assert "z-image-text-encoder-width" in failed(data)
    verdict = next(v for v in data["verdicts"] if v["id"] == "z-image-text-encoder-width")
    assert "2304 wide" in verdict["findings"][0]["message"]
    assert verdict["fix"]["use"] == "qwen_3_4b.safetensors"


def test_case2_z_image_with_gemma3_gguf(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "jayn7/Z-Image-Turbo-GGUF/z_image_turbo-Q5_K_M.gguf": "z_image_turbo-Q5_K_M.gguf",
        "unsloth/gemma-3-4b-it-GGUF/gemma-3-4b-it-Q4_K_M.gguf": "gemma-3-4b-it-Q4_K_M.gguf",
    })  # fmt: skip
    assert status(data, "z-image-text-encoder-width") == "pass"  # 2560 == 2560: the trap
    assert {"z-image-text-encoder-family", "gguf-gemma-norm-shift"} <= failed(data)


def test_case2_gemma3_safetensors_same_width(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "Comfy-Org/z_image_turbo/split_files/diffusion_models/z_image_turbo_bf16.safetensors":
            "z_image_turbo_bf16.safetensors",
        "google/gemma-3-4b-it/gemma_3_4b_it.safetensors": "gemma_3_4b_it.safetensors",
    })  # fmt: skip
    assert failed(data) == {"z-image-text-encoder-family"}


def test_case3_z_image_with_qwen_image_vae(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "jayn7/Z-Image-Turbo-GGUF/z_image_turbo-Q5_K_M.gguf": "z_image_turbo-Q5_K_M.gguf",
        "Comfy-Org/Qwen-Image_ComfyUI/split_files/vae/qwen_image_vae.safetensors":
            "qwen_image_vae.safetensors",
    })  # fmt: skip
    assert failed(data) == {"flux-latent-vae"}
    assert status(data, "vae-latent-channels") == "pass"  # 16 == 16: only the family tells


def test_case3_qwen_image_with_flux_vae(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "Comfy-Org/Qwen-Image-Edit_ComfyUI/split_files/diffusion_models/"
        "qwen_image_edit_2509_fp8_e4m3fn.safetensors": "qwen_image_edit_2509_fp8_e4m3fn.safetensors",
        "Comfy-Org/z_image_turbo/split_files/vae/ae.safetensors": "ae.safetensors",
    })  # fmt: skip
    assert failed(data) == {"qwen-image-vae"}


def test_case4_lumina2_sold_as_z_image(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "someone/Z-Image-Turbo-Q8/z_image_turbo-Q8_0.gguf": "z_image_turbo-lumina2-inside.gguf",
    })  # fmt: skip
    assert failed(data) == {"diffusion-model-is-what-it-claims"}
    part = data["parts"][0]
    assert (part["family"], part["identity"]["dim"]) == ("lumina2", 2304)


def test_case5_gguf_loader_lists(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "someone/zimage-gguf/z_image_turbo-Q4_K_M-zimage-arch.gguf":
            "z_image_turbo-Q4_K_M-zimage-arch.gguf",
        "unsloth/gemma-3-4b-it-GGUF/gemma-3-4b-it-Q4_K_M.gguf": "gemma-3-4b-it-Q4_K_M.gguf",
    })  # fmt: skip
    assert {"gguf-image-architecture", "gguf-text-architecture"} <= failed(data)


def test_case5_qwen2vl_without_mmproj(hub: Any, fx: Path, tmp_path: Path) -> None:
    te = {"unsloth/Qwen2.5-VL-7B-Instruct-GGUF/Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf":
          "Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf"}  # fmt: skip
    data = run_case(hub, fx, tmp_path, te)
    assert failed(data) == {"gguf-qwen2vl-mmproj"}
    # with its mmproj beside it, the rule holds
    mm = {"unsloth/Qwen2.5-VL-7B-Instruct-GGUF/Qwen2.5-VL-7B-Instruct-mmproj-F16.gguf":
          "Qwen2.5-VL-7B-Instruct-mmproj-F16.gguf"}  # fmt: skip
    uris = serve(hub, fx, {**te, **mm})
    result, data = check(hub, tmp_path, *uris.values())
    assert result.code == 0, result.out
    assert status(data, "gguf-qwen2vl-mmproj") == "pass"


@pytest.mark.parametrize(
    ("name", "sm", "rule"),
    [
        ("svdq-fp4_r32-qwen-image-edit-2509.safetensors", "89", "svdquant-precision-matches-gpu"),
        ("svdq-int4_r32-qwen-image-edit-2509.safetensors", "120", "svdquant-precision-matches-gpu"),
        ("svdq-int4_r32-qwen-image-edit-2509.safetensors", "90", "svdquant-gpu-supported"),
        ("svdq-int4_r128-qwen-image-edit-2509-mislabelled.safetensors", "89",
         "svdquant-rank-matches-name"),
    ],
)  # fmt: skip
def test_case6_svdquant(hub: Any, fx: Path, tmp_path: Path, name: str, sm: str, rule: str) -> None:
    data = run_case(hub, fx, tmp_path, {f"nunchaku-tech/nunchaku-qwen-image-edit-2509/{name}": name},
                    "--gpu-sm", sm)  # fmt: skip
    assert failed(data) == {rule}
    assert data["env"]["gpu_sm"] == int(sm)


def test_case6_gpu_unknown_is_skipped_with_a_hint(hub: Any, fx: Path, tmp_path: Path) -> None:
    name = "svdq-int4_r32-qwen-image-edit-2509.safetensors"
    uris = serve(hub, fx, {f"nunchaku-tech/nunchaku-qwen-image-edit-2509/{name}": name})
    env = hub.env(tmp_path, MODELCTL_NVML_RECORD=str(_no_gpu_record(tmp_path)))
    result = run_cli("check", *uris.values(), env=env)
    assert result.code == 0, result.out
    assert "skipped: no GPU known; pass --gpu-sm" in result.out


def _no_gpu_record(tmp_path: Path) -> Path:
    path = tmp_path / "nvml.json"
    path.write_text(json.dumps({"error": "NVMLError_LibraryNotFound"}))
    return path


def test_case6_original_edit_lightning_in_a_2509_stack(hub: Any, fx: Path, tmp_path: Path) -> None:
    """`…qwen-image-edit-lightningv1.0-4steps` is the original Edit's, not Edit-2509's."""
    name = "svdq-int4_r32-qwen-image-edit-lightningv1.0-4steps.safetensors"
    serve(hub, fx, {f"nunchaku-tech/nunchaku-qwen-image-edit/{name}": name})
    manifest = tmp_path / "qwen-image-edit-2509-lightning.yaml"
    manifest.write_text(
        "schema: 1\nname: qwen-image-edit-2509-lightning\nassets:\n"
        "  - id: diffusion\n    role: diffusion_model\n"
        f"    source: hf://nunchaku-tech/nunchaku-qwen-image-edit/{name}\n"
        f"    dest: diffusion_models/{name}\n"
    )
    result, data = check(hub, tmp_path, str(manifest), "--gpu-sm", "89")
    assert result.code == 1, result.err
    assert failed(data) == {"stack-release-matches-file"}
    assert_header_only(hub, fx, {f"nunchaku-tech/nunchaku-qwen-image-edit/{name}": name})


def test_case6_lightning_name_mixing_releases(hub: Any, fx: Path, tmp_path: Path) -> None:
    wrong = "svdq-int4_r32-qwen-image-edit-2509-lightningv1.0-4steps.safetensors"
    data = run_case(hub, fx, tmp_path, {f"someone/renamed/{wrong}": wrong}, "--gpu-sm", "89")
    assert failed(data) == {"nunchaku-lightning-release"}


def test_case7_gguf_encoder_without_tokenizer(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "bartowski/gemma-2-2b-it-GGUF/gemma-2-2b-it-Q8_0.gguf": "gemma-2-2b-it-Q8_0.gguf",
    })  # fmt: skip
    assert "gguf-text-encoder-tokenizer" in failed(data)


def test_case7_tokenizer_vocabulary_mismatch(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "bartowski/gemma-2-2b-it-GGUF/gemma-2-2b-it-Q8_0.gguf": "gemma-2-2b-it-Q8_0.gguf",
        "meta-llama/Llama-2-7b/tokenizer.model": "llama-tokenizer.model",
    })  # fmt: skip
    assert "tokenizer-vocab-matches-encoder" in failed(data)
    assert status(data, "gguf-text-encoder-tokenizer") == "pass"
    roles = {p["file"]: p["role"] for p in data["parts"]}
    assert roles["tokenizer.model"] == "tokenizer"  # inferred from identity


def test_case8_latent_channels(hub: Any, fx: Path, tmp_path: Path) -> None:
    data = run_case(hub, fx, tmp_path, {
        "Comfy-Org/z_image_turbo/split_files/diffusion_models/z_image_turbo_bf16.safetensors":
            "z_image_turbo_bf16.safetensors",
        "stabilityai/sdxl-vae/sdxl_vae.safetensors": "sdxl_vae.safetensors",
    })  # fmt: skip
    assert failed(data) == {"vae-latent-channels"}


# ---- the bundled stacks pass every rule


BUNDLED = {
    "z-image-turbo": {
        "jayn7/Z-Image-Turbo-GGUF/z_image_turbo-Q5_K_M.gguf": "z_image_turbo-Q5_K_M.gguf",
        "Comfy-Org/z_image_turbo/split_files/text_encoders/qwen_3_4b.safetensors":
            "qwen_3_4b.safetensors",
        "Comfy-Org/z_image_turbo/split_files/vae/ae.safetensors": "ae.safetensors",
    },
    "lumina-image-2": {
        "Comfy-Org/Lumina_Image_2.0_Repackaged/split_files/diffusion_models/"
        "lumina_2_model_bf16.safetensors": "lumina_2_model_bf16.safetensors",
        "Comfy-Org/Lumina_Image_2.0_Repackaged/split_files/text_encoders/gemma_2_2b_fp16.safetensors":
            "gemma_2_2b_fp16.safetensors",
        "Comfy-Org/Lumina_Image_2.0_Repackaged/split_files/vae/ae.safetensors": "ae.safetensors",
    },
    "qwen-image-edit-2509-nunchaku": {
        "nunchaku-tech/nunchaku-qwen-image-edit-2509/"
        "svdq-int4_r32-qwen-image-edit-2509-lightningv2.0-4steps.safetensors":
            "svdq-int4_r32-qwen-image-edit-2509-lightningv2.0-4steps.safetensors",
        "Comfy-Org/Qwen-Image_ComfyUI/split_files/text_encoders/qwen_2.5_vl_7b_fp8_scaled.safetensors":
            "qwen_2.5_vl_7b_fp8_scaled.safetensors",
        "Comfy-Org/Qwen-Image_ComfyUI/split_files/vae/qwen_image_vae.safetensors":
            "qwen_image_vae.safetensors",
    },
}  # fmt: skip


@pytest.mark.parametrize("spec", sorted(BUNDLED))
def test_bundled_stacks_pass_every_rule(hub: Any, fx: Path, tmp_path: Path, spec: str) -> None:
    serve(hub, fx, BUNDLED[spec])
    result, data = check(hub, tmp_path, spec, "--gpu-sm", "89")
    assert result.code == 0, result.out + result.err
    assert data["ok"] and not failed(data)
    assert {v["status"] for v in data["verdicts"]} <= {"pass", "n/a"}, [
        (v["id"], v["status"], v.get("note")) for v in data["verdicts"] if v["status"] == "skip"
    ]
    assert len(data["parts"]) == 3
    assert_header_only(hub, fx, BUNDLED[spec])


def test_bundled_stack_with_the_wrong_file_behind_a_name(
    hub: Any, fx: Path, tmp_path: Path
) -> None:
    """z-image-turbo whose repo holds a Lumina-2 GGUF under the Z-Image name: expect: catches it."""
    files = dict(BUNDLED["z-image-turbo"])
    files["jayn7/Z-Image-Turbo-GGUF/z_image_turbo-Q5_K_M.gguf"] = (
        "z_image_turbo-lumina2-inside.gguf"
    )
    serve(hub, fx, files)
    result, data = check(hub, tmp_path, "z-image-turbo")
    assert result.code == 1
    assert {"asset-matches-manifest", "diffusion-model-is-what-it-claims"} <= failed(data)
    verdict = next(v for v in data["verdicts"] if v["id"] == "asset-matches-manifest")
    assert "family: expected z-image, the file has lumina2" in verdict["findings"][0]["message"]
