"""`--comfyui DIR`: ComfyUI and ComfyUI-nunchaku versions read from files."""

from __future__ import annotations

import pytest

from modelctl.errors import BadInput
from modelctl.machine.comfyui import inspect
from tests.machine.dists import comfy_tree


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
