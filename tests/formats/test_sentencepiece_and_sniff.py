"""SentencePiece reader (the sentencepiece package as oracle) and first-bytes sniffing."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest

from modelctl.errors import FormatError
from modelctl.formats.read import read_header
from modelctl.formats.sentencepiece import read_sentencepiece
from modelctl.formats.source import FileSource
from modelctl.identify import identify
from tests.helpers.bytes_source import BytesSource

CORPUS = "\n".join(
    f"the quick brown fox {i} jumps over the lazy dog number {i * 7} while modelctl reads headers"
    for i in range(300)
)


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sentencepiece as spm

    folder = tmp_path_factory.mktemp("spm")
    (folder / "corpus.txt").write_text(CORPUS)
    spm.SentencePieceTrainer.train(
        input=str(folder / "corpus.txt"),
        model_prefix=str(folder / "tokenizer"),
        vocab_size=400,
        model_type="bpe",
        byte_fallback=True,
        minloglevel=2,
    )
    return folder / "tokenizer.model"


def test_matches_sentencepiece_package(spm_model: Path) -> None:
    import sentencepiece as spm

    oracle = spm.SentencePieceProcessor(model_file=str(spm_model))
    with FileSource(spm_model) as src:
        header = read_sentencepiece(src)
    info = header.detail
    assert info.vocab_size == oracle.vocab_size()
    assert info.model_type == "bpe"
    assert info.trainer["vocab_size"] == 400
    assert info.trainer["byte_fallback"] is True
    assert info.piece_types["byte"] == sum(oracle.is_byte(i) for i in range(oracle.vocab_size()))
    assert info.piece_types["unknown"] == 1
    identity = identify(spm_model)
    assert (identity.format, identity.role) == ("sentencepiece", "tokenizer")
    assert identity.facts["vocab_size"] == oracle.vocab_size()


def test_crafted_protobuf_is_a_format_error(spm_model: Path) -> None:
    data = spm_model.read_bytes()
    for bad in (data[:-3] + b"\x0a\xff\xff\x7f", b"\x0a\x05\x0a\x03ab", b"\x0a\x02\x0a\xff"):
        with pytest.raises(FormatError, match=r"invalid SentencePiece model at byte \d+"):
            read_sentencepiece(BytesSource(bad))


def _kind(data: bytes) -> str:
    return read_header(BytesSource(data)).metadata["kind"]


def test_impostors_are_named() -> None:
    lfs = (b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64
           + b"\nsize 11458049536\n")  # fmt: skip
    header = read_header(BytesSource(lfs))
    assert header.format == "lfs-pointer"
    assert header.metadata["lfs_size"] == 11458049536
    html = b"<!DOCTYPE html><html><head><title>Access to model is restricted</title></head>"
    header = read_header(BytesSource(html))
    assert (header.format, header.metadata["html_title"]) == (
        "html",
        "Access to model is restricted",
    )
    err = json.dumps({"error": "Access to model x is restricted. You must be authenticated."})
    assert _kind(err.encode()) == "json-error"
    assert _kind(b"") == "empty"
    assert _kind(b"7z\xbc\xaf\x27\x1c\0\4" + b"\0" * 30) == "7z"
    assert _kind(b"\x13\x37 random bytes") == "unknown"


def test_pickles_and_torch_zips_are_identified_never_loaded() -> None:
    blob = pickle.dumps({"state_dict": {}}, protocol=4)
    header = read_header(BytesSource(blob))
    assert (header.format, header.metadata["pickle_protocol"]) == ("pickle", 4)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", blob)
        z.writestr("archive/data/0", b"\0" * 16)
    header = read_header(BytesSource(buf.getvalue()))
    assert (header.format, header.metadata["first_entry"]) == ("torch-zip", "archive/data.pkl")


def test_tokenizer_json() -> None:
    doc = {"version": "1.0", "added_tokens": [{"id": 3}], "model": {"type": "BPE",
           "vocab": {"a": 0, "b": 1, "c": 2}, "merges": []}, "pre_tokenizer": None}  # fmt: skip
    identity = identify(BytesSource(json.dumps(doc).encode()))
    assert (identity.format, identity.role) == ("json", "tokenizer")
    assert identity.facts["vocab_size"] == 4


def test_truncated_safetensors_is_not_mistaken_for_something_else() -> None:
    data = (500).to_bytes(8, "little") + b'{"w": '
    with pytest.raises(FormatError, match="truncated"):
        read_header(BytesSource(data))


def test_binary_that_starts_like_text_is_not_an_impostor() -> None:
    from modelctl.formats.sniff import sniff

    for first in (b"{", b"[", b"<", b" {"):
        assert sniff(first + bytes(range(256)) * 4).format == "unknown"
    assert sniff(b'{"error": "Repository not found"}').format == "json"
    assert sniff(b"<!DOCTYPE html><title>Sign in</title>").format == "html"


# --- pickle_reason: what pull refuses to place ---------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "name", "reason"),
    [
        (pickle.dumps({"w": [1, 2]}, protocol=4), "model.safetensors", "a pickle file"),
        (_zip({"archive/data.pkl": b"x", "archive/version": b"3"}), "model.pt",
         "a zip-packed PyTorch checkpoint"),
        (_zip({"readme.txt": b"x", "archive/data.pkl": b"x"}), "model.zip",
         "a zip-packed PyTorch checkpoint"),  # the pickle is not the first member
        (_zip({"readme.txt": b"hello"}), "weights.bin", "a zip archive"),
        (_zip({"readme.txt": b"hello"}), "bundle.zip", None),
        (b"7z\xbc\xaf\x27\x1c" + bytes(64), "model.pt", "a 7z archive (a disguised PyTorch checkpoint?)"),
        (bytes(range(256)) * 4, "model.ckpt", "a file with a pickle extension and no known safe format"),
        (bytes(range(256)) * 4, "model.gguf", None),
        (b"GGUF" + bytes(60), "model.bin", None),
        ((2).to_bytes(8, "little") + b"{}", "model.pt", None),  # safetensors under a torch name
    ],
)  # fmt: skip
def test_pickle_reason_by_content_and_name(tmp_path, content, name, reason):
    from modelctl.formats.sniff import pickle_reason

    path = tmp_path / "download.part"
    path.write_bytes(content)
    assert pickle_reason(path, f"unet/{name}") == reason
