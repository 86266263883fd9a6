"""Doctor's GPU and `requires` verdicts from recorded NVML answers."""

from __future__ import annotations

import pytest

from modelctl.env import checks
from modelctl.env.packages import PythonEnv, TorchImport
from tests.env.records import report


def by_id(rows: list[checks.Check]) -> dict[str, checks.Check]:
    return {r.id: r for r in rows}


def test_rtx3090_int4_no_offload() -> None:
    rows = by_id(checks.svdquant_checks(report("rtx3090"), None))
    assert rows["nunchaku.precision.0"].status == "ok"
    assert "SVDQuant int4" in rows["nunchaku.precision.0"].summary
    assert rows["nunchaku.cpu_offload.0"].status == "ok"
    gpu_rows = by_id(checks.gpu_checks(report("rtx3090")))
    assert "sm 86" in gpu_rows["gpu.0"].summary and "24.0 GiB total" in gpu_rows["gpu.0"].summary


def test_rtx5090_fp4() -> None:
    row = by_id(checks.svdquant_checks(report("rtx5090"), None))["nunchaku.precision.0"]
    assert row.status == "ok" and "SVDQuant fp4" in row.summary


def test_h100_is_unsupported() -> None:
    rows = checks.svdquant_checks(report("h100"), None)
    assert len(rows) == 1  # no offload advice for a GPU that cannot run it at all
    assert rows[0].status == "warn" and "sm 90" in rows[0].summary
    assert "SVDQuant unsupported" in rows[0].summary


def test_12_gib_card_needs_cpu_offload() -> None:
    row = by_id(checks.svdquant_checks(report("rtx3060-12gb"), None))["nunchaku.cpu_offload.0"]
    assert row.status == "warn" and "12.0 GiB" in row.summary and "cpu_offload" in row.fix


def test_no_gpu_is_a_warning_not_a_failure() -> None:
    (row,) = checks.gpu_checks(report("no-gpu"))
    assert row.status == "warn" and row.summary.startswith("no NVIDIA GPU visible")
    assert checks.svdquant_checks(report("no-gpu"), None)[0].status == "skip"


def test_gpu_sm_override_without_gpu() -> None:
    (row,) = checks.svdquant_checks(report("no-gpu"), 86)
    assert row.status == "ok" and "--gpu-sm 86" in row.summary and "int4" in row.summary


def _py(**dists) -> PythonEnv:
    from modelctl.env.packages import Dist

    return PythonEnv(
        "/usr/bin/python3", "3.12.3", "cp312", "linux",
        {k: Dist(k, v) for k, v in dists.items()},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("torch", "cuda", "status"),
    [
        ("2.6.0", "12.6", "fail"),
        ("2.7.1", "12.6", "fail"),
        ("2.7.1", "12.8", "ok"),
        ("2.9.0", "13.0", "ok"),
    ],
)
def test_blackwell_needs_torch_27_and_cuda_128(torch: str, cuda: str, status: str) -> None:
    imp = TorchImport(True, version=torch, cuda=cuda)
    (row,) = checks.blackwell_checks(report("rtx5090"), _py(torch=torch), imp)
    assert row.status == status
    assert checks.blackwell_checks(report("rtx3090"), _py(torch=torch), imp) == []


def _requires(key: str, requires: dict, values: dict, sm=None, **versions) -> dict:
    rows = checks.requires_checks("stack", requires, values, report(key), sm, versions)
    return by_id(rows)


def test_min_vram() -> None:
    req = {"gpu": {"min_vram_gib": 16}}
    assert _requires("rtx3090", req, {})["stack.vram"].status == "ok"
    low = _requires("rtx3060-12gb", req, {})["stack.vram"]
    assert low.status == "fail" and "12.0 GiB" in low.summary
    assert _requires("no-gpu", req, {})["stack.vram"].status == "warn"


def test_precision_requirement_with_placeholder() -> None:
    req = {"gpu": {"precision": "{precision}"}}
    assert _requires("rtx3090", req, {"precision": "int4"})["stack.precision"].status == "ok"
    wrong = _requires("rtx3090", req, {"precision": "fp4"})["stack.precision"]
    assert wrong.status == "fail" and "int4 only" in wrong.summary and "precision=int4" in wrong.fix
    hopper = _requires("h100", req, {"precision": "int4"})["stack.precision"]
    assert hopper.status == "fail" and "sm 90" in hopper.summary
    assert _requires("no-gpu", req, {"precision": "fp4"}, sm=120)["stack.precision"].status == "ok"
    assert _requires("no-gpu", req, {"precision": "auto"})["stack.precision"].status == "skip"


def test_package_requirements() -> None:
    req = {"packages": {"nunchaku": ">=1.0.0", "comfyui": ">=0.3.60", "diffusers": "bad range"},
           "python": ">=3.10,<3.14"}  # fmt: skip
    rows = _requires(
        "rtx3090", req, {}, nunchaku="1.0.1+torch2.8", comfyui="0.3.59", python="3.12.3"
    )
    assert rows["stack.requires.nunchaku"].status == "ok"
    assert rows["stack.requires.comfyui"].status == "fail"
    assert "0.3.59 is installed" in rows["stack.requires.comfyui"].summary
    assert rows["stack.requires.diffusers"].status == "fail"
    assert "not a version range" in rows["stack.requires.diffusers"].summary
    assert rows["stack.requires.python"].status == "ok"
    missing = _requires("rtx3090", {"packages": {"nunchaku": ">=1.0"}}, {})
    assert "not installed" in missing["stack.requires.nunchaku"].summary
