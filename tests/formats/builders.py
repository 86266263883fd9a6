"""Write real GGUF and safetensors files with the `gguf` and `safetensors` packages' own writers.

Tensor data is zeros and, for GGUF, left as a sparse hole (the header is what we test), so real
widths (a 3840x2560 `cap_embedder.1.weight`, a 151936-row embedding) cost no time or disk.
Safetensors data is written by the crate from one shared zero buffer.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# safetensors dtype (header name) -> TensorSpec dtype name
ST_DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
    "I32": "int32", "U32": "uint32", "I64": "int64", "U64": "uint64", "F16": "float16",
    "F32": "float32", "F64": "float64", "BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
}  # fmt: skip
ST_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2,
            "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}  # fmt: skip

Tensor = tuple[str, Sequence[int], str]  # name, torch shape, dtype/quant type name


def write_safetensors(
    path: Path, tensors: Iterable[Tensor], metadata: dict[str, str] | None = None
) -> Path:
    """A safetensors file written by the safetensors package (torch-free serialize_file)."""
    import numpy as np
    import safetensors

    tensors = list(tensors)
    sizes = [_prod(shape) * ST_BYTES[dtype] for _, shape, dtype in tensors]
    zeros = np.zeros(max([*sizes, 1]), dtype=np.uint8)
    specs = {
        name: safetensors.TensorSpec(
            dtype=ST_DTYPES[dtype], shape=list(shape), data_ptr=zeros.ctypes.data, data_len=n
        )
        for (name, shape, dtype), n in zip(tensors, sizes, strict=True)
    }
    safetensors.serialize_file(specs, str(path), metadata=metadata)
    return path


def write_gguf(
    path: Path,
    arch: str | None,
    tensors: Iterable[Tensor] = (),
    kv: Iterable[tuple[str, Any, str] | tuple[str, Any, str, str]] = (),
    alignment: int | None = None,
) -> Path:
    """A GGUF file written by gguf.GGUFWriter; tensor data is a zero-filled sparse hole.

    `kv` items are (key, value, GGUFValueType name[, array item type name]). `arch=None` drops
    general.architecture (stable-diffusion.cpp style files).
    """
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, GGUFWriter

    writer = GGUFWriter(path, arch or "x")
    if arch is None:
        writer.kv_data[0].pop("general.architecture")
    if alignment is not None:
        writer.data_alignment = alignment
        writer.add_uint32("general.alignment", alignment)
    for key, value, vtype, *sub in kv:
        sub_type = GGUFValueType[sub[0]] if sub else None
        writer.add_key_value(key, value, GGUFValueType[vtype], sub_type=sub_type)
    total = 0
    align = writer.data_alignment
    for name, shape, qtype in tensors:
        qt = GGMLQuantizationType[qtype]
        block, type_size = GGML_QUANT_SIZES[qt]
        nbytes = _prod(shape) // block * type_size
        writer.add_tensor_info(name, list(shape), np.dtype(np.float32), nbytes, raw_dtype=qt)
        total += -(-nbytes // align) * align
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    fout = writer.fout[0]
    fout.write(b"\0" * (-fout.tell() % align))
    fout.truncate(fout.tell() + total)
    writer.close()
    return path


def _prod(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# ----------------------------------------------------------------------------- raw GGUF bytes


class RawGGUF:
    """Hand-assembled GGUF bytes, for the malformed cases no writer would produce."""

    def __init__(self, version: int = 3) -> None:
        self.version = version
        self.kvs: list[bytes] = []
        self.tis: list[bytes] = []
        self.n_kv: int | None = None
        self.n_tensors: int | None = None
        self.magic = b"GGUF"
        self.data = b""

    @staticmethod
    def string(s: str | bytes, length: int | None = None) -> bytes:
        raw = s.encode() if isinstance(s, str) else s
        return struct.pack("<Q", len(raw) if length is None else length) + raw

    def kv(self, key: str, vtype: int, payload: bytes) -> RawGGUF:
        self.kvs.append(self.string(key) + struct.pack("<I", vtype) + payload)
        return self

    def kv_u32(self, key: str, value: int) -> RawGGUF:
        return self.kv(key, 4, struct.pack("<I", value))

    def kv_str(self, key: str, value: str) -> RawGGUF:
        return self.kv(key, 8, self.string(value))

    def tensor(self, name: str | bytes, dims: Sequence[int], ggml_type: int = 0,
               offset: int = 0, n_dims: int | None = None) -> RawGGUF:  # fmt: skip
        n = len(dims) if n_dims is None else n_dims
        body = self.string(name) + struct.pack("<I", n)
        body += b"".join(struct.pack("<Q", d & (2**64 - 1)) for d in dims)
        body += struct.pack("<IQ", ggml_type, offset)
        self.tis.append(body)
        return self

    def build(self, alignment: int = 32, data: bytes | None = None) -> bytes:
        n_kv = len(self.kvs) if self.n_kv is None else self.n_kv
        n_t = len(self.tis) if self.n_tensors is None else self.n_tensors
        out = self.magic + struct.pack("<IQQ", self.version, n_t, n_kv)
        out += b"".join(self.kvs) + b"".join(self.tis)
        if self.tis:
            out += b"\0" * (-len(out) % alignment)
        return out + (self.data if data is None else data)


def write_gguf_long_strings(path: Path, count: int, length: int, head: bytes = b"abc") -> Path:
    """A GGUF whose `count` string values each declare `length` bytes, left as sparse holes.

    Only `head` of each string is written, so four 64 MiB strings cost ~20 KiB of disk: the
    hostile file that made a header reader materialise gigabytes. Keys and layout are what
    gguf.GGUFWriter writes (`general.architecture` first, KVs, then no tensors).
    """
    with open(path, "wb") as fh:
        fh.write(b"GGUF" + struct.pack("<IQQ", 3, 0, count + 1))
        fh.write(RawGGUF.string("general.architecture") + struct.pack("<I", 8))
        fh.write(RawGGUF.string("llama"))
        for i in range(count):
            fh.write(RawGGUF.string(f"x.long{i}") + struct.pack("<IQ", 8, length) + head)
            fh.seek(length - len(head), 1)
        fh.truncate(fh.tell())
    return path
