"""Package probes against real dist-info in a temporary site dir, read by a child Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelctl.errors import BadInput
from modelctl.machine.packages import identify_nunchaku, major_minor, probe_dists, probe_torch
from tests.machine.dists import fake_torch, site_env, svdquant_nunchaku


def probe(site: Path, *names: str):
    return probe_dists(sys.executable, list(names) or ["nunchaku", "torch"], env=site_env(site))


def test_reports_the_interpreter(tmp_path) -> None:
    py = probe(tmp_path, "nunchaku")
    assert py.executable and py.version.startswith(f"{sys.version_info.major}.")
    assert py.cp_tag == f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert py.dists == {"nunchaku": None}


def test_newer_local_tag_with_cuda_prefix(tmp_path) -> None:
    svdquant_nunchaku(tmp_path, "1.3.0.dev20260213+cu13.0torch2.10")
    assert identify_nunchaku(probe(tmp_path).dists["nunchaku"]).torch_tag == "2.10"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_torch_import_crash_does_not_kill_doctor(tmp_path) -> None:
    fake_torch(tmp_path, body="import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    assert not imp.ok and "signal 11" in imp.error


def test_torch_import_hang_times_out(tmp_path) -> None:
    fake_torch(tmp_path, body="import time\ntime.sleep(60)")
    imp = probe_torch(sys.executable, env=site_env(tmp_path), timeout=1)
    assert not imp.ok and "did not finish" in imp.error


def test_bad_interpreter_is_bad_input(tmp_path) -> None:
    with pytest.raises(BadInput, match="cannot run the Python interpreter"):
        probe_dists(str(tmp_path / "no-python"), ["torch"])


def test_major_minor() -> None:
    assert major_minor("2.9.0+cu128") == "2.9"
    assert major_minor("2.10.1") == "2.10"
    assert major_minor(None) is None and major_minor("x") is None
