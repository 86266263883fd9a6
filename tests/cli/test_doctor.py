"""`modelctl doctor` end to end: the real CLI, GPUs from recorded NVML answers, the Hub from the
loopback test hub, packages from fake site dirs, a real models dir.

`--offline` runs never ask the Hub, so they go through the CLI's entry function in-process
(`run_main`; doctor's own probes still run in child processes, which inherit the run's environment
and PYTHONPATH); runs that ask the Hub start a subprocess (`run_cli`)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from modelctl.units import GIB
from tests.helpers.cli import REPO_ROOT, run_cli, run_main
from tests.helpers.manifests import nunchaku_manifest
from tests.machine.dists import fake_torch, svdquant_nunchaku, unrelated_nunchaku
from tests.machine.records import write_record

TOKEN = "hf_doctorTestToken0123456789"


def doctor_env(tmp_path: Path, record: str, **extra: str) -> dict[str, str]:
    """An environment for the CLI: recorded GPU, a private HF_HOME, no token, no override."""
    hf_home = tmp_path / "hf_home"
    hf_home.mkdir(exist_ok=True)
    env = {
        "MODELCTL_NVML_RECORD": str(write_record(tmp_path, record)),
        "MODELCTL_MODELS_DIR": str(tmp_path / "models"),
        "MODELCTL_GPU_SM": "",
        "HF_HOME": str(hf_home),
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_TOKEN": "",
        "HF_HUB_OFFLINE": "0",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    env.update(extra)
    return env


def doctor(tmp_path: Path, record: str, *args: str, **extra: str):
    run = run_main if "--offline" in args else run_cli
    result = run("doctor", *args, env=doctor_env(tmp_path, record, **extra), cwd=tmp_path)
    assert "Traceback" not in result.err, result.err
    return result


def doctor_json(tmp_path: Path, record: str, *args: str, **extra: str) -> tuple[int, dict]:
    result = doctor(tmp_path, record, "--json", *args, **extra)
    return result.code, json.loads(result.out)


def site_path(tmp_path: Path) -> str:
    """PYTHONPATH for doctor: the repository, then the fake site dir `tmp_path/site`."""
    return os.pathsep.join([str(REPO_ROOT), str(tmp_path / "site")])


def rows(data: dict) -> dict[str, dict]:
    return {c["id"]: c for c in data["checks"]}


def test_h100_reports_sm90_vram_and_svdquant_unsupported(tmp_path) -> None:
    code, data = doctor_json(tmp_path, "h100", "--offline")
    (card,) = data["gpu"]["gpus"]
    assert card["name"] == "NVIDIA H100 80GB HBM3" and card["sm"] == 90
    assert card["compute_capability"] == "9.0"
    assert card["vram_total_bytes"] == 81559 * 1024**2 and card["vram_total_gib"] == 79.65
    assert card["svdquant"] == "unsupported"
    row = rows(data)["nunchaku.precision.0"]
    assert row["status"] == "warn" and "SVDQuant unsupported" in row["summary"]
    assert code == 0 and data["status"] == "warn"


def test_rtx3090_human_output(tmp_path) -> None:
    result = doctor(tmp_path, "rtx3090", "--offline")
    assert result.code == 0, result.err
    assert "NVIDIA GeForce RTX 3090, compute capability 8.6 (sm 86)" in result.out
    assert "Nunchaku SVDQuant int4" in result.out
    assert "cpu_offload not needed" in result.out
    assert result.out.rstrip().splitlines()[-1].startswith("doctor: ")


def test_12_gib_card_gets_offload_advice(tmp_path) -> None:
    _, data = doctor_json(tmp_path, "rtx3060-12gb", "--offline")
    assert data["gpu"]["gpus"][0]["cpu_offload"] is True
    assert rows(data)["nunchaku.cpu_offload.0"]["status"] == "warn"


def test_no_gpu_is_clear_and_not_a_failure(tmp_path) -> None:
    code, data = doctor_json(tmp_path, "no-gpu", "--offline")
    assert code == 0
    assert data["gpu"]["visible"] is False and data["gpu"]["gpus"] == []
    assert rows(data)["gpu"]["summary"].startswith("no NVIDIA GPU visible")


def test_models_dir_facts(tmp_path) -> None:
    (tmp_path / "models").mkdir()
    _, data = doctor_json(tmp_path, "rtx3090", "--offline")
    facts = data["models_dir"]
    assert facts["exists"] and facts["writable"] and facts["locks"] == "works"
    assert facts["free_bytes"] > 0 and facts["fstype"]
    assert list((tmp_path / "models").iterdir()) == []


def test_nunchaku_spec_on_h100_fails(tmp_path) -> None:
    spec = str(nunchaku_manifest(tmp_path / "m"))
    code, data = doctor_json(tmp_path, "h100", "--offline", spec)
    assert code == 1 and data["status"] == "fail"
    row = rows(data)["nunchaku-test.precision"]
    assert row["status"] == "fail" and "sm 90" in row["summary"]
    assert rows(data)["nunchaku-test.requires.nunchaku"]["status"] == "fail"


def test_nunchaku_spec_without_gpu_asks_for_gpu_sm(tmp_path) -> None:
    spec = str(nunchaku_manifest(tmp_path / "m"))
    code, data = doctor_json(tmp_path, "no-gpu", "--offline", spec)
    row = rows(data)["nunchaku-test.precision"]
    assert code == 1 and "no NVIDIA GPU is visible" in row["summary"] and "--gpu-sm" in row["fix"]


def test_nunchaku_spec_resolves_auto_and_counts_space(tmp_path) -> None:
    svdquant_nunchaku(tmp_path / "site", "1.0.1+torch2.8")
    fake_torch(tmp_path / "site", "2.8.0", available=True)
    spec = str(nunchaku_manifest(tmp_path / "m", size=3 * GIB, vram=8))
    code, data = doctor_json(tmp_path, "rtx3090", "--offline", spec, PYTHONPATH=site_path(tmp_path))
    checks = rows(data)
    assert data["specs"][0]["variants"]["precision"] == "int4"
    assert checks["nunchaku-test.precision"]["status"] == "ok"
    assert checks["nunchaku-test.vram"]["status"] == "ok"
    assert checks["nunchaku-test.requires.nunchaku"]["status"] == "ok"
    assert checks["nunchaku.torch"]["status"] == "ok"
    assert data["models_dir"]["needed_bytes"] == 3 * GIB
    assert checks["models_dir.space"]["status"] == "ok"
    assert data["python"]["torch"]["version"] == "2.8.0"
    assert code == 0, [c for c in data["checks"] if c["status"] == "fail"]


def test_gpu_sm_option_and_environment(tmp_path) -> None:
    spec = str(nunchaku_manifest(tmp_path / "m"))
    _, data = doctor_json(tmp_path, "no-gpu", "--offline", "--gpu-sm", "12.0", spec)
    assert data["specs"][0]["variants"]["precision"] == "fp4"
    assert data["gpu"]["svdquant_override"] == "fp4"
    _, data = doctor_json(tmp_path, "no-gpu", "--offline", spec, MODELCTL_GPU_SM="86")
    assert data["specs"][0]["variants"]["precision"] == "int4"


def test_bad_gpu_sm_is_exit_2(tmp_path) -> None:
    result = doctor(tmp_path, "no-gpu", "--offline", "--gpu-sm", "hopper")
    assert result.code == 2
    assert result.err.startswith("error: `hopper` is not a compute capability")
    assert "  hint: " in result.err


def test_unknown_spec_is_exit_2(tmp_path) -> None:
    result = doctor(tmp_path, "no-gpu", "--offline", "no-such-stack")
    assert result.code == 2 and result.err.startswith("error: ")


def test_wrong_nunchaku_package_fails(tmp_path) -> None:
    unrelated_nunchaku(tmp_path / "site", "0.16.1")
    code, data = doctor_json(tmp_path, "rtx3090", "--offline", PYTHONPATH=site_path(tmp_path))
    assert code == 1
    assert data["nunchaku"] == {
        "installed": "0.16.1",
        "svdquant_engine": False,
        "torch_tag": None,
        "location": str(tmp_path / "site"),
    }
    assert "not the SVDQuant engine" in rows(data)["nunchaku.package"]["summary"]


def test_torch_tag_mismatch_fails(tmp_path) -> None:
    svdquant_nunchaku(tmp_path / "site", "1.0.1+torch2.8")
    fake_torch(tmp_path / "site", "2.9.0")
    code, data = doctor_json(tmp_path, "rtx3090", "--offline", PYTHONPATH=site_path(tmp_path))
    row = rows(data)["nunchaku.torch"]
    assert code == 1 and row["status"] == "fail" and "torch 2.9.0 is installed" in row["summary"]


def test_save_nvml_round_trips(tmp_path) -> None:
    saved = tmp_path / "saved.json"
    _, first = doctor_json(tmp_path, "rtx5090", "--offline", "--save-nvml", str(saved))
    _, second = doctor_json(tmp_path, "no-gpu", "--offline", MODELCTL_NVML_RECORD=str(saved))
    assert second["gpu"]["gpus"] == first["gpu"]["gpus"]


def test_hub_anonymous(tmp_path, hub) -> None:
    code, data = doctor_json(tmp_path, "rtx3090", **hub.env(tmp_path))
    checks = rows(data)
    assert (
        checks["hub.endpoint"]["status"] == "ok" and "HTTP 401" in checks["hub.endpoint"]["summary"]
    )
    assert data["hub"]["token_present"] is False and data["hub"]["reachable"] is True
    assert code == 0


def test_hub_whoami_never_prints_the_token(tmp_path, hub) -> None:
    hub.add_token(TOKEN, user="alice")
    env = hub.env(tmp_path, TOKEN)
    code, data = doctor_json(tmp_path, "rtx3090", **env)
    assert data["hub"]["account"] == "alice" and data["hub"]["token_source"] == "HF_TOKEN"
    assert "account alice" in rows(data)["hub.token"]["summary"]
    human = doctor(tmp_path, "rtx3090", **env)
    for text in (json.dumps(data), human.out, human.err):
        assert TOKEN not in text and "hf_doctor" not in text
    assert code == 0


def test_hub_rejects_token(tmp_path, hub) -> None:
    code, data = doctor_json(tmp_path, "rtx3090", **hub.env(tmp_path, TOKEN))
    assert code == 1 and rows(data)["hub.token"]["status"] == "fail"
    assert "rejects the token" in rows(data)["hub.token"]["summary"]


def test_hub_unreachable(tmp_path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, data = doctor_json(tmp_path, "rtx3090", HF_ENDPOINT=f"http://127.0.0.1:{port}")
    assert code == 1 and rows(data)["hub.endpoint"]["status"] == "fail"
    assert data["hub"]["reachable"] is False


def test_offline_skips_the_hub(tmp_path) -> None:
    code, data = doctor_json(tmp_path, "rtx3090", "--offline", HF_TOKEN=TOKEN)
    assert rows(data)["hub.endpoint"]["status"] == "skip"
    assert data["hub"]["token_present"] is True and data["hub"]["checked"] is False
    assert code == 0


@pytest.mark.parametrize("key", ["rtx5090", "no-module"])
def test_every_check_has_a_known_status(tmp_path, key: str) -> None:
    _, data = doctor_json(tmp_path, key, "--offline")
    for row in data["checks"]:
        assert row["status"] in ("ok", "warn", "fail", "skip")
        assert row["status"] in ("ok", "skip") or row["fix"], row
