"""Offline means no socket: `pull --offline` (and HF_HUB_OFFLINE) with the compatibility check
enabled, and `check` / `inspect` of remote files under HF_HUB_OFFLINE.

The files are first pulled from the loopback test hub; then every connection the CLI could make
(HF_ENDPOINT, and every proxy variable, so any host at all) is pointed at a `ConnectionTrap` that
counts accepts. With the files present the offline pull succeeds with zero connections; with one
missing it is one clear `error:` line naming it, still with zero connections (the check used to
read the missing file's header over the network, with the token, before the offline refusal).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.compat.fixtures import build
from tests.helpers.cli import Result, run_cli
from tests.helpers.hub import TestHub
from tests.helpers.trap import ConnectionTrap

REPO = "org/models"
TOKEN = "hf_" + secrets.token_hex(16)
VAE, TE = "vae/ae.safetensors", "text_encoders/qwen_3_4b.safetensors"


def manifest(tmp: Path, *dests: str) -> Path:
    lines = ["schema: 1", "name: t", "description: offline test", "assets:"]
    for i, dest in enumerate(dests):
        role = "vae" if dest.startswith("vae/") else "text_encoder"
        lines += [f"  - id: a{i}", f"    role: {role}", f"    source: hf://{REPO}/{dest}",
                  f"    dest: {dest}"]  # fmt: skip
    path = tmp / "stack.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def pull(tmp: Path, man: Path, env: dict[str, str], *extra: str) -> Result:
    r = run_cli("pull", str(man), "--models-dir", str(tmp / "models"), *extra, env=env)
    assert TOKEN not in r.out + r.err
    assert "Traceback" not in r.err
    return r


@pytest.fixture
def installed(hub: TestHub, tmp_path: Path) -> Path:
    """The VAE pulled (check enabled) from the hub, which then stops: a manifest path."""
    hub.add_token(TOKEN)
    hub.add_file(REPO, VAE, build(tmp_path, "ae.safetensors").read_bytes())
    hub.add_file(REPO, TE, build(tmp_path, "qwen_3_4b.safetensors").read_bytes())
    man = manifest(tmp_path, VAE)
    r = pull(tmp_path, man, hub.env(tmp_path, token=TOKEN))
    assert r.code == 0, r.err
    assert (tmp_path / "models" / VAE).is_file()
    return man


def offline_env(hub: TestHub, tmp: Path, trap: ConnectionTrap, **extra: str) -> dict[str, str]:
    return {**hub.env(tmp, token=TOKEN), **trap.env(), **extra}


@pytest.mark.parametrize(
    ("args", "extra"), [(["--offline"], {}), ([], {"HF_HUB_OFFLINE": "1"})], ids=["flag", "env"]
)
def test_offline_pull_of_present_files_opens_no_socket(
    hub: TestHub, tmp_path: Path, installed: Path, args: list[str], extra: dict[str, str]
) -> None:
    with ConnectionTrap() as trap:
        r = pull(tmp_path, installed, offline_env(hub, tmp_path, trap, **extra), *args, "--json")
        assert trap.connections == []
    assert r.code == 0, r.err
    summary = json.loads(r.out.splitlines()[-1])
    assert [(i["dest"], i["state"]) for i in summary["items"]] == [(VAE, "present")]


@pytest.mark.parametrize("check", [[], ["--no-check"]], ids=["check", "no-check"])
@pytest.mark.parametrize(
    ("args", "extra"), [(["--offline"], {}), ([], {"HF_HUB_OFFLINE": "1"})], ids=["flag", "env"]
)
def test_offline_pull_of_a_missing_file_is_one_error_and_opens_no_socket(
    hub: TestHub,
    tmp_path: Path,
    installed: Path,
    check: list[str],
    args: list[str],
    extra: dict[str, str],
) -> None:
    both = manifest(tmp_path, VAE, TE)
    with ConnectionTrap() as trap:
        r = pull(tmp_path, both, offline_env(hub, tmp_path, trap, **extra), *args, *check)
        assert trap.connections == []
    assert r.code == 3, r.err
    lines = r.err.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert [lines[i] for i in errors] == [
        f"error: offline, and 1 asset(s) are not installed: {TE} (missing)"
    ], r.err
    assert all(line.startswith("  hint: ") for line in lines[errors[0] + 1 :]), r.err
    assert not (tmp_path / "models" / TE).exists()


@pytest.mark.parametrize(
    "args",
    [["inspect", "https://cdn.example.com/m/a.gguf"], ["check", "https://cdn.example.com/a.gguf"],
     ["inspect", f"hf://{REPO}/{VAE}"], ["check", "MANIFEST"]],
    ids=["inspect-https", "check-https", "inspect-hf", "check-manifest"],
)  # fmt: skip
def test_check_and_inspect_under_hf_hub_offline_open_no_socket(
    tmp_path: Path, args: list[str]
) -> None:
    man = tmp_path / "https.yaml"
    man.write_text(
        "schema: 1\nname: https\ndescription: d\nassets:\n  - id: a\n    role: vae\n"
        f"    source: https://cdn.example.com/a.safetensors\n    dest: {VAE}\n"
        f"    sha256: {'a' * 64}\n"
    )
    args = [str(man) if a == "MANIFEST" else a for a in args]
    if args[0] == "check" and args[1] == str(man):
        args += ["--models-dir", str(tmp_path / "models")]
    with ConnectionTrap() as trap:
        r = run_cli(*args, env={**trap.env(), "HF_HUB_OFFLINE": "1", "HF_TOKEN": TOKEN,
                                "HF_HOME": str(tmp_path / "hf")})  # fmt: skip
        assert trap.connections == []
    assert r.code == 3, r.err
    lines = r.err.strip().splitlines()
    assert lines[0].startswith("error: HF_HUB_OFFLINE is set: cannot "), r.err
    assert all(line.startswith("  hint: ") for line in lines[1:]), r.err
