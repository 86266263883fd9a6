"""What a file really is, from its first bytes, whatever its name says.

Names lie: a Git LFS pointer saved as `model.safetensors`, a login page saved as `ae.safetensors`,
a 7z archive named `.pt` (the nullifAI models). The magic bytes decide (the LFS pointer format:
git-lfs/git-lfs docs/spec.md @02b89e38). Pickles and zip checkpoints are named, never unpickled.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelctl.formats.sentencepiece import looks_like_sentencepiece

HEAD_BYTES = 1024
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")  # names torch.load reads
LFS_SPEC = b"version https://git-lfs.github.com/spec/v1"
MAX_JSON_BYTES = 64 << 20
# What a JSON file may build to be classified (formats/jsonlimits.py): a 262k-token tokenizer.json
# has ~1M `,` and ~0.5M `[` (merges as pairs); 64 MiB of `[],` would take 1.7 GB.
MAX_JSON_CONTAINERS = 1 << 21
MAX_JSON_VALUES = 1 << 22
MAX_FACT_CHARS = 200
_TITLE = re.compile(rb"<title[^>]*>(.{0,200}?)</title>", re.I | re.S)


@dataclass
class Sniffed:
    """`format` as in Identity; `kind` refines it (e.g. `json-error`, `7z`, `zip`)."""

    format: str
    kind: str
    description: str
    facts: dict[str, Any] = field(default_factory=dict)


def sniff(head: bytes) -> Sniffed:
    """Classify a file from its first bytes (`head`, up to HEAD_BYTES)."""
    if not head:
        return Sniffed("unknown", "empty", "empty file (0 bytes)")
    if head[:4] == b"GGUF":
        return Sniffed("gguf", "gguf", "GGUF model")
    if head[:4] == b"FUGG":
        return Sniffed("gguf", "gguf-big-endian", "big-endian GGUF model")
    if _is_safetensors(head):
        return Sniffed("safetensors", "safetensors", "safetensors model")
    if head.startswith(LFS_SPEC):
        return _lfs_pointer(head)
    if head[:4] == b"PK\x03\x04":
        return _zip(head)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return Sniffed("pickle", "pickle", f"Python pickle (protocol {head[1]})",
                       {"pickle_protocol": head[1]})  # fmt: skip
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return Sniffed("unknown", "7z", "7z archive (a known way to smuggle a torch pickle)")
    if looks_like_sentencepiece(head):
        return Sniffed("sentencepiece", "sentencepiece", "SentencePiece tokenizer model")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"<", b"{", b"[") and _is_text(head):
        return _html(head) if text[:1] == b"<" else Sniffed("json", "json", "JSON document")
    return Sniffed("unknown", "unknown", "unrecognised format")


def _is_text(head: bytes) -> bool:
    """UTF-8 without control characters: what an HTML or JSON page is and model weights are not
    (one random binary file in ~40 starts with `{`, `[` or `<`)."""
    sample = head[:4096]
    try:
        decoded = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:  # only a character cut at the end of the sample is fine
            return False
        decoded = sample[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n" for ch in decoded)


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= 100_000_000 and head[8:9] == b"{"  # a short file is a truncated one


def _lfs_pointer(head: bytes) -> Sniffed:
    facts: dict[str, Any] = {}
    for line in head.decode("utf-8", "replace").splitlines():
        if line.startswith("oid sha256:"):
            facts["lfs_oid"] = line.removeprefix("oid sha256:").strip()[:64]
        elif line.startswith("size "):
            value = line.removeprefix("size ").strip()
            # ASCII digits only: str.isdigit() takes "²", which int() refuses
            digits = value.isascii() and value.isdigit() and len(value) <= 20
            facts["lfs_size"] = int(value) if digits else value[:32]
    return Sniffed("lfs-pointer", "lfs-pointer", "Git LFS pointer file, not the model data", facts)


def _zip(head: bytes) -> Sniffed:
    name_len = int.from_bytes(head[26:28], "little")
    first = head[30 : 30 + name_len].decode("utf-8", "replace")
    if first.endswith("data.pkl") or "/data/" in first or first.endswith("/version"):
        return Sniffed("torch-zip", "torch-zip", "PyTorch zip checkpoint (pickle inside)",
                       {"first_entry": first})  # fmt: skip
    return Sniffed("unknown", "zip", "zip archive", {"first_entry": first})


def _html(head: bytes) -> Sniffed:
    facts: dict[str, Any] = {}
    m = _TITLE.search(head)
    if m:
        facts["html_title"] = m.group(1).decode("utf-8", "replace").strip()
    return Sniffed("html", "html", "HTML page (an error or login page saved as a file)", facts)


def classify_json(data: bytes) -> Sniffed:
    """Tell a tokenizer.json or config from an error document saved in place of a model."""
    from modelctl.formats.jsonlimits import too_many_values

    too_many = too_many_values(data, MAX_JSON_CONTAINERS, MAX_JSON_VALUES)
    if too_many:
        return Sniffed("json", "json", f"JSON document, too large to classify ({too_many})")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return Sniffed("json", "json-invalid", "text that starts like JSON but is not valid JSON")
    if isinstance(doc, dict):
        model = doc.get("model")
        if isinstance(model, dict) and ("added_tokens" in doc or "pre_tokenizer" in doc):
            vocab = model.get("vocab")
            kind = model.get("type")
            facts: dict[str, Any] = {"tokenizer_type": _short_text(kind)}
            added = doc.get("added_tokens")
            if isinstance(vocab, (dict, list)):
                facts["vocab_size"] = len(vocab) + (len(added) if isinstance(added, list) else 0)
            return Sniffed("json", "tokenizer-json", "Hugging Face tokenizer.json", facts)
        error = doc.get("error") or doc.get("message") or doc.get("errors")
        if error is not None and len(doc) <= 8:
            return Sniffed("json", "json-error", "JSON error response saved as a file",
                           {"json_error": _text(str(error)[:200])})  # fmt: skip
        keys = [_text(k[:MAX_FACT_CHARS]) for k in sorted(doc)[:20]]
        return Sniffed("json", "json", "JSON document", {"json_keys": keys})
    return Sniffed("json", "json", "JSON document")


def _short_text(value: Any) -> str | None:
    """A JSON value kept as a fact only when it is a short string (the file is untrusted)."""
    return _text(value) if isinstance(value, str) and len(value) <= MAX_FACT_CHARS else None


def _text(value: str) -> str:
    """`value` as printable text: JSON's `\\ud800` escapes decode to lone surrogates, which no
    UTF-8 output can write; they are shown as the escape instead."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def pickle_reason(path: str | os.PathLike[str], name: str) -> str | None:
    """Why loading this file could run code (a pickle inside), by its bytes, never unpickling.

    `name` is the file name it will have: a `.pt`/`.ckpt`/`.bin`… that is neither GGUF nor
    safetensors is refused too, since loaders hand such names to `torch.load`.
    """
    with open(path, "rb") as fh:
        found = sniff(fh.read(HEAD_BYTES))
    if found.kind == "pickle":
        return "a pickle file"
    if found.kind == "torch-zip" or (found.kind == "zip" and _zip_holds_pickle(Path(path))):
        return "a zip-packed PyTorch checkpoint"
    if found.kind == "7z":
        return "a 7z archive (a disguised PyTorch checkpoint?)"
    pickle_named = name.lower().endswith(PICKLE_SUFFIXES)
    if found.kind == "zip":
        return "a zip archive" if pickle_named else None
    if pickle_named and found.format not in ("gguf", "safetensors"):
        return "a file with a pickle extension and no known safe format"
    return None


def _zip_holds_pickle(path: Path) -> bool:
    """A torch checkpoint whose first entry does not show it: any `.pkl` member."""
    import contextlib
    import zipfile

    with contextlib.suppress(zipfile.BadZipFile, OSError), zipfile.ZipFile(path) as zf:
        return any(n.endswith(".pkl") for n in zf.namelist())
    return False
