"""The streaming GGUF reader: gguf.GGUFReader as the oracle, and one bad file per field."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from modelctl.errors import FormatError
from modelctl.formats.gguf import read_gguf
from modelctl.formats.read import read_header
from modelctl.formats.source import FileSource
from tests.formats.builders import RawGGUF, write_gguf
from tests.helpers.bytes_source import BytesSource
from tests.identify.specs import all_specs

GGUF_SPECS = [s for s in all_specs() if s.gguf]

EVERY_TYPE_KV = [
    ("test.u8", 200, "UINT8"), ("test.i8", -5, "INT8"), ("test.u16", 60000, "UINT16"),
    ("test.i16", -300, "INT16"), ("test.u32", 4_000_000_000, "UINT32"), ("test.i32", -7, "INT32"),
    ("test.f32", 0.5, "FLOAT32"), ("test.bool", True, "BOOL"), ("test.str", "héllo", "STRING"),
    ("test.u64", 2**63 + 5, "UINT64"), ("test.i64", -(2**40), "INT64"), ("test.f64", 1.25, "FLOAT64"),
    ("test.short", [1, 2, 3], "ARRAY", "INT32"),
    ("test.long_str", [f"tok{i}" * (i % 7) for i in range(5000)], "ARRAY", "STRING"),
    ("test.long_f32", [float(i) for i in range(3000)], "ARRAY", "FLOAT32"),
    ("test.long_bool", [i % 2 == 0 for i in range(100)], "ARRAY", "BOOL"),
    ("comfy.gguf.orig_shape.shaped", [64, 3, 2], "ARRAY", "INT32"),
]  # fmt: skip


def _oracle_check(path: Path) -> None:
    """Every key, value, type, tensor name, shape, type, size and offset equals GGUFReader's."""
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(path)
    with FileSource(path) as src:
        header = read_gguf(src, max_array_items=1 << 40)
    fields = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    mine = header.detail.fields
    assert list(fields) == list(mine)
    for key, f in fields.items():
        assert mine[key].type == f.types[0].name, key
        if f.types[0] == GGUFValueType.ARRAY:
            assert mine[key].length == len(f.data), key
            if f.data:
                assert mine[key].item_type == f.types[-1].name, key
        want = f.contents()
        if isinstance(want, float):
            assert mine[key].value == pytest.approx(want), key
        else:
            assert mine[key].value == want, key
    assert header.detail.data_offset == reader.data_offset
    assert [t.name for t in header.tensors] == [t.name for t in reader.tensors]
    for ours, theirs in zip(header.tensors, reader.tensors, strict=True):
        assert ours.stored_shape == tuple(int(d) for d in theirs.shape)
        assert ours.dtype == theirs.tensor_type.name
        assert ours.nbytes == theirs.n_bytes
        assert ours.n_elements == theirs.n_elements
        assert ours.offset == theirs.data_offset


@pytest.mark.parametrize("spec", GGUF_SPECS, ids=lambda s: s.name)
def test_matches_gguf_reader_on_model_fixtures(tmp_path: Path, spec) -> None:
    _oracle_check(spec.write(tmp_path))


def test_matches_gguf_reader_on_every_value_type(tmp_path: Path) -> None:
    path = write_gguf(
        tmp_path / "types.gguf", "llama", [("shaped", (64, 6), "F16"), ("q", (4, 512), "Q6_K")],
        EVERY_TYPE_KV, alignment=64,
    )  # fmt: skip
    _oracle_check(path)
    with FileSource(path) as src:
        header = read_gguf(src)
    assert header.metadata["test.long_str"] == {"type": "array", "item_type": "STRING",
                                                "length": 5000}  # fmt: skip
    assert header.metadata["test.short"] == [1, 2, 3]
    shapes = {t.name: t.shape for t in header.tensors}
    assert shapes["shaped"] == (64, 3, 2)  # comfy.gguf.orig_shape honoured
    assert shapes["q"] == (4, 512)  # ne reversed into torch order
    assert header.detail.alignment == 64


def test_header_only_from_a_prefix(tmp_path: Path) -> None:
    spec = next(s for s in GGUF_SPECS if s.name.startswith("z_image"))
    data = spec.write(tmp_path).read_bytes()
    with FileSource(tmp_path / spec.name) as src:
        full = read_gguf(src)
    prefix = BytesSource(data[: full.header_size], size=len(data))
    assert [t.name for t in read_gguf(prefix, check_data=False).tensors] == [
        t.name for t in full.tensors
    ]
    with pytest.raises(FormatError, match="truncated or incomplete download"):
        read_gguf(BytesSource(data[: full.header_size + 100]))


def _raw(**kw) -> RawGGUF:
    return RawGGUF(**kw).kv_str("general.architecture", "llama")


CASES = {
    "bad magic": (lambda: b"GGUX" + _raw().build()[4:], r"at byte 0: .*magic"),
    "version 0": (lambda: RawGGUF(version=0).build(), r"unsupported GGUF version 0"),
    "version 1": (lambda: RawGGUF(version=1).build(), r"unsupported GGUF version 1"),
    "future version": (lambda: RawGGUF(version=4).build(), r"unsupported GGUF version 4"),
    "big endian": (lambda: RawGGUF(version=3 << 24).build(), r"big-endian"),
    "n_tensors -1": (lambda: _with(_raw(), n_tensors=2**64 - 1), r"at byte 8: .*negative"),
    "n_kv huge": (lambda: _with(_raw(), n_kv=10**9), r"at byte 8: .*more than"),
    "key size -1": (
        lambda: RawGGUF().kv("", 4, b"").build()[:24] + struct.pack("<Q", 2**64 - 1) + b"\0" * 16,
        r"at byte 24: metadata key length",
    ),
    "empty key": (lambda: RawGGUF().kv("", 4, b"\0\0\0\0").build(), r"empty metadata key"),
    "bad value type": (lambda: RawGGUF().kv("a.b", 13, b"\0" * 8).build(), r"unknown value type"),
    "duplicate key": (lambda: _raw().kv_u32("a.b", 1).kv_u32("a.b", 2).build(), r"duplicate"),
    "bool 2": (lambda: RawGGUF().kv("a.b", 7, b"\2").build(), r"BOOL value .* is 2"),
    "nested array": (
        lambda: RawGGUF().kv("a.b", 9, struct.pack("<IQ", 9, 1) + b"\0" * 12).build(),
        r"nested arrays",
    ),
    "array too long": (
        lambda: RawGGUF().kv("a.b", 9, struct.pack("<IQ", 6, 2**40)).build(),
        r"declares 1099511627776 items",
    ),
    "string past end": (
        lambda: RawGGUF().kv("a.b", 8, RawGGUF.string("x", 10**6)).build(),
        r"runs past the end",
    ),
    "string in array past end": (
        lambda: (
            RawGGUF()
            .kv(
                "a.b",
                9,
                struct.pack("<IQ", 8, 40) + RawGGUF.string("x") * 39 + RawGGUF.string("y", 2**50),
            )
            .build()
        ),
        r"string 39 of the array declares",
    ),
    "invalid utf-8 key": (
        lambda: (
            RawGGUF().kv("a\xff", 4, b"\0" * 4).build().replace("a\xff".encode(), b"a\xff\xfe"[:2])
        ),
        r"not valid UTF-8",
    ),
    "alignment 13": (lambda: _raw().kv_u32("general.alignment", 13).build(), r"not a power of two"),
    "alignment 0": (lambda: _raw().kv_u32("general.alignment", 0).build(), r"not a power of two"),
    "alignment type": (
        lambda: _raw().kv("general.alignment", 10, b"\x20" + b"\0" * 7).build(),
        r"must be UINT32",
    ),
    "name too long": (
        lambda: _raw().tensor("n" * 64, [32]).build(data=b"\0" * 128),
        r"tensor name length 64 exceeds",
    ),
    "5 dims": (
        lambda: _raw().tensor("t", [1, 1, 1, 1, 1]).build(data=b"\0" * 64),
        r"5 dimensions",
    ),
    "negative dim": (
        lambda: _raw().tensor("t", [-1]).build(data=b"\0" * 64),
        r"negative dimension",
    ),
    "ne too big": (
        lambda: _raw().tensor("t", [2**40, 2**40]).build(data=b"\0" * 64),
        r"overflows int64",
    ),
    "bad type": (
        lambda: _raw().tensor("t", [32], ggml_type=4).build(data=b"\0" * 64),
        r"unknown ggml type 4",
    ),
    "row not block multiple": (
        lambda: _raw().tensor("t", [33], ggml_type=2).build(data=b"\0" * 64),
        r"not a multiple of the Q4_0 block size 32",
    ),
    "misaligned offset": (
        lambda: _raw().tensor("t", [8], offset=4).build(data=b"\0" * 64),
        r"not a multiple of the alignment",
    ),
    "duplicate tensor": (
        lambda: _raw().tensor("t", [8]).tensor("t", [8], offset=32).build(data=b"\0" * 64),
        r"duplicate tensor name",
    ),
    "overlap": (
        lambda: _raw().tensor("a", [16]).tensor("b", [8], offset=32).build(data=b"\0" * 96),
        r"overlaps",
    ),
    "data past end": (
        lambda: _raw().tensor("t", [64]).build(data=b"\0" * 100),
        r"extends past the end of the file",
    ),
    "two huge tensors": (
        lambda: _raw().tensor("a", [2**61]).tensor("b", [2**61], offset=2**63 - 64).build(data=b""),
        r"(overflows|extends past|would start)",
    ),
    "truncated header": (lambda: _raw().kv_u32("a.b", 1).build()[:-2], r"truncated"),
}


def _with(raw: RawGGUF, **counts: int) -> bytes:
    for k, v in counts.items():
        setattr(raw, k, v)
    return raw.build()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_one_format_error_with_offset(case: str) -> None:
    make, pattern = CASES[case]
    with pytest.raises(FormatError) as err:
        read_gguf(BytesSource(make(), name="bad.gguf"))
    assert re.search(r"^bad\.gguf: invalid GGUF at byte \d+: ", err.value.message), err.value
    assert re.search(pattern, err.value.message), err.value.message
    assert err.value.exit_code == 2


def test_out_of_order_tensors_are_reported_not_rejected() -> None:
    data = _raw().tensor("b", [8], offset=32).tensor("a", [8]).build(data=b"\0" * 64)
    header = read_header(BytesSource(data))
    assert [t.name for t in header.tensors] == ["b", "a"]
    assert any("llama.cpp" in w for w in header.warnings)


def test_valid_minimal_files() -> None:
    assert read_header(BytesSource(RawGGUF().build())).tensors == []
    header = read_header(BytesSource(_raw().tensor("t", [0, 4]).build(data=b"")))
    assert header.tensors[0].nbytes == 0  # zero-element tensors are allowed
