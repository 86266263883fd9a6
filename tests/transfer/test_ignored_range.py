"""A server that ignores Range (answers 200 with the whole body) while a file of 64 MiB or more
is being fetched in pieces (transfer/segments.py): the piece's 200 body must never be written at
the piece's offset (that would put bytes 0.. of the file at offset N: garbage with a valid-looking
size). The download falls back to one stream from byte 0 (`Restart`, fetch.py) and completes
with the right sha256. The test hub's `ignore_range` fault is the server; it is switched on
while the fetch runs to hit the moment several connections are open.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from modelctl.store.layout import Layout
from modelctl.store.partials import PartialState, Ranges, claim
from modelctl.transfer.fetch import TransferOptions, fetch
from modelctl.transfer.remote import RemoteFile
from modelctl.transfer.retry import RetryPolicy
from tests.helpers.hub import TestHub

MiB = 1 << 20
REPO = "org/r"


def remote(hub: TestHub, path: str, data: bytes) -> RemoteFile:
    url = f"{hub.endpoint}/{REPO}/resolve/main/{path}"
    sha = hashlib.sha256(data).hexdigest()
    return RemoteFile(source=f"hf://{REPO}/{path}", url=url, display=path, size=len(data),
                      sha256=sha)  # fmt: skip


def parts(layout: Layout) -> list[Path]:
    return sorted(layout.partials.glob("*.part"))


def answers(hub: TestHub, path: str) -> list[tuple[str | None, int, int]]:
    """(Range asked, status, body bytes sent) of each CDN GET, in the order they ended."""
    return [(e.range, e.status, e.sent) for e in hub.gets(path, origin="cdn")]


def test_range_ignored_from_the_first_piece_falls_back_to_one_stream(hub, tmp_path):
    """Default options (8 connections, 64 MiB threshold): the first ranged request of the
    segmented engine gets a 200, so the file comes in one plain GET from byte 0."""
    data = os.urandom(64 * MiB)
    hub.add_file(REPO, "m.gguf", data)
    hub.fault(REPO, "m.gguf", ignore_range=True)
    layout = Layout(tmp_path)
    rf = remote(hub, "m.gguf", data)
    part = claim(layout, PartialState(rf.sha256 or "", rf.source, len(data)))
    result = fetch(rf, part, TransferOptions())
    assert (result.sha256, result.size, result.resumed) == (rf.sha256, len(data), 0)
    assert part.data.read_bytes() == data
    assert parts(layout) == [part.data]
    gets = sorted(answers(hub, "m.gguf"), key=lambda g: g[0] is None)
    assert [(r, status) for r, status, _ in gets] == [
        (f"bytes=0-{len(data) - 1}", 200),  # asked for a piece, got everything (not used)
        (None, 200),  # then one stream, no Range
    ]
    assert gets[1][2] == len(data)


def test_range_ignored_after_several_connections_opened_gives_the_right_file(hub, tmp_path):
    """A capped connection makes the engine open more (transfer/segments.py); once bytes arrive
    on at least three of them the server stops honouring Range. Every stream stops, the bytes
    written so far are dropped with their file, and one stream fetches the file from 0."""
    data = os.urandom(72 * MiB)
    hub.add_file(REPO, "big.gguf", data)
    fault = hub.fault(REPO, "big.gguf", rate=24_000_000)
    layout = Layout(tmp_path)
    rf = remote(hub, "big.gguf", data)
    part = claim(layout, PartialState(rf.sha256 or "", rf.source, len(data)))
    writers: set[int] = set()
    flipped = threading.Event()
    written_before = {"n": 0}

    def on_bytes(n: int) -> None:
        writers.add(threading.get_ident())  # one thread per connection
        written_before["n"] += n
        if len(writers) >= 3 and not flipped.is_set():
            fault.ignore_range, fault.rate = True, None  # from the next request on
            flipped.set()

    opts = TransferOptions(connections=4, segment_size=2 * MiB, retry=RetryPolicy(base=0.01))
    result = fetch(rf, part, opts, on_bytes)
    assert flipped.is_set(), f"bytes arrived on {len(writers)} connection(s) only"
    assert (result.sha256, result.size, result.resumed) == (rf.sha256, len(data), 0)
    assert part.data.read_bytes() == data
    assert parts(layout) == [part.data]  # the first file, with its pieces, is gone
    gets = answers(hub, "big.gguf")
    assert sum(1 for _, status, _ in gets if status == 206) >= 3  # pieces before the switch
    assert any(r is not None and status == 200 for r, status, _ in gets)  # a piece got 200
    assert [g for g in gets if g[0] is None] == [(None, 200, len(data))]  # then one plain GET
    assert result.fetched == written_before["n"] >= len(data)


def test_range_ignored_on_resume_never_writes_the_body_at_the_hole(hub, tmp_path):
    """A partial keeps pieces from an earlier run with a hole at 8 MiB. The server answers the
    request for the hole with the whole file: writing it at 8 MiB would corrupt the file. The
    pieces are dropped and the file is fetched again from 0."""
    data = os.urandom(64 * MiB)
    hub.add_file(REPO, "m.gguf", data)
    layout = Layout(tmp_path)
    rf = remote(hub, "m.gguf", data)
    part = claim(layout, PartialState(rf.sha256 or "", rf.source, len(data)))
    kept = [[0, 8 * MiB], [40 * MiB, 48 * MiB]]
    with open(part.data, "wb") as fh:
        for start, end in kept:
            fh.seek(start)
            fh.write(data[start:end])
    part.save(Ranges(kept))
    hub.fault(REPO, "m.gguf", ignore_range=True)
    again = claim(layout, PartialState(rf.sha256 or "", rf.source, len(data)))
    assert Ranges(again.state.written).total() == 16 * MiB
    result = fetch(rf, again, TransferOptions(connections=4))
    assert (result.sha256, result.size, result.resumed) == (rf.sha256, len(data), 0)
    assert again.data.read_bytes() == data
    assert parts(layout) == [again.data]
    gets = sorted(answers(hub, "m.gguf"), key=lambda g: g[0] is None)
    assert len(gets) == 2 and (gets[0][0] or "").startswith(f"bytes={8 * MiB}-")
    assert gets[0][1] == 200  # the hole was asked for and the whole file came: not used
    assert gets[1] == (None, 200, len(data))  # the file again, from 0
