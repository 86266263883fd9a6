"""Generated manifests: always loadable by the real validator, whatever the file names are."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelctl.errors import BadInput
from modelctl.manifest.validate import parse_manifest
from modelctl.workflow import analyze_bytes, manifest_text
from modelctl.workflow.render import default_name
from tests.workflow.builders import UI, hub_url, model


def report_for(doc):
    return analyze_bytes(json.dumps(doc).encode(), "wf.json", use_catalog=False)


@pytest.mark.parametrize(
    "name",
    [
        'odd "quoted" name.safetensors',
        "hash # and: colon.safetensors",
        "- leading dash.safetensors",
        "yes.safetensors",
        "0123.safetensors",
        "ünïcødé 模型.safetensors",
        "*alias &anchor !tag.safetensors",
    ],
)
def test_any_file_name_round_trips_through_the_validator(name):
    ui = UI()
    ui.node(
        "LoraLoaderModelOnly",
        [name, 1.0],
        [model(name, "loras", "https://example.com/dl/x.safetensors")],
    )
    text = manifest_text(report_for(ui.doc), "odd")
    manifest = parse_manifest(text.encode(), None, "gen")
    (asset,) = manifest.assets
    assert asset.dest == f"loras/{name}"
    assert asset.role == "lora"


def test_titles_with_line_breaks_stay_inside_comments():
    ui = UI()
    title = "evil\nassets: []\u2028name: x\x85"
    ui.node(
        "VAELoader",
        ["ae.safetensors"],
        [model("ae.safetensors", "vae", hub_url("o/r", "ae.safetensors"))],
        title=title,
    )
    ui.node("LoraLoaderModelOnly", ["nourl.safetensors", 1.0], title=title)
    text = manifest_text(report_for(ui.doc), "t")
    data = yaml.safe_load(text)
    assert data["name"] == "t" and len(data["assets"]) == 1
    assert all(
        line.startswith(("#", " ", "schema", "name", "description", "assets"))
        for line in text.splitlines()
    )
    assert "nourl.safetensors" in text  # unresolved, listed as a comment


def test_ids_are_unique_and_valid():
    ui = UI()
    for folder, loader in (("vae", "VAELoader"), ("diffusion_models", "UNETLoader")):
        ui.node(
            loader,
            ["model.safetensors"],
            [model("model.safetensors", folder, hub_url("o/r", f"{folder}/model.safetensors"))],
        )
    manifest = parse_manifest(manifest_text(report_for(ui.doc), "x").encode())
    assert [a.id for a in manifest.assets] == ["model", "model-2"]


def test_braces_in_a_file_name_are_refused():
    ui = UI()
    ui.node(
        "VAELoader",
        ["ae{v2}.safetensors"],
        [model("ae{v2}.safetensors", "vae", "https://example.com/ae.safetensors")],
    )
    with pytest.raises(BadInput, match=re.escape("`{` or `}`")):
        manifest_text(report_for(ui.doc), "x")


def test_only_unresolved_models_is_bad_input_listing_them():
    ui = UI()
    ui.node("LoraLoaderModelOnly", ["nourl.safetensors", 1.0])
    with pytest.raises(BadInput, match="none of its 1 model") as info:
        manifest_text(report_for(ui.doc), "x")
    assert "loras/nourl.safetensors" in info.value.hint


@pytest.mark.parametrize("bad", ["Upper", "-x", "", "a" * 65, "sp ace"])
def test_bad_manifest_names_are_refused(bad):
    ui = UI()
    ui.node(
        "VAELoader",
        ["ae.safetensors"],
        [model("ae.safetensors", "vae", hub_url("o/r", "ae.safetensors"))],
    )
    with pytest.raises(BadInput, match="not a valid manifest name"):
        manifest_text(report_for(ui.doc), bad)


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("Image Z-Turbo.json", "image-z-turbo"),
        ("___.json", "workflow"),
        ("Qwen_Image.v2.json", "qwen_image.v2"),
    ],
)
def test_default_names(file, name):
    assert default_name(Path(file)) == name


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(
        ["x.safetensors", "../x.gguf", "UNETLoader", "https://huggingface.co/o/r/blob/main/x.gguf"]
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "nodes",
                    "type",
                    "widgets_values",
                    "properties",
                    "models",
                    "name",
                    "url",
                    "directory",
                    "definitions",
                    "subgraphs",
                    "id",
                    "mode",
                    "class_type",
                    "inputs",
                    "prompt",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_only_ever_fails_as_bad_input(doc):
    try:
        report = analyze_bytes(json.dumps(doc).encode(), "fuzz.json", use_catalog=False)
    except BadInput:
        return
    if report.models:
        with contextlib.suppress(BadInput):  # e.g. braces in a name; anything else fails the test
            parse_manifest(manifest_text(report, "fuzz").encode())
