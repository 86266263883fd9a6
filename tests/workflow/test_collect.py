"""Reading workflows: formats, subgraphs, loaders, joining declared and referenced models."""

from __future__ import annotations

import json
import sys

import pytest

from modelctl.errors import BadInput
from modelctl.workflow import analyze, analyze_bytes
from tests.workflow.builders import UI, ZIT, api, hub_url, model, write_json, zit_model


def run(doc, **kw):
    return analyze_bytes(json.dumps(doc).encode(), "wf.json", use_catalog=False, **kw)


def by_dest(report):
    return {m.dest: m for m in report.models}


def z_image_ui() -> UI:
    ui = UI()
    ui.node(
        "UNETLoader",
        ["z_image_turbo_bf16.safetensors", "default"],
        [zit_model("diffusion_models", "z_image_turbo_bf16.safetensors")],
    )
    ui.node(
        "CLIPLoader",
        ["qwen_3_4b.safetensors", "lumina2", "default"],
        [zit_model("text_encoders", "qwen_3_4b.safetensors")],
    )
    ui.node("VAELoader", ["ae.safetensors"], [zit_model("vae", "ae.safetensors")])
    return ui


def test_ui_workflow_models_become_hf_sources_with_roles():
    report = run(z_image_ui().doc)
    assert report.format == "ui"
    models = by_dest(report)
    assert set(models) == {
        "diffusion_models/z_image_turbo_bf16.safetensors",
        "text_encoders/qwen_3_4b.safetensors",
        "vae/ae.safetensors",
    }
    unet = models["diffusion_models/z_image_turbo_bf16.safetensors"]
    assert unet.source == f"hf://{ZIT}/split_files/diffusion_models/z_image_turbo_bf16.safetensors"
    assert unet.revision == "main"
    assert unet.roles == {"diffusion_model"}
    assert models["text_encoders/qwen_3_4b.safetensors"].roles == {"text_encoder"}
    assert models["vae/ae.safetensors"].roles == {"vae"}
    assert report.unresolved == [] and report.skipped == []


def test_nested_subgraphs_are_walked_and_gguf_loaders_read():
    ui = UI()
    outer = ui.subgraph("11111111-1111-4111-8111-111111111111", "outer")
    inner = ui.subgraph("22222222-2222-4222-8222-222222222222", "inner", parent=outer)
    ui.node(outer["id"], [])  # instance of outer at the root
    ui.node(inner["id"], [], graph=outer)  # instance of inner inside outer
    gguf = "z_image_turbo-Q5_K_M.gguf"
    ui.node(
        "UnetLoaderGGUF",
        [gguf],
        [model(gguf, "diffusion_models", hub_url("jayn7/Z-Image-Turbo-GGUF", gguf))],
        graph=inner,
    )
    ui.node(
        "DualCLIPLoaderGGUF",
        ["t5-Q8_0.gguf", "clip_l.safetensors", "flux"],
        [
            model(
                "t5-Q8_0.gguf",
                "text_encoders",
                hub_url("city96/t5-v1_1-xxl-encoder-gguf", "t5-Q8_0.gguf"),
            ),
            model(
                "clip_l.safetensors",
                "text_encoders",
                hub_url("comfyanonymous/flux_text_encoders", "clip_l.safetensors"),
            ),
        ],
        graph=inner,
    )
    report = run(ui.doc)
    models = by_dest(report)
    unet = models[f"diffusion_models/{gguf}"]
    assert unet.source == f"hf://jayn7/Z-Image-Turbo-GGUF/{gguf}"
    assert [u.node for u in unet.uses] == ["1:2:3"]
    assert models["text_encoders/t5-Q8_0.gguf"].roles == {"text_encoder"}
    assert models["text_encoders/clip_l.safetensors"].source.endswith("/clip_l.safetensors")


def test_bypassed_subgraph_instance_turns_its_models_into_skipped():
    ui = UI()
    sub = ui.subgraph("33333333-3333-4333-8333-333333333333")
    ui.node(sub["id"], [], mode=4)  # bypassed
    ui.node(
        "LoraLoaderModelOnly",
        ["lightning.safetensors", 1.0],
        [
            model(
                "lightning.safetensors",
                "loras",
                hub_url("lightx2v/Lightning", "lightning.safetensors"),
            )
        ],
        graph=sub,
    )
    z = z_image_ui()
    for node in z.doc["nodes"]:
        ui.doc["nodes"].append({**node, "id": 100 + node["id"]})
    report = run(ui.doc)
    assert "loras/lightning.safetensors" not in by_dest(report)
    ((skipped, why),) = [(m, w) for m, w in report.skipped if m.name == "lightning.safetensors"]
    assert "bypassed" in why and skipped.source


def test_nunchaku_loaders_and_blob_links():
    ui = UI()
    name = "svdq-int4_r32-qwen-image-edit-2509.safetensors"
    ui.node(
        "NunchakuQwenImageDiTLoader",
        [name, "auto", 1, False],
        [
            model(
                name,
                "diffusion_models",
                hub_url("nunchaku-tech/nunchaku-qwen-image-edit-2509", name, view="blob"),
            )
        ],
    )
    ui.node(
        "NunchakuTextEncoderLoaderV2",
        ["flux.1", "t5xxl_fp16.safetensors", "clip_l.safetensors", 512],
    )
    ui.node("NunchakuQwenImageLoraStack", ["None", 1.0, "style.safetensors", 0.8])
    report = run(ui.doc)
    (dit,) = report.models
    assert dit.dest == f"diffusion_models/{name}"
    assert dit.source == f"hf://nunchaku-tech/nunchaku-qwen-image-edit-2509/{name}"
    assert dit.revision == "main"
    unresolved = {m.dest for m, _ in report.unresolved}
    assert unresolved == {
        "text_encoders/t5xxl_fp16.safetensors",
        "text_encoders/clip_l.safetensors",
        "loras/style.safetensors",  # "None" in slot 1 names no file
    }


def test_same_file_in_several_nodes_is_one_asset_and_the_url_of_one_serves_all():
    ui = UI()
    url = hub_url("Comfy-Org/Qwen-Image_ComfyUI", "split_files/vae/qwen_image_vae.safetensors")
    ui.node(
        "VAELoader",
        ["qwen_image_vae.safetensors"],
        [model("qwen_image_vae.safetensors", "vae", url)],
    )
    ui.node("VAELoader", ["qwen_image_vae.safetensors"])  # no URL on this one
    ui.doc["models"] = [model("qwen_image_vae.safetensors", "vae", url)]  # and again at the root
    report = run(ui.doc)
    (vae,) = report.models
    assert [u.node for u in vae.uses] == ["1", "2"]
    assert report.unresolved == [] and report.warnings == []


@pytest.mark.parametrize(
    ("url", "source", "revision"),
    [
        (hub_url("o/r", "a/b.safetensors", view="blob"), "hf://o/r/a/b.safetensors", "main"),
        (
            hub_url("o/r", "b.gguf", rev="0123456789abcdef0123456789abcdef01234567"),
            "hf://o/r/b.gguf",
            "0123456789abcdef0123456789abcdef01234567",
        ),
        (
            "https://huggingface.co/o/r/resolve/refs%2Fpr%2F3/x.safetensors",
            "hf://o/r/x.safetensors",
            "refs/pr/3",
        ),
        (
            "https://hf.co/datasets/o/d/resolve/v1.0/x.safetensors?download=true",
            "hf://datasets/o/d/x.safetensors",
            "v1.0",
        ),
        ("http://huggingface.co/o/r/raw/main/x.safetensors", "hf://o/r/x.safetensors", "main"),
        (
            "https://huggingface.co/o/r/resolve/main/my%20file.safetensors",
            "https://huggingface.co/o/r/resolve/main/my%20file.safetensors",
            None,
        ),
        (
            "https://civitai.com/api/download/models/12345?type=Model&format=SafeTensor",
            "https://civitai.com/api/download/models/12345?type=Model&format=SafeTensor",
            None,
        ),
    ],
)
def test_download_urls_become_sources(url, source, revision):
    ui = UI()
    ui.node("LoraLoaderModelOnly", ["x.safetensors", 1.0], [model("x.safetensors", "loras", url)])
    (lora,) = run(ui.doc).models
    assert (lora.source, lora.revision) == (source, revision)


def test_credentials_in_query_strings_are_removed_with_a_warning():
    ui = UI()
    url = "https://civitai.com/api/download/models/9?type=Model&token=abcdef123456"
    ui.node("LoraLoader", ["x.safetensors", 1, 1], [model("x.safetensors", "loras", url)])
    report = run(ui.doc)
    assert report.models[0].source == "https://civitai.com/api/download/models/9?type=Model"
    assert any("token" in w for w in report.warnings)


def test_model_without_url_is_unresolved_with_a_hint():
    ui = z_image_ui()
    ui.node("LoraLoaderModelOnly", ["my_style_lora.safetensors", 0.8], title="Style")
    report = run(ui.doc)
    ((lora, hint),) = report.unresolved
    assert lora.dest == "loras/my_style_lora.safetensors"
    assert "properties.models" in hint and "loras/" in hint
    assert lora.uses[0].title == "Style"
    assert len(report.models) == 3


def test_unknown_node_model_value_is_unresolved_with_unknown_folder():
    ui = z_image_ui()
    ui.node("WanVideoModelLoader", ["wan2.1_i2v_480p_14B_fp8.safetensors", "fp16", "disabled"])
    ui.node("MarkdownNote", ["Download notes: get model.safetensors first"])
    report = run(ui.doc)
    ((m, hint),) = report.unresolved
    assert m.folder is None and m.name == "wan2.1_i2v_480p_14B_fp8.safetensors"
    assert "WanVideoModelLoader" in hint


def test_unknown_node_with_declared_model_uses_its_directory_and_role():
    ui = UI()
    ui.node(
        "SomeCustomUnetLoader",
        ["custom_dit.safetensors", 4],
        [
            model(
                "custom_dit.safetensors",
                "diffusion_models",
                hub_url("o/r", "custom_dit.safetensors"),
            )
        ],
    )
    ui.node(
        "NunchakuFluxDiTLoader",
        ["svdq-int4-flux.1-dev", 0, "nunchaku-fp16", "auto", 0, "bfloat16"],
        [
            model(
                "svdq-int4-flux.1-dev",
                "diffusion_models",
                hub_url("mit-han-lab/svdq-int4-flux.1-dev", "x"),
            )
        ],
    )
    report = run(ui.doc)
    models = by_dest(report)
    assert models["diffusion_models/custom_dit.safetensors"].roles == {"diffusion_model"}
    assert "diffusion_models/svdq-int4-flux.1-dev" in models


def test_declared_model_no_node_selects_is_skipped_as_stale():
    ui = z_image_ui()
    ui.doc["nodes"][0]["properties"]["models"].append(
        model("old_unet.safetensors", "diffusion_models", hub_url("o/r", "old_unet.safetensors"))
    )
    report = run(ui.doc)
    assert "diffusion_models/old_unet.safetensors" not in by_dest(report)
    assert [(m.name, "stale" in why) for m, why in report.skipped] == [
        ("old_unet.safetensors", True)
    ]


def test_subfolder_in_widget_value_is_kept_in_dest():
    ui = UI()
    ui.node(
        "UNETLoader",
        ["flux\\flux1-dev.safetensors", "default"],
        [
            model(
                "flux1-dev.safetensors", "diffusion_models", hub_url("o/r", "flux1-dev.safetensors")
            )
        ],
    )
    (m,) = run(ui.doc).models
    assert m.dest == "diffusion_models/flux/flux1-dev.safetensors"


def test_sha256_is_carried_only_when_it_is_one():
    ui = UI()
    digest = "AB" * 32
    ui.node(
        "VAELoader",
        ["a.safetensors"],
        [
            model(
                "a.safetensors",
                "vae",
                hub_url("o/r", "a.safetensors"),
                hash=digest,
                hash_type="SHA256",
            )
        ],
    )
    ui.node(
        "VAELoader",
        ["b.safetensors"],
        [
            model(
                "b.safetensors",
                "vae",
                hub_url("o/r", "b.safetensors"),
                hash="1234",
                hash_type="AutoV2",
            )
        ],
    )
    models = by_dest(run(ui.doc))
    assert models["vae/a.safetensors"].sha256 == digest.lower()
    assert models["vae/b.safetensors"].sha256 is None


def test_legacy_folder_names_map_to_current_ones():
    ui = UI()
    ui.node(
        "CLIPLoader",
        ["t5.safetensors", "sd3", "default"],
        [model("t5.safetensors", "clip", hub_url("o/r", "t5.safetensors"))],
    )
    (m,) = run(ui.doc).models
    assert m.dest == "text_encoders/t5.safetensors"
    assert run(ui.doc).warnings == []


def test_api_format_reads_named_inputs():
    prompt = api(
        {
            "4": (
                "CheckpointLoaderSimple",
                {"ckpt_name": "sd_xl_base_1.0_unique_test.safetensors"},
            ),
            "10": (
                "LoraLoader",
                {
                    "model": ["4", 0],
                    "clip": ["4", 1],
                    "lora_name": "detail_unique_test.safetensors",
                    "strength_model": 1.0,
                    "strength_clip": 1.0,
                },
            ),
            "12": ("VAELoader", {"vae_name": "taesdxl"}),
        }
    )
    report = run(prompt)
    assert report.format == "api"
    assert {m.dest for m, _ in report.unresolved} == {
        "checkpoints/sd_xl_base_1.0_unique_test.safetensors",
        "loras/detail_unique_test.safetensors",
    }


def test_api_prompt_wrapped_with_its_ui_workflow_uses_the_ui_urls():
    ui = z_image_ui()
    doc = {
        "prompt": api({"1": ("UNETLoader", {"unet_name": "z_image_turbo_bf16.safetensors"})}),
        "extra_data": {"extra_pnginfo": {"workflow": ui.doc}},
    }
    report = run(doc)
    assert report.format == "ui" and len(report.models) == 3


def test_catalog_manifests_resolve_files_without_urls(tmp_path):
    catalog = tmp_path / "manifests"
    catalog.mkdir()
    (catalog / "my-stack.yaml").write_text(
        "schema: 1\nname: my-stack\nvariants:\n  q: {values: [Q4, Q8], default: Q4}\nassets:\n"
        "  - id: dit\n    role: diffusion_model\n    source: hf://o/r/dit-{q}.gguf\n    revision: v2\n"
        "    dest: unet/dit-{q}.gguf\n"
    )
    prompt = api({"1": ("UnetLoaderGGUF", {"unet_name": "dit-Q8.gguf"})})
    path = write_json(tmp_path / "api.json", prompt)
    report = analyze(path, manifests=str(catalog))
    (m,) = report.models
    assert (m.source, m.revision, m.dest) == (
        "hf://o/r/dit-Q8.gguf",
        "v2",
        "diffusion_models/dit-Q8.gguf",
    )
    assert m.origin == "catalog:my-stack"


def test_no_models_at_all_is_an_empty_report():
    prompt = api(
        {
            "1": ("OpenAIGPTImage1", {"prompt": "a cat"}),
            "2": ("SaveImage", {"filename_prefix": "x"}),
        }
    )
    report = run(prompt)
    assert report.models == [] and report.unresolved == [] and report.skipped == []


BAD = [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"[1, 2]", "not a ComfyUI workflow"),
    (b'{"a": 1}', "not a ComfyUI workflow"),
    (b'{"nodes": [{"id": 1}]}', "has no `type`"),
    # issue 16, item 10: int() of more than 4300 digits raised ValueError (exit 70)
    (b'{"nodes": [],\n "seed": ' + b"9" * 5000 + b"}", r"wf.json:2: a 5000-digit integer"),
    (b'{"nodes": [-' + b"1" * 4301 + b"]}", r"wf.json:1: a 4301-digit integer, over the 4300"),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_not_a_workflow_is_bad_input(data, message):
    with pytest.raises(BadInput, match=message):
        analyze_bytes(data, "wf.json", use_catalog=False)


def test_long_integers_are_found_outside_strings_and_under_any_interpreter_limit():
    """The line named is the number's, not that of digits inside an earlier string; 4300 digits
    are read; and under a lower interpreter limit (PYTHONINTMAXSTRDIGITS=640, the least it
    allows) a longer number is refused the same way instead of escaping as ValueError."""
    digits = "7" * 4300
    doc = f'{{"nodes": [],\n "note": "{"1" * 5000}",\n "seed": {digits}1,\n "ok": {digits}}}'
    with pytest.raises(BadInput, match=r"wf.json:3: a 4301-digit integer"):
        analyze_bytes(doc.encode(), "wf.json", use_catalog=False)
    fine = UI()
    fine.doc["extra"] = {"seed": int(digits)}
    run(fine.doc)
    saved = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        with pytest.raises(BadInput, match=r"wf.json:1: a 641-digit integer, over the 640 digits"):
            analyze_bytes(b'{"nodes": [], "seed": ' + b"5" * 641 + b"}", "wf.json")
    finally:
        sys.set_int_max_str_digits(saved)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (model("x.safetensors", "loras", "ftp://example.com/x.safetensors"), "not an http"),
        (model("x.safetensors", "loras", "file:///etc/passwd"), "not an http"),
        (model("x.safetensors", "loras", "javascript:alert(1)"), "not an http"),
        (model("x.safetensors", "loras", "http://example.com/x.safetensors"), "plain http"),
        (
            model("x.safetensors", "loras", "https://user:pw@example.com/x.safetensors"),
            "credentials",
        ),
        (model("x.safetensors", "../../etc", hub_url("o/r", "x.safetensors")), "path separator"),
        (model("x.safetensors", "..", hub_url("o/r", "x.safetensors")), "is `..`"),
        (model("x.safetensors", ".modelctl", hub_url("o/r", "x.safetensors")), "hidden"),
        (model("sub/x.safetensors", "loras", hub_url("o/r", "x.safetensors")), "path separator"),
        (model("..\\x.safetensors", "loras", hub_url("o/r", "x.safetensors")), "path separator"),
        ({"url": hub_url("o/r", "x.safetensors"), "directory": "loras"}, "no `name`"),
        ("x.safetensors", "not an object"),
    ],
)
def test_bad_declared_models_are_bad_input(entry, message):
    ui = UI()
    ui.node("LoraLoaderModelOnly", ["x.safetensors", 1.0], [entry])
    with pytest.raises(BadInput, match=message):
        run(ui.doc)


def test_loader_value_outside_the_models_folder_is_bad_input():
    ui = UI()
    ui.node("VAELoader", ["../../secrets/key.safetensors"])
    with pytest.raises(BadInput, match="not a file inside the models folder"):
        run(ui.doc)


def test_subgraph_that_contains_itself_is_bad_input():
    ui = UI()
    sub = ui.subgraph("44444444-4444-4444-8444-444444444444")
    ui.node(sub["id"], [])
    ui.node(sub["id"], [], graph=sub)
    with pytest.raises(BadInput, match="contains itself"):
        run(ui.doc)


def test_unplaced_subgraph_definitions_never_run():
    ui = UI()
    sub = ui.subgraph("55555555-5555-4555-8555-555555555555")
    ui.node(
        "VAELoader",
        ["ae.safetensors"],
        [model("ae.safetensors", "vae", hub_url("o/r", "ae.safetensors"))],
        graph=sub,
    )
    report = run(ui.doc)
    assert report.models == [] and [m.name for m, _ in report.skipped] == ["ae.safetensors"]
