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
