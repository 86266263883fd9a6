"""Intent records (`store.intents`): the receipt-to-be, written before the rename, recognised by
the placed file's stat identity or sha256, and dropped when stale. Real files; the kills that
leave these states are in tests/cli/test_pull_interrupted.py."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from modelctl.store import intents, receipts
from modelctl.store.install import install
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt

DEST = "vae/v.safetensors"


def draft(data: bytes) -> Receipt:
    return Receipt(DEST, "hf://acme/demo/v.safetensors", hashlib.sha256(data).hexdigest(),
                   0, 0, 0, verified="sha256")  # fmt: skip


def placed_without_receipt(layout: Layout, data: bytes) -> Path:
    """What a kill right after the rename leaves: the file, its intent, no receipt (the partial
    still a second name of it, as when the kill lands between link(2) and unlink(2))."""
    part = layout.partials / "k.1-ab.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    st = part.stat()
    intent = dataclasses.replace(draft(data), size=st.st_size, mtime_ns=st.st_mtime_ns,
                                 inode=st.st_ino)  # fmt: skip
    intents.write(layout, intent, partial=part)
    dest = layout.dest(DEST)
    dest.parent.mkdir(parents=True)
    os.link(part, dest)
    return part


def test_install_leaves_a_receipt_and_no_intent(tmp_path):
    layout = Layout(tmp_path)
    part = tmp_path / "p.part"
    part.write_bytes(b"weights")
    receipt = install(layout, part, draft(b"weights"))
    assert receipts.read(layout, DEST) == receipt
    assert receipt.matches(layout.dest(DEST).stat())
    assert not layout.intent(DEST).exists() and not part.exists()


def test_finish_writes_the_intended_receipt_and_drops_the_partial_link(tmp_path):
    layout = Layout(tmp_path)
    part = placed_without_receipt(layout, b"weights")
    done = intents.finish(layout, DEST)
    assert done is not None and done.matches(layout.dest(DEST).stat())
    assert receipts.read(layout, DEST) == done
    assert not layout.intent(DEST).exists()
    assert not part.exists()  # a later resume into it would have written into the model


def test_an_intent_whose_rename_never_happened_is_dropped(tmp_path):
    layout = Layout(tmp_path)
    placed_without_receipt(layout, b"weights")
    layout.dest(DEST).unlink()
    assert intents.finish(layout, DEST) is None
    assert not layout.intent(DEST).exists() and receipts.read(layout, DEST) is None


def test_an_intent_for_a_file_replaced_since_is_dropped_and_the_file_is_not_adopted(tmp_path):
    layout = Layout(tmp_path)
    placed_without_receipt(layout, b"weights")
    dest = layout.dest(DEST)
    dest.unlink()
    dest.write_bytes(b"WEIGHTS")  # same size, other bytes
    assert intents.finish(layout, DEST) is None
    assert receipts.read(layout, DEST) is None and not layout.intent(DEST).exists()
    assert dest.read_bytes() == b"WEIGHTS"


def test_the_same_bytes_under_another_inode_are_recognised_by_sha256(tmp_path):
    layout = Layout(tmp_path)
    part = placed_without_receipt(layout, b"weights")
    dest = layout.dest(DEST)
    dest.unlink()
    dest.write_bytes(b"weights")
    done = intents.finish(layout, DEST)
    assert done is not None and done.matches(dest.stat())
    assert part.exists()  # no longer the same file: an ordinary partial, left to gc


def test_an_intent_after_its_receipt_was_written_is_stale(tmp_path):
    layout = Layout(tmp_path)
    placed_without_receipt(layout, b"weights")
    receipt = intents.read(layout, DEST)
    assert receipt is not None
    receipts.write(layout, receipt.receipt)  # killed after the receipt, before the cleanup
    assert intents.finish(layout, DEST) is None
    assert not layout.intent(DEST).exists() and receipts.read(layout, DEST) == receipt.receipt


def test_an_unreadable_intent_proves_nothing(tmp_path):
    layout = Layout(tmp_path)
    placed_without_receipt(layout, b"weights")
    layout.intent(DEST).write_text('{"intent": 1, "receipt": {"dest": 5}}')
    assert intents.read(layout, DEST) is None
    assert intents.finish(layout, DEST) is None
    assert receipts.read(layout, DEST) is None
    assert intents.load_all(layout) == {}


def test_an_intent_naming_a_path_outside_the_models_dir_is_ignored(tmp_path):
    """State files are data: a crafted intent for `../x` (under the name that dest would get)
    neither makes status look outside the models dir nor lets anything write a receipt for it."""
    import json

    layout = Layout(tmp_path / "models")
    outside = tmp_path / "x"
    outside.write_bytes(b"not ours")
    st = outside.stat()
    receipt = Receipt("../x", "hf://a/b/x", hashlib.sha256(b"not ours").hexdigest(), st.st_size,
                      st.st_mtime_ns, st.st_ino)  # fmt: skip
    layout.intents.mkdir(parents=True)
    layout.intent("../x").write_text(
        json.dumps({"intent": 1, "receipt": dataclasses.asdict(receipt), "partial": None})
    )
    assert intents.load_all(layout) == {}
    assert intents.finish(layout, "../x") is None
    assert receipts.read(layout, "../x") is None
