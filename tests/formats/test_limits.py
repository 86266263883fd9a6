"""Issue 16 case 14 and its variants: what a header declares never decides how much is
materialised. A sparse GGUF of 20 KiB declaring four 64 MiB strings made `inspect --json` use
4.9 GB and print 1.5 GiB (sixteen ran out of memory); long strings are now kept truncated with
their length, all values share a budget, keys and tensors are capped, and JSON texts (safetensors
headers, tokenizer.json) are bounded before they are parsed."""

from __future__ import annotations

import json
import resource
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from modelctl.errors import FormatError
from modelctl.formats import gguf
from modelctl.formats.model import MAX_TENSORS, TRUNCATED_HEAD, Warnings
from modelctl.formats.read import read_header
from modelctl.formats.safetensors import MAX_JSON_METADATA, read_safetensors
from modelctl.formats.source import FileSource
from tests.formats.builders import RawGGUF, write_gguf, write_gguf_long_strings, write_safetensors
from tests.helpers.bytes_source import BytesSource
from tests.helpers.cli import cli_env

MiB = 1 << 20
MEMORY_LIMIT = 1 << 30  # address space of the child: the old reader needed 5 GB for 4 strings


def _read(path: Path):  # type: ignore[no-untyped-def]
    with FileSource(path) as src:
        return read_header(src)


def test_long_strings_are_kept_truncated_with_their_length(tmp_path: Path) -> None:
    path = write_gguf_long_strings(tmp_path / "long.gguf", 4, 64 * MiB, head=b"abc\xc3\xa9")
    assert path.stat().st_blocks * 512 < 1 * MiB  # sparse: the header is the attack
    header = _read(path)
    value = header.metadata["x.long0"]
    assert value["type"] == "string" and value["length"] == 64 * MiB
    assert value["head"].startswith("abcé") and len(value["head"].encode()) <= TRUNCATED_HEAD
    assert header.metadata["general.architecture"] == "llama"
    assert header.header_size == path.stat().st_size
    (note,) = [w for w in header.warnings if "truncated" in w]
    assert (
        note.startswith("4 metadata string(s)") and '"abcé' in note and "(67108864 bytes)" in note
    )


def test_a_head_cut_inside_a_character_drops_it(tmp_path: Path) -> None:
    head = b"a" * (TRUNCATED_HEAD - 1) + "é".encode()  # é straddles the cut
    header = _read(write_gguf_long_strings(tmp_path / "cut.gguf", 1, 1 * MiB, head=head))
    assert header.metadata["x.long0"]["head"] == "a" * (TRUNCATED_HEAD - 1)


def test_invalid_utf8_in_a_kept_head_is_still_an_error(tmp_path: Path) -> None:
    path = write_gguf_long_strings(tmp_path / "bad.gguf", 1, 1 * MiB, head=b"ab\xff")
    with pytest.raises(FormatError, match="not valid UTF-8"):
        _read(path)


def test_strings_under_the_inline_limit_are_whole(tmp_path: Path) -> None:
    template = "{% for m in messages %}{{ m.content }}{% endfor %}" * 400  # ~20 KB chat template
    path = write_gguf(tmp_path / "t.gguf", "qwen3", kv=[("tokenizer.chat_template", template,
                                                         "STRING")])  # fmt: skip
    assert _read(path).metadata["tokenizer.chat_template"] == template


def test_values_share_one_budget(tmp_path: Path) -> None:
    """300 strings of 60 KiB (each under the inline limit) are 18 MB: past the 16 MiB budget the
    rest are kept truncated, so any number of values costs a bounded amount."""
    count, length = 300, 60 << 10
    header = _read(write_gguf_long_strings(tmp_path / "many.gguf", count, length))
    kept = [v for k, v in header.metadata.items() if k.startswith("x.") and isinstance(v, str)]
    truncated = [v for v in header.metadata.values() if isinstance(v, dict)]
    assert len(kept) == gguf.VALUE_BUDGET // length and len(kept) + len(truncated) == count
    assert sum(len(v) for v in kept) <= gguf.VALUE_BUDGET


def test_long_strings_inside_a_short_array(tmp_path: Path) -> None:
    item = struct.pack("<Q", 1 << 20) + b"\0" * (1 << 20)
    raw = RawGGUF().kv("x.arr", 9, struct.pack("<IQ", 8, 2) + item + RawGGUF.string("ok"))
    header = read_header(BytesSource(raw.build(), name="arr.gguf"))
    first, second = header.metadata["x.arr"]
    assert first == {"type": "string", "length": 1 << 20, "head": "\0" * TRUNCATED_HEAD}
    assert second == "ok"


def test_keys_beyond_their_budget_are_refused() -> None:
    raw = RawGGUF()
    for i in range(gguf.KEY_BUDGET // gguf.MAX_KEY_LENGTH + 1):
        raw.kv_u32(f"{i:08d}".ljust(gguf.MAX_KEY_LENGTH, "k"), i)
    with pytest.raises(FormatError, match="metadata keys exceed the 4 MiB"):
        read_header(BytesSource(raw.build(), name="keys.gguf"))


def test_tensor_count_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "tensors.gguf"
    raw = RawGGUF()
    raw.n_tensors = MAX_TENSORS + 1
    with open(path, "wb") as fh:  # room for every declared tensor, as a sparse hole
        fh.write(raw.build())
        fh.truncate(24 * (MAX_TENSORS + 2))
    with pytest.raises(FormatError, match=f"more than the {MAX_TENSORS} modelctl reads"):
        _read(path)


def test_warnings_are_bounded() -> None:
    raw = RawGGUF()
    for i in range(100):
        raw.kv_u32(f"clé.{i}", i)  # not ASCII: one warning each
    warnings = read_header(BytesSource(raw.build(), name="w.gguf")).warnings
    assert len(warnings) == Warnings().limit + 1 and warnings[-1] == "... and 80 more warnings"


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 4, 1) + b"\0" * 4, "nested arrays"),
        (struct.pack("<IQ", 4, 1 << 63), "declares 9223372036854775808 items"),
        (struct.pack("<IQ", 8, (1 << 64) - 1), "declares 18446744073709551615 items"),
        (struct.pack("<IQ", 8, 1) + struct.pack("<Q", 1 << 40), "runs past the end"),
    ],
    ids=["array-of-arrays", "count-2^63", "count-2^64-1", "string-past-eof"],
)
def test_hostile_arrays_are_format_errors(payload: bytes, match: str) -> None:
    raw = RawGGUF().kv("x.arr", 9, payload)
    with pytest.raises(FormatError, match=match):
        read_header(BytesSource(raw.build(), name="a.gguf"))


def _inspect_limited(path: Path) -> subprocess.CompletedProcess[str]:
    """`inspect --json PATH` in a child whose address space is capped at MEMORY_LIMIT."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "modelctl", "inspect", "--json", str(path)],
        env=cli_env({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}),
        preexec_fn=cap,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_inspect_of_sixteen_64_mib_strings_fits_in_1_gib(tmp_path: Path) -> None:
    path = write_gguf_long_strings(tmp_path / "hostile.gguf", 16, 64 * MiB)
    result = _inspect_limited(path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) < 200_000  # was 1.5 GiB for four
    data = json.loads(result.stdout)
    assert data["metadata"]["x.long15"]["length"] == 64 * MiB


# --------------------------------------------------------------------------- safetensors


def _st(header: bytes, data: bytes = b"") -> BytesSource:
    return BytesSource(struct.pack("<Q", len(header)) + header + data, name="t.safetensors")


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b'{"__metadata__":{"a":"\\ud800"}}', "lone UTF-16 surrogate"),
        (b'{"\\udfff":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}', "lone UTF-16 surrogate"),
        (b'{"a":{"dtype":"F16","shape":[' + b"9" * 5000 + b'],"data_offsets":[0,2]}}',
         "an integer of 5000 digits"),
        (b'{"a":{"dtype":"F16","shape":[NaN],"data_offsets":[0,2]}}', "constant NaN"),
        (b'{"a":{"dtype":"F16","shape":[1e400],"data_offsets":[0,2]}}', "shape is not a list"),
        (b'{"a":{"dtype":"F16","shape":[true],"data_offsets":[0,2]}}', "shape is not a list"),
        (b'{"a":{"dtype":"F16","shape":[1],"data_offsets":[-2,0]}}', "data_offsets is not"),
        (b'{"a":{"dtype":"F17","shape":[1],"data_offsets":[0,2]}}', "unknown dtype 'F17'"),
        (b'{"a":{"dtype":["F16"],"shape":[1],"data_offsets":[0,2]}}', r"unknown dtype \['F16'\]"),
        (b'{"__metadata__":{"a":1}}', r"__metadata__\['a'\] is not a string"),
        (b'{"__metadata__":{"a":{"b":"c"}}}', r"__metadata__\['a'\] is not a string"),
        (b'{"__metadata__":{"a":"1","a":"2"}}', "duplicate key 'a'"),
        (b'{"__metadata__":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not valid JSON"),
        (b'{"a":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001, "not valid JSON"),
        (b'{"' + b"n" * 5000 + b'":{"dtype":"F17","shape":[],"data_offsets":[0,0]}}',
         r"tensor 'n{80}'\.\.\. \(5000 characters\) has unknown dtype"),
    ],
    ids=["surrogate-value", "surrogate-name", "5000-digits", "nan", "1e400", "bool", "negative",
         "dtype", "dtype-list", "meta-int", "meta-object", "duplicate", "deep-lists",
         "deep-objects", "long-name"],
)  # fmt: skip
def test_hostile_safetensors_headers_are_format_errors(header: bytes, match: str) -> None:
    with pytest.raises(FormatError, match=match) as info:
        read_safetensors(_st(header, b"\0\0"), check_data=False)
    assert len(info.value.message) < 400


def test_tensor_count_is_capped_in_safetensors_too() -> None:
    entry = b'"t%d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}'
    n = MAX_TENSORS + (1 << 16) // 3 + 1
    header = b"{" + b",".join(entry % i for i in range(n)) + b"}"
    with pytest.raises(FormatError, match=f"more than a file of {MAX_TENSORS} tensors"):
        read_safetensors(_st(header), check_data=False)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"[]," * (3 * MAX_TENSORS + 65536) + b"[]", "'{' and '\\['"),
        (b"1," * (16 * MAX_TENSORS) + b"1", "','"),
    ],
    ids=["lists", "values"],
)
def test_json_that_would_build_too_much_is_refused_before_parsing(body: bytes, match: str) -> None:
    """A 100 MB header of 1.6M tensor entries took 1.5 GB to parse, one shape of 49M ones 880 MB:
    what the JSON can build is counted on the bytes first."""
    header = b'{"a":{"dtype":"U8","shape":[' + body + b'],"data_offsets":[0,1]}}'
    with pytest.raises(FormatError, match=match):
        read_safetensors(_st(header, b"\0"), check_data=False)


def test_long_metadata_values_are_summarised_and_not_parsed(tmp_path: Path) -> None:
    big = "x" * (MAX_JSON_METADATA + 1)
    path = write_safetensors(tmp_path / "m.safetensors", [("w", (1,), "F16")],
                             {"comment": big, "config": "[" + big + "]"})  # fmt: skip
    header = _read(path)
    assert header.metadata["comment"] == {"type": "string", "length": len(big),
                                          "head": "x" * TRUNCATED_HEAD}  # fmt: skip
    assert header.detail.metadata["comment"] == big  # the parse result keeps the value
    assert "config" not in header.detail.parsed_metadata
    assert any("'config'" in w and "not valid JSON" in w for w in header.warnings)


# --------------------------------------------------------------------------- sniffed files


def test_json_of_many_lists_is_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "lists.json"
    path.write_bytes(b"[" + b"[]," * (1 << 21) + b"[]]")
    header = _read(path)
    assert header.format == "json" and "too large to classify" in header.metadata["description"]


@pytest.mark.parametrize("size", ["²", "9" * 900, "-1", "12 34"])
def test_lfs_pointer_with_a_strange_size(tmp_path: Path, size: str) -> None:
    path = tmp_path / "model.safetensors"
    path.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{'a' * 64}\n"
                    f"size {size}\n")  # fmt: skip
    header = _read(path)
    assert header.format == "lfs-pointer" and header.metadata["lfs_size"] == size[:32]


@pytest.mark.parametrize(
    "text",
    ['{"error": "\\ud800 denied"}', '{"\\ud800": 1}',
     '{"model": {"type": "\\udc00", "vocab": {}}, "added_tokens": []}'],
)  # fmt: skip
def test_json_facts_are_printable_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text)
    metadata = _read(path).metadata
    json.dumps(metadata, ensure_ascii=False).encode("utf-8")  # no lone surrogate left


def test_sentencepiece_normalizer_name_is_bounded(tmp_path: Path) -> None:
    """A 10 MB normalizer name in a tokenizer.model (hand-assembled protobuf: field 1 a piece,
    field 3 the NormalizerSpec whose field 1 is its name) is summarised like a long string."""
    name = b"\x1b[2J" + b"n" * (10 * MiB)
    piece = b"\x0a\x01a\x15\x00\x00\x00\x00"
    norm = b"\x0a" + _varint(len(name)) + name
    path = tmp_path / "tokenizer.model"
    path.write_bytes(b"\x0a" + _varint(len(piece)) + piece + b"\x1a" + _varint(len(norm)) + norm)
    header = _read(path)
    assert header.format == "sentencepiece" and header.metadata["vocab_size"] == 1
    assert header.metadata["normalizer"]["length"] == len(name)


def _varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


@pytest.mark.parametrize("chunk", [1 << 20, 4096], ids=["local", "remote-sized"])
def test_runs_of_empty_strings_are_skipped_exactly(tmp_path: Path, chunk: int) -> None:
    """Empty strings (eight zero bytes each: what a sparse hole reads as) are skipped a window at
    a time (a 1 GiB hole took the plain loop 67 s, now under a second); the strings around
    them, and the keys after, are still where they are."""
    tokens = [""] * 20_000 + ["a", "", "bc"] + [""] * 70_000 + [f"t{i}" for i in range(5000)]
    path = write_gguf(tmp_path / "v.gguf", "llama", kv=[
        ("tokenizer.ggml.tokens", tokens, "ARRAY", "STRING"), ("x.after", "end", "STRING")])  # fmt: skip
    with FileSource(path) as src:
        header = gguf.read_gguf(src, chunk=chunk)
    assert header.metadata["tokenizer.ggml.tokens"]["length"] == len(tokens)
    assert header.metadata["x.after"] == "end"
