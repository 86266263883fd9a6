"""Generated manifests: always loadable by the real validator, whatever the file names are."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelctl.errors import BadInput, ManifestError
from modelctl.manifest.validate import ID_RE, parse_manifest
from modelctl.workflow import analyze_bytes, manifest_text
from modelctl.workflow.collect import Model
from modelctl.workflow.render import asset_ids, default_name
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
    _analyze_and_render(doc)


def _analyze_and_render(doc) -> None:
    """A plain BadInput from reading `doc`, else either a manifest the validator loads or a plain
    BadInput naming the model; never a ManifestError, which would mean we wrote YAML the validator
    rejects."""
    try:
        report = analyze_bytes(json.dumps(doc).encode(), "fuzz.json", use_catalog=False)
    except BadInput:
        return
    if not report.models:
        return
    try:
        text = manifest_text(report, "fuzz")
    except ManifestError as exc:
        raise AssertionError(f"generated an invalid manifest: {exc}") from exc
    except BadInput:
        return
    parse_manifest(text.encode())


names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).map(
    lambda s: s + ".safetensors"
) | st.sampled_from(["a.safetensors", "sub/b.gguf", "c\\d.pt", "{x}.sft", "..", "e f.ckpt", "None"])
loaders = st.sampled_from(
    [
        "UNETLoader",
        "CLIPLoader",
        "VAELoader",
        "LoraLoader",
        "UnetLoaderGGUF",
        "NunchakuQwenImageDiTLoader",
        "MyCustomLoader",
    ]
)
urls = st.sampled_from(
    [
        "https://huggingface.co/o/r/resolve/main/x.safetensors",
        "https://huggingface.co/o/r/blob/v1/dir/y.gguf?download=true",
        "https://example.com/files/z.safetensors?token=secret",
        "https://huggingface.co/o/r/resolve/main/a%40b.safetensors",
        "",
    ]
)


@st.composite
def ui_workflows(draw):
    ui = UI()
    for _ in range(draw(st.integers(1, 5))):
        name = draw(names)
        declared = draw(st.booleans())
        entry = model(
            draw(names) if draw(st.booleans()) else name,
            draw(st.sampled_from(["vae", "loras", "diffusion_models", "unet"])),
            draw(urls),
        )
        ui.node(
            draw(loaders),
            [name, "default"],
            [entry] if declared else None,
            mode=draw(st.sampled_from([0, 0, 2, 4])),
        )
    return ui.doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ui_workflows())
def test_workflow_shaped_input_gives_a_valid_manifest_or_bad_input(doc):
    _analyze_and_render(doc)


def test_asset_ids_for_many_files_of_one_name_stay_unique_and_valid():
    """1,200 files named alike in different folders: ids get -2 … -1200, cut to fit 64
    characters (`<60 chars>-1000` once failed an assertion: exit 70), and numbering does not
    restart at -2 for each file (which was quadratic: 20,000 such files took minutes)."""
    stem = "a" * 70
    models = [Model("vae", f"s{i}/{stem}.safetensors") for i in range(1200)]
    models += [Model("vae", "x-3.gguf"), Model("vae", "x.gguf"), Model("vae", "X.gguf")]
    ids = asset_ids(models)
    assert len({i.casefold() for i in ids}) == len(ids)
    assert all(ID_RE.fullmatch(i) for i in ids)
    assert ids[:2] == ["a" * 60, "a" * 60 + "-2"] and ids[1199] == "a" * 59 + "-1200"
    assert ids[-3:] == ["x-3", "x", "X-2"]
