"""`sources.remote.RemoteSource` (what `inspect` reads remote headers with) against hostile
servers (tests/helpers/hostile.py): a body cut short is resumed without a byte twice, a trickle
ends by the retry policy's speed rule, a redirect to what is no URL is one SourceError."""

from __future__ import annotations

import os

import pytest

from modelctl.errors import SourceError
from modelctl.sources.remote import FIRST_BLOCK, RemoteSource
from modelctl.transfer.retry import RetryPolicy
from tests.helpers.hostile import HostileServer, Reply, Request, serve

DATA = os.urandom(300_000)
QUICK = RetryPolicy(max_delay=0.0, low_speed_limit=1000, low_speed_time=0.3)


def open_source(srv: HostileServer) -> RemoteSource:
    return RemoteSource(srv.url(), {}, "m.gguf", size=len(DATA), timeout=5, retry=QUICK)


def test_a_block_cut_short_is_asked_again_from_where_it_stopped(tmp_path: object) -> None:
    """The first answer hangs up after 30,000 of the 65,536 bytes asked for: the retry asks for
    the rest (asking from 0 again appended the first 30,000 twice, shifting every offset)."""
    good = serve(DATA)

    def cut_once(req: Request, reply: Reply) -> None:
        if req.index == 0:
            reply.head(206, {"Content-Range": f"bytes 0-{FIRST_BLOCK - 1}/{len(DATA)}",
                             "Content-Length": str(FIRST_BLOCK)})  # fmt: skip
            reply.body(DATA[:30_000])
            reply.close()
        good(req, reply)

    with HostileServer(cut_once) as srv, open_source(srv) as src:
        assert src.read_at(0, FIRST_BLOCK) == DATA[:FIRST_BLOCK]
        assert src.read_at(100_000, 10) == DATA[100_000:100_010]
        assert [r.range for r in srv.gets()][:2] == [f"bytes=0-{FIRST_BLOCK - 1}",
                                                     f"bytes=30000-{FIRST_BLOCK - 1}"]  # fmt: skip


def test_a_trickle_ends_by_the_speed_rule(tmp_path: object) -> None:
    def trickle(req: Request, reply: Reply) -> None:
        start, end = req.range_start() or 0, req.range_end(len(DATA))
        reply.head(206, {"Content-Range": f"bytes {start}-{end}/{len(DATA)}",
                         "Content-Length": str(end - start + 1)})  # fmt: skip
        reply.body(DATA[start : end + 1], rate=40)

    with HostileServer(trickle) as srv:
        with pytest.raises(SourceError) as info:
            open_source(srv)
        assert "too slow: slower than 1000 bytes/s" in info.value.message
        assert info.value.exit_code == 3
        assert len(srv.gets()) == QUICK.attempts + 1
        starts = [r.range_start() for r in srv.gets()]
        assert starts == sorted(starts) and starts[-1]  # each retry from where it stood


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:99999/x?sig=s3cr3t", "http://127.0.0.1:abc/x?sig=s3cr3t",
     "http://[::1/x?sig=s3cr3t", "http://\u00e9\x00/x?sig=s3cr3t"],
)  # fmt: skip
def test_a_redirect_to_what_is_no_url_is_one_source_error(location: str) -> None:
    def redirect(req: Request, reply: Reply) -> None:
        reply.head(302, {"Location": location, "Content-Length": "0"})

    with HostileServer(redirect) as srv:
        with pytest.raises(SourceError) as info:
            open_source(srv)
        assert info.value.message.startswith("m.gguf: redirected to ")
        assert "s3cr3t" not in info.value.message
        assert len(srv.gets()) == 1
