"""The loader table is data with sources; check it is complete and consistent."""

from __future__ import annotations

from modelctl.manifest.model import ROLES
from modelctl.store import comfyui_folders
from modelctl.workflow.table import load_table

ALIASES = comfyui_folders.legacy_names()
COMFYUI_FOLDERS = comfyui_folders.folders()


def test_the_loaders_the_issue_names_are_known():
    table = load_table()
    for class_type in (
        "UNETLoader",
        "CLIPLoader",
        "DualCLIPLoader",
        "TripleCLIPLoader",
        "QuadrupleCLIPLoader",
        "VAELoader",
        "CheckpointLoaderSimple",
        "LoraLoader",
        "LoraLoaderModelOnly",
        "ControlNetLoader",
        "UpscaleModelLoader",
        "CLIPVisionLoader",
        "StyleModelLoader",
        "UnetLoaderGGUF",
        "CLIPLoaderGGUF",
        "DualCLIPLoaderGGUF",
        "NunchakuFluxDiTLoader",
        "NunchakuQwenImageDiTLoader",
    ):
        assert class_type in table.loaders, class_type


def test_every_entry_has_a_source_a_known_folder_and_a_role():
    table = load_table()
    for loader in table.loaders.values():
        assert {"repo", "file", "commit"} <= set(loader.source)
        assert len(loader.source["commit"]) == 40
        indexes = [w.index for w in loader.models]
        assert len(set(indexes)) == len(indexes), loader.class_type
        for widget in loader.models:
            assert widget.role in ROLES
            assert widget.folder not in ALIASES, "write the current folder name"
            assert widget.folder in COMFYUI_FOLDERS


def test_model_suffixes():
    table = load_table()
    assert table.looks_like_model("x.GGUF")
    assert not table.looks_like_model("photo.png")
    assert not table.looks_like_model("see https://x/y.safetensors")
    assert not table.looks_like_model("two\nlines.safetensors")
