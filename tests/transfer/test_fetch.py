"""The transfer core against the test hub's CDN: ranges bookkeeping, segments, a full disk."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.errors import DiskFull
from modelctl.store.layout import Layout
from modelctl.store.partials import PartialState, claim
from modelctl.transfer.fetch import TransferOptions, fetch
from modelctl.transfer.ranges import Ranges
from modelctl.transfer.remote import RemoteFile
from modelctl.transfer.retry import RetryPolicy
from tests.helpers.hub import TestHub
from tests.helpers.tmpfs import small_tmpfs


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
    with small_tmpfs(tmp_path, "2m") as mnt:
        yield mnt


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


def _content_gets(hub: TestHub, path: str) -> list[str | None]:
    return [e.range for e in hub.gets(path, origin="cdn")]


def test_a_fast_stream_stays_alone(hub, tmp_path):
    """No connection is capped below `solo_rate`: one request for the whole file, no pieces."""
    data = os.urandom(6 << 20)
    hub.add_file("org/r", "m.gguf", data)
    want = hashlib.sha256(data).hexdigest()
    part = _partial(Layout(tmp_path), want, len(data))
    opts = TransferOptions(connections=8, segment_threshold=1 << 20, solo_rate=0)
    result = fetch(_remote(hub, "m.gguf", len(data), want), part, opts)
    assert (result.sha256, result.fetched) == (want, len(data))
    assert _content_gets(hub, "m.gguf") == [f"bytes=0-{len(data) - 1}"]


def test_a_capped_stream_opens_more_connections_and_the_hash_still_matches(hub, tmp_path):
    """Slower than `solo_rate`: the lone stream is cut one piece ahead, the rest goes in pieces
    over the other connections (out of order, hashed by reading back), same bytes and sha256."""
    data = os.urandom(12 << 20)
    hub.add_file("org/r", "m.gguf", data)
    hub.fault("org/r", "m.gguf", rate=8_000_000)
    want = hashlib.sha256(data).hexdigest()
    part = _partial(Layout(tmp_path), want, len(data))
    opts = TransferOptions(connections=4, segment_threshold=1 << 20, segment_size=1 << 20,
                           buffer_size=256 << 10, solo_rate=1e12)  # fmt: skip
    result = fetch(_remote(hub, "m.gguf", len(data), want), part, opts)
    assert (result.sha256, result.size, result.fetched) == (want, len(data), len(data))
    assert part.data.read_bytes() == data
    ranges = _content_gets(hub, "m.gguf")
    assert f"bytes=0-{len(data) - 1}" in ranges and len(ranges) > 2
    starts = sorted(int(r.split("=")[1].split("-")[0]) for r in ranges if r)
    assert len(starts) == len(set(starts))  # no piece asked twice


def test_resume_of_out_of_order_pieces_fetches_only_the_holes(hub, tmp_path):
    """A segmented run left pieces with holes between them: the next run fetches only the holes
    and the sha256 covers the kept pieces (read back) and the new bytes (from buffers)."""
    data = os.urandom(8 << 20)
    hub.add_file("org/r", "m.gguf", data)
    want = hashlib.sha256(data).hexdigest()
    layout = Layout(tmp_path)
    part = _partial(layout, want, len(data))
    kept = [[1 << 20, 3 << 20], [5 << 20, 6 << 20]]
    with open(part.data, "wb") as fh:
        for s, e in kept:
            fh.seek(s)
            fh.write(data[s:e])
    part.save(Ranges(kept))
    again = _partial(layout, want, len(data))
    opts = TransferOptions(connections=4, segment_threshold=1 << 20)
    result = fetch(_remote(hub, "m.gguf", len(data), want), again, opts)
    assert (result.sha256, result.resumed, result.fetched) == (want, 3 << 20, 5 << 20)
    assert again.data.read_bytes() == data
    assert Ranges(again.state.written).spans() == [[0, len(data)]]


def test_a_stall_keeps_the_bytes_received_before_it(hub, tmp_path):
    """Large buffers are filled in several reads: what arrived before a stall is still written,
    so the retry asks for the rest only."""
    data = os.urandom(3 << 20)
    hub.add_file("org/r", "m.gguf", data)
    hub.fault("org/r", "m.gguf", stall=5, stall_after=1_500_000, times=1)
    want = hashlib.sha256(data).hexdigest()
    part = _partial(Layout(tmp_path), want, len(data))
    opts = TransferOptions(connections=1, stall_timeout=0.5, buffer_size=4 << 20,
                           retry=RetryPolicy(base=0.01))  # fmt: skip
    result = fetch(_remote(hub, "m.gguf", len(data), want), part, opts)
    assert (result.sha256, result.fetched) == (want, len(data))
    assert "bytes=1500000-" in _content_gets(hub, "m.gguf"), _content_gets(hub, "m.gguf")
