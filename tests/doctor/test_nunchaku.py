"""Doctor's `nunchaku` rows over real package probes (dist-info in a temporary site dir): the
SVDQuant engine or its PyPI namesake, its extension and wheel tags, its `+torchX.Y` tag."""

from __future__ import annotations

import sys
from pathlib import Path

from modelctl.doctor.nunchaku import nunchaku_checks
from modelctl.machine.packages import identify_nunchaku, probe_dists, probe_torch
from tests.machine.dists import fake_torch, site_env, svdquant_nunchaku, unrelated_nunchaku


def probe(site: Path, *names: str):
    return probe_dists(sys.executable, list(names) or ["nunchaku", "torch"], env=site_env(site))


def test_unrelated_pypi_nunchaku_is_the_wrong_package(tmp_path) -> None:
    unrelated_nunchaku(tmp_path, "0.16.1")
    dist = probe(tmp_path).dists["nunchaku"]
    assert dist.version == "0.16.1"
    ident = identify_nunchaku(dist)
    assert not ident.engine and not ident.version_ok
    (row,) = nunchaku_checks(probe(tmp_path), None, required=False)
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
    rows = nunchaku_checks(probe(tmp_path), None, required=True)
    assert [r.status for r in rows] == ["ok", "ok"], rows
    assert "matches torch 2.8.0" in rows[-1].summary


def test_torch_tag_mismatch_is_found(tmp_path) -> None:
    svdquant_nunchaku(tmp_path, "1.0.1+torch2.8")
    fake_torch(tmp_path, "2.9.0")
    py = probe(tmp_path)
    imp = probe_torch(sys.executable, env=site_env(tmp_path))
    assert imp.ok and imp.version == "2.9.0" and imp.cuda == "12.8" and imp.cuda_available is False
    row = next(r for r in nunchaku_checks(py, imp, required=True) if r.id == "nunchaku.torch")
    assert row.status == "fail"
    assert "built for torch 2.8" in row.summary and "torch 2.9.0 is installed" in row.summary
    assert "+torch2.9" in row.fix


def test_old_engine_below_1_0(tmp_path) -> None:
    svdquant_nunchaku(tmp_path, "0.3.2+torch2.6")
    fake_torch(tmp_path, "2.6.0")
    rows = nunchaku_checks(probe(tmp_path), None, required=False)
    assert rows[0].status == "fail" and "older than 1.0.0" in rows[0].summary


def test_extension_for_another_python(tmp_path) -> None:
    svdquant_nunchaku(
        tmp_path, "1.0.1+torch2.8", cp_tag="cp39", suffix=".cpython-39-x86_64-linux-gnu.so"
    )
    fake_torch(tmp_path, "2.8.0")
    rows = {r.id: r for r in nunchaku_checks(probe(tmp_path), None, required=False)}
    assert rows["nunchaku.extension"].status == "fail"
    assert rows["nunchaku.wheel"].status == "fail" and "cp39" in rows["nunchaku.wheel"].summary


def test_missing_nunchaku_fails_only_when_required(tmp_path) -> None:
    py = probe(tmp_path)
    assert nunchaku_checks(py, None, required=False)[0].status == "ok"
    assert nunchaku_checks(py, None, required=True)[0].status == "fail"
