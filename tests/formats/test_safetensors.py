"""The safetensors header reader: the safetensors package as the oracle, one bad header per rule."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from modelctl.errors import FormatError
from modelctl.formats.read import read_header
from modelctl.formats.safetensors import read_safetensors
from modelctl.formats.source import FileSource
from tests.formats.builders import write_safetensors
from tests.helpers.bytes_source import BytesSource
from tests.identify.specs import all_specs

ST_SPECS = [s for s in all_specs() if not s.gguf]


@pytest.mark.parametrize("spec", ST_SPECS, ids=lambda s: s.name)
def test_matches_safetensors_package(tmp_path: Path, spec) -> None:
    from safetensors import safe_open

    path = spec.write(tmp_path)
    with FileSource(path) as src:
        header = read_safetensors(src)
    with safe_open(str(path), framework="numpy") as f:
        names = set(f.keys())
        assert {t.name for t in header.tensors} == names
        assert (f.metadata() or {}) == header.metadata
        for t in header.tensors:
            sl = f.get_slice(t.name)
            assert list(t.shape) == list(sl.get_shape()), t.name
            assert t.dtype == sl.get_dtype(), t.name
    assert header.tensors[-1].offset + header.tensors[-1].nbytes == path.stat().st_size


def test_nunchaku_metadata_json_is_parsed(tmp_path: Path) -> None:
    spec = next(s for s in ST_SPECS if s.name.startswith("svdq-int4_r32"))
    with FileSource(spec.write(tmp_path)) as src:
        info = read_safetensors(src).detail
    assert info.parsed_metadata["quantization_config"]["rank"] == 32
    assert info.parsed_metadata["config"]["_class_name"].startswith("Nunchaku")


def test_sub_byte_and_fp8_dtypes() -> None:
    header = _st({"a": {"dtype": "F4", "shape": [2, 4], "data_offsets": [0, 4]},
                  "b": {"dtype": "F8_E4M3", "shape": [3], "data_offsets": [4, 7]}}, 7)  # fmt: skip
    assert [(t.dtype, t.nbytes) for t in header.tensors] == [("F4", 4), ("F8_E4M3", 3)]


def _encode(doc: object | str, pad: bytes = b"") -> bytes:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    raw = text.encode() + pad
    return struct.pack("<Q", len(raw)) + raw


def _st(doc: object | str, data_len: int):
    return read_safetensors(BytesSource(_encode(doc) + b"\0" * data_len))


GOOD = {"w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}

CASES = {
    "shorter than 8": (lambda: b"\x05\0\0", r"at byte 0: the file is 3 bytes"),
    "header too large": (lambda: struct.pack("<Q", 100_000_001) + b"{}", r"exceeds the 100000000"),
    "header past end": (lambda: struct.pack("<Q", 500) + b"{}", r"truncated"),
    "not utf-8": (lambda: struct.pack("<Q", 4) + b'{"\xff}', r"at byte 10: .*not valid UTF-8"),
    "not starting with brace": (lambda: _encode(" {}"), r"does not start with '\{'"),
    "not json": (lambda: _encode("{nope"), r"not valid JSON"),
    "not an object": (lambda: _encode("{}")[:8] + b"[] ", r"does not start"),
    "duplicate key": (lambda: _encode('{"w": {}, "w": {}}'), r"duplicate key 'w'"),
    "NaN": (
        lambda: _encode('{"w": {"dtype": "F16", "shape": [NaN], "data_offsets": [0, 2]}}'),
        r"non-standard JSON constant NaN",
    ),
    "bool in shape": (
        lambda: _encode({"w": {"dtype": "F16", "shape": [True], "data_offsets": [0, 2]}}) + b"\0\0",
        r"shape is not a list of integers",
    ),
    "float offset": (
        lambda: _encode({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1.0]}}) + b"\0",
        r"data_offsets is not",
    ),
    "metadata not strings": (lambda: _encode({"__metadata__": {"a": 1}}), r"is not a string"),
    "unknown dtype": (
        lambda: _encode({"w": {"dtype": "F12", "shape": [1], "data_offsets": [0, 2]}}) + b"\0\0",
        r"unknown dtype 'F12'",
    ),
    "missing field": (lambda: _encode({"w": {"dtype": "U8", "shape": [1]}}), r"lacks data_offsets"),
    "end before begin": (
        lambda: _encode({"w": {"dtype": "U8", "shape": [0], "data_offsets": [1, 0]}}),
        r"end before they begin",
    ),
    "wrong size": (
        lambda: (
            _encode({"w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 6]}}) + b"\0" * 6
        ),
        r"spans 6 bytes but F16",
    ),
    "gap": (
        lambda: _encode({"w": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}) + b"\0" * 4,
        r"leaves a gap",
    ),
    "overlap": (
        lambda: (
            _encode(
                {
                    "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                    "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]},
                }
            )
            + b"\0" * 4
        ),
        r"overlaps",
    ),
    "misaligned F4": (
        lambda: _encode({"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 1]}}) + b"\0",
        r"does not end on a byte",
    ),
    "shape overflow": (
        lambda: (
            _encode({"w": {"dtype": "U8", "shape": [2**40, 2**40], "data_offsets": [0, 1]}}) + b"\0"
        ),
        r"overflows 64 bits",
    ),
    "trailing bytes": (lambda: _encode(GOOD) + b"\0" * 9, r"1 bytes follow the last tensor"),
    "truncated data": (lambda: _encode(GOOD) + b"\0" * 5, r"truncated or incomplete download"),
    "huge int": (
        lambda: _encode('{"w": {"dtype": "U8", "shape": [' + "9" * 5000 + "]}}"),
        r"not valid JSON",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_header_is_one_format_error_with_offset(case: str) -> None:
    make, pattern = CASES[case]
    with pytest.raises(FormatError) as err:
        read_safetensors(BytesSource(make(), name="bad.safetensors"))
    assert re.search(r"^bad\.safetensors: invalid safetensors at byte \d+: ", err.value.message)
    assert re.search(pattern, err.value.message), err.value.message


def test_rejected_by_us_means_rejected_by_the_crate_for_layout_errors() -> None:
    import safetensors

    for case in ("gap", "overlap", "wrong size", "trailing bytes", "truncated data"):
        with pytest.raises(Exception):  # noqa: B017 - the crate raises its own SafetensorError
            safetensors.deserialize(CASES[case][0]())


def test_valid_edge_cases() -> None:
    assert _st({}, 0).tensors == []
    assert _st({"__metadata__": {"a": "b"}}, 0).metadata == {"a": "b"}
    header = _st({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
                  "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]}}, 4)  # fmt: skip
    assert {t.name: t.shape for t in header.tensors} == {"s": (), "e": (0, 3)}
    # trailing spaces in the header are allowed (the writer pads to 8 bytes)
    raw = _encode(GOOD, pad=b"   ") + b"\0" * 8
    assert read_safetensors(BytesSource(raw)).tensors[0].name == "w"


def test_header_from_a_prefix(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "a.safetensors", [("w", (64, 64), "F32")])
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    prefix = BytesSource(data[: 8 + n], size=len(data))
    assert read_header(prefix, check_data=False).tensors[0].shape == (64, 64)
