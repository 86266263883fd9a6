"""Locks on the volume, between real processes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from modelctl.errors import TimedOut
from modelctl.store.locks import hold, try_hold

HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from modelctl.store.locks import hold
with hold(__import__("pathlib").Path({path!r}), 5, "test"):
    print("held", flush=True)
    time.sleep({seconds})
"""


def _holder(path, seconds):
    from tests.helpers.cli import REPO_ROOT

    code = HOLDER.format(root=str(REPO_ROOT), path=str(path), seconds=seconds)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_waits_then_gets_the_lock(tmp_path):
    path = tmp_path / ".modelctl" / "locks" / "x.lock"
    proc = _holder(path, 0.5)
    assert try_hold(path) is None  # held by the other process
    t0 = time.monotonic()
    with hold(path, 10, "x"):
        assert time.monotonic() - t0 > 0.2
    proc.wait()
    assert path.exists()  # lock files are kept (no split inode)


def test_waiting_longer_than_the_timeout_is_timed_out(tmp_path):
    path = tmp_path / "x.lock"
    proc = _holder(path, 3)
    waited = []
    with pytest.raises(TimedOut), hold(path, 0.3, "pulling x", on_wait=lambda: waited.append(1)):
        pass
    assert waited == [1]
    proc.kill()
    proc.wait()
