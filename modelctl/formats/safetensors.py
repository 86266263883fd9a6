"""A safetensors header reader with the Rust crate's rules, through a ByteSource.

Why not the `safetensors` package: `safe_open` needs the whole file on local disk (no remote
prefix, no partial download) and hides which byte was wrong. This reader reads only the 8-byte
length and the JSON header and applies the checks of `safetensors/src/tensor.rs`: header at most
100,000,000 bytes and inside the file, UTF-8, a JSON object starting with `{`, no duplicate keys
(the README forbids them; Python's json keeps the last one, a parser differential), strict JSON
(no NaN/Infinity, integers that are not booleans, no lone UTF-16 surrogate escapes such as
`"\ud800"`, which serde_json refuses), `__metadata__` a string-to-string map, known
dtypes, offsets contiguous from 0 with no gaps or overlaps, each tensor's byte length equal to
dtype bits x elements / 8 (sub-byte dtypes on a byte boundary), and the data ending exactly at the
end of the file. Tests check it against the `safetensors` package as the oracle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from modelctl.formats.jsonlimits import too_many_values
from modelctl.formats.model import MAX_TENSORS, Header, TensorInfo, bounded
from modelctl.formats.source import ByteSource, bad, shown

KIND = "safetensors"
MAX_HEADER_SIZE = 100_000_000
METADATA_KEY = "__metadata__"
# Bits per element, as the Rust crate's `Dtype::bitsize` (names as written in headers).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
}  # fmt: skip
JSON_METADATA_KEYS = ("config", "quantization_config", "comfy_config")
MAX_JSON_METADATA = 1 << 20  # bytes of one JSON metadata value parsed (Nunchaku's are a few KB)
# What the header's JSON may build (formats/jsonlimits.py), so at most ~MAX_TENSORS tensors: an
# entry has one `{` and two `[` (shape, data_offsets) and about eight `,`; the slack is for
# braces inside metadata strings. A 100 MB header of 1.6M entries took 1.5 GB before this bound.
MAX_CONTAINERS = 3 * MAX_TENSORS + (1 << 16)
MAX_VALUES = 16 * MAX_TENSORS
MAX_INT_DIGITS = 20  # no shape or offset needs more; past 4300 int() refuses the text anyway


@dataclass
class SafetensorsInfo:
    header_length: int
    metadata: dict[str, str] | None
    parsed_metadata: dict[str, Any] = field(default_factory=dict)


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _Surrogate(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(k)
        _no_surrogates(k)
        if isinstance(v, str):
            _no_surrogates(v)
        out[k] = v
    return out


def _no_surrogates(text: str) -> None:
    """Python's json keeps a lone `\ud800` escape as a surrogate: no valid text (it cannot be
    printed as UTF-8) and refused by serde_json, which the Rust crate parses with."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _Surrogate(text) from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def read_safetensors(source: ByteSource, *, check_data: bool = True) -> Header:
    """Parse and validate the safetensors header of `source` (FormatError on any violation).

    `check_data=False` skips the end-of-file check, for reading a header from a prefix.
    """
    size = source.size
    if size < 8:
        raise bad(source, KIND, 0, f"the file is {size} bytes, too short for the header length")
    n = int.from_bytes(source.read_at(0, 8), "little")
    if n > MAX_HEADER_SIZE:
        raise bad(source, KIND, 0, f"header length {n} exceeds the {MAX_HEADER_SIZE}-byte limit")
    if 8 + n > size:
        raise bad(
            source, KIND, 0,
            f"header of {n} bytes extends past the end of the file ({size} bytes): truncated",
        )  # fmt: skip
    raw = source.read_at(8, n)
    if len(raw) < n:
        raise bad(source, KIND, 8 + len(raw), "short read inside the header")
    _prescan(source, raw)
    header = _parse_json(source, raw)
    metadata = _metadata(source, raw, header.pop(METADATA_KEY, None))
    tensors = _tensors(source, raw, header, n)
    _check_layout(source, tensors, n, size, check_data)
    parsed, broken = _parse_json_metadata(metadata)
    return Header(
        format="safetensors",
        size=size,
        header_size=8 + n,
        metadata={k: bounded(v) for k, v in (metadata or {}).items()},
        tensors=sorted(tensors, key=lambda t: t.offset),
        warnings=[
            f"__metadata__[{shown(k)}] is not valid JSON (or over {MAX_JSON_METADATA >> 20} MiB)"
            for k in broken
        ],
        detail=SafetensorsInfo(n, metadata, parsed),
    )


def _prescan(source: ByteSource, raw: bytes) -> None:
    """Refuse a header that would build more Python objects than any real file (cheap counts)."""
    problem = too_many_values(raw, MAX_CONTAINERS, MAX_VALUES)
    if problem:
        raise bad(source, KIND, 8, f"the header holds {problem}: more than a file of "
                  f"{MAX_TENSORS} tensors, modelctl's limit, would")  # fmt: skip


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _parse_json(source: ByteSource, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(source, KIND, 8 + exc.start, "the header is not valid UTF-8") from None
    if not text.startswith("{"):
        raise bad(source, KIND, 8, "the header does not start with '{'")
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_no_constants, parse_int=_parse_int
        )
    except _Duplicate as exc:
        raise bad(source, KIND, _find(raw, exc.key), f"duplicate key {shown(exc.key)}") from None
    except _Surrogate as exc:
        what = f"a lone UTF-16 surrogate escape in {shown(exc.text)} is not text"
        raise bad(source, KIND, 8, what) from None
    except json.JSONDecodeError as exc:
        at = 8 + len(text[: exc.pos].encode("utf-8"))
        raise bad(source, KIND, at, f"the header is not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise bad(source, KIND, 8, f"the header is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise bad(source, KIND, 8, "the header is not a JSON object")
    return value


def _find(raw: bytes, key: str) -> int:
    """Byte offset of a key in the header (best effort; 8 when not found)."""
    idx = raw.find(json.dumps(key, ensure_ascii=False).encode("utf-8"))
    if idx < 0:
        idx = raw.find(json.dumps(key).encode())
    return 8 + max(idx, 0)


def _metadata(source: ByteSource, raw: bytes, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    at = _find(raw, METADATA_KEY)
    if not isinstance(value, dict):
        raise bad(source, KIND, at, "__metadata__ is not a JSON object")
    for k, v in value.items():
        if not isinstance(v, str):
            raise bad(source, KIND, at, f"__metadata__[{shown(k)}] is not a string")
    return value


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tensors(source: ByteSource, raw: bytes, header: dict[str, Any], n: int) -> list[TensorInfo]:
    out = []
    for name, entry in header.items():
        problem = _entry_problem(name, entry)
        if problem:  # locate the entry only on failure: a header may hold 100k tensors
            raise bad(source, KIND, _find(raw, name), problem)
        begin, end = entry["data_offsets"]
        out.append(
            TensorInfo(name, tuple(entry["shape"]), entry["dtype"], end - begin, 8 + n + begin)
        )
    return out


def _entry_problem(name: str, entry: Any) -> str | None:
    """What is wrong with one tensor entry (dtype, shape, offsets, byte length), or None."""
    if not isinstance(entry, dict):
        return f"tensor {shown(name)} is not a JSON object"
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in entry]
    if missing:
        return f"tensor {shown(name)} lacks {', '.join(missing)}"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        return f"tensor {shown(name)} has unknown dtype {shown(dtype)}"
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        return f"tensor {shown(name)} shape is not a list of integers >= 0"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and o >= 0 for o in offsets)
    ):
        return f"tensor {shown(name)} data_offsets is not [begin, end]"
    begin, end = offsets
    if end < begin:
        return f"tensor {shown(name)} data_offsets end before they begin"
    elements = 1
    for d in shape:
        elements *= d
    bits = elements * DTYPE_BITS[dtype]
    if bits >= 1 << 64:
        return f"tensor {shown(name)} size overflows 64 bits"
    if bits % 8:
        return f"tensor {shown(name)} of {dtype} does not end on a byte"
    if end - begin != bits // 8:
        return (
            f"tensor {shown(name)} spans {end - begin} bytes but {dtype} x {shown(shape)} "
            f"needs {bits // 8}"
        )
    return None


def _check_layout(
    source: ByteSource, tensors: list[TensorInfo], n: int, size: int, check_data: bool
) -> None:
    """Offsets contiguous from 0, no overlap, data ending exactly at the end of the file."""
    expected = 8 + n
    for t in sorted(tensors, key=lambda t: (t.offset, t.nbytes)):
        if t.offset != expected:
            what = "overlaps the previous tensor" if t.offset < expected else "leaves a gap"
            raise bad(source, KIND, t.offset, f"tensor {shown(t.name)} data {what} (expected "
                      f"offset {expected - 8 - n}, got {t.offset - 8 - n})")  # fmt: skip
        expected = t.offset + t.nbytes
    if not check_data:
        return
    if expected > size:
        raise bad(
            source, KIND, size,
            f"tensor data should end at byte {expected} but the file is {size} bytes: "
            "truncated or incomplete download",
        )  # fmt: skip
    if expected < size:
        raise bad(
            source, KIND, expected,
            f"{size - expected} bytes follow the last tensor (the data must end the file)",
        )  # fmt: skip


def _parse_json_metadata(metadata: dict[str, str] | None) -> tuple[dict[str, Any], list[str]]:
    """Nunchaku stores `config`, `quantization_config`, `comfy_config` as JSON text: the parsed
    values, and the keys whose text is not JSON."""
    out: dict[str, Any] = {}
    broken = []
    for key in JSON_METADATA_KEYS:
        if metadata and key in metadata:
            if len(metadata[key]) > MAX_JSON_METADATA:
                broken.append(key)
                continue
            try:
                out[key] = json.loads(metadata[key], parse_constant=_no_constants)
            except (ValueError, RecursionError):
                broken.append(key)
    return out, broken
