"""`--comfyui DIR`: ComfyUI-nunchaku's version rules checked against the installed nunchaku."""

from __future__ import annotations

import sys
from pathlib import Path

from modelctl.doctor.comfyui import comfyui_checks
from modelctl.doctor.model import Check
from modelctl.machine.comfyui import inspect
from modelctl.machine.packages import probe_dists
from tests.machine.dists import comfy_tree, site_env, svdquant_nunchaku, unrelated_nunchaku


def _rows(tmp_path: Path, site: Path, plugin: str = "1.0.2") -> dict[str, Check]:
    install = inspect(comfy_tree(tmp_path / "ComfyUI", plugin=plugin))
    py = probe_dists(sys.executable, ["nunchaku"], env=site_env(site))
    return {r.id: r for r in comfyui_checks(install, py)}


def test_plugin_with_the_wrong_nunchaku_package(tmp_path) -> None:
    unrelated_nunchaku(tmp_path / "site", "0.16.1")
    rows = _rows(tmp_path, tmp_path / "site")
    row = rows["comfyui-nunchaku.backend"]
    assert row.status == "fail" and "not the SVDQuant engine" in row.summary


def test_plugin_with_a_matching_backend(tmp_path) -> None:
    svdquant_nunchaku(tmp_path / "site", "1.0.1+torch2.8")
    rows = _rows(tmp_path, tmp_path / "site")
    assert rows["comfyui"].status == "ok" and "0.3.60" in rows["comfyui"].summary
    assert rows["comfyui-nunchaku.backend"].status == "ok"


def test_plugin_with_an_old_backend(tmp_path) -> None:
    svdquant_nunchaku(tmp_path / "site", "0.3.2+torch2.6")
    row = _rows(tmp_path, tmp_path / "site")["comfyui-nunchaku.backend"]
    assert row.status == "fail" and ">=1.0.0" in row.summary


def test_plugin_without_known_rules(tmp_path) -> None:
    (tmp_path / "site").mkdir()
    assert _rows(tmp_path, tmp_path / "site", plugin="0.2.0")["comfyui-nunchaku"].status == "warn"
