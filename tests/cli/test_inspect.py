"""`modelctl inspect` as users run it: local files, hf:// through the test hub, bad inputs.

Local files run in-process (`run_main`: only the output counts); hf:// targets run the CLI in a
subprocess against the test hub (`run_cli`: huggingface_hub is configured per process)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.formats.builders import RawGGUF, write_gguf, write_gguf_long_strings
from tests.helpers.cli import run_cli, run_main
from tests.identify.hostile import (
    mmproj_with_projector,
    svdquant_with_weight_dtype,
    text_encoder_with_layer,
)
from tests.identify.specs import all_specs, build_all

SPECS = {s.name: s for s in all_specs()}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_all(tmp_path_factory.mktemp("cli-models"))


def _json(*args: str) -> dict:
    """`inspect ARGS --json` of local files, in-process."""
    r = run_main("inspect", *args, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def _remote_json(*args: str, env: dict) -> dict:
    """`inspect ARGS --json` against the test hub, in a subprocess."""
    r = run_cli("inspect", *args, "--json", env=env)
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_json_output_for_z_image_gguf(files: dict) -> None:
    path, _ = files["z_image_turbo-Q8_0.gguf"]
    data = _json(str(path), "--tensors")
    assert data["format"] == "gguf" and data["gguf_version"] == 3
    assert data["size"] == path.stat().st_size
    assert data["metadata"]["general.architecture"] == "lumina2"
    ident = data["identity"]
    assert (ident["role"], ident["family"], ident["cap_feat_dim"]) == (
        "diffusion_model",
        "z-image",
        2560,
    )
    assert ident["rule"]["source"].startswith("Comfy-Org/ComfyUI comfy/model_detection.py@")
    cap = next(t for t in data["tensors"] if t["name"] == "cap_embedder.1.weight")
    assert (cap["shape"], cap["dtype"], cap["nbytes"]) == (
        [3840, 2560],
        "Q8_0",
        3840 * 2560 // 32 * 34,
    )
    assert data["tensor_count"] == len(data["tensors"])


def test_long_arrays_are_summarised(files: dict) -> None:
    path, _ = files["Qwen3-4B-Q4_K_M.gguf"]
    meta = _json(str(path))["metadata"]
    assert meta["tokenizer.ggml.tokens"] == {"type": "array", "item_type": "STRING", "length": 40}
    assert meta["qwen3.embedding_length"] == 2560


def test_rich_summary(files: dict) -> None:
    path, _ = files["svdq-int4_r32-qwen-image.safetensors"]
    r = run_main("inspect", str(path))
    assert r.code == 0, r.err
    for text in ("safetensors", "diffusion_model · qwen-image", "precision int4 · rank 32",
                 "cap_feat_dim 3584", "quantization"):  # fmt: skip
        assert text in r.out, r.out


def test_summary_escapes_hostile_metadata(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "evil.gguf", "llama",
                      kv=[("general.name", "\x1b[2J\x1b]0;pwned\x07[bold]x[/bold]", "STRING")])  # fmt: skip
    r = run_main("inspect", str(path))
    assert r.code == 0, r.err
    assert "\x1b" not in r.out and "\x07" not in r.out


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"GGUF" + b"\3\0\0\0" + b"\xff" * 16, r"invalid GGUF at byte 8: "),
        ((600).to_bytes(8, "little") + b'{"a": 1}', r"invalid safetensors at byte 0: .*truncated"),
        (RawGGUF().kv_u32("a.b", 1).kv_u32("a.b", 2).build(), r"duplicate metadata key"),
    ],
)
def test_malformed_file_exits_2_with_one_error_line(
    tmp_path: Path, content: bytes, pattern: str
) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    r = run_main("inspect", str(path))
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert lines[0].startswith("error: ") and re.search(pattern, lines[0]), r.err
    assert all(line.startswith("  hint: ") for line in lines[1:])
    assert "Traceback" not in r.err and r.out == ""


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 9\n",
         "Git LFS pointer"),
        (b"<!doctype html><title>Sign in</title>", "HTML page"),
        (b'{"error": "Repository not found"}', "JSON error response"),
        (b"\x00\x01\x02garbage", "not a recognised model format"),
    ],
)  # fmt: skip
def test_impostors_are_named_and_exit_2(tmp_path: Path, content: bytes, what: str) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    r = run_main("inspect", str(path), "--json")
    assert r.code == 2
    assert what in r.err
    assert json.loads(r.out)["identity"]["role"] == "unknown"


def test_pickle_is_identified_not_loaded(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    # a pickle that would create `marker` if anything unpickled it
    payload = (b"\x80\x04\x95" + (0).to_bytes(8, "little") + b"\x8c\x02os\x8c\x06system\x93\x8c"
               + bytes([len(f"touch {marker}")]) + f"touch {marker}".encode() + b"\x85R.")  # fmt: skip
    path = tmp_path / "model.ckpt"
    path.write_bytes(payload)
    data = _json(str(path))
    assert data["format"] == "pickle"
    assert not marker.exists()


def test_missing_file_and_plain_http(tmp_path: Path) -> None:
    r = run_main("inspect", str(tmp_path / "nope.gguf"))
    assert r.code == 2 and "no such file" in r.err
    r = run_main("inspect", "http://example.invalid/model.gguf")
    assert r.code == 2 and "plain http" in r.err


REMOTE = ["z_image_turbo-Q8_0.gguf", "qwen_image_vae.safetensors",
          "svdq-fp4_r128-qwen-image-edit-2509.safetensors", "Qwen3-4B-Q4_K_M.gguf"]  # fmt: skip


def test_remote_identification_through_the_hub(hub, tmp_path: Path, files: dict) -> None:
    for name in REMOTE:
        hub.add_file("org/models", f"split_files/{name}", files[name][0])
    env = hub.env(tmp_path)
    for name in REMOTE:
        data = _remote_json(f"hf://org/models/split_files/{name}", env=env)
        local = _json(str(files[name][0]))
        assert data["identity"] == local["identity"], name
        assert re.fullmatch(r"[0-9a-f]{40}", data["commit"])
        assert data["target"].startswith("hf://org/models/split_files/")


def test_remote_reads_only_the_header_of_a_200_mb_gguf(hub, tmp_path: Path) -> None:
    tokens = [f"token-{i:06d}" for i in range(60_000)]  # a ~1.2 MB vocabulary in the header
    path = write_gguf(
        tmp_path / "big.gguf", "qwen3",
        [(f"blk.{i}.ffn_up.weight", (4096, 6144), "Q8_0") for i in range(8)],
        [("qwen3.embedding_length", 4096, "UINT32"),
         ("tokenizer.ggml.tokens", tokens, "ARRAY", "STRING")],
    )  # fmt: skip
    size = path.stat().st_size
    assert size > 200_000_000
    hub.add_file("org/big", "big.gguf", path)
    hub.clear_log()
    data = _remote_json("hf://org/big/big.gguf@main", env=hub.env(tmp_path))
    assert data["identity"]["family"] == "qwen3" and data["size"] == size
    served = hub.bytes_served("big.gguf")
    assert data["header_size"] > 1_000_000
    assert served == data["bytes_fetched"]
    assert served < data["header_size"] + (2 << 20), (served, data["header_size"])


def test_remote_errors_exit_3(hub, tmp_path: Path) -> None:
    hub.create_repo("org/empty")
    r = run_cli("inspect", "hf://org/empty/missing.gguf", env=hub.env(tmp_path))
    assert r.code == 3 and r.err.startswith("error: ")
    assert "Traceback" not in r.err


def test_remote_survives_an_ignored_range_and_a_503(hub, tmp_path: Path, files: dict) -> None:
    name = "ae.safetensors"
    hub.add_file("org/vae", name, files[name][0])
    env = hub.env(tmp_path)
    hub.fault("org/vae", name, ignore_range=True)
    assert _remote_json(f"hf://org/vae/{name}", env=env)["identity"]["family"] == "flux-vae"
    hub.clear_faults()
    hub.fault("org/vae", name, statuses=[503], retry_after=0)  # the 503, not a 1 s wait
    assert _remote_json(f"hf://org/vae/{name}", env=env)["identity"]["family"] == "flux-vae"


# ------------------------------------------------------------- issue 16: hostile metadata


def test_json_output_is_json_whatever_the_floats(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "nan.gguf", "llama", kv=[
        ("x.nan", float("nan"), "FLOAT32"), ("x.inf", float("-inf"), "FLOAT64"),
        ("x.arr", [float("inf"), 1.0], "ARRAY", "FLOAT32")])  # fmt: skip
    r = run_main("inspect", str(path), "--json")
    assert r.code == 0, r.err
    meta = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))["metadata"]
    assert (meta["x.nan"], meta["x.inf"], meta["x.arr"]) == ("nan", "-inf", ["inf", 1.0])


def test_summary_escapes_bidi_and_zero_width_characters(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "bidi.gguf", "\u202egnp.exe\u200b\x1b[31m")
    r = run_main("inspect", str(path))
    assert r.code == 0, r.err
    assert "\u202e" not in r.out and "\u200b" not in r.out and "\x1b" not in r.out
    assert "\\u202egnp.exe\\u200b\\x1b[31m" in r.out


def test_long_strings_are_printed_truncated_with_their_length(tmp_path: Path) -> None:
    path = write_gguf_long_strings(tmp_path / "long.gguf", 4, 64 << 20)
    r = run_main("inspect", str(path), "--json")
    assert r.code == 0, r.err
    assert len(r.out) < 100_000  # was 1.5 GiB
    value = json.loads(r.out)["metadata"]["x.long3"]
    assert value["length"] == 64 << 20 and value["head"].startswith("abc")
    human = run_main("inspect", str(path))
    assert '"abc\\x00' in human.out and "(67108864 bytes)" in human.out


def test_remote_long_strings_are_not_downloaded(hub, tmp_path: Path) -> None:
    """Four 64 MiB strings: the reader skips what it keeps truncated and the remote reader
    fetches only around what is read (before: 256 MiB, the remote header limit, then exit 3)."""
    path = write_gguf_long_strings(tmp_path / "long.gguf", 4, 64 << 20)
    hub.add_file("org/long", "long.gguf", path, sha256="0" * 64)
    hub.clear_log()
    data = _remote_json("hf://org/long/long.gguf", env=hub.env(tmp_path))
    assert data["metadata"]["x.long0"]["length"] == 64 << 20
    hub.wait_idle()
    assert hub.bytes_served("long.gguf") == data["bytes_fetched"] < 8 << 20
    assert all(g.range for g in hub.gets("long.gguf"))


def test_remote_long_strings_from_a_server_ignoring_range_stop_at_the_limit(
    hub, tmp_path: Path
) -> None:
    path = write_gguf_long_strings(tmp_path / "long.gguf", 5, 64 << 20)
    hub.add_file("org/long", "long.gguf", path, sha256="0" * 64)
    hub.fault("org/long", "long.gguf", ignore_range=True)
    r = run_cli("inspect", "hf://org/long/long.gguf", env=hub.env(tmp_path))
    assert r.code == 3, r.err
    assert r.err.startswith("error: ") and "needs more than 256 MiB" in r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize("case", ["svdquant", "mmproj", "layers"])
def test_mistyped_metadata_is_inspected_locally_and_remotely(
    hub, tmp_path: Path, case: str
) -> None:
    name, path, warning = _hostile(tmp_path, case)
    local = _json(str(path))
    assert any(warning in w for w in local["warnings"]), local["warnings"]
    hub.add_file("org/hostile", name, path)
    remote = _remote_json(f"hf://org/hostile/{name}", env=hub.env(tmp_path))
    assert remote["identity"] == local["identity"] and remote["warnings"] == local["warnings"]


def _hostile(tmp_path: Path, case: str) -> tuple[str, Path, str]:
    """(file name, path, expected warning) of one of issue 16's case-8 files."""
    if case == "svdquant":
        name = "svdq-int4_r32-qwen-image.safetensors"
        return name, svdquant_with_weight_dtype(tmp_path / name, ["int4"]), "'weight.dtype'"
    if case == "mmproj":
        name = "mmproj-Qwen2.5-VL-7B-F16.gguf"
        path = mmproj_with_projector(tmp_path / name, ["qwen2vl_merger"], "ARRAY", "STRING")
        return name, path, "'clip.projector_type' is an array"
    name = "qwen_3_4b.safetensors"
    return name, text_encoder_with_layer(tmp_path / name), "more than 4 digits"
