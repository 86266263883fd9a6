"""The bundled catalog, user folders, SPEC selection and the JSON Schema."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from modelctl.errors import BadInput
from modelctl.manifest.catalog import bundled_dir, entries, find, search_dirs
from modelctl.manifest.schema import json_schema
from modelctl.manifest.select import select, split_spec
from modelctl.manifest.validate import combinations
from modelctl.plan.selections import resolve_spec
from tests.helpers.cli import run_main
from tests.helpers.limits import run_cli_limited

BUNDLED = {
    "z-image-turbo",
    "lumina-image-2",
    "qwen-image-edit-2509",
    "qwen-image-edit-2509-nunchaku",
    "gemma-3-4b",
}


def test_bundled_set() -> None:
    assert set(entries([bundled_dir()])) == BUNDLED


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_selection_resolves(name: str) -> None:
    manifest = find(name)
    for values in combinations(manifest.axes):
        selection = select(manifest, values)
        assert selection.assets
        for asset in selection.assets:
            assert "{" not in asset.source + asset.dest
            assert asset.source.startswith("hf://")


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_manifests_match_json_schema(name: str) -> None:
    data = yaml.safe_load(find(name).path.read_text())
    jsonschema.validate(data, json_schema())


def test_schema_command_prints_json_schema() -> None:
    result = run_main("schema")
    assert result.code == 0
    jsonschema.Draft202012Validator.check_schema(json.loads(result.out))


def test_split_spec() -> None:
    assert split_spec("z-image-turbo") == ("z-image-turbo", {})
    assert split_spec("z-image-turbo:quant=Q8_0,te=gguf") == (
        "z-image-turbo",
        {"quant": "Q8_0", "te": "gguf"},
    )
    assert split_spec("./my:stack.yaml") == ("./my:stack.yaml", {})
    with pytest.raises(BadInput, match="chosen twice"):
        split_spec("x:quant=Q8_0,quant=Q4_K_M")
    with pytest.raises(BadInput, match="cannot read the variant selection"):
        split_spec("x:quant=")


def test_selection_errors() -> None:
    with pytest.raises(BadInput, match="has no variant axis `qaunt`"):
        resolve_spec("z-image-turbo:qaunt=Q8_0")
    with pytest.raises(BadInput, match="`Q9` is not a value of z-image-turbo:quant"):
        resolve_spec("z-image-turbo:quant=Q9")
    with pytest.raises(BadInput, match="no manifest named `nope`"):
        resolve_spec("nope")


def test_when_filters_and_substitution() -> None:
    selection = resolve_spec("z-image-turbo:quant=Q8_0,te=gguf")
    ids = [a.id for a in selection.assets]
    assert ids == ["diffusion", "text-encoder-gguf", "vae"]
    assert selection.assets[0].dest == "diffusion_models/z_image_turbo-Q8_0.gguf"
    bf16 = resolve_spec("z-image-turbo:quant=bf16")
    assert [a.id for a in bf16.assets] == ["diffusion-bf16", "text-encoder", "vae"]


def test_user_folder_overrides_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lumina-image-2.yaml").write_text(
        textwrap.dedent(
            """\
            schema: 1
            name: lumina-image-2
            description: mine
            assets:
              - {id: vae, role: vae, source: "file:///srv/ae.safetensors", dest: vae/ae.safetensors}
            """
        )
    )
    (tmp_path / "lumina-image-2.lock.yaml").write_text("not a manifest")
    monkeypatch.setenv("MODELCTL_MANIFESTS", str(tmp_path))
    assert search_dirs()[-1] == tmp_path
    assert find("lumina-image-2").description == "mine"


def test_name_must_match_file(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("schema: 1\nname: mine\nassets: []\n")
    result = run_main("list", "--manifests", str(tmp_path))
    assert result.code == 2
    assert "error:" in result.err


def test_list_shows_five_bundled() -> None:
    result = run_main("list", "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert {r["name"] for r in rows} == BUNDLED
    zit = next(r for r in rows if r["name"] == "z-image-turbo")
    assert zit["axes"]["quant"]["default"] == "Q5_K_M"


def test_show_json_resolves_destinations(tmp_path: Path) -> None:
    result = run_main("show", "z-image-turbo:quant=Q8_0", "--json", "--models-dir", str(tmp_path))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["variants"]["quant"] == "Q8_0"
    assert [a["path"] for a in data["assets"]] == [
        str(tmp_path / "diffusion_models/z_image_turbo-Q8_0.gguf"),
        str(tmp_path / "text_encoders/qwen_3_4b.safetensors"),
        str(tmp_path / "vae/ae.safetensors"),
    ]
    assert {a["state"] for a in data["assets"]} == {"missing"}


def test_show_bad_spec_is_one_error_line() -> None:
    result = run_main("show", "z-image-turbo:quant=Q9")
    assert result.code == 2
    assert result.err.startswith("error: `Q9` is not a value of z-image-turbo:quant")
    assert "Traceback" not in result.err


def test_precision_auto_resolves_through_gpu_sm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELCTL_GPU_SM", raising=False)
    sel = resolve_spec("qwen-image-edit-2509-nunchaku:rank=r128,steps=8", gpu_sm=86)
    assert sel.values["precision"] == "int4"
    assert sel.assets[0].source.endswith(
        "/svdq-int4_r128-qwen-image-edit-2509-lightningv2.0-8steps.safetensors"
    )
    assert sel.assets[0].expect["precision"] == "int4"
    assert resolve_spec("qwen-image-edit-2509-nunchaku", gpu_sm=120).values["precision"] == "fp4"
    with pytest.raises(BadInput, match="no 4-bit kernels for sm 90"):
        resolve_spec("qwen-image-edit-2509-nunchaku", gpu_sm=90)


def test_show_with_gpu_sm_flag() -> None:
    result = run_main(
        "show", "qwen-image-edit-2509-nunchaku:steps=none", "--gpu-sm", "8.9", "--json"
    )
    assert result.code == 0, result.err
    assert (
        json.loads(result.out)["assets"][0]["dest"]
        == "diffusion_models/svdq-int4_r32-qwen-image-edit-2509.safetensors"
    )


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


@pytest.mark.parametrize("kind", ["sparse 3 GiB", "/dev/zero", "fifo", "folder"])
def test_manifest_files_are_read_bounded(tmp_path: Path, kind: str) -> None:
    """Issue 16, item 15: a manifest is read up to its 1 MiB cap + 1 byte, never whole; devices,
    FIFOs and folders are refused before reading. The child's address space is capped at 512 MiB,
    so reading a 3 GiB file or /dev/zero whole would end in MemoryError (exit 70), and a FIFO
    without a writer would block past the timeout."""
    if kind == "sparse 3 GiB":
        path, expected = _sparse(tmp_path / "big.yaml", 3 << 30), "is 3221225472 bytes, over"
    elif kind == "/dev/zero":
        path, expected = Path("/dev/zero"), "it is a character device, not a regular file"
    elif kind == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)
        expected = "it is a FIFO (named pipe), not a regular file"
    else:
        path, expected = tmp_path, "it is a folder, not a file"
    r = run_cli_limited("show", str(path), "--models-dir", str(tmp_path / "models"))
    assert r.code == 2, r.err
    (line,) = [x for x in r.err.splitlines() if x.startswith("error:")]
    assert str(path) in line and expected in line
