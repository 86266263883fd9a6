"""One entry point: sniff the first bytes, then run the reader for what the file really is."""

from __future__ import annotations

from modelctl.formats.model import Header
from modelctl.formats.sniff import HEAD_BYTES, MAX_JSON_BYTES, Sniffed, classify_json, sniff
from modelctl.formats.source import ByteSource, bad


def read_header(
    source: ByteSource, *, check_data: bool = True, max_array_items: int = 16
) -> Header:
    """Parse `source`'s header by content. FormatError for a malformed GGUF/safetensors/
    SentencePiece file; other kinds (pickle, LFS pointer, HTML, ...) come back as a Header
    without tensors whose `detail` is the `Sniffed` result."""
    found = sniff(source.read_at(0, HEAD_BYTES))
    if found.format == "gguf":
        if found.kind != "gguf":
            raise bad(source, "GGUF", 0, "big-endian GGUF files are not supported")
        from modelctl.formats.gguf import read_gguf

        chunk = getattr(source, "read_chunk", 1 << 20)  # remote sources want small read-ahead
        return read_gguf(
            source, max_array_items=max_array_items, check_data=check_data, chunk=chunk
        )
    if found.format == "safetensors":
        from modelctl.formats.safetensors import read_safetensors

        return read_safetensors(source, check_data=check_data)
    if found.format == "sentencepiece":
        from modelctl.formats.sentencepiece import read_sentencepiece

        return read_sentencepiece(source)
    if found.format == "json" and source.size <= MAX_JSON_BYTES:
        found = classify_json(source.read_at(0, source.size))
    return _plain(source, found)


def _plain(source: ByteSource, found: Sniffed) -> Header:
    metadata = {"kind": found.kind, "description": found.description, **found.facts}
    return Header(found.format, source.size, min(source.size, HEAD_BYTES), metadata, detail=found)
