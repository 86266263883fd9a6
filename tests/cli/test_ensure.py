"""`modelctl ensure`: the stdlib fast path, its cache, offline mode, env configuration, and the real
pull path against the test hub (concurrent processes, a killed one, a rerun with no request)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import cli_env, run_cli
from tests.helpers.stack import fake_stack, write_manifest

HEAVY = ("huggingface_hub", "gguf", "numpy", "rich", "typer", "yaml", "filelock", "safetensors")
PROBE = """
import json, sys
from modelctl.cli.main import main
code = main(sys.argv[1:])
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.stderr.write("PROBE " + json.dumps({{"code": code, "heavy": heavy}}) + "\\n")
"""


def probe(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[dict, str, str]:
    """Run `modelctl ARGS` in-process of a fresh interpreter and report which heavy modules loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        env=cli_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [x for x in proc.stderr.splitlines() if x.startswith("PROBE ")][-1]
    return json.loads(line[6:]), proc.stdout, proc.stderr


@pytest.fixture
def stack(tmp_path: Path) -> dict:
    models = tmp_path / "models"
    manifest = fake_stack(models, tmp_path / "manifests", name="stack", n=6)
    env = {
        "MODELCTL_MODELS_DIR": str(models),
        "MODELCTL_MANIFESTS": str(tmp_path / "manifests"),
        "HF_HUB_OFFLINE": "1",  # nothing here may reach a network
        "HF_HOME": str(tmp_path / "hf_home"),
    }
    return {"models": models, "manifest": manifest, "env": env, "tmp": tmp_path}


def summary(out: str) -> dict:
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return next(e for e in events if e.get("event") == "summary")


# ----------------------------------------------------------------------------- fast path


def test_installed_stack_first_run_writes_cache_then_fast_path_imports_nothing_heavy(stack):
    first = run_cli("ensure", "stack", "--json", env=stack["env"])
    assert first.code == 0, first.err
    assert summary(first.out)["fast"] is False
    assert (stack["models"] / ".modelctl" / "ensure-cache.json").is_file()

    result, out, err = probe("ensure", "stack", env=stack["env"])
    assert result == {"code": 0, "heavy": []}, err
    assert len(out.splitlines()) == 1
    assert "6 assets present" in out and "nothing to download" in out


def test_fast_path_reads_everything_from_the_environment(stack):
    env = {**stack["env"], "MODELCTL_ENSURE": "stack stack:quant=Q4_K_M"}
    assert run_cli("ensure", env=env).code == 0
    result, out, _ = probe("ensure", "--json", env=env)
    assert result["code"] == 0 and result["heavy"] == []
    event = summary(out)
    assert event["status"] == "ok" and event["fast"] is True and event["assets"] == 6
    assert event["specs"] == ["stack:quant=Q4_K_M", "stack:quant=Q4_K_M"]


def test_changed_manifest_is_not_trusted_from_the_cache(stack):
    assert run_cli("ensure", "stack", env=stack["env"]).code == 0
    text = stack["manifest"].read_text().replace("a test stack", "an edited stack")
    stack["manifest"].write_text(text)
    result, _, err = probe("ensure", "stack", env=stack["env"])
    assert result["code"] == 0, err
    assert "yaml" in result["heavy"]  # the slow path re-read the manifest
    result, _, _ = probe("ensure", "stack", env=stack["env"])
    assert result["heavy"] == []  # ... and re-recorded it


def test_new_manifest_that_overrides_the_name_is_noticed(stack, tmp_path):
    assert run_cli("ensure", "stack", env=stack["env"]).code == 0
    override = tmp_path / "override"
    override.mkdir()
    write_manifest(override / "stack.yaml", "stack", [("x", "vae", "vae/other.safetensors")])
    env = {**stack["env"], "MODELCTL_MANIFESTS": f"{stack['env']['MODELCTL_MANIFESTS']}:{override}"}
    assert run_cli("ensure", "stack", env=env).code == 1  # other key: slow path, offline, missing
    assert run_cli("ensure", "stack", env=stack["env"]).code == 0
    # a manifest appearing in a watched folder after the cache was written
    (Path(stack["env"]["MODELCTL_MANIFESTS"]) / "stack.lock.yaml").write_text("# lock\n")
    result, _, _ = probe("ensure", "stack", env=stack["env"])
    assert result["code"] == 0 and "yaml" in result["heavy"]


def test_modified_file_is_not_trusted_and_offline_names_it(stack):
    assert run_cli("ensure", "stack", env=stack["env"]).code == 0
    vae = stack["models"] / "vae" / "stack2-vae.safetensors"
    os.utime(vae, ns=(time.time_ns(), time.time_ns() - 10**9))
    result = run_cli("ensure", "stack", "--offline", env=stack["env"])
    assert result.code == 1
    assert result.err.startswith("error: offline, and 1 asset(s) are not installed")
    assert "a2 -> vae/stack2-vae.safetensors (modified)" in result.err
    assert "Traceback" not in result.err


def test_deleted_file_falls_back_to_the_full_command(stack):
    assert run_cli("ensure", "stack", env=stack["env"]).code == 0
    (stack["models"] / "loras" / "stack3-lora.safetensors").unlink()
    result = run_cli("ensure", "stack", env={**stack["env"], "MODELCTL_OFFLINE": "1"})
    assert result.code == 1 and "stack3-lora.safetensors (missing)" in result.err


def test_corrupt_cache_is_ignored(stack):
    assert run_cli("ensure", "stack", env=stack["env"]).code == 0
    (stack["models"] / ".modelctl" / "ensure-cache.json").write_text("{not json")
    result = run_cli("ensure", "stack", "--json", env=stack["env"])
    assert result.code == 0 and summary(result.out)["fast"] is False


def test_relative_manifest_path_is_keyed_by_working_directory(stack, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    env = {**stack["env"], "MODELCTL_MANIFESTS": ""}
    assert run_cli("ensure", "stack.yaml", env=env, cwd=stack["manifest"].parent).code == 0
    result = run_cli("ensure", "stack.yaml", env=env, cwd=other)
    assert result.code == 2 and "does not exist" in result.err


# ----------------------------------------------------------------------------- bad input


def test_no_spec_is_bad_input(stack):
    result = run_cli("ensure", env={**stack["env"], "MODELCTL_ENSURE": " "})
    assert result.code == 2
    assert result.err.splitlines()[0] == "error: no SPEC to ensure"


def test_unknown_stack_is_bad_input(stack):
    result = run_cli("ensure", "nope", env=stack["env"])
    assert result.code == 2 and "no manifest named `nope`" in result.err


def test_bad_timeout_is_a_usage_error(stack):
    result = run_cli("ensure", "stack", "--timeout", "soon", env=stack["env"])
    assert result.code == 2 and result.err.startswith("error:")
