"""`--comfyui DIR`: ComfyUI and ComfyUI-nunchaku versions read from files, checked against rules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelctl.env import checks
from modelctl.env.comfyui import inspect
from modelctl.env.packages import probe_dists
from modelctl.errors import BadInput
from tests.env.dists import site_env, svdquant_nunchaku, unrelated_nunchaku


def comfy_tree(root: Path, version: str = "0.3.60", plugin: str | None = "1.0.2") -> Path:
    root.mkdir(parents=True)
    (root / "comfyui_version.py").write_text(f'__version__ = "{version}"\n')
    (root / "custom_nodes").mkdir()
    if plugin:
        node = root / "custom_nodes" / "ComfyUI-nunchaku"
        node.mkdir()
        (node / "pyproject.toml").write_text(
            f'[project]\nname = "comfyui-nunchaku"\nversion = "{plugin}"\nrequires-python = ">=3.10"\n'
        )
    return root


def test_reads_comfyui_and_plugin_versions(tmp_path) -> None:
    install = inspect(comfy_tree(tmp_path / "ComfyUI"))
    assert install.version == "0.3.60" and install.plugin_version == "1.0.2"
    assert install.plugin_dir.name == "ComfyUI-nunchaku"


def test_plugin_folder_itself(tmp_path) -> None:
    root = comfy_tree(tmp_path / "ComfyUI")
    install = inspect(root / "custom_nodes" / "ComfyUI-nunchaku")
    assert install.root is None and install.plugin_version == "1.0.2"


def test_not_a_comfyui_folder(tmp_path) -> None:
    with pytest.raises(BadInput, match="neither a ComfyUI folder"):
        inspect(tmp_path)
    with pytest.raises(BadInput, match="no such folder"):
        inspect(tmp_path / "missing")


def _rows(tmp_path: Path, site: Path, plugin: str = "1.0.2") -> dict[str, checks.Check]:
    install = inspect(comfy_tree(tmp_path / "ComfyUI", plugin=plugin))
    py = probe_dists(sys.executable, ["nunchaku"], env=site_env(site))
    return {r.id: r for r in checks.comfyui_checks(install, py)}


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
