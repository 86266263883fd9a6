"""Doctor's GPU rows (SVDQuant precision, cpu_offload, Blackwell builds) from recorded NVML answers."""

from __future__ import annotations

import pytest

from modelctl.doctor.gpu import blackwell_checks, gpu_checks, svdquant_checks
from modelctl.doctor.model import Check
from modelctl.machine.packages import Dist, PythonEnv, TorchImport
from tests.machine.records import report


def by_id(rows: list[Check]) -> dict[str, Check]:
    return {r.id: r for r in rows}


def test_rtx3090_int4_no_offload() -> None:
    rows = by_id(svdquant_checks(report("rtx3090"), None))
    assert rows["nunchaku.precision.0"].status == "ok"
    assert "SVDQuant int4" in rows["nunchaku.precision.0"].summary
    assert rows["nunchaku.cpu_offload.0"].status == "ok"
    gpu_rows = by_id(gpu_checks(report("rtx3090")))
    assert "sm 86" in gpu_rows["gpu.0"].summary and "24.0 GiB total" in gpu_rows["gpu.0"].summary


def test_rtx5090_fp4() -> None:
    row = by_id(svdquant_checks(report("rtx5090"), None))["nunchaku.precision.0"]
    assert row.status == "ok" and "SVDQuant fp4" in row.summary


def test_h100_is_unsupported() -> None:
    rows = svdquant_checks(report("h100"), None)
    assert len(rows) == 1  # no offload advice for a GPU that cannot run it at all
    assert rows[0].status == "warn" and "sm 90" in rows[0].summary
    assert "SVDQuant unsupported" in rows[0].summary


def test_12_gib_card_needs_cpu_offload() -> None:
    row = by_id(svdquant_checks(report("rtx3060-12gb"), None))["nunchaku.cpu_offload.0"]
    assert row.status == "warn" and "12.0 GiB" in row.summary and "cpu_offload" in row.fix


def test_no_gpu_is_a_warning_not_a_failure() -> None:
    (row,) = gpu_checks(report("no-gpu"))
    assert row.status == "warn" and row.summary.startswith("no NVIDIA GPU visible")
    assert svdquant_checks(report("no-gpu"), None)[0].status == "skip"


def test_gpu_sm_override_without_gpu() -> None:
    (row,) = svdquant_checks(report("no-gpu"), 86)
    assert row.status == "ok" and "--gpu-sm 86" in row.summary and "int4" in row.summary


def _py(**dists) -> PythonEnv:
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
    (row,) = blackwell_checks(report("rtx5090"), _py(torch=torch), imp)
    assert row.status == status
    assert blackwell_checks(report("rtx3090"), _py(torch=torch), imp) == []
