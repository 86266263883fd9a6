"""One test per manifest validation rule: the exact `error:` line and exit code 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modelctl.cli.main import main
from tests.helpers.cli import run_main

GOOD = """\
schema: 1
name: demo
description: a demo stack
variants:
  quant: {values: [Q4_K_M, Q8_0], default: Q4_K_M}
assets:
  - id: unet
    role: diffusion_model
    source: hf://owner/repo/model-{quant}.gguf
    revision: main
    dest: diffusion_models/model-{quant}.gguf
  - id: vae
    role: vae
    source: https://example.org/files/ae.safetensors
    sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    dest: vae/ae.safetensors
"""


def run_show(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "demo.yaml"
    path.write_text(textwrap.dedent(text), "utf-8")
    code = main(["show", str(path), "--models-dir", str(tmp_path / "models"), "--json"])
    return code, capsys.readouterr().err


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def test_good_manifest_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_show(tmp_path, GOOD, capsys)
    assert code == 0, err


CASES = {
    "unknown top key": (
        edit("description:", "descripton:"),
        ":3: unknown key `descripton` in the manifest",
        "did you mean `description`?",
    ),
    "unknown asset key": (
        edit("    revision: main", "    revison: main"),
        ":10: unknown key `revison` in an asset",
        "did you mean `revision`?",
    ),
    "duplicate key": (
        edit("    revision: main", "    revision: main\n    revision: v2"),
        ":11: duplicate key `revision`",
        None,
    ),
    "schema not 1": (edit("schema: 1", "schema: 2"), ":1: unsupported schema 2", "schema: 1"),
    "schema as string": (
        edit("schema: 1", 'schema: "1"'),
        ":1: schema: `1` is not a plain whole number",
        None,
    ),
    "missing name": (
        edit("name: demo\n", ""),
        ":1: the manifest is missing the required key `name`",
        None,
    ),
    "bad name": (
        edit("name: demo", "name: Demo Stack"),
        ":2: name `Demo Stack` is not valid",
        None,
    ),
    "yaml no becomes bool": (
        edit("description: a demo stack", "description: no"),
        ":3: description: `no` is read by YAML as a boolean, not text",
        'quote it: "no"',
    ),
    "octal revision": (
        edit("revision: main", "revision: 0123"),
        ":10: asset `unet` revision: `0123` is read by YAML as a number, not text",
        'quote it: "0123"',
    ),
    "date coerced": (
        edit("description: a demo stack", "description: 2024-01-01"),
        ":3: description: `2024-01-01` is read by YAML as a date",
        None,
    ),
    "sha256 as number": (
        edit(
            "sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "sha256: 1234",
        ),
        ":15: asset `vae` sha256: `1234` is read by YAML as a number",
        None,
    ),
    "bad hex": (
        edit(
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
        ),
        ":15: asset `vae`: sha256 has a character that is not hexadecimal",
        None,
    ),
    "short hash": (
        edit(
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "0123456789abcdef"
        ),
        "got 16 characters",
        None,
    ),
    "size with underscore": (
        edit("    dest: vae/ae.safetensors", "    dest: vae/ae.safetensors\n    size: 1_000"),
        ":17: asset `vae` size: `1_000` is not a plain whole number",
        None,
    ),
    "size zero": (
        edit("    dest: vae/ae.safetensors", "    dest: vae/ae.safetensors\n    size: 0"),
        "size must be at least 1",
        None,
    ),
    "allow_pickle yes": (
        edit("    dest: vae/ae.safetensors", "    dest: vae/ae.safetensors\n    allow_pickle: yes"),
        "allow_pickle: `yes` is not true or false",
        "write true or false",
    ),
    "bad revision": (
        edit("revision: main", "revision: ../main"),
        ":10: asset `unet` revision: `../main` is not a valid revision",
        None,
    ),
    "revision on https": (
        edit("    sha256: 0123", "    revision: main\n    sha256: 0123"),
        ":15: asset `vae`: revision applies to hf:// sources only",
        None,
    ),
    "dest dotdot": (
        edit("dest: vae/ae.safetensors", "dest: vae/../../etc/passwd"),
        ":16: asset `vae` dest: the destination contains `..`",
        "keep it inside the models dir",
    ),
    "dest absolute": (
        edit("dest: vae/ae.safetensors", "dest: /etc/ae.safetensors"),
        ":16: asset `vae` dest: the destination is absolute",
        None,
    ),
    "dest backslash": (
        edit("dest: vae/ae.safetensors", 'dest: "vae\\\\ae.safetensors"'),
        ":16: asset `vae` dest: the destination contains a backslash",
        None,
    ),
    "dest hidden state dir": (
        edit("dest: vae/ae.safetensors", "dest: .modelctl/ae.safetensors"),
        "the destination starts with a hidden folder",
        None,
    ),
    "unknown role": (
        edit("role: vae", "role: vea"),
        ":13: asset `vae`: unknown role `vea`",
        "use one of: diffusion_model",
    ),
    "unknown axis value in when": (
        edit(
            "    dest: vae/ae.safetensors", "    dest: vae/ae.safetensors\n    when: {quant: Q2_K}"
        ),
        ":17: asset `vae`: `when` value `Q2_K` is not a value of `quant`",
        None,
    ),
    "unknown axis in when": (
        edit(
            "    dest: vae/ae.safetensors", "    dest: vae/ae.safetensors\n    when: {steps: '4'}"
        ),
        ":17: asset `vae`: `when` names the unknown axis `steps`",
        None,
    ),
    "unknown placeholder": (
        edit("model-{quant}.gguf\n    revision", "model-{qaunt}.gguf\n    revision"),
        ":9: asset `unet`: `{qaunt}` is not a variant axis",
        None,
    ),
    "default not in values": (
        edit("default: Q4_K_M", "default: Q6_K"),
        ":5: default `Q6_K` of `quant` is not one of its values",
        None,
    ),
    "duplicate asset id": (
        edit("  - id: vae", "  - id: unet"),
        ":12: duplicate asset id `unet`",
        None,
    ),
    "two assets one dest": (
        edit("dest: vae/ae.safetensors", "dest: diffusion_models/model-Q8_0.gguf"),
        "assets `unet` and `vae` both write `diffusion_models/model-Q8_0.gguf` when quant=Q8_0",
        "separate them with `when`",
    ),
    "http source": (
        edit("https://example.org", "http://example.org"),
        ":14: asset `vae` source: plain http is not allowed",
        "use https://",
    ),
    "userinfo in url": (
        edit("https://example.org", "https://user:hf_secret@example.org"),
        "credentials in the URL",
        None,
    ),
    "unbalanced ipv6 bracket": (
        edit("https://example.org", "https://[example.org"),
        ":14: asset `vae` source: the URL is not valid",
        "write https://host/path",
    ),
    "bad scheme": (
        edit("https://example.org/files/ae.safetensors", "ftp://example.org/ae.safetensors"),
        "unsupported source scheme `ftp`",
        None,
    ),
    "hf path dotdot": (
        edit("hf://owner/repo/model", "hf://owner/repo/../model"),
        "the file path contains `..`",
        None,
    ),
    "unknown expect key": (
        edit(
            "    dest: vae/ae.safetensors", "    dest: vae/ae.safetensors\n    expect: {width: 16}"
        ),
        "unknown key `width` in asset `vae` expect",
        None,
    ),
    "expect wrong type": (
        edit(
            "    dest: vae/ae.safetensors",
            "    dest: vae/ae.safetensors\n    expect: {latent_channels: sixteen}",
        ),
        "expect.latent_channels: `sixteen` is not a plain whole number",
        None,
    ),
    "assets not a list": (
        GOOD.split("assets:")[0] + "assets: {}\n",
        ":6: assets must be a list",
        None,
    ),
    "tabs": ("schema: 1\n\tname: x\n", "invalid YAML", "tabs"),
    "two documents": (GOOD + "---\nschema: 1\n", "expected exactly one YAML document", None),
    "alias bomb": (
        "schema: 1\nname: x\na: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: ["
        + ", ".join(["*b"] * 40)
        + "]\n",
        "more than 32 YAML aliases",
        None,
    ),
    "deep nesting": (
        "schema: 1\nname: x\nassets: " + "[" * 40 + "]" * 40 + "\n",
        "nesting deeper than 16 levels",
        None,
    ),
    # issue 16, item 10: a size no file can have reached float() in show/status (OverflowError)
    "size of 310 digits": (
        edit(
            "    dest: vae/ae.safetensors",
            "    size: " + "9" * 310 + "\n    dest: vae/ae.safetensors",
        ),
        ":16: asset `vae` size must be at most 9223372036854775807, not 99999999999999999999… "
        "(310 digits)",
        None,
    ),
    "size over off_t": (
        edit(
            "    dest: vae/ae.safetensors",
            "    size: 9223372036854775808\n    dest: vae/ae.safetensors",
        ),
        ":16: asset `vae` size must be at most 9223372036854775807, not 9223372036854775808",
        None,
    ),
    "expect number too large": (
        edit(
            "    dest: vae/ae.safetensors",
            "    dest: vae/ae.safetensors\n    expect: {dim: 1" + "0" * 30 + "}",
        ),
        ":17: asset `vae` expect.dim must be at most 9223372036854775807, not 1" + "0" * 30,
        None,
    ),
    "min_vram_gib of 400 digits": (
        GOOD + "requires:\n  gpu: {min_vram_gib: " + "9" * 400 + ".5}\n",
        ":18: requires.gpu.min_vram_gib must be at most 1048576, not 99999999999999999999…",
        None,
    ),
    # refused before any combination is built: 8**8 of them took minutes and gigabytes
    "too many combinations": (
        "schema: 1\nname: x\nvariants:\n"
        + "".join(
            f"  a{i}: {{values: [v0, v1, v2, v3, v4, v5, v6, v7], default: v0}}\n" for i in range(8)
        )
        + "assets:\n  - id: x\n    role: vae\n    dest: vae/x.gguf\n    source: hf://o/r/"
        + "-".join(f"{{a{i}}}" for i in range(8))
        + ".gguf\n",
        ":13: 16777216 variant combinations, over 4096",
        "split it",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, message, hint = CASES[case]
    code, err = run_show(tmp_path, text, capsys)
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith(f"error: {tmp_path / 'demo.yaml'}"), first
    assert message in first
    assert "Traceback" not in err
    if hint:
        assert hint in err


def test_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.yaml"
    path.write_bytes(b"schema: 1\nname: \xff\n")
    assert main(["show", str(path)]) == 2
    assert "is not valid UTF-8" in capsys.readouterr().err


def test_too_large(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.yaml"
    path.write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    assert main(["show", str(path)]) == 2
    assert "over the 1048576-byte limit" in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("schema: " + "9" * 5000, ":1: schema must be at most 9223372036854775807, not 9999"),
        ("name: " + "9" * 5000, ":2: name: `99999999999999999999… (5000 characters)` is read by"),
        ("size: " + "9" * 5000, ":16: asset `vae` size must be at most 9223372036854775807"),
    ],
)
def test_numbers_past_int_str_digits(
    line: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16, item 10: `int()` of more than 4300 digits raises ValueError (was exit 70); the
    digits are counted first, and the message names the number by its length, on one line."""
    key = line.split(":", 1)[0]
    if key == "size":
        text = edit("    dest: vae/ae.safetensors", f"    {line}\n    dest: vae/ae.safetensors")
    else:
        text = "\n".join(line if x.startswith(f"{key}:") else x for x in GOOD.splitlines())
    code, err = run_show(tmp_path, text, capsys)
    assert code == 2, err
    (first,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert message in first and len(first) < 400, first


def test_show_and_status_with_a_huge_size(tmp_path: Path) -> None:
    """The reported case: a 310-digit `size:` made show and status exit 70 (OverflowError)."""
    path = tmp_path / "demo.yaml"
    path.write_text(
        edit(
            "    dest: vae/ae.safetensors",
            "    size: " + "9" * 310 + "\n    dest: vae/ae.safetensors",
        )
    )
    for command in ("show", "status"):
        r = run_main(command, str(path), "--models-dir", str(tmp_path / "models"))
        assert r.code == 2, r.err
        assert r.err.startswith(f"error: {path}:16: asset `vae` size must be at most"), r.err
