"""`modelctl check`: the command's inputs, outputs and exit codes (verdict cases: tests/compat).

Local files run in-process (`run_main`); hf:// sources run a subprocess against the test hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.compat.fixtures import build
from tests.compat.test_verdicts import check, failed, serve
from tests.helpers.cli import run_cli, run_main
from tests.workflow.builders import UI, hub_url, model

Z_IMAGE = {
    "Comfy-Org/z_image_turbo/split_files/diffusion_models/z_image_turbo_bf16.safetensors":
        "z_image_turbo_bf16.safetensors",
    "Comfy-Org/z_image_turbo/split_files/text_encoders/qwen_3_4b.safetensors":
        "qwen_3_4b.safetensors",
    "Comfy-Org/z_image_turbo/split_files/vae/ae.safetensors": "ae.safetensors",
}  # fmt: skip


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("check-fixtures")


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("error: "), err
    assert all(line.startswith("  hint: ") for line in lines[1:]), err
    assert "Traceback" not in err
    return lines[0]


def test_human_output_for_local_files(fx: Path) -> None:
    files = [str(build(fx, n)) for n in ("z_image_turbo_bf16.safetensors", "gemma_2_2b_fp16.safetensors",
                                         "ae.safetensors")]  # fmt: skip
    result = run_main("check", *files, "--gpu-sm", "8.6")
    assert result.code == 1, result.err
    out = result.out
    for column in ("role", "file", "family", "width"):
        assert column in out.splitlines()[1]
    assert any(line.split()[:3] == ["text_encoder", "gemma_2_2b_fp16.safetensors", "gemma2"]
               for line in out.splitlines() if line.strip())  # fmt: skip
    assert "dim 3840 · text 2560" in out and "16 ch · 2-D" in out
    assert "✗ gemma_2_2b_fp16.safetensors is 2304 wide" in out
    assert "fix: use Qwen3-4B" in out and "qwen_3_4b.safetensors" in out
    assert "✓ Z-Image, Lumina-Image-2.0 and Flux decode with the 2-D Flux VAE" in out
    assert "GPU: sm 86" in out
    assert "INCOMPATIBLE" in out.splitlines()[-1]


def test_good_local_stack_exits_zero(fx: Path) -> None:
    files = [str(build(fx, n)) for n in Z_IMAGE.values()]
    result = run_main("check", *files)
    assert result.code == 0, result.out
    assert "✗" not in result.out and result.out.splitlines()[-1].startswith("OK")


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        ((), 2, "nothing to check"),
        (("missing-model.gguf",), 2, "no such file"),
        (("no-such-stack",), 2, "no manifest named"),
        (("ae.safetensors", "--gpu-sm", "fast"), 2, "not a compute capability"),
        (("broken.gguf",), 2, "broken.gguf"),
    ],
)
def test_bad_input_is_exit_2_with_one_error_line(
    fx: Path, tmp_path: Path, args: tuple, code: int, needle: str
) -> None:
    build(fx, "ae.safetensors")
    (tmp_path / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 56)
    (tmp_path / "ae.safetensors").symlink_to(fx / "ae.safetensors")
    result = run_main("check", *args, cwd=tmp_path)
    assert result.code == code, (result.out, result.err)
    assert needle in one_error_line(result.err)


def test_unreachable_source_is_exit_3(hub: Any, tmp_path: Path) -> None:
    result = run_cli("check", "hf://nobody/nothing/model.gguf", env=hub.env(tmp_path))
    assert result.code == 3, result.err
    one_error_line(result.err)


def test_installed_files_are_read_locally(hub: Any, fx: Path, tmp_path: Path) -> None:
    serve(hub, fx, Z_IMAGE)
    models = tmp_path / "models"
    (models / "vae").mkdir(parents=True)
    (models / "vae" / "ae.safetensors").symlink_to(build(fx, "ae.safetensors"))
    result, data = check(hub, tmp_path, "z-image-turbo:quant=bf16")
    assert result.code == 0, result.out + result.err
    assert hub.bytes_served("split_files/vae/ae.safetensors") == 0
    assert hub.bytes_served("split_files/text_encoders/qwen_3_4b.safetensors") > 0
    assert data["stack"] == "z-image-turbo:quant=bf16,te=safetensors"


def test_several_stacks_give_a_json_list(hub: Any, fx: Path, tmp_path: Path) -> None:
    serve(hub, fx, Z_IMAGE)
    loose = str(build(fx, "sdxl_vae.safetensors"))
    result, data = check(hub, tmp_path, "z-image-turbo:quant=bf16", loose)
    assert result.code == 0  # a lone VAE: every rule is not applicable
    assert isinstance(data, list) and len(data) == 2
    assert data[0]["ok"] is True
    assert data[1]["parts"][0]["role"] == "vae"


def test_workflow_models_are_checked(hub: Any, fx: Path, tmp_path: Path) -> None:
    files = dict(Z_IMAGE)
    files["Comfy-Org/z_image_turbo/split_files/vae/ae.safetensors"] = "qwen_image_vae.safetensors"
    serve(hub, fx, files)
    ui = UI()
    for node, folder, (where, _) in zip(("UNETLoader", "CLIPLoader", "VAELoader"),
                                        ("diffusion_models", "text_encoders", "vae"),
                                        files.items(), strict=True):  # fmt: skip
        repo, path = "/".join(where.split("/")[:2]), where.split("/", 2)[2]
        name = path.rsplit("/", 1)[1]
        ui.node(node, [name], [model(name, folder, hub_url(repo, path))])
    workflow = ui.write(tmp_path / "zimage.json")
    result, data = check(hub, tmp_path, "--workflow", str(workflow))
    assert result.code == 1, result.err
    assert "flux-latent-vae" in failed(data)
    assert data["stack"] == "zimage"


def test_json_lists_every_rule(fx: Path) -> None:
    result = run_main("check", str(build(fx, "ae.safetensors")), "--json")
    data = json.loads(result.out)
    ids = {v["id"] for v in data["verdicts"]}
    assert len(ids) >= 18
    statuses = {v["id"]: v["status"] for v in data["verdicts"]}
    assert statuses.pop("file-is-a-model") == "pass"
    assert set(statuses.values()) == {"n/a"}
    assert result.code == 0


def test_an_impostor_file_fails_the_check(tmp_path: Path) -> None:
    """An HTML error page saved as a model: a problem with the stack (exit 1), not bad usage."""
    page = tmp_path / "ae.safetensors"
    page.write_text("<!DOCTYPE html><html><head><title>Sign in</title></head></html>")
    result = run_main("check", str(page), "--json")
    assert result.code == 1, result.err
    assert failed(json.loads(result.out)) == {"file-is-a-model"}


# ------------------------------------------------- issue 16 case 8: mistyped metadata, remotely

HOSTILE = {
    "svdq-int4_r32-qwen-image.safetensors": ("diffusion_models", "diffusion_model"),
    "mmproj-Qwen2.5-VL-7B-F16.gguf": ("text_encoders", "other"),
    "qwen_3_4b.safetensors": ("text_encoders", "text_encoder"),
}


def _serve_hostile(hub: Any, tmp_path: Path) -> None:
    from tests.identify.hostile import (
        mmproj_with_projector,
        svdquant_with_weight_dtype,
        text_encoder_with_layer,
    )

    folder = tmp_path / "files"
    folder.mkdir()
    names = list(HOSTILE)
    paths = [
        svdquant_with_weight_dtype(folder / names[0], {"dtype": ["int4"]}),
        mmproj_with_projector(folder / names[1], ["qwen2vl_merger"], "ARRAY", "STRING"),
        text_encoder_with_layer(folder / names[2]),
    ]
    for name, path in zip(names, paths, strict=True):
        hub.add_file("org/hostile", name, path)


def _hostile_manifest(tmp_path: Path) -> Path:
    lines = ["schema: 1", "name: hostile", "description: mistyped metadata", "assets:"]
    for i, (name, (folder, role)) in enumerate(HOSTILE.items()):
        lines += [f"  - id: a{i}", f"    role: {role}", f"    source: hf://org/hostile/{name}",
                  "    revision: main", f"    dest: {folder}/{name}"]  # fmt: skip
    path = tmp_path / "hostile.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_remote_check_reads_mistyped_metadata(hub: Any, tmp_path: Path) -> None:
    _serve_hostile(hub, tmp_path)
    result, data = check(hub, tmp_path, *(f"hf://org/hostile/{n}" for n in HOSTILE))
    assert result.code in (0, 1), result.err
    assert "Traceback" not in result.err and data is not None
    roles = {p["file"]: p["role"] for p in data["parts"]}
    assert roles["svdq-int4_r32-qwen-image.safetensors"] == "diffusion_model"
    assert roles["qwen_3_4b.safetensors"] == "text_encoder"


def test_pull_and_ensure_read_mistyped_metadata(hub: Any, tmp_path: Path) -> None:
    """`pull` reads every header remotely before downloading (its check; here the Qwen3 encoder
    does not fit the Qwen-Image DiT, a real verdict) and identifies each file after it
    (`--no-check`: every file is placed); `ensure` takes the first path from the environment."""
    _serve_hostile(hub, tmp_path)
    manifest = _hostile_manifest(tmp_path)
    models = tmp_path / "models"
    env = hub.env(tmp_path, MODELCTL_MODELS_DIR=str(models))
    checked = run_cli("pull", str(manifest), env=env)
    assert checked.code == 1 and "[qwen-image-text-encoder]" in checked.err, checked.err
    pulled = run_cli("pull", str(manifest), "--no-check", env=env)
    assert pulled.code == 0, pulled.err
    for name, (folder, _) in HOSTILE.items():
        assert (models / folder / name).is_file()
    env = hub.env(tmp_path, MODELCTL_MODELS_DIR=str(tmp_path / "fresh"),
                  MODELCTL_ENSURE=str(manifest))  # fmt: skip
    ensured = run_cli("ensure", env=env)
    assert ensured.code == 1 and "[qwen-image-text-encoder]" in ensured.err, ensured.err
    for result in (checked, pulled, ensured):
        assert "Traceback" not in result.err and "internal error" not in result.err


def test_metadata_strings_reach_messages_escaped(tmp_path: Path) -> None:
    """A GGUF's architecture is quoted in a verdict: control, escape and bidi characters in it
    must not reach the terminal (clear the screen, retitle it, reverse the text)."""
    from tests.formats.builders import write_gguf
    from tests.identify.specs import gguf_llm

    arch = "evil\x1b[2J\x1b]0;pwned\x07\u202e"
    spec = gguf_llm(arch, 256, 4, 512, "gpt2")
    path = write_gguf(tmp_path / "te.gguf", arch, spec["tensors"], spec["kv"])
    result = run_main("check", str(path))
    assert result.code == 1, result.err
    assert "gguf-text-architecture" in result.out
    assert not any(c in result.out for c in "\x1b\x07\u202e")
    assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\u202e" in result.out
