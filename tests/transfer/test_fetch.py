"""The transfer core against the test hub's CDN: ranges bookkeeping, segments, a full disk."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.errors import DiskFull
from modelctl.sources.base import RemoteFile
from modelctl.store.layout import Layout
from modelctl.store.partials import PartialState, Ranges, claim
from modelctl.transfer.fetch import TransferOptions, fetch
from modelctl.transfer.retry import RetryPolicy
from tests.helpers.hub import TestHub


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 60)), max_size=30))
def test_ranges_match_a_set_of_offsets(spans):
    """Ranges against the obvious oracle: a Python set of every written offset."""
    r, oracle = Ranges(), set()
    for start, length in spans:
        r.add(start, start + length)
        oracle.update(range(start, start + length))
    assert r.total() == len(oracle)
    prefix = 0
    while prefix in oracle:
        prefix += 1
    assert r.prefix() == prefix
    holes = {i for s, e in r.missing(300) for i in range(s, e)}
    assert holes == set(range(300)) - oracle
    assert Ranges(r.spans()).spans() == r.spans()


def _remote(hub: TestHub, path: str, size: int | None, sha: str | None) -> RemoteFile:
    url = f"{hub.endpoint}/org/r/resolve/main/{path}"
    return RemoteFile(source=f"hf://org/r/{path}", url=url, display=path, size=size, sha256=sha)


def _partial(layout: Layout, key: str, size: int | None):
    return claim(layout, PartialState(key, "test", size, None))


@pytest.mark.parametrize("connections", [1, 5])
def test_segmented_and_single_give_the_same_hash(hub, tmp_path, connections):
    data = os.urandom(7 << 20)
    hub.add_file("org/r", "m.gguf", data)
    hub.fault("org/r", "m.gguf", drop_after=900_000, times=2)
    want = hashlib.sha256(data).hexdigest()
    part = _partial(Layout(tmp_path), want, len(data))
    opts = TransferOptions(connections=connections, segment_threshold=1 << 20,
                           retry=RetryPolicy(base=0.01))  # fmt: skip
    result = fetch(_remote(hub, "m.gguf", len(data), want), part, opts)
    assert result.sha256 == want and result.size == len(data)
    assert part.data.read_bytes() == data


def test_resume_rehashes_the_kept_prefix(hub, tmp_path):
    data = os.urandom(3 << 20)
    hub.add_file("org/r", "m.gguf", data)
    want = hashlib.sha256(data).hexdigest()
    layout = Layout(tmp_path)
    part = _partial(layout, want, len(data))
    part.data.write_bytes(data[: 1 << 20])
    part.save(Ranges([[0, 1 << 20]]))
    again = _partial(layout, want, len(data))  # a later run claims the leftover
    result = fetch(_remote(hub, "m.gguf", len(data), want), again, TransferOptions())
    assert (result.sha256, result.resumed, result.fetched) == (want, 1 << 20, len(data) - (1 << 20))
    assert hub.gets("m.gguf", origin="cdn")[0].range == f"bytes={1 << 20}-"


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_enospc_mid_way_with_unknown_size_stops_cleanly_and_keeps_the_partial(hub, tmp_path, tiny):
    data = os.urandom(3 << 20)
    hub.add_file("org/r", "m.gguf", data)
    layout = Layout(tiny / "models")
    part = _partial(layout, "u-unknown", None)
    with pytest.raises(DiskFull) as err:
        fetch(_remote(hub, "m.gguf", None, None), part, TransferOptions())
    # the size came from Content-Length, so the message says how much is missing
    assert "disk full" in err.value.message and "more bytes needed" in err.value.message
    assert part.data.exists() and part.state_path.exists()
    assert part.data.stat().st_size > 0
