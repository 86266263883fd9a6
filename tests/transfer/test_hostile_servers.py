"""`transfer.fetch` against servers that misbehave on purpose (tests/helpers/hostile.py): every
download ends, complete or with one SourceError (exit 3) that keeps the partial, in a bounded
number of requests, and no byte is ever written at an offset it does not belong to.

The bounds come from the one retry policy (transfer/retry.py): failures counted since the most
bytes ever held, bytes thrown away against the file's size, and the speed rule. The policies
here only shorten waits and windows (`max_delay=0`, a fraction of a second for the speed rule):
what is retried and when it stops is the default policy's.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelctl.errors import SourceError
from modelctl.store.layout import Layout
from modelctl.store.partials import Partial, PartialState, claim
from modelctl.transfer.fetch import FetchResult, TransferOptions, fetch
from modelctl.transfer.ranges import Ranges
from modelctl.transfer.remote import RemoteFile
from modelctl.transfer.retry import RetryPolicy
from tests.helpers.hostile import HostileServer, Reply, Request, serve

MiB = 1 << 20
DATA = os.urandom(8 * MiB)
SHA = hashlib.sha256(DATA).hexdigest()
ATTEMPTS = RetryPolicy().attempts  # the default: 6 retries after the first failure
QUICK = RetryPolicy(max_delay=0.0, low_speed_limit=1000, low_speed_time=0.3)


@dataclass
class Outcome:
    result: FetchResult | None
    error: SourceError | None
    part: Partial
    layout: Layout

    def held(self) -> bytes:
        """The bytes the partial's saved state says are written, from offset 0 (a prefix)."""
        spans = Ranges(self.part.state.written).spans()
        if not spans:
            return b""
        assert spans[0][0] == 0 and len(spans) == 1, spans
        return self.part.data.read_bytes()[: spans[0][1]]

    def held_right(self) -> int:
        """How many bytes the saved state says are written; each is the file's at its offset."""
        on_disk = self.part.data.read_bytes()
        for start, end in Ranges(self.part.state.written).spans():
            assert on_disk[start:end] == DATA[start:end], (start, end)
        return Ranges(self.part.state.written).total()


def pull(
    srv: HostileServer,
    tmp: Path,
    size: int | None = len(DATA),
    policy: RetryPolicy = QUICK,
    **opts: object,
) -> Outcome:
    """Fetch the server's file into a partial under `tmp` (claimed again if one is there)."""
    layout = Layout(tmp)
    part = claim(layout, PartialState(SHA, srv.url(), size))
    remote = RemoteFile(source=srv.url(), url=srv.url(), display="m.gguf", size=size, sha256=SHA)
    options = TransferOptions(retry=policy, **opts)  # type: ignore[arg-type]
    try:
        return Outcome(fetch(remote, part, options), None, part, layout)
    except SourceError as exc:
        return Outcome(None, exc, part, layout)


def failed(out: Outcome, *words: str) -> SourceError:
    assert out.result is None and out.error is not None, out.result
    assert out.error.exit_code == 3
    for word in words:
        assert word in out.error.message, out.error.message
    assert "\n" not in out.error.message
    return out.error


def resumes(out: Outcome, tmp: Path, srv: HostileServer, held: int) -> None:
    """The kept partial resumes against a sound server: one request, from `held`."""
    srv.answer = serve(DATA)
    first = len(srv.log)
    again = pull(srv, tmp)
    assert again.result is not None, again.error
    assert (again.result.sha256, again.result.resumed) == (SHA, held)
    assert [r.range for r in srv.log[first:]] == [f"bytes={held}-" if held else None]


def full(req: Request, reply: Reply, body: bytes = DATA, **headers: str) -> None:
    reply.head(200, {"Content-Length": str(len(DATA)), **headers})
    reply.body(body)


# ---------------------------------------------------------------------- no progress, no end


def test_a_server_that_drops_every_answer_and_ignores_range_stops(tmp_path: Path) -> None:
    """Every answer is a 200 for the whole file, cut after 1 MiB: each starts the file over and
    brings 1 MiB, never more than the first. That is no progress: the count runs out (it
    served 485 requests in 120 s, and on, before)."""

    def cut(req: Request, reply: Reply) -> None:
        full(req, reply, DATA[:MiB])
        reply.close()

    with HostileServer(cut) as srv:
        out = pull(srv, tmp_path)
        err = failed(out, f"after {ATTEMPTS} retries without progress", "connection closed")
        assert "partial download is kept" in (err.hint or "")
        assert len(srv.gets()) == ATTEMPTS + 1
        assert out.held() == DATA[:MiB]  # the last start over's first MiB, at offset 0
        resumes(out, tmp_path, srv, MiB)


def test_bytes_thrown_away_are_bounded_by_the_file_size(tmp_path: Path) -> None:
    """Range ignored, each answer cut 512 KiB later than the one before: every attempt holds
    more than any before (progress), but each also throws the last one away. Once that waste
    passes the file's size the download stops, before the 8th answer would have completed it."""
    size, step = 4 * MiB, 512 << 10
    data = DATA[:size]

    def later_each_time(req: Request, reply: Reply) -> None:
        reply.head(200, {"Content-Length": str(size)})
        reply.body(data[: step * (req.index + 1)])
        reply.close()

    with HostileServer(later_each_time) as srv:
        out = pull(srv, tmp_path, size=size, policy=RetryPolicy(max_delay=0.0, wasted_floor=0))
        failed(out, "thrown away", "4.0 MiB a file of this size may waste")
        assert len(srv.gets()) == 5  # thrown away: 0.5 + 1 + 1.5 + 2 MiB > 4 MiB
        assert len(out.held()) == 5 * step


def test_a_trickle_fails_by_the_speed_rule_and_keeps_what_came(tmp_path: Path) -> None:
    """A few bytes a second never lets the read timeout fire: the speed rule ends each attempt,
    the bytes it brought are written at their offsets, and since they are no progress the count
    runs out."""

    def trickle(req: Request, reply: Reply) -> None:
        start = req.range_start() or 0
        status = 206 if start else 200
        extra = {"Content-Range": f"bytes {start}-{len(DATA) - 1}/{len(DATA)}"} if start else {}
        reply.head(status, {"Content-Length": str(len(DATA) - start), **extra})
        reply.body(DATA[start:], rate=40)

    with HostileServer(trickle) as srv:
        out = pull(srv, tmp_path)
        err = failed(out, "too slow: slower than 1000 bytes/s", f"after {ATTEMPTS} retries")
        assert "MODELCTL_LOW_SPEED_LIMIT=0" in (err.hint or "")
        gets = srv.gets()
        assert len(gets) == ATTEMPTS + 1
        held = len(out.held())
        assert 0 < held < 1000 and out.held() == DATA[:held]
        assert [r.range_start() or 0 for r in gets] == sorted(r.range_start() or 0 for r in gets)
        resumes(out, tmp_path, srv, held)


def test_a_server_answering_each_request_with_one_byte_is_a_trickle_too(tmp_path: Path) -> None:
    """Each answer is a well-formed 206 for the next byte only: every attempt brings a new byte,
    quickly. The speed rule's window spans the attempts, so the stream is judged slow and its
    bytes stop counting as progress; it ends as a trickle over one connection would."""

    def one_byte(req: Request, reply: Reply) -> None:
        start = req.range_start() or 0
        reply.head(206, {"Content-Range": f"bytes {start}-{start}/{len(DATA)}",
                         "Content-Length": "1"})  # fmt: skip
        reply.body(DATA[start : start + 1])

    policy = RetryPolicy(max_delay=0.0, low_speed_limit=100_000, low_speed_time=0.3)
    with HostileServer(one_byte) as srv:
        out = pull(srv, tmp_path, policy=policy)
        err = failed(out, f"after {ATTEMPTS} retries without progress", "connection closed",
                     "(the stream is slower than 100000 bytes/s for 0.3")  # fmt: skip
        assert "MODELCTL_LOW_SPEED_LIMIT=0" in (err.hint or "")
        held = len(out.held())
        assert ATTEMPTS < held < 30_000 and held <= len(srv.gets())


def test_a_status_line_trickled_a_byte_at_a_time_ends_the_attempt(tmp_path: Path) -> None:
    """Faster than the read timeout, slower than any head should take: connecting, sending and
    the whole head must fit in connect + read timeout."""

    def slow_head(req: Request, reply: Reply) -> None:
        reply.raw(b"HTTP/1.1 200 OK\r\n")
        while not reply.stopping.wait(0.1):  # a header line that never ends
            reply.raw(b"x")

    with HostileServer(slow_head) as srv:
        out = pull(srv, tmp_path, policy=RetryPolicy(max_delay=0.0, attempts=1),
                   connect_timeout=0.5, stall_timeout=0.5)  # fmt: skip
        failed(out, "too slow: no complete answer within 1 s")
        assert len(srv.gets()) == 2


# ---------------------------------------------------------------------- Content-Range


def first_mib_then(answer_range: object) -> object:
    """A server whose plain GET sends the first MiB and hangs up, and whose ranged GETs are
    answered by `answer_range` (so the client must resume at 1 MiB)."""

    def answer(req: Request, reply: Reply) -> None:
        if req.range is None:
            full(req, reply, DATA[:MiB], ETag='"v1"')
            reply.close()
        answer_range(req, reply)  # type: ignore[operator]
        reply.close()

    return answer


GARBAGE = bytes(len(DATA))  # what a wrong 206 sends: never to be found in the partial


@pytest.mark.parametrize(
    "content_range",
    [
        "bytes 0-8388607/8388608",  # from 0, not from where we asked
        "bytes 2097152-8388607/8388608",  # past where we asked
        "bytes garbage",
        "bytes 1048576-1048575/8388608",  # last before first
        "bytes 1048576-8388608/8388608",  # last at the complete length
        "bytes */8388608",  # a 416's form on a 206
        "octets 1048576-8388607/8388608",
        "",
        None,  # no Content-Range at all
    ],
)
def test_a_206_that_is_not_the_range_asked_for_is_a_protocol_failure(
    tmp_path: Path, content_range: str | None
) -> None:
    """Never written at the offset we asked for (nor anywhere), never a reason to throw the
    partial away: retried as a failure of the server, then one error that keeps the partial."""

    def wrong(req: Request, reply: Reply) -> None:
        headers = {"Content-Length": str(len(DATA))}
        if content_range is not None:
            headers["Content-Range"] = content_range
        reply.head(206, headers)
        reply.body(GARBAGE[: 2 * MiB])

    with HostileServer(first_mib_then(wrong)) as srv:
        out = pull(srv, tmp_path)
        err = failed(out, f"after {ATTEMPTS} retries without progress")
        assert "Content-Range" in err.message
        assert "does not resume downloads correctly" in (err.hint or "")
        assert [r.range for r in srv.gets()] == [None] + [f"bytes={MiB}-"] * ATTEMPTS
        assert out.held() == DATA[:MiB]
        assert out.part.data.stat().st_size == MiB  # nothing written past it either
        resumes(out, tmp_path, srv, MiB)


def test_what_an_earlier_run_left_is_no_progress_of_this_one(tmp_path: Path) -> None:
    """A partial of 1 MiB from an earlier run, a server whose every 206 starts at 0: the kept
    prefix does not count as progress on the first failure, so the count is the same as for a
    fresh download, and the prefix is left as it was."""

    def from_zero(req: Request, reply: Reply) -> None:
        reply.head(206, {"Content-Range": f"bytes 0-{len(DATA) - 1}/{len(DATA)}",
                         "Content-Length": str(len(DATA))})  # fmt: skip
        reply.body(GARBAGE[:MiB])
        reply.close()

    layout = Layout(tmp_path)
    with HostileServer(from_zero) as srv:
        part = claim(layout, PartialState(SHA, srv.url(), len(DATA)))
        part.data.write_bytes(DATA[:MiB])
        part.save(Ranges([[0, MiB]]))
        out = pull(srv, tmp_path)
        failed(out, f"after {ATTEMPTS} retries without progress")
        assert len(srv.gets()) == ATTEMPTS + 1
        assert out.held() == DATA[:MiB]


@pytest.mark.parametrize("total", ["8388609", "4194304"])
def test_a_206_for_a_file_of_another_size_stops_at_once(tmp_path: Path, total: str) -> None:
    def other_size(req: Request, reply: Reply) -> None:
        last = int(total) - 1
        reply.head(206, {"Content-Range": f"bytes {MiB}-{last}/{total}",
                         "Content-Length": str(last - MiB + 1)})  # fmt: skip

    with HostileServer(first_mib_then(other_size)) as srv:
        out = pull(srv, tmp_path)
        err = failed(out, f"the server says the file has {total} bytes, expected {len(DATA)}")
        assert "changed" in (err.hint or "")
        assert len(srv.gets()) == 2
        assert out.held() == DATA[:MiB]


def test_a_206_that_learns_the_size_when_none_was_known(tmp_path: Path) -> None:
    """No size from the manifest or a HEAD, a first answer without Content-Length that stalls:
    the resume's Content-Range says how large the file is."""

    def no_length(req: Request, reply: Reply) -> None:
        if req.range is None:
            reply.head(200, {"Connection": "close", "ETag": '"v1"'})
            reply.body(DATA[:MiB])
            reply.stopping.wait(10)  # a stall, not an end: a clean end would be the file's end
            reply.close()
        serve(DATA)(req, reply)

    with HostileServer(no_length) as srv:
        out = pull(srv, tmp_path, size=None, stall_timeout=0.3)
        assert out.result is not None, out.error
        assert (out.result.sha256, out.result.size) == (SHA, len(DATA))
        assert [r.range for r in srv.gets()] == [None, f"bytes={MiB}-"]


# ---------------------------------------------------------------------- lengths and 416


def test_a_200_with_another_content_length_stops_at_once(tmp_path: Path) -> None:
    def wrong_length(req: Request, reply: Reply) -> None:
        reply.head(200, {"Content-Length": str(len(DATA) + 1)})
        reply.body(DATA + b"x")

    with HostileServer(wrong_length) as srv:
        out = pull(srv, tmp_path)
        failed(out, f"the server sends {len(DATA) + 1} bytes, expected {len(DATA)}")
        assert len(srv.gets()) == 1
        assert out.held() == b""


def test_a_content_length_larger_than_the_file_is_found_out_by_the_416(tmp_path: Path) -> None:
    """Size unknown up front; the server claims 1 MiB more than it has and hangs up at the real
    end. The resume past that end gets a 416 naming the real size: one error, no loop."""

    def longer(req: Request, reply: Reply) -> None:
        if req.range is None:
            reply.head(200, {"Content-Length": str(len(DATA) + MiB), "ETag": '"v1"'})
            reply.body(DATA)
            reply.close()
        serve(DATA)(req, reply)

    with HostileServer(longer) as srv:
        out = pull(srv, tmp_path, size=None)
        failed(out, f"the server says the file has {len(DATA)} bytes, expected {len(DATA) + MiB}")
        assert [r.range for r in srv.gets()] == [None, f"bytes={len(DATA)}-"]
        assert out.held() == DATA


def test_a_server_that_answers_416_to_every_get_stops_at_once(tmp_path: Path) -> None:
    """A 416 to a request for the whole file is an answer, not a reason to start over (it was
    an endless loop of requests without a wait before)."""

    def refuse(req: Request, reply: Reply) -> None:
        if req.method == "HEAD":
            reply.head(200, {"Content-Length": str(len(DATA))})
            return
        reply.head(416, {"Content-Range": f"bytes */{len(DATA)}", "Content-Length": "0"})

    with HostileServer(refuse) as srv:
        out = pull(srv, tmp_path)
        err = failed(out, "HTTP 416 while downloading")
        assert "refuses to send the file" in (err.hint or "")
        assert len(srv.gets()) == 1


def test_a_416_to_a_resume_starts_over_once_and_then_stops(tmp_path: Path) -> None:
    """A partial from an earlier run: its resume gets a 416 (start over, counted), the fresh
    request a 416 too: stopped after two requests."""
    layout = Layout(tmp_path)
    with HostileServer(lambda req, reply: reply.head(416, {"Content-Length": "0"})) as srv:
        part = claim(layout, PartialState(SHA, srv.url(), len(DATA)))
        part.data.write_bytes(DATA[:MiB])
        part.save(Ranges([[0, MiB]]))
        out = pull(srv, tmp_path)
        failed(out, "HTTP 416")
        assert [r.range for r in srv.gets()] == [f"bytes={MiB}-", None]


def test_a_reset_in_the_middle_of_the_headers_is_retried_and_bounded(tmp_path: Path) -> None:
    def half_head(req: Request, reply: Reply) -> None:
        reply.raw(b"HTTP/1.1 200 OK\r\nContent-Le")
        reply.reset()

    with HostileServer(half_head) as srv:
        out = pull(srv, tmp_path)
        failed(out, f"after {ATTEMPTS} retries without progress")
        assert len(srv.gets()) == ATTEMPTS + 1
        resumes(out, tmp_path, srv, 0)


# ---------------------------------------------------------------------- several connections


def test_pieces_from_a_server_whose_206_starts_elsewhere_fall_back_to_one_stream(
    tmp_path: Path,
) -> None:
    """Segmented (the file is above the threshold): every ranged answer starts one byte after
    where it was asked to, with garbage. No piece is written; one plain GET brings the file."""

    def off_by_one(req: Request, reply: Reply) -> None:
        if req.range is None:
            return full(req, reply)
        start = (req.range_start() or 0) + 1
        reply.head(206, {"Content-Range": f"bytes {start}-{len(DATA) - 1}/{len(DATA)}",
                         "Content-Length": str(len(DATA) - start)})  # fmt: skip
        reply.body(GARBAGE[start:])

    with HostileServer(off_by_one) as srv:
        out = pull(srv, tmp_path, connections=4, segment_threshold=MiB)
        assert out.result is not None, out.error
        assert out.result.sha256 == SHA
        assert [r.range for r in srv.gets()] == [f"bytes=0-{len(DATA) - 1}", None]


def test_pieces_that_trickle_fail_by_the_speed_rule(tmp_path: Path) -> None:
    """The lone stream is slow, so more connections open (transfer/segments.py): each of them
    trickles too, each is ended by the speed rule, and the first to run out of retries stops
    the download. What came is kept at its offsets."""

    def trickle(req: Request, reply: Reply) -> None:
        start, end = req.range_start() or 0, req.range_end(len(DATA))
        reply.head(206, {"Content-Range": f"bytes {start}-{end}/{len(DATA)}",
                         "Content-Length": str(end - start + 1)})  # fmt: skip
        reply.body(DATA[start : end + 1], rate=40)

    with HostileServer(trickle) as srv:
        out = pull(srv, tmp_path, connections=4, segment_threshold=MiB)
        failed(out, "too slow", f"after {ATTEMPTS} retries without progress")
        assert ATTEMPTS + 1 <= len(srv.gets()) <= 4 * (ATTEMPTS + 1)
        assert 0 < out.held_right() < 4000


# ---------------------------------------------------------------------- redirects


SECRET = "X-Amz-Signature=0123456789abcdef"


@pytest.mark.parametrize(
    "location",
    [
        f"http://127.0.0.1:99999/m.gguf?{SECRET}",
        f"http://127.0.0.1:abc/m.gguf?{SECRET}",
        f"http://127.0.0.1:0/m.gguf?{SECRET}",
        f"http://[::1/m.gguf?{SECRET}",
        f"http://[fe80::zz]/m.gguf?{SECRET}",
        f"http://\u2603\x01.example/m.gguf?{SECRET}",
        f"http://ex ample.org/m.gguf?{SECRET}",
        f"ftp://127.0.0.1/m.gguf?{SECRET}",
        f"https:///m.gguf?{SECRET}",
    ],
)
def test_a_redirect_to_an_invalid_url_is_one_error_without_the_secret(
    tmp_path: Path, location: str
) -> None:
    """Not a ValueError from urllib.parse (exit 70), not a network error to retry."""

    def redirect(req: Request, reply: Reply) -> None:
        reply.head(302, {"Location": location, "Content-Length": "0"})

    with HostileServer(redirect) as srv:
        out = pull(srv, tmp_path)
        err = failed(out, "redirected to")
        assert "0123456789abcdef" not in err.message + (err.hint or "")
        assert "URL that is not valid" in (err.hint or "")
        assert len(srv.gets()) == 1


def test_a_redirect_loop_is_one_error(tmp_path: Path) -> None:
    def loop(req: Request, reply: Reply) -> None:
        reply.head(302, {"Location": f"/m.gguf?n={req.index}&{SECRET}", "Content-Length": "0"})

    with HostileServer(loop) as srv:
        out = pull(srv, tmp_path)
        err = failed(out, "more than 10 redirects")
        assert "0123456789abcdef" not in err.message
        assert len(srv.gets()) == 11


def test_a_redirect_with_utf8_in_its_path_is_followed_percent_encoded(tmp_path: Path) -> None:
    """The server sends the UTF-8 bytes of `/café/m.gguf` (http.client reads them as
    ISO-8859-1); the request goes out with their percent-encoding, as a browser's would."""

    def answer(req: Request, reply: Reply) -> None:
        if req.target == "/m.gguf":
            reply.head(302, {"Location": "/caf\u00e9/m.gguf", "Content-Length": "0"})
            return
        serve(DATA)(req, reply)

    with HostileServer(answer) as srv:
        out = pull(srv, tmp_path)
        assert out.result is not None, out.error
        assert out.result.sha256 == SHA
        assert [r.target for r in srv.gets()] == ["/m.gguf", "/caf%C3%A9/m.gguf"]
