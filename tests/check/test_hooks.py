"""`pull` runs the check first (nothing downloaded when the stack does not fit, unless --no-check),
and refuses to place a downloaded file whose identity contradicts its asset's `expect:` block.

The stack is small on purpose (a Lumina-2-architecture DiT with tiny widths, and the Wan-2.1 VAE),
because with --no-check it really is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.compat.fixtures import build, lumina_family_tensors, write_safetensors
from tests.helpers.cli import run_cli

REPO = "org/tiny"


def tiny_stack(hub: Any, fx: Path, tmp_path: Path, vae_expect: str = "") -> Path:
    dit = write_safetensors(
        tmp_path / "tiny_lumina.safetensors", lumina_family_tensors(64, 32, 1, 2)
    )
    hub.add_file(REPO, "tiny_lumina.safetensors", dit)
    hub.add_file(REPO, "vae/qwen_image_vae.safetensors", build(fx, "qwen_image_vae.safetensors"))
    manifest = tmp_path / "tiny.yaml"
    manifest.write_text(
        "schema: 1\nname: tiny\nassets:\n"
        f"  - {{id: dit, role: diffusion_model, source: hf://{REPO}/tiny_lumina.safetensors,\n"
        "     dest: diffusion_models/tiny_lumina.safetensors}\n"
        f"  - {{id: vae, role: vae, source: hf://{REPO}/vae/qwen_image_vae.safetensors,\n"
        f"     dest: vae/qwen_image_vae.safetensors{vae_expect}}}\n"
    )
    return manifest


def pull(hub: Any, tmp_path: Path, manifest: Path, *args: str) -> Any:
    env = hub.env(tmp_path, MODELCTL_MODELS_DIR=str(tmp_path / "models"), MODELCTL_GPU_SM="89")
    return run_cli("pull", str(manifest), *args, env=env)


def full_gets(hub: Any) -> list:
    return [g for g in hub.requests() if g.method == "GET" and g.file and not g.range]


def test_incompatible_stack_downloads_nothing(hub: Any, tmp_path: Path) -> None:
    fx = tmp_path / "fx"
    manifest = tiny_stack(hub, fx, tmp_path)
    result = pull(hub, tmp_path, manifest)
    assert result.code == 1, result.err
    lines = result.err.strip().splitlines()
    assert lines[0].startswith("error: tiny: the stack does not fit together"), result.err
    assert any("flux-latent-vae" in line for line in lines[1:])
    assert "Traceback" not in result.err
    assert full_gets(hub) == []
    models = tmp_path / "models"
    placed = [p for p in models.rglob("*") if p.is_file() and ".modelctl" not in p.parts]
    assert placed == []


def test_no_check_downloads_anyway(hub: Any, tmp_path: Path) -> None:
    fx = tmp_path / "fx"
    manifest = tiny_stack(hub, fx, tmp_path)
    result = pull(hub, tmp_path, manifest, "--no-check")
    assert result.code == 0, result.err
    assert (tmp_path / "models" / "vae" / "qwen_image_vae.safetensors").is_file()
    assert (tmp_path / "models" / "diffusion_models" / "tiny_lumina.safetensors").is_file()


def test_a_file_contradicting_expect_is_not_placed(hub: Any, tmp_path: Path) -> None:
    fx = tmp_path / "fx"
    manifest = tiny_stack(hub, fx, tmp_path, ", expect: {family: flux-vae, vae_dims: 2}")
    result = pull(hub, tmp_path, manifest, "--no-check", "--json")
    assert result.code == 1, result.err
    assert (
        "vae/qwen_image_vae.safetensors: the downloaded file is not what the manifest promises"
        in (result.err)
    )
    assert "family: expected flux-vae, the file has wan2.1-vae" in result.err
    assert not (tmp_path / "models" / "vae" / "qwen_image_vae.safetensors").exists()


def test_check_reports_the_same_stack(hub: Any, tmp_path: Path) -> None:
    fx = tmp_path / "fx"
    manifest = tiny_stack(hub, fx, tmp_path, ", expect: {family: flux-vae}")
    env = hub.env(tmp_path, MODELCTL_MODELS_DIR=str(tmp_path / "models"))
    result = run_cli("check", str(manifest), "--json", env=env)
    assert result.code == 1
    failed = {v["id"] for v in json.loads(result.out)["verdicts"] if v["status"] == "fail"}
    assert failed == {"flux-latent-vae", "asset-matches-manifest"}


def test_offline_the_check_still_reads_the_files_on_disk(hub: Any, tmp_path: Path) -> None:
    """`pull --offline` runs the check on what is installed (and opens no socket): an
    incompatible stack already on disk is still exit 1, not a check claimed that did not run."""
    from tests.helpers.trap import ConnectionTrap

    manifest = tiny_stack(hub, tmp_path / "fx", tmp_path)
    assert pull(hub, tmp_path, manifest, "--no-check").code == 0
    with ConnectionTrap() as trap:
        env = {**hub.env(tmp_path, MODELCTL_MODELS_DIR=str(tmp_path / "models"),
                         MODELCTL_GPU_SM="89"), **trap.env()}  # fmt: skip
        result = run_cli("pull", str(manifest), "--offline", env=env)
        assert trap.connections == []
    assert result.code == 1, result.err
    assert result.err.startswith("error: tiny: the stack does not fit together"), result.err
