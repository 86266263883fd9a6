"""`sources.remote.RemoteSource` against the loopback hub: what it fetches for reads far past the
prefix (a GGUF reader skipping a long string it keeps truncated), and that a retried read does not
leave the part of a failed try in its bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from modelctl.sources.remote import FIRST_BLOCK, MAX_BLOCK, RemoteSource
from modelctl.transfer.retry import RetryPolicy
from tests.helpers.hub import TestHub

QUICK = RetryPolicy(max_delay=0.01)


def _file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "blob.gguf"
    path.write_bytes(data)
    return path, data


def _open(hub: TestHub, path: Path, **kwargs: object) -> RemoteSource:
    hub.add_file("org/r", "blob.gguf", path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    url = f"{hub.endpoint}/org/r/resolve/main/blob.gguf"
    return RemoteSource(url, {}, "hf://org/r/blob.gguf", retry=QUICK, **kwargs)  # type: ignore[arg-type]


def test_reads_far_past_the_prefix_fetch_only_a_window(hub: TestHub, tmp_path: Path) -> None:
    path, data = _file(tmp_path, 24 << 20)
    with _open(hub, path) as remote:
        assert remote.read_at(10, 100) == data[10:110]
        for offset in (8 << 20, (8 << 20) + 4096, 20 << 20):  # two windows, one grown in place
            assert remote.read_at(offset, 5000) == data[offset : offset + 5000]
        assert remote.bytes_fetched <= 3 * FIRST_BLOCK + MAX_BLOCK
        assert remote.read_at(200, 50) == data[200:250]  # the prefix is still there
    hub.wait_idle()  # the pool is closed: every request is in the log
    assert hub.bytes_served("blob.gguf") == remote.bytes_fetched


def test_a_retried_read_keeps_no_bytes_of_the_failed_try(hub: TestHub, tmp_path: Path) -> None:
    path, data = _file(tmp_path, 1 << 20)
    # the second request (the prefix growing past 64 KiB) stalls after 1000 bytes, once
    with _open(hub, path, timeout=0.5) as remote:
        hub.fault("org/r", "blob.gguf", stall=5.0, stall_after=1000, times=1)
        assert remote.read_at(0, 300_000) == data[:300_000]
