"""A receipt or partial state that is not a JSON object reads as absent, never as a traceback."""

from __future__ import annotations

import pytest

from modelctl.store import receipts
from modelctl.store.inventory import load_receipts
from modelctl.store.layout import Layout
from modelctl.store.partials import read_state
from tests.store.installed import install


@pytest.mark.parametrize("text", ["1", '"x"', "[]", "null", "{", '{"dest": "a"}'])
def test_a_malformed_receipt_is_no_receipt(tmp_path, text):
    layout = Layout(tmp_path)
    install(layout, "vae/a.safetensors", b"bytes")
    layout.receipt("vae/a.safetensors").write_text(text)
    assert receipts.read(layout, "vae/a.safetensors") is None
    found, broken, _ = load_receipts(layout)
    assert found == {} and broken == [str(layout.receipt("vae/a.safetensors"))]


@pytest.mark.parametrize("text", ["1", '"x"', "[]", "null", "{"])
def test_a_malformed_partial_state_is_no_state(tmp_path, text):
    path = tmp_path / "k.t.json"
    path.write_text(text)
    assert read_state(path) is None


def test_a_receipt_reads_back_as_written(tmp_path):
    layout = Layout(tmp_path)
    written = install(layout, "vae/a.safetensors", b"bytes", selections=["demo"])
    assert receipts.read(layout, "vae/a.safetensors") == written
    assert load_receipts(layout)[0] == {"vae/a.safetensors": written}


# --- names: fixed length, the destination inside; legacy names still read ------------------------


def test_receipt_names_have_a_fixed_length_whatever_the_destination(tmp_path):
    layout = Layout(tmp_path)
    short, long = "vae/a.safetensors", "vae/" + "é" * 120 + ".safetensors"  # 252 bytes of name
    for dest in (short, long):
        written = install(layout, dest, b"bytes")
        path = layout.receipt(dest)
        assert path.parent == layout.receipts / "vae"  # the folder `comfyui-paths` lists
        assert len(path.name) == len("0" * 32 + ".json")
        assert receipts.read(layout, dest) == written
    assert set(load_receipts(layout)[0]) == {short, long}


def legacy(layout: Layout, dest: str) -> None:
    """Move `dest`'s receipt to the name receipts had before (`receipts/<dest>.json`)."""
    layout.legacy_receipt(dest).parent.mkdir(parents=True, exist_ok=True)
    layout.receipt(dest).rename(layout.legacy_receipt(dest))


def test_a_legacy_receipt_is_read_listed_and_migrated_when_rewritten(tmp_path):
    layout = Layout(tmp_path)
    written = install(layout, "vae/a.safetensors", b"bytes")
    legacy(layout, "vae/a.safetensors")
    assert receipts.read(layout, "vae/a.safetensors") == written
    assert receipts.locate(layout, "vae/a.safetensors")[0] == layout.legacy_receipt(
        "vae/a.safetensors"
    )
    assert load_receipts(layout)[0] == {"vae/a.safetensors": written}
    receipts.write(layout, written)
    assert layout.receipt("vae/a.safetensors").is_file()
    assert not layout.legacy_receipt("vae/a.safetensors").exists()


def test_a_legacy_receipt_beside_its_new_name_is_superseded_and_gc_drops_it(tmp_path):
    from modelctl.store.gc import collect
    from modelctl.store.inventory import receipt_files

    layout = Layout(tmp_path)
    install(layout, "vae/a.safetensors", b"bytes")
    old = layout.legacy_receipt("vae/a.safetensors")
    old.write_text(layout.receipt("vae/a.safetensors").read_text())  # a crash mid-migration
    files = receipt_files(layout)
    assert files.paths == {"vae/a.safetensors": str(layout.receipt("vae/a.safetensors"))}
    assert files.superseded == [str(old)] and files.broken == []
    removed, _ = collect(layout)
    assert [(r.path, r.note) for r in removed] == [(old, "superseded")]
    assert receipts.read(layout, "vae/a.safetensors") is not None


def test_a_receipt_under_another_destinations_name_proves_nothing(tmp_path):
    layout = Layout(tmp_path)
    install(layout, "vae/a.safetensors", b"a")
    install(layout, "vae/b.safetensors", b"b")
    layout.receipt("vae/b.safetensors").write_text(layout.receipt("vae/a.safetensors").read_text())
    assert receipts.read(layout, "vae/b.safetensors") is None
    found, broken, _ = load_receipts(layout)
    assert set(found) == {"vae/a.safetensors"}
    assert broken == [str(layout.receipt("vae/b.safetensors"))]


@pytest.mark.parametrize("field, value", [("size", "5"), ("inode", None), ("selections", "demo")])
def test_a_receipt_with_a_wrongly_typed_field_is_no_receipt(tmp_path, field, value):
    import json

    layout = Layout(tmp_path)
    install(layout, "vae/a.safetensors", b"bytes")
    doc = json.loads(layout.receipt("vae/a.safetensors").read_text())
    doc[field] = value
    layout.receipt("vae/a.safetensors").write_text(json.dumps(doc))
    assert receipts.read(layout, "vae/a.safetensors") is None
