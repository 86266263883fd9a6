"""ComfyUI's folder facts are data with sources; check the file is consistent with itself."""

from __future__ import annotations

import json
import re

from modelctl.manifest.model import ROLES
from modelctl.store import comfyui_folders as folders


def _doc() -> dict:
    with open(folders.DATA_FILE, encoding="utf-8") as fh:
        return json.load(fh)


def test_every_fact_cites_a_source_with_a_commit():
    doc = _doc()
    for source in doc["sources"].values():
        assert {"repo", "path", "commit"} <= set(source)
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    for name, section in doc.items():
        if name in ("about", "sources", "roles"):  # roles are modelctl's own, stated inline
            continue
        assert section["source"] in doc["sources"], name
        assert section["about"], name


def test_names_point_at_known_folders():
    known = set(folders.folders())
    assert len(known) == len(folders.folders())
    assert set(folders.legacy_names().values()) <= known
    assert not set(folders.legacy_names()) & known
    assert not folders.not_folders() & known
    for targets in folders.gguf_folders().values():
        assert targets[0] in known and folders.canonical(targets[-1]) == targets[0]
    assert set(folders.folder_roles()) <= known | set(folders.legacy_names())
    assert set(folders.folder_roles().values()) <= set(ROLES)


def test_legacy_names_read_the_same_folders_as_their_key():
    assert folders.canonical("unet") == "diffusion_models"
    assert folders.canonical("sams") == "sams"
    assert folders.subfolders("unet") == folders.subfolders("diffusion_models")
    assert folders.subfolders("diffusion_models") == ("diffusion_models", "unet")
    assert folders.subfolders("vae") == ("vae",)
    assert folders.folder_roles()["clip"] == folders.folder_roles()["text_encoders"]
    assert all(e == e.lower() and e.startswith(".") for e in folders.model_extensions())
