"""gc removes only modelctl's own garbage, and never a partial another process holds locked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelctl.store import receipts
from modelctl.store.gc import collect, parse_age
from modelctl.store.layout import Layout
from modelctl.store.partials import PartialState, claim, lock_path
from modelctl.transfer.ranges import Ranges
from tests.helpers.cli import REPO_ROOT
from tests.store.installed import install

OLD = time.time() - 7 * 86400


def _partial(layout: Layout, key: str, nbytes: int, old: bool = True) -> Path:
    """A partial written through the partials API, aged when `old`."""
    part = claim(layout, PartialState(key=key, source=f"hf://acme/demo/{key[:6]}.gguf", size=10**6))
    with open(part.data, "wb") as fh:
        fh.write(b"p" * nbytes)
    part.save(Ranges([[0, nbytes]]))
    if old:
        st = json.loads(part.state_path.read_text())
        st["updated_at"] = OLD
        part.state_path.write_text(json.dumps(st))
        for p in (part.data, part.state_path):
            os.utime(p, (OLD, OLD))
    return part.data


def _hold(path: Path) -> subprocess.Popen[str]:
    """Another process holding the filelock at `path` until its stdin closes."""
    code = (
        "import sys; from modelctl.store.locks import try_hold\n"
        f"lock = try_hold(__import__('pathlib').Path({str(path)!r}))\n"
        "print('held' if lock else 'busy', flush=True); sys.stdin.read()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_gc_removes_stale_keeps_locked_recent_and_unmanaged(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    stale = _partial(layout, "a" * 64, 1000)
    locked = _partial(layout, "b" * 64, 2000)
    recent = _partial(layout, "c" * 64, 3000, old=False)
    install(layout, "vae/kept.safetensors", b"k")
    install(layout, "vae/gone.safetensors", b"g")
    layout.dest("vae/gone.safetensors").unlink()
    user = layout.dest("checkpoints/mine.safetensors")
    user.parent.mkdir(parents=True)
    user.write_bytes(b"user file")
    os.utime(user, (OLD, OLD))
    staging = layout.dest("vae/.big.safetensors.4242.modelctl-tmp")
    staging.write_bytes(b"s" * 10)
    os.utime(staging, (OLD, OLD))
    cache_tmp = layout.state / "ensure-cache.json.999.tmp"
    cache_tmp.write_text("{")
    os.utime(cache_tmp, (OLD, OLD))
    holder = _hold(lock_path(layout, "b" * 64))
    try:
        dry, _ = collect(layout, 86400, dry_run=True)
        assert {r.path for r in dry} == {
            stale,
            layout.receipt("vae/gone.safetensors"),
            staging,
            cache_tmp,
        }
        assert stale.exists()  # dry run changes nothing
        removed, kept = collect(layout, 86400)
    finally:
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait(10)
    assert {r.path for r in removed if r.done} == {
        stale,
        layout.receipt("vae/gone.safetensors"),
        staging,
        cache_tmp,
    }
    assert not stale.exists() and not stale.with_suffix(".json").exists()
    assert locked.exists() and recent.exists() and user.exists()
    assert lock_path(layout, "a" * 64).exists()  # kept: deleting a held lock splits it
    assert receipts.read(layout, "vae/kept.safetensors") is not None
    assert {(k.path, k.why) for k in kept} >= {
        (locked, "in use by another modelctl"),
        (recent, "recent: kept for resume"),
    }
    # once the other process is gone, the same partial is collectable
    removed, _ = collect(layout, 86400)
    assert locked in {r.path for r in removed} and not locked.exists()


def test_parse_age() -> None:
    assert parse_age("0") == 0 and parse_age("90s") == 90 and parse_age("30m") == 1800
    assert parse_age("24h") == 86400 and parse_age("7d") == 7 * 86400
    for bad in ("", "x", "-1h", "h"):
        with pytest.raises(ValueError):
            parse_age(bad)
