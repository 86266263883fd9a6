"""A streaming, validating GGUF header reader.

Why not `gguf.GGUFReader`: it memory-maps the whole file and turns every element of every array
into numpy objects, so the 15 MB `ggml-vocab-gemma-4.gguf` takes ~30 s; it cannot read a partial
file or a remote prefix; and it trusts the sizes a file declares (a 44-byte file can make it loop
for ever, numpy products of dims wrap around). This reader walks the header once through a
`ByteSource`, skips long arrays without materialising them (keeping type and length), and checks
what llama.cpp's `gguf.cpp` checks: counts bounded by the bytes that remain, bounded string and
array lengths, no nested arrays, BOOL 0/1, no duplicate keys or tensor names, `general.alignment`
a UINT32 power of two, at most 4 dims each > 0 with exact-integer products, known ggml types with
rows a multiple of the block size, and tensor data aligned and inside the file. The value-type
enum, quantization enum and block-size table come from the `gguf` package itself; tests compare
every key, value and tensor with `GGUFReader` as the oracle.

What is materialised is bounded whatever the file declares: a string value longer than
`MAX_INLINE_STRING` is kept as a `TruncatedString` (its first `TRUNCATED_HEAD` bytes and its
length) and skipped unread, so a sparse file of 20 KiB declaring four 64 MiB strings costs neither
memory nor, remotely, a download; all values together stay within `VALUE_BUDGET` (past it, values
are kept truncated), and keys within `KEY_BUDGET` and tensors within `MAX_TENSORS` (past those the
file is refused: no real GGUF comes near them).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from modelctl.formats.model import (
    MAX_INLINE_STRING,
    MAX_TENSORS,
    TRUNCATED_HEAD,
    Header,
    TensorInfo,
    TruncatedString,
    Warnings,
)
from modelctl.formats.source import ByteSource, Cursor, shown

KIND = "GGUF"
MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_KEY_LENGTH = 65_535  # spec: keys are at most 2^16-1 bytes
MAX_STRING_LENGTH = 64 << 20  # per metadata string value (llama.cpp allows 1 GiB)
MAX_NAME_LENGTH = 63  # GGML_MAX_NAME is 64 including the NUL
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ALIGNMENT = 1 << 20
INT64_MAX = (1 << 63) - 1
MIN_KV_BYTES = 8 + 1 + 4 + 1  # key length, 1-byte key, type, smallest value
MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # name length, n_dims, type, offset
ORIG_SHAPE_PREFIX = "comfy.gguf.orig_shape."
DEFAULT_MAX_ARRAY_ITEMS = 16
VALUE_BUDGET = 16 << 20  # bytes of metadata values materialised per file
KEY_BUDGET = 4 << 20  # bytes of keys per file, KV_OVERHEAD included per key
KV_OVERHEAD = 64


@dataclass
class GGUFField:
    """One metadata KV. Arrays longer than the reader's limit keep `value=None`."""

    key: str
    type: str  # GGUFValueType name
    value: Any
    offset: int
    item_type: str | None = None
    length: int | None = None

    def to_json(self) -> Any:
        if self.type == "ARRAY" and self.value is None:
            return {"type": "array", "item_type": self.item_type, "length": self.length}
        if isinstance(self.value, TruncatedString):
            return self.value.to_json()
        if isinstance(self.value, list):
            return [v.to_json() if isinstance(v, TruncatedString) else v for v in self.value]
        return self.value


class _Budget:
    """Bytes of metadata the reader may still materialise; past it values are kept truncated."""

    def __init__(self) -> None:
        self.values = VALUE_BUDGET
        self.keys = KEY_BUDGET
        self.truncated = 0  # how many values were kept truncated
        self.first_truncated: list[tuple[str, int, str]] = []  # (key, length, head): 3 at most

    def key(self, cur: Cursor, key: str, at: int) -> None:
        self.keys -= len(key) + KV_OVERHEAD
        if self.keys < 0:
            raise cur.error(
                f"the metadata keys exceed the {KEY_BUDGET >> 20} MiB modelctl reads (at key "
                f"{shown(key)}): far more than any real model file holds",
                at,
            )


@dataclass
class GGUFInfo:
    version: int
    alignment: int
    data_offset: int
    fields: dict[str, GGUFField] = field(default_factory=dict)


# numpy (kind, itemsize) -> struct code with standard sizes; BOOL is read as a byte and checked.
_STRUCT_CODES = {
    ("u", 1): "B", ("i", 1): "b", ("b", 1): "B", ("u", 2): "H", ("i", 2): "h", ("f", 2): "e",
    ("u", 4): "I", ("i", 4): "i", ("f", 4): "f", ("u", 8): "Q", ("i", 8): "q", ("f", 8): "d",
}  # fmt: skip


class _Types:
    """Struct codes per GGUFValueType, derived from gguf's own numpy mapping (loaded lazily)."""

    _cache: _Types | None = None

    def __init__(self) -> None:
        import numpy as np
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType
        from gguf.gguf_reader import GGUFReader

        self.quant_type = GGMLQuantizationType
        self.quant_sizes = GGML_QUANT_SIZES
        self.scalar: dict[int, struct.Struct] = {}
        for vtype, nptype in GGUFReader.gguf_scalar_to_np.items():
            dt = np.dtype(nptype)
            self.scalar[int(vtype)] = struct.Struct("<" + _STRUCT_CODES[dt.kind, dt.itemsize])
        self.names = {int(t): t.name for t in GGUFValueType}
        self.STRING = int(GGUFValueType.STRING)
        self.ARRAY = int(GGUFValueType.ARRAY)
        self.BOOL = int(GGUFValueType.BOOL)

    @classmethod
    def get(cls) -> _Types:
        if cls._cache is None:
            cls._cache = cls()
        return cls._cache


def read_gguf(
    source: ByteSource,
    *,
    max_array_items: int = DEFAULT_MAX_ARRAY_ITEMS,
    check_data: bool = True,
    chunk: int = 1 << 20,
) -> Header:
    """Parse and validate the GGUF header of `source`.

    `max_array_items`: arrays up to this length are materialised, longer ones only summarised.
    `check_data=False` skips the checks that need the whole file (tensor data inside the file),
    for reading the header from a prefix (a partial download).
    Raises FormatError naming the byte offset of the first problem.
    """
    T = _Types.get()
    cur = Cursor(source, KIND, chunk=chunk)
    if source.size < 4 or cur.take(4) != MAGIC:
        raise cur.error("the file does not start with the GGUF magic", at=0)
    version = cur.u32()
    if version & 0xFFFF == 0 and version != 0:
        raise cur.error("big-endian GGUF files are not supported", at=4)
    if version not in SUPPORTED_VERSIONS:
        raise cur.error(f"unsupported GGUF version {version} (supported: 2, 3)", at=4)
    n_tensors, n_kv = cur.u64(), cur.u64()
    if n_tensors > INT64_MAX or n_kv > INT64_MAX:
        raise cur.error(f"tensor count {n_tensors} or KV count {n_kv} is negative as int64", 8)
    if n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_BYTES > cur.remaining:
        raise cur.error(
            f"declares {n_tensors} tensors and {n_kv} metadata keys, more than the "
            f"{cur.remaining} remaining bytes can hold",
            at=8,
        )
    if n_tensors > MAX_TENSORS:
        raise cur.error(f"declares {n_tensors} tensors, more than the {MAX_TENSORS} modelctl "
                        "reads", at=8)  # fmt: skip
    warnings = Warnings()
    budget = _Budget()
    fields = _read_kvs(cur, T, n_kv, max_array_items, warnings, budget)
    if budget.truncated:
        warnings.append(_truncation_note(budget))
    alignment = _alignment(cur, fields)
    if alignment < 8:
        warnings.append(f"general.alignment is {alignment}; the spec asks for a multiple of 8")
    tensors = _read_tensor_infos(cur, T, n_tensors, alignment, fields, warnings)
    end = cur.pos
    data_offset = end + (-end % alignment)
    tensors = [
        TensorInfo(t.name, t.shape, t.dtype, t.nbytes, data_offset + t.offset, t.stored_shape)
        for t in tensors
    ]
    if check_data:
        _check_data(cur, tensors, data_offset, alignment, warnings)
    info = GGUFInfo(version, alignment, data_offset, fields)
    return Header(
        format="gguf",
        size=source.size,
        header_size=data_offset if tensors else end,
        metadata={k: f.to_json() for k, f in fields.items()},
        tensors=tensors,
        warnings=warnings.as_list(),
        detail=info,
    )


def _truncation_note(budget: _Budget) -> str:
    """One warning for every truncated value: `"<preview>…" (N bytes)` for the first three."""
    first = ", ".join(
        f'{shown(key)} = "{repr(head[:16])[1:-1]}…" ({length} bytes)'
        for key, length, head in budget.first_truncated
    )
    more = budget.truncated - len(budget.first_truncated)
    return (
        f"{budget.truncated} metadata string(s) too long to keep were truncated to at most "
        f"{TRUNCATED_HEAD} bytes: {first}" + (f" and {more} more" if more else "")
    )


def _read_string(cur: Cursor, cap: int, what: str) -> str:
    at = cur.pos
    n = cur.u64()
    if n > cur.remaining:
        raise cur.error(f"{what} length {n} runs past the end of the file", at)
    if n > cap:
        raise cur.error(f"{what} length {n} exceeds the limit of {cap} bytes", at)
    raw = cur.take(n)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise cur.error(f"{what} is not valid UTF-8", at + 8 + exc.start) from None


def _read_value_string(cur: Cursor, budget: _Budget, key: str, what: str) -> str | TruncatedString:
    """A string value: whole when short and within the budget, else its head and its length.

    The rest of a long string is skipped unread (no UTF-8 check on bytes never read)."""
    at = cur.pos
    n = cur.u64()
    if n > cur.remaining:
        raise cur.error(f"{what} length {n} runs past the end of the file", at)
    if n > MAX_STRING_LENGTH:
        raise cur.error(f"{what} length {n} exceeds the limit of {MAX_STRING_LENGTH} bytes", at)
    if n <= min(MAX_INLINE_STRING, budget.values):
        budget.values -= n
        return _decode(cur, cur.take(n), at + 8, what, whole=True)
    head = min(TRUNCATED_HEAD, max(budget.values, 0), n)
    budget.values -= head
    text = _decode(cur, cur.take(head), at + 8, what, whole=False)
    cur.skip(n - head)
    budget.truncated += 1
    if len(budget.first_truncated) < 3:
        budget.first_truncated.append((key, n, text))
    return TruncatedString(text, n)


def _decode(cur: Cursor, raw: bytes, at: int, what: str, *, whole: bool) -> str:
    """UTF-8 text of `raw`; a head cut inside a character drops that character's bytes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not whole and exc.reason == "unexpected end of data":
            return raw[: exc.start].decode("utf-8")
        raise cur.error(f"{what} is not valid UTF-8", at + exc.start) from None


def _read_kvs(
    cur: Cursor, T: _Types, n_kv: int, max_items: int, warnings: Warnings, budget: _Budget
) -> dict[str, GGUFField]:
    fields: dict[str, GGUFField] = {}
    for _ in range(n_kv):
        at = cur.pos
        key = _read_string(cur, MAX_KEY_LENGTH, "metadata key")
        if not key:
            raise cur.error("empty metadata key", at)
        if key in fields:
            raise cur.error(f"duplicate metadata key {shown(key)}", at)
        budget.key(cur, key, at)
        if not key.isascii():
            warnings.append(
                f"metadata key {shown(key)} is not ASCII (the spec asks for ASCII keys)"
            )
        vat = cur.pos
        vtype = cur.u32()
        if vtype not in T.names:
            raise cur.error(f"key {shown(key)} has unknown value type {vtype}", vat)
        if vtype == T.ARRAY:
            fields[key] = _read_array(cur, T, key, at, max_items, budget)
        else:
            value = _read_scalar(cur, T, vtype, key, budget)
            fields[key] = GGUFField(key, T.names[vtype], value, at)
    return fields


def _read_scalar(cur: Cursor, T: _Types, vtype: int, key: str, budget: _Budget) -> Any:
    if vtype == T.STRING:
        return _read_value_string(cur, budget, key, f"value of {shown(key)}")
    at = cur.pos
    (value,) = cur.unpack(T.scalar[vtype])
    if vtype == T.BOOL:
        if value > 1:
            raise cur.error(f"BOOL value of {shown(key)} is {value}, not 0 or 1", at)
        return bool(value)
    return value


def _read_array(
    cur: Cursor, T: _Types, key: str, at: int, max_items: int, budget: _Budget
) -> GGUFField:
    tat = cur.pos
    itype = cur.u32()
    if itype not in T.names:
        raise cur.error(f"array {shown(key)} has unknown item type {itype}", tat)
    if itype == T.ARRAY:
        raise cur.error(f"array {shown(key)} holds arrays (nested arrays are not supported)", tat)
    lat = cur.pos
    count = cur.u64()
    item_size = 8 if itype == T.STRING else T.scalar[itype].size
    if count > cur.remaining // item_size:
        raise cur.error(
            f"array {shown(key)} declares {count} items, more than the {cur.remaining} remaining "
            "bytes can hold",
            lat,
        )
    name = T.names[itype]
    materialise = count <= max_items or (key.startswith(ORIG_SHAPE_PREFIX) and count <= 8)
    if materialise and itype != T.STRING:  # strings are charged one by one as they are read
        materialise = count * item_size <= budget.values
        budget.values -= count * item_size if materialise else 0
    if not materialise:
        if itype == T.STRING:
            cur.skip_strings(count)
        elif itype == T.BOOL:
            _check_bools(cur, count, key)
        else:
            cur.skip(count * item_size)
        return GGUFField(key, "ARRAY", None, at, name, count)
    value = [_read_scalar(cur, T, itype, key, budget) for _ in range(count)]
    return GGUFField(key, "ARRAY", value, at, name, count)


def _check_bools(cur: Cursor, count: int, key: str) -> None:
    done = 0
    while done < count:
        n = min(count - done, 1 << 20)
        at = cur.pos
        raw = cur.take(n)
        if raw.translate(None, b"\x00\x01"):
            bad_at = next(i for i, b in enumerate(raw) if b > 1)
            raise cur.error(f"BOOL item of {shown(key)} is {raw[bad_at]}, not 0 or 1", at + bad_at)
        done += n


def _alignment(cur: Cursor, fields: dict[str, GGUFField]) -> int:
    f = fields.get("general.alignment")
    if f is None:
        return 32
    if f.type != "UINT32":
        raise cur.error(f"general.alignment has type {f.type}, must be UINT32", f.offset)
    a = f.value
    if a == 0 or a & (a - 1) or a > MAX_ALIGNMENT:
        raise cur.error(
            f"general.alignment {a} is not a power of two between 1 and {MAX_ALIGNMENT}", f.offset
        )
    return a


def _read_tensor_infos(
    cur: Cursor,
    T: _Types,
    n_tensors: int,
    alignment: int,
    fields: dict[str, GGUFField],
    warnings: Warnings,
) -> list[TensorInfo]:
    names: set[str] = set()
    out: list[TensorInfo] = []
    for _ in range(n_tensors):
        at = cur.pos
        name = _read_string(cur, MAX_NAME_LENGTH, "tensor name")
        if name in names:
            raise cur.error(f"duplicate tensor name {name!r}", at)
        names.add(name)
        dat = cur.pos
        n_dims = cur.u32()
        if n_dims > MAX_DIMS:
            raise cur.error(f"tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})", dat)
        ne = tuple(cur.u64() for _ in range(n_dims))
        n_elements = 1
        for d in ne:
            if d > INT64_MAX:
                raise cur.error(f"tensor {name!r} has a negative dimension {d - (1 << 64)}", dat)
            n_elements *= d
            if n_elements > INT64_MAX:
                raise cur.error(f"tensor {name!r} element count overflows int64", dat)
        tat = cur.pos
        raw_type = cur.u32()
        try:
            qtype = T.quant_type(raw_type)
            block, type_size = T.quant_sizes[qtype]
        except (ValueError, KeyError):
            raise cur.error(f"tensor {name!r} has unknown ggml type {raw_type}", tat) from None
        if ne and ne[0] % block:
            raise cur.error(
                f"tensor {name!r} row of {ne[0]} is not a multiple of the {qtype.name} "
                f"block size {block}",
                dat,
            )
        nbytes = n_elements // block * type_size
        if nbytes > INT64_MAX:
            raise cur.error(f"tensor {name!r} byte size overflows int64", dat)
        oat = cur.pos
        offset = cur.u64()
        if offset % alignment:
            raise cur.error(
                f"tensor {name!r} data offset {offset} is not a multiple of the alignment "
                f"{alignment}",
                oat,
            )
        if offset > INT64_MAX:
            raise cur.error(f"tensor {name!r} data offset {offset} overflows int64", oat)
        shape = _torch_shape(name, ne, n_elements, fields, warnings)
        out.append(TensorInfo(name, shape, qtype.name, nbytes, offset, ne))
    return out


def _torch_shape(
    name: str,
    ne: tuple[int, ...],
    n_elements: int,
    fields: dict[str, GGUFField],
    warnings: Warnings,
) -> tuple[int, ...]:
    """Reverse ggml `ne` into torch order, unless ComfyUI-GGUF recorded the original shape."""
    f = fields.get(ORIG_SHAPE_PREFIX + name)
    if f is None:
        return tuple(reversed(ne))
    value = f.value
    ok = f.type == "ARRAY" and f.item_type == "INT32" and isinstance(value, list)
    if ok:
        product = 1
        for d in value:
            ok = ok and d >= 0
            product *= d
        ok = ok and product == n_elements
    if not ok:
        warnings.append(
            f"{ORIG_SHAPE_PREFIX}{name} is not an INT32 array matching the tensor's "
            f"{n_elements} elements; using the stored shape"
        )
        return tuple(reversed(ne))
    return tuple(value)


def _check_data(
    cur: Cursor, tensors: list[TensorInfo], data_offset: int, alignment: int, warnings: Warnings
) -> None:
    """Tensor data inside the file, no overlaps; report llama.cpp-incompatible layouts."""
    if not tensors:
        return
    size = cur.size
    if data_offset > size:
        raise cur.error(
            f"tensor data would start at byte {data_offset} but the file is {size} bytes "
            "(truncated or incomplete download)",
            at=size,
        )
    ordered = sorted(tensors, key=lambda t: t.offset)
    prev_end, prev_name, expected = data_offset, None, data_offset
    gapped = False
    for t in ordered:
        end = t.offset + t.nbytes
        if end > size:
            raise cur.error(
                f"tensor {t.name!r} data [{t.offset}, {end}) extends past the end of the file "
                f"({size} bytes): truncated or incomplete download",
                at=t.offset,
            )
        if t.offset < prev_end:
            raise cur.error(f"tensor {t.name!r} data overlaps tensor {prev_name!r}", at=t.offset)
        if t.offset != expected:
            gapped = True
        prev_end, prev_name = end, t.name
        expected = end + (-end % alignment)
    if gapped or [t.name for t in tensors] != [t.name for t in ordered]:
        warnings.append(
            "tensor data is out of order or has gaps: llama.cpp's loader would refuse this file"
        )
    if prev_end < size and size - prev_end >= alignment:
        warnings.append(f"{size - prev_end} bytes follow the last tensor's data")
