"""Doctor's torch rows over a real torch probe (a fake torch in a temporary site dir): import
failures, CPU-only builds next to a GPU, a CUDA build newer than the driver."""

from __future__ import annotations

import sys
from pathlib import Path

from modelctl.doctor.python import torch_checks
from modelctl.machine import gpu
from modelctl.machine.packages import probe_dists, probe_torch
from tests.machine.dists import fake_torch, site_env
from tests.machine.records import RECORDS, report


def probe(site: Path, *names: str):
    return probe_dists(sys.executable, list(names) or ["nunchaku", "torch"], env=site_env(site))


def test_torch_import_failure_is_a_finding(tmp_path) -> None:
    fake_torch(
        tmp_path,
        "2.9.0",
        body="raise ImportError('libcudart.so.12: cannot open shared object file')",
    )
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    assert not imp.ok and "libcudart.so.12" in imp.error
    rows = torch_checks(probe(tmp_path), imp, report("rtx3090"))
    assert rows[0].status == "fail" and "2.9.0 is installed but" in rows[0].summary


def test_cpu_only_torch_with_a_gpu(tmp_path) -> None:
    fake_torch(tmp_path, "2.9.0", cuda=None)
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    rows = torch_checks(probe(tmp_path), imp, report("rtx3090"))
    assert [r.status for r in rows] == ["ok", "fail"] and "CPU-only" in rows[1].summary


def test_torch_cuda_newer_than_driver(tmp_path) -> None:
    fake_torch(tmp_path, "2.9.0", cuda="13.0")
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    old = dict(RECORDS["rtx3090"], cuda_driver_version=12040, driver_version="550.54")
    rows = {r.id: r for r in torch_checks(probe(tmp_path), imp, gpu.parse_record(old))}
    assert (
        rows["torch.driver"].status == "fail"
        and "CUDA 12.4 at most" in rows["torch.driver"].summary
    )
