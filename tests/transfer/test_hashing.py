"""The prefix hasher: hashing offered buffers equals hashing the file, whatever the arrival order.

hashlib over the finished file is the oracle. Writers here do what fetch.py's streams do: pwrite,
then report the range with the buffer they wrote from; the hasher must hash each byte once, in
order, from the buffer when it continues the hash and from the file otherwise, and hand every
buffer back.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from modelctl.transfer.hashing import PrefixHasher, Written

SIZE = 64 << 10


def _pieces(cuts: list[int]) -> list[tuple[int, int]]:
    edges = sorted({0, SIZE, *cuts})
    return list(itertools.pairwise(edges))


def _run(path: Path, data: bytes, order: list[tuple[int, int]], kept: int = 0, offer=True):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.pwrite(fd, data[:kept], 0)
        written = Written([[0, kept]] if kept else [])
        hasher = PrefixHasher(fd, written)
        hasher.start()
        released: list[int] = []
        for start, end in order:
            start = max(start, kept)
            if start >= end:
                continue
            buf = memoryview(bytearray(data[start:end]))
            os.pwrite(fd, buf, start)
            if offer:
                written.add(start, end, buf, lambda s=start: released.append(s))
            else:
                written.add(start, end)
        digest = hasher.finish()
        return digest, hasher, released
    finally:
        os.close(fd)


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(1, SIZE - 1), max_size=12),
    seed=st.randoms(use_true_random=False),
    kept=st.integers(0, SIZE),
)
def test_offered_buffers_hash_like_the_file_in_any_order(tmp_path_factory, cuts, seed, kept):
    data = os.urandom(SIZE)
    order = _pieces(cuts)
    seed.shuffle(order)
    path = tmp_path_factory.mktemp("h") / "f"
    digest, _, released = _run(path, data, order, kept)
    assert digest == hashlib.sha256(data).hexdigest()
    offered = [max(s, kept) for s, e in order if max(s, kept) < e]
    assert sorted(released) == sorted(offered)  # every buffer handed back


def test_in_order_stream_is_hashed_from_its_buffers_without_reading_back(tmp_path):
    data = os.urandom(SIZE)
    digest, hasher, _ = _run(tmp_path / "f", data, _pieces(list(range(4096, SIZE, 4096))))
    assert digest == hashlib.sha256(data).hexdigest()
    assert hasher.read_back == 0


def test_resumed_prefix_is_read_back_and_the_rest_taken_from_buffers(tmp_path):
    data = os.urandom(SIZE)
    kept = 20_000
    digest, hasher, _ = _run(tmp_path / "f", data, _pieces([30_000, 50_000]), kept=kept)
    assert digest == hashlib.sha256(data).hexdigest()
    assert hasher.read_back == kept


def test_ranges_without_buffers_are_read_back(tmp_path):
    data = os.urandom(SIZE)
    digest, hasher, _ = _run(tmp_path / "f", data, _pieces([10_000]), offer=False)
    assert digest == hashlib.sha256(data).hexdigest()
    assert hasher.read_back == SIZE


def test_abandon_hands_back_buffers_and_later_offers_at_once(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        written = Written()
        hasher = PrefixHasher(fd, written)
        hasher.start()
        back = threading.Event()
        os.pwrite(fd, b"x" * 10, 100)
        written.add(100, 110, memoryview(bytearray(10)), back.set)  # out of order: waits
        hasher.abandon()
        assert back.wait(5)
        late = threading.Event()
        written.add(0, 10, memoryview(bytearray(10)), late.set)
        assert late.is_set()
    finally:
        os.close(fd)
