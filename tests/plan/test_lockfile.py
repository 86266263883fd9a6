"""Lock files: format round trip, strict reading, applying pins, and disagreement checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelctl.errors import BadInput, CheckFailed
from modelctl.manifest.select import select
from modelctl.manifest.validate import parse_manifest
from modelctl.plan.lockfile import (
    Lock,
    LockEntry,
    apply_lock,
    disagreements,
    load_lock,
    lock_path,
    merge,
    parse_lock,
    render,
    write_lock,
)
from tests.store.installed import DEMO_MANIFEST

C1, C2 = "1" * 40, "2" * 40
S1, S2, S3, S4 = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)


def _manifest(tmp_path: Path, text: str = DEMO_MANIFEST) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    return path


def _lock(path: Path | None = None) -> Lock:
    return Lock(
        "demo",
        (
            LockEntry("hf://acme/demo/model-Q4.gguf", "main", S1, 100, C1, "diffusion"),
            LockEntry("hf://acme/demo/model-Q8.gguf", "main", S2, 200, C1, "diffusion"),
            LockEntry("hf://acme/demo/vae.safetensors", None, S3, 300, C2, "vae"),
            LockEntry("hf://acme/demo/config.json", None, S4, 8, C2, "cfg"),
        ),
        path,
    )


def test_round_trip_and_yaml_types(tmp_path: Path) -> None:
    path = lock_path(_manifest(tmp_path))
    assert path.name == "demo.lock.yaml"
    assert write_lock(_lock(), path) is True
    assert write_lock(_lock(), path) is False  # unchanged: not rewritten
    loaded = load_lock(tmp_path / "demo.yaml")
    assert loaded is not None and set(loaded.entries) == set(_lock().entries)
    # values YAML 1.1 would re-type (all-digit commit, `no`-like ids) stay strings
    odd = Lock("demo", (LockEntry("hf://a/b/no", "0123", "0" * 64, 1, "0" * 40, "no"),))
    doc = yaml.safe_load(render(odd))
    assert doc["assets"][0]["revision"] == "0123" and doc["assets"][0]["commit"] == "0" * 40
    assert parse_lock(render(odd).encode()).entries == odd.entries
    assert load_lock(tmp_path / "other.yaml") is None


@pytest.mark.parametrize(
    "text",
    [
        "lock: 2\nmanifest: demo\nassets: []\n",
        "lock: 1\nassets: []\n",
        "lock: 1\nmanifest: demo\nassets:\n  - {source: x, sha256: 123}\n",
        "lock: 1\nmanifest: demo\nassets:\n  - {source: x, sha256: " + "A" * 64 + "}\n",
        "lock: 1\nmanifest: demo\nassets:\n  - {source: x, sha256: " + S1 + ", commit: 12}\n",
        "lock: 1\nmanifest: demo\nassets:\n  - {source: x, sha256: " + S1 + ", size: true}\n",
        "lock: 1\nmanifest: demo\nassets:\n  - {source: x, sha256: " + S1 + ", extra: 1}\n",
        "lock: [1\n",
        "\xff",
    ],
)
def test_bad_lock_files_are_bad_input(text: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_lock(text.encode("latin-1"), Path("demo.lock.yaml"))
    assert "demo.lock.yaml" in info.value.message and info.value.hint


def test_apply_pins_revision_sha_and_size(tmp_path: Path) -> None:
    manifest = parse_manifest(DEMO_MANIFEST.encode(), _manifest(tmp_path))
    sel = select(manifest, {"quant": "Q8"})
    pinned = apply_lock(sel, _lock())
    by_id = {a.id: a for a in pinned.assets}
    assert (by_id["diffusion"].revision, by_id["diffusion"].sha256) == (C1, S2)
    assert by_id["diffusion"].size == 200 and by_id["vae"].revision == C2
    assert disagreements(sel, _lock()) == []
    assert apply_lock(sel, None) is sel


def test_locked_detects_a_changed_manifest(tmp_path: Path) -> None:
    changed = DEMO_MANIFEST.replace("vae.safetensors\n    dest", "vae-v2.safetensors\n    dest")
    manifest = parse_manifest(changed.encode(), _manifest(tmp_path, changed))
    sel = select(manifest, {})
    problems = disagreements(sel, _lock())
    assert len(problems) == 1 and "vae-v2.safetensors" in problems[0]
    with pytest.raises(CheckFailed) as info:
        apply_lock(sel, _lock(), locked=True)
    assert info.value.exit_code == 1 and "modelctl lock demo" in (info.value.hint or "")
    # without --locked, the newer manifest wins for that asset; the rest stay pinned
    loose = {a.id: a for a in apply_lock(sel, _lock()).assets}
    assert loose["vae"].sha256 is None and loose["diffusion"].sha256 == S1
    with pytest.raises(CheckFailed):
        apply_lock(sel, None, locked=True)


def test_manifest_sha_pin_conflict(tmp_path: Path) -> None:
    text = DEMO_MANIFEST.replace(
        "dest: configs/demo.json", f"dest: configs/demo.json\n    sha256: {'e' * 64}"
    )
    sel = select(parse_manifest(text.encode(), _manifest(tmp_path, text)), {})
    assert any("sha256" in p for p in disagreements(sel, _lock()))
    cfg = next(a for a in apply_lock(sel, _lock()).assets if a.id == "cfg")
    assert cfg.sha256 == "e" * 64  # the manifest's own pin is never overridden


def test_merge_keeps_other_selections() -> None:
    old = _lock()
    new = Lock("demo", (LockEntry("hf://acme/demo/model-Q4.gguf", "main", S4, 1, C2, "d"),))
    merged = merge(old, new, keep_others=True)
    assert len(merged.entries) == 4
    assert next(e for e in merged.entries if e.source.endswith("Q4.gguf")).sha256 == S4
    assert merge(old, new, keep_others=False) is new
