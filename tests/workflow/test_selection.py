"""`selection_from_workflow`: the in-memory selection `pull/check --workflow` install from."""

from __future__ import annotations

import pytest

from modelctl.errors import BadInput
from modelctl.workflow import selection_from_workflow
from tests.workflow.builders import UI, api, hub_url, model, write_json


def test_selection_holds_the_resolved_models(tmp_path):
    ui = UI()
    ui.node(
        "UnetLoaderGGUF",
        ["dit-Q4.gguf"],
        [model("dit-Q4.gguf", "unet", hub_url("o/r", "dit-Q4.gguf", rev="v1"))],
    )
    ui.node("LoraLoaderModelOnly", ["selection_test_no_url.safetensors", 1.0])
    selection = selection_from_workflow(ui.write(tmp_path / "Flow One.json"))
    assert selection.manifest.name == "flow-one"
    (asset,) = selection.assets
    assert (asset.source, asset.revision, asset.dest, asset.role) == (
        "hf://o/r/dit-Q4.gguf",
        "v1",
        "diffusion_models/dit-Q4.gguf",
        "diffusion_model",
    )


def test_selection_is_empty_when_nothing_is_downloadable(tmp_path):
    path = write_json(tmp_path / "api.json", api({"1": ("SaveImage", {"filename_prefix": "x"})}))
    selection = selection_from_workflow(path)
    assert selection.assets == () and selection.spec == "api"


def test_selection_of_a_bad_file_is_bad_input(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("nope")
    with pytest.raises(BadInput):
        selection_from_workflow(path)
    with pytest.raises(BadInput, match="does not exist"):
        selection_from_workflow(tmp_path / "missing.json")
