"""Lock files in use: `pull` and `ensure` pin assets by NAME.lock.yaml; `--locked` refuses drift."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.helpers.cli import run_cli, run_main
from tests.helpers.hub import TestHub

REPO = "org/locked"
OLD = b"\x00" * 4096 + b"old weights"
NEW = b"\x00" * 4096 + b"new weights, pushed after the lock"


def write_manifest(path: Path, revision: str = "main") -> Path:
    path.write_text(
        "schema: 1\nname: pinned\nassets:\n"
        "  - id: lora\n    role: lora\n"
        f"    source: hf://{REPO}/style.safetensors\n    revision: {revision}\n"
        "    dest: loras/style.safetensors\n"
    )
    return path


def test_pull_uses_the_lock_and_locked_refuses_drift(hub: TestHub, tmp_path: Path) -> None:
    hub.add_file(REPO, "style.safetensors", OLD)
    man = write_manifest(tmp_path / "pinned.yaml")
    env = hub.env(tmp_path)
    models = ["--models-dir", str(tmp_path / "models")]
    locked = run_cli("lock", str(man), env=env)
    assert locked.code == 0, locked.err
    assert (tmp_path / "pinned.lock.yaml").is_file()

    hub.add_file(REPO, "style.safetensors", NEW)  # main moves on after the lock
    pulled = run_cli("pull", str(man), "--no-check", "--locked", *models, env=env)
    assert pulled.code == 0, pulled.err
    placed = (tmp_path / "models" / "loras" / "style.safetensors").read_bytes()
    assert hashlib.sha256(placed).digest() == hashlib.sha256(OLD).digest()

    write_manifest(man, revision="v2")  # the manifest drifts from its lock
    drift = run_cli("pull", str(man), "--no-check", "--locked", *models, env=env)
    assert drift.code == 1
    assert drift.err.startswith("error: --locked: ")
    assert "modelctl lock pinned" in drift.err


def test_ensure_locked_needs_a_lock(hub: TestHub, tmp_path: Path) -> None:
    hub.add_file(REPO, "style.safetensors", OLD)
    man = write_manifest(tmp_path / "pinned.yaml")
    env = {**hub.env(tmp_path), "MODELCTL_MODELS_DIR": str(tmp_path / "models")}
    result = run_main("ensure", str(man), "--locked", env=env)  # refused before any request
    assert result.code == 1
    assert "has no lock file" in result.err
    assert hub.requests() == []
