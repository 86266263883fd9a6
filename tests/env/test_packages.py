"""Package probes against real dist-info in a temporary site dir, read by a child Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelctl.env import checks, gpu
from modelctl.env.packages import identify_nunchaku, major_minor, probe_dists, probe_torch
from modelctl.errors import BadInput
from tests.env.dists import fake_torch, site_env, svdquant_nunchaku, unrelated_nunchaku
from tests.env.records import RECORDS, report


def probe(site: Path, *names: str):
    return probe_dists(sys.executable, list(names) or ["nunchaku", "torch"], env=site_env(site))


def test_reports_the_interpreter(tmp_path) -> None:
    py = probe(tmp_path, "nunchaku")
    assert py.executable and py.version.startswith(f"{sys.version_info.major}.")
    assert py.cp_tag == f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert py.dists == {"nunchaku": None}


def test_unrelated_pypi_nunchaku_is_the_wrong_package(tmp_path) -> None:
    unrelated_nunchaku(tmp_path, "0.16.1")
    dist = probe(tmp_path).dists["nunchaku"]
    assert dist.version == "0.16.1"
    ident = identify_nunchaku(dist)
    assert not ident.engine and not ident.version_ok
    (row,) = checks.nunchaku_checks(probe(tmp_path), None, required=False)
    assert row.status == "fail"
    assert "not the SVDQuant engine" in row.summary and "unrelated" in row.summary
    assert row.fix.startswith("pip uninstall nunchaku")


def test_svdquant_engine_is_recognised(tmp_path) -> None:
    svdquant_nunchaku(tmp_path, "1.0.1+torch2.8")
    fake_torch(tmp_path, "2.8.0")
    dist = probe(tmp_path).dists["nunchaku"]
    ident = identify_nunchaku(dist)
    assert ident.engine and ident.version_ok and ident.torch_tag == "2.8"
    assert ident.extension["exists"] and ident.extension["abi_ok"]
    rows = checks.nunchaku_checks(probe(tmp_path), None, required=True)
    assert [r.status for r in rows] == ["ok", "ok"], rows
    assert "matches torch 2.8.0" in rows[-1].summary


def test_torch_tag_mismatch_is_found(tmp_path) -> None:
    svdquant_nunchaku(tmp_path, "1.0.1+torch2.8")
    fake_torch(tmp_path, "2.9.0")
    py = probe(tmp_path)
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    assert imp.ok and imp.version == "2.9.0" and imp.cuda == "12.8" and imp.cuda_available is False
    row = next(
        r for r in checks.nunchaku_checks(py, imp, required=True) if r.id == "nunchaku.torch"
    )
    assert row.status == "fail"
    assert "built for torch 2.8" in row.summary and "torch 2.9.0 is installed" in row.summary
    assert "+torch2.9" in row.fix


def test_newer_local_tag_with_cuda_prefix(tmp_path) -> None:
    svdquant_nunchaku(tmp_path, "1.3.0.dev20260213+cu13.0torch2.10")
    assert identify_nunchaku(probe(tmp_path).dists["nunchaku"]).torch_tag == "2.10"


def test_old_engine_below_1_0(tmp_path) -> None:
    svdquant_nunchaku(tmp_path, "0.3.2+torch2.6")
    fake_torch(tmp_path, "2.6.0")
    rows = checks.nunchaku_checks(probe(tmp_path), None, required=False)
    assert rows[0].status == "fail" and "older than 1.0.0" in rows[0].summary


def test_extension_for_another_python(tmp_path) -> None:
    svdquant_nunchaku(
        tmp_path, "1.0.1+torch2.8", cp_tag="cp39", suffix=".cpython-39-x86_64-linux-gnu.so"
    )
    fake_torch(tmp_path, "2.8.0")
    rows = {r.id: r for r in checks.nunchaku_checks(probe(tmp_path), None, required=False)}
    assert rows["nunchaku.extension"].status == "fail"
    assert rows["nunchaku.wheel"].status == "fail" and "cp39" in rows["nunchaku.wheel"].summary


def test_missing_nunchaku_fails_only_when_required(tmp_path) -> None:
    py = probe(tmp_path)
    assert checks.nunchaku_checks(py, None, required=False)[0].status == "ok"
    assert checks.nunchaku_checks(py, None, required=True)[0].status == "fail"


def test_torch_import_failure_is_a_finding(tmp_path) -> None:
    fake_torch(
        tmp_path,
        "2.9.0",
        body="raise ImportError('libcudart.so.12: cannot open shared object file')",
    )
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    assert not imp.ok and "libcudart.so.12" in imp.error
    rows = checks.torch_checks(probe(tmp_path), imp, report("rtx3090"))
    assert rows[0].status == "fail" and "2.9.0 is installed but" in rows[0].summary


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_torch_import_crash_does_not_kill_doctor(tmp_path) -> None:
    fake_torch(tmp_path, body="import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    assert not imp.ok and "signal 11" in imp.error


def test_torch_import_hang_times_out(tmp_path) -> None:
    fake_torch(tmp_path, body="import time\ntime.sleep(60)")
    imp = probe_torch(sys.executable, env=site_env(tmp_path), timeout=1)
    assert not imp.ok and "did not finish" in imp.error


def test_cpu_only_torch_with_a_gpu(tmp_path) -> None:
    fake_torch(tmp_path, "2.9.0", cuda=None)
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    rows = checks.torch_checks(probe(tmp_path), imp, report("rtx3090"))
    assert [r.status for r in rows] == ["ok", "fail"] and "CPU-only" in rows[1].summary


def test_torch_cuda_newer_than_driver(tmp_path) -> None:
    fake_torch(tmp_path, "2.9.0", cuda="13.0")
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    old = dict(RECORDS["rtx3090"], cuda_driver_version=12040, driver_version="550.54")
    rows = {r.id: r for r in checks.torch_checks(probe(tmp_path), imp, gpu.parse_record(old))}
    assert (
        rows["torch.driver"].status == "fail"
        and "CUDA 12.4 at most" in rows["torch.driver"].summary
    )


def test_bad_interpreter_is_bad_input(tmp_path) -> None:
    with pytest.raises(BadInput, match="cannot run the Python interpreter"):
        probe_dists(str(tmp_path / "no-python"), ["torch"])


def test_major_minor() -> None:
    assert major_minor("2.9.0+cu128") == "2.9"
    assert major_minor("2.10.1") == "2.10"
    assert major_minor(None) is None and major_minor("x") is None
