"""SentencePiece `tokenizer.model` reader: the protobuf wire format walked in pure Python.

Why not the `sentencepiece` package: it is native code that crashes the whole process on crafted
files (a piece of ~100 KB overflows the stack, google/sentencepiece#1263; an out-of-bounds read
through a crafted `precompiled_charsmap`, #1269), and an inspector must survive hostile input. It
is also not needed to answer what a compatibility check asks (how many pieces, which model type).
Why not `protobuf`: it would need the generated `sentencepiece_model_pb2` module and a heavy
runtime for five fields. The wire format is small: varints, 32/64-bit fixed and length-delimited
fields, each bounded here by the bytes that remain. Field numbers are those of
`src/sentencepiece_model.proto` (google/sentencepiece); tests compare with the `sentencepiece`
package as the oracle on a model it trained.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from modelctl.formats.model import Header, bounded
from modelctl.formats.source import ByteSource, bad

KIND = "SentencePiece model"
MAX_FILE_SIZE = 64 << 20  # real tokenizer.model files are a few MB
MAX_SAFE_PIECE = 64 << 10  # longer pieces crash the native loader (sentencepiece#1263)
MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}
PIECE_TYPES = {1: "normal", 2: "unknown", 3: "control", 4: "user_defined", 5: "unused", 6: "byte"}
# ModelProto fields
PIECES, TRAINER_SPEC, NORMALIZER_SPEC = 1, 2, 3
# TrainerSpec fields (varints)
TRAINER_FIELDS = {3: "model_type", 4: "vocab_size", 35: "byte_fallback", 40: "unk_id",
                  41: "bos_id", 42: "eos_id", 43: "pad_id"}  # fmt: skip
_F32 = struct.Struct("<f")
_Value = int | bytes | tuple[int, int]  # a field's value, by wire type: see _Wire.fields


@dataclass
class SentencePieceInfo:
    vocab_size: int
    model_type: str | None = None
    trainer: dict[str, Any] = field(default_factory=dict)
    normalizer: str | None = None
    piece_types: dict[str, int] = field(default_factory=dict)
    max_piece_length: int = 0


class _Wire:
    """Bounded protobuf wire reader over one bytes object."""

    def __init__(self, source: ByteSource, data: bytes, base: int = 0) -> None:
        self.source, self.data, self.base = source, data, base

    def error(self, pos: int, what: str) -> Exception:
        return bad(self.source, KIND, self.base + pos, what)

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        value = shift = 0
        start = pos
        while True:
            if pos >= end:
                raise self.error(start, "truncated varint")
            b = self.data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value, pos
            shift += 7
            if shift >= 70:
                raise self.error(start, "varint longer than 10 bytes")

    def fields(self, pos: int, end: int) -> Iterator[tuple[int, int, _Value, int]]:
        """Yield (field number, wire type, value, field start).

        The value's type follows the wire type: an int for a varint (0), the bytes of a
        fixed-width field (1, 5), the (start, end) span of a length-delimited one (2).
        """
        while pos < end:
            at = pos
            key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise self.error(at, "field number 0")
            if wire == 0:
                value, pos = self.varint(pos, end)
                yield number, wire, value, at
            elif wire == 1 or wire == 5:
                width = 8 if wire == 1 else 4
                if pos + width > end:
                    raise self.error(at, "truncated fixed-width field")
                yield number, wire, self.data[pos : pos + width], at
                pos += width
            elif wire == 2:
                length, pos = self.varint(pos, end)
                if length > end - pos:
                    raise self.error(at, f"field {number} declares {length} bytes, past its end")
                yield number, wire, (pos, pos + length), at
                pos += length
            else:
                raise self.error(at, f"unsupported wire type {wire} for field {number}")


def read_sentencepiece(source: ByteSource) -> Header:
    """Parse a SentencePiece ModelProto; FormatError if it is not one."""
    size = source.size
    if size > MAX_FILE_SIZE:
        raise bad(source, KIND, 0, f"{size} bytes is too large for a tokenizer model")
    data = source.read_at(0, size)
    wire = _Wire(source, data)
    info = SentencePieceInfo(vocab_size=0)
    warnings: list[str] = []
    for number, wt, value, at in wire.fields(_scan_common_pieces(data, info), len(data)):
        if number == PIECES and isinstance(value, tuple):  # wire type 2
            _piece(wire, value, at, info)
        elif number == TRAINER_SPEC and isinstance(value, tuple):
            _trainer(wire, value, info)
        elif number == NORMALIZER_SPEC and isinstance(value, tuple):
            _normalizer(wire, value, info)
        elif number in (PIECES, TRAINER_SPEC, NORMALIZER_SPEC):
            raise wire.error(at, f"field {number} has wire type {wt}, expected a message")
    if info.vocab_size == 0:
        raise bad(source, KIND, 0, "no vocabulary pieces")
    if info.max_piece_length > MAX_SAFE_PIECE:
        warnings.append(
            f"a piece of {info.max_piece_length} bytes crashes the sentencepiece library "
            "(google/sentencepiece#1263)"
        )
    metadata = {
        "vocab_size": info.vocab_size,
        "model_type": info.model_type,
        "trainer_spec": info.trainer,
        "normalizer": None if info.normalizer is None else bounded(info.normalizer),
        "piece_types": info.piece_types,
    }
    return Header("sentencepiece", size, size, metadata, [], warnings, info)


def _scan_common_pieces(data: bytes, info: SentencePieceInfo) -> int:
    """Count the leading run of pieces in the layout every trainer writes; return where it stops.

    A 262k-piece Gemma tokenizer takes seconds through the generic field walk. Nearly every piece
    is `0A <len> 0A <n> piece 15 <f32> [18 <type>]` with one-byte lengths, so this loop reads those
    inline and stops at the first record of any other shape; the checked generic walk (`_piece`)
    takes over from there, so hostile input still gets its precise errors.
    """
    pos, n = 0, len(data)
    count, longest, types = 0, 0, info.piece_types
    while pos + 9 <= n and data[pos] == 0x0A and data[pos + 1] < 0x80 and data[pos + 2] == 0x0A:
        end = pos + 2 + data[pos + 1]
        plen = data[pos + 3]
        piece_end = pos + 4 + plen
        if plen >= 0x80 or end > n or piece_end + 5 > end or data[piece_end] != 0x15:
            break
        tail = end - piece_end - 5
        if tail == 0:
            kind = "normal"
        elif tail == 2 and data[piece_end + 5] == 0x18 and data[piece_end + 6] < 0x80:
            kind = PIECE_TYPES.get(data[piece_end + 6], f"type {data[piece_end + 6]}")
        else:
            break
        try:
            data[pos + 4 : piece_end].decode("utf-8")
        except UnicodeDecodeError:
            break
        longest = max(longest, plen)
        types[kind] = types.get(kind, 0) + 1
        count += 1
        pos = end
    info.vocab_size += count
    info.max_piece_length = max(info.max_piece_length, longest)
    return pos


def _piece(wire: _Wire, span: tuple[int, int], at: int, info: SentencePieceInfo) -> None:
    start, end = span
    kind = "normal"
    for number, wt, value, fat in wire.fields(start, end):
        if number == 1 and isinstance(value, tuple):  # wire type 2
            s, e = value
            try:
                wire.data[s:e].decode("utf-8")
            except UnicodeDecodeError:
                raise wire.error(s, "piece is not valid UTF-8") from None
            info.max_piece_length = max(info.max_piece_length, e - s)
        elif number == 3 and isinstance(value, int):  # wire type 0
            kind = PIECE_TYPES.get(value, f"type {value}")
        elif number in (1, 2, 3) and wt != {1: 2, 2: 5, 3: 0}[number]:
            raise wire.error(fat, f"piece field {number} has the wrong wire type {wt}")
    info.vocab_size += 1
    info.piece_types[kind] = info.piece_types.get(kind, 0) + 1


def _trainer(wire: _Wire, span: tuple[int, int], info: SentencePieceInfo) -> None:
    for number, _wt, value, _ in wire.fields(*span):
        name = TRAINER_FIELDS.get(number)
        if name and isinstance(value, int):  # wire type 0
            if name.endswith("_id") and value >= 1 << 63:
                value -= 1 << 64  # int32 -1 is sent as a 10-byte varint
            info.trainer[name] = bool(value) if name == "byte_fallback" else value
    model_type = info.trainer.get("model_type", 1)
    info.model_type = MODEL_TYPES.get(model_type, f"type {model_type}")


def _normalizer(wire: _Wire, span: tuple[int, int], info: SentencePieceInfo) -> None:
    for number, _wt, value, _ in wire.fields(*span):
        if number == 1 and isinstance(value, tuple):  # wire type 2
            info.normalizer = wire.data[value[0] : value[1]].decode("utf-8", "replace")


def looks_like_sentencepiece(head: bytes) -> bool:
    """First bytes of a ModelProto: field 1 (a piece message) whose first field is the piece."""
    if len(head) < 4 or head[0] != 0x0A:
        return False
    pos = 1
    while pos < len(head) and head[pos] & 0x80:
        pos += 1
    return pos + 1 < len(head) and head[pos + 1] == 0x0A
