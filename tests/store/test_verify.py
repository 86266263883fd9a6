"""Verification modes against real files and receipts (fast stat, quick xxh3, full sha256)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import xxhash

from modelctl.manifest.model import ResolvedAsset
from modelctl.store import receipts
from modelctl.store.hashing import hash_file, hash_many
from modelctl.store.layout import Layout
from modelctl.store.verify import targets_for_assets, targets_for_receipts, verify
from tests.store.installed import flip_byte, install


def _asset(dest: str, sha256: str | None = None, source: str | None = None) -> ResolvedAsset:
    return ResolvedAsset(
        id=Path(dest).stem,
        role="other",
        source=source or f"hf://acme/demo/{Path(dest).name}",
        dest=dest,
        revision=None,
        sha256=sha256,
        size=None,
        expect={},
        allow_pickle=False,
    )


def _states(layout: Layout, mode: str) -> dict[str, str]:
    return {v.dest: v.state for v in verify(layout, targets_for_receipts(layout), mode)}


def test_hash_file_matches_hashlib_and_xxhash(tmp_path: Path) -> None:
    data = os.urandom(3 * (4 << 20) + 12345)  # several chunks and a tail
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    d = hash_file(path)
    assert d.size == len(data)
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.xxh3_128 == xxhash.xxh3_128(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert hash_file(empty).sha256 == hashlib.sha256(b"").hexdigest()


def test_hash_many_parallel_and_errors(tmp_path: Path) -> None:
    paths = []
    for i in range(6):
        p = tmp_path / f"{i}.bin"
        p.write_bytes(bytes([i]) * (i * 100_000 + 1))
        paths.append(p)
    missing = tmp_path / "missing"
    out = hash_many([*paths, missing], jobs=3)
    for p in paths:
        assert out[p].sha256 == hashlib.sha256(p.read_bytes()).hexdigest()  # type: ignore[union-attr]
    assert isinstance(out[missing], OSError)


def test_fast_catches_truncation_not_an_in_place_flip(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    install(layout, "unet/a.gguf", b"a" * 10_000)
    install(layout, "vae/b.safetensors", b"b" * 10_000)
    assert _states(layout, "fast") == {"unet/a.gguf": "ok", "vae/b.safetensors": "ok"}
    flip_byte(layout.dest("unet/a.gguf"), 5000)
    with open(layout.dest("vae/b.safetensors"), "r+b") as fh:
        fh.truncate(9_000)
    fast = _states(layout, "fast")
    assert fast == {"unet/a.gguf": "ok", "vae/b.safetensors": "modified"}
    full = _states(layout, "full")
    assert full == {"unet/a.gguf": "corrupt", "vae/b.safetensors": "corrupt"}


def test_full_restamps_touched_file_and_stores_fingerprint(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    install(layout, "vae/v.safetensors", b"v" * 5000)
    path = layout.dest("vae/v.safetensors")
    os.utime(path, ns=(1, 1_000_000_000))  # touched: stat changed, bytes the same
    assert _states(layout, "fast") == {"vae/v.safetensors": "modified"}
    [verdict] = verify(layout, targets_for_receipts(layout), "full")
    assert verdict.state == "ok" and verdict.restamped
    r = receipts.read(layout, "vae/v.safetensors")
    assert r is not None and r.xxh3_128 == xxhash.xxh3_128(b"v" * 5000).hexdigest()
    assert _states(layout, "fast") == {"vae/v.safetensors": "ok"}
    # quick now re-reads through xxh3 only, and catches a flipped byte
    assert _states(layout, "quick") == {"vae/v.safetensors": "ok"}
    flip_byte(path, 10)
    assert _states(layout, "quick") == {"vae/v.safetensors": "corrupt"}


def test_quick_without_fingerprint_falls_back_to_sha256(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    install(layout, "loras/l.safetensors", b"l" * 100)
    [v] = verify(layout, targets_for_receipts(layout), "quick")
    assert v.state == "ok" and v.sha256 == hashlib.sha256(b"l" * 100).hexdigest()
    assert receipts.read(layout, "loras/l.safetensors").xxh3_128 is not None  # type: ignore[union-attr]


def test_missing_unmanaged_outdated_and_adopted(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    install(layout, "vae/gone.safetensors", b"x")
    layout.dest("vae/gone.safetensors").unlink()
    stray = layout.dest("unet/stray.gguf")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"stray")
    install(layout, "vae/old.safetensors", b"old")
    good_sha = hashlib.sha256(b"stray").hexdigest()
    assets = [
        _asset("vae/gone.safetensors"),
        _asset("unet/stray.gguf", sha256=good_sha),
        _asset("vae/old.safetensors", sha256="0" * 64),
        _asset("vae/never.safetensors"),
    ]
    targets = targets_for_assets(layout, assets)
    fast = {v.dest: v.state for v in verify(layout, targets, "fast")}
    assert fast == {
        "vae/gone.safetensors": "missing",
        "unet/stray.gguf": "unmanaged",
        "vae/old.safetensors": "outdated",
        "vae/never.safetensors": "missing",
    }
    full = {v.dest: v.state for v in verify(layout, targets, "full")}
    assert full["unet/stray.gguf"] == "adopted"  # bytes match the pin: receipt written
    assert receipts.read(layout, "unet/stray.gguf").sha256 == good_sha  # type: ignore[union-attr]
    assert stray.read_bytes() == b"stray"
    # an unmanaged file that does not match its pin is never adopted
    stray.write_bytes(b"other")
    receipts.remove(layout, "unet/stray.gguf")
    [v] = verify(layout, targets_for_assets(layout, [assets[1]]), "full")
    assert v.state == "unmanaged" and receipts.read(layout, "unet/stray.gguf") is None


def test_receipt_not_rewritten_while_destination_locked(tmp_path: Path) -> None:
    from modelctl.store.locks import try_hold

    layout = Layout(tmp_path)
    install(layout, "vae/v.safetensors", b"v" * 100)
    os.utime(layout.dest("vae/v.safetensors"), ns=(1, 1_000_000_000))
    before = receipts.read(layout, "vae/v.safetensors")
    lock = try_hold(layout.lock("vae/v.safetensors"))
    assert lock is not None
    try:
        [v] = verify(layout, targets_for_receipts(layout), "full")
    finally:
        lock.release()  # type: ignore[attr-defined]
    assert v.state == "ok" and not v.restamped
    assert receipts.read(layout, "vae/v.safetensors") == before


@pytest.mark.parametrize(
    ("content", "oid"),
    [
        (b"", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"),  # `git hash-object` of an empty file
        (b"hello\n", "ce013625030ba8dba906f756967f9e9ca394464a"),
    ],
)
def test_git_blob_sha1_is_gits_object_id(tmp_path, content, oid):
    from modelctl.store.hashing import git_blob_sha1

    path = tmp_path / "f"
    path.write_bytes(content)
    assert git_blob_sha1(path, len(content)) == oid


def test_a_size_only_install_is_unverified_until_a_pin_vouches_for_it(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    data = b"bytes nobody hashed at the source"
    install(layout, "vae/v.safetensors", data, verified="size")
    for mode in ("fast", "quick", "full"):
        assert _states(layout, mode) == {"vae/v.safetensors": "unverified"}, mode
    pinned = _asset("vae/v.safetensors", sha256=hashlib.sha256(data).hexdigest())
    assert verify(layout, targets_for_assets(layout, [pinned]), "fast")[0].state == "ok"
    assert verify(layout, targets_for_assets(layout, [pinned]), "full")[0].state == "ok"
    receipt = receipts.read(layout, "vae/v.safetensors")
    assert receipt is not None and receipt.verified == "sha256"  # the pin checked it: recorded
    assert _states(layout, "fast") == {"vae/v.safetensors": "ok"}
