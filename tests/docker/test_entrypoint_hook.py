"""`docker/entrypoint-hook.sh` under a POSIX `sh`: ensure, write the ComfyUI paths file, exec."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers.cli import REPO_ROOT, cli_env
from tests.helpers.stack import fake_stack

HOOK = REPO_ROOT / "docker" / "entrypoint-hook.sh"
SH = shutil.which("sh")
pytestmark = pytest.mark.skipif(SH is None or " " in sys.executable, reason="needs a POSIX sh")


def run_hook(env: dict[str, str], *command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [SH, str(HOOK), *command],
        env=cli_env({"MODELCTL_BIN": f"{sys.executable} -m modelctl", **env}),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    result.pid = proc.pid  # type: ignore[attr-defined]
    return result


@pytest.fixture
def setup(tmp_path: Path) -> dict:
    models = tmp_path / "models"
    fake_stack(models, tmp_path / "manifests", name="stack", n=3)
    comfy = tmp_path / "ComfyUI"
    comfy.mkdir()
    env = {
        "MODELCTL_ENSURE": "stack",
        "MODELCTL_MODELS_DIR": str(models),
        "MODELCTL_MANIFESTS": str(tmp_path / "manifests"),
        "MODELCTL_COMFYUI_PATHS": str(comfy / "extra_model_paths.yaml"),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
    }
    marker = tmp_path / "ran"
    stub = ("sh", "-c", f'echo "$$ $*" > {marker}', "stub", "--listen", "0.0.0.0")
    return {"tmp": tmp_path, "env": env, "marker": marker, "stub": stub, "comfy": comfy}


MANIFEST = """\
schema: 1
name: hooked
description: one file from the test hub
assets:
  - id: vae
    role: vae
    source: hf://org/hooked/vae.safetensors
    revision: main
    dest: vae/vae.safetensors
"""


def test_hook_ensures_writes_paths_and_execs_the_command(setup, hub):
    blob = os.urandom(256 << 10)
    hub.add_file("org/hooked", "vae.safetensors", blob)
    (setup["tmp"] / "manifests" / "hooked.yaml").write_text(MANIFEST)
    env = {**setup["env"], **hub.env(setup["tmp"]), "MODELCTL_ENSURE": "hooked stack"}
    result = run_hook(env, *setup["stub"], cwd=setup["tmp"])
    assert result.returncode == 0, result.stderr
    pid, args = setup["marker"].read_text().split(" ", 1)
    assert int(pid) == result.pid  # exec: the command replaced the hook's process
    assert args.strip() == "--listen 0.0.0.0"
    models = Path(env["MODELCTL_MODELS_DIR"])
    assert (models / "vae" / "vae.safetensors").read_bytes() == blob
    assert hub.bytes_downloaded("vae.safetensors") == len(blob)
    assert "4 assets present" in result.stdout and "1 downloaded" in result.stdout
    paths = yaml.safe_load((setup["comfy"] / "extra_model_paths.yaml").read_text())
    assert paths["modelctl"]["base_path"] == env["MODELCTL_MODELS_DIR"]
    assert paths["modelctl"]["vae"] == "vae/"
    log = [line for line in result.stderr.splitlines() if "modelctl-hook:" in line]
    assert any("ensure: hooked stack" in line for line in log)
    assert any("starting: sh -c" in line for line in log)

    hub.clear_log()  # a restart: nothing to fetch, nothing asked
    again = run_hook(env, *setup["stub"], cwd=setup["tmp"])
    assert again.returncode == 0 and hub.requests() == []
    assert "nothing to download" in again.stdout


def test_failing_ensure_stops_without_running_the_command(setup):
    env = {**setup["env"], "MODELCTL_ENSURE": "stack no-such-stack"}
    result = run_hook(env, *setup["stub"], cwd=setup["tmp"])
    assert result.returncode == 2
    assert not setup["marker"].exists()
    assert "error: no manifest named `no-such-stack`" in result.stderr
    assert "ensure failed with exit code 2; not starting the command" in result.stderr
    assert not (setup["comfy"] / "extra_model_paths.yaml").exists()


def test_offline_with_a_missing_file_stops_with_exit_1(setup):
    models = Path(setup["env"]["MODELCTL_MODELS_DIR"])
    next(models.glob("vae/*")).unlink()
    env = {**setup["env"], "MODELCTL_OFFLINE": "1"}
    result = run_hook(env, *setup["stub"], cwd=setup["tmp"])
    assert result.returncode == 1
    assert "(missing)" in result.stderr and not setup["marker"].exists()


def test_empty_ensure_still_writes_paths_and_runs(setup):
    env = {**setup["env"], "MODELCTL_ENSURE": ""}
    result = run_hook(env, *setup["stub"], cwd=setup["tmp"])
    assert result.returncode == 0, result.stderr
    assert setup["marker"].exists()
    assert "MODELCTL_ENSURE is empty; skipping ensure" in result.stderr
    assert (setup["comfy"] / "extra_model_paths.yaml").is_file()


def test_unwritable_paths_file_stops_the_container(setup):
    env = {**setup["env"], "MODELCTL_COMFYUI_PATHS": str(setup["tmp"] / "nope" / "x.yaml")}
    result = run_hook(env, *setup["stub"], cwd=setup["tmp"])
    assert result.returncode == 2
    assert not setup["marker"].exists()
    assert "error: cannot write" in result.stderr


def test_hook_is_posix_sh():
    if shutil.which("dash") is None:
        pytest.skip("dash not installed")
    subprocess.run(["dash", "-n", str(HOOK)], check=True)
    assert os.access(HOOK, os.X_OK)
