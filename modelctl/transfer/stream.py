"""One stream from a start offset to the end: resume with Range + If-Range, or start over.

A 206 is used only when its `Content-Range` parses and starts where we asked (`check_partial`);
one that does not is the server's protocol failure (`BadAnswer`, retried under the policy, its
bytes never written), and one that names another file size stops at once, as a 200 with another
Content-Length does. A 200 to a ranged request (Range ignored, or the content changed) is
consumed from byte 0 in a new file; a 416 to a ranged request starts over too, and a 416 to a
request for the whole file is an answer. The validator (ETag / Last-Modified) of the first
answer is remembered for the next resume.

Progress, for the retry policy, is a contiguous prefix longer than any this stream held before
(`RetryState.reached`): a server that drops every answer after 1 MiB and ignores Range sends a
new 1 MiB each time, but never more than the first time, so the count of failures runs out.
Bytes that arrive while the stream is slower than the speed rule (`SpeedWatch`, one per stream,
across its attempts) are kept, but are no progress.
"""

from __future__ import annotations

import functools
import http.client
from urllib.parse import unquote, urlsplit

from modelctl.errors import SourceError, TimedOut
from modelctl.transfer.failures import (
    backoff,
    on_network_error,
    on_status,
    size_changed,
    slowness,
)
from modelctl.transfer.http import (
    NETWORK_OR_REDIRECT,
    BadAnswer,
    HttpStatusError,
    Pool,
    Response,
    content_range,
)
from modelctl.transfer.job import (
    SOLO_BUFFERS,
    Buffers,
    Cancelled,
    DiskError,
    Job,
    fill,
)
from modelctl.transfer.retry import RetryState, SpeedWatch
from modelctl.units import decimal


def single_stream(job: Job) -> None:
    pool = Pool(job.opts.connect_timeout, job.opts.stall_timeout)
    bufs = Buffers(job.opts.buffer_size, SOLO_BUFFERS)
    tries = job.opts.retry.start()
    tries.reached(job.written.prefix())  # what an earlier run left is no progress of this one
    watch = job.opts.retry.watch()
    try:
        while True:
            job.check()
            start = job.written.prefix()
            if job.size is not None and start >= job.size:
                if start > job.size:  # more data than expected (git-lfs): start over
                    job.restart()
                    continue
                return
            try:
                resp = open_stream(job, pool, start)
                try:
                    consume(job, resp, bufs, resp_start(resp, start), None, watch)
                    return
                finally:
                    resp.close(reuse=True)
            except HttpStatusError as exc:
                with watch.paused():
                    _refused(job, exc, tries, start)
            except (DiskError, Cancelled, TimedOut, SourceError):
                raise
            except NETWORK_OR_REDIRECT as exc:
                if not watch.settle():
                    tries.reached(job.written.prefix())
                with watch.paused():
                    on_network_error(job, exc, tries, slowness(watch))
    finally:
        pool.close()


def _refused(job: Job, exc: HttpStatusError, tries: RetryState, start: int) -> None:
    """An error status; a 416 to a resume (the partial past the file's end?) starts over."""
    if exc.status == 416 and start > 0:
        size_changed(job, content_range(exc.headers.get("content-range")))
        job.restart()
        backoff(job, exc, tries, judged=True)
        return
    on_status(job, exc, tries)


def resp_start(resp: Response, asked: int) -> int:
    """Where the body of `resp` starts in the file (0 for a 200)."""
    return asked if resp.status == 206 else 0


def open_stream(job: Job, pool: Pool, start: int) -> Response:
    headers = job.headers(job.url)
    if start > 0:
        headers["range"] = f"bytes={start}-"
        if job.validator:
            headers["if-range"] = job.validator
    resp = pool.request(job.url, headers)
    try:
        if resp.status == 206:
            check_partial(job, resp, start)
    except BaseException:
        resp.close()
        raise
    remember(job, resp)
    if start > 0 and resp.status == 200:
        # Range ignored or content changed: consume this body from byte 0 in a new file
        job.restart()
    return resp


def check_partial(job: Job, resp: Response, start: int) -> None:
    """A 206 must carry bytes from `start` of a file of the expected size (RFC 9110 section
    14.4): BadAnswer when its Content-Range does not parse or starts elsewhere (no byte of it may
    be written at `start`), a SourceError when it names another size; an unknown size is
    learned from it."""
    value = resp.headers.get("content-range")
    got = content_range(value)
    if got is None or got.first is None:
        raise BadAnswer(f"a 206 answer with an invalid Content-Range: {(value or '')[:60]!r}")
    if got.first != start:
        raise BadAnswer(
            f"asked for bytes from {start}, the server sent bytes from {got.first} "
            f"(Content-Range: {(value or '')[:60]})"
        )
    size_changed(job, got)
    if job.size is None and got.complete is not None:
        job.size = got.complete


def consume(
    job: Job, resp: Response, bufs: Buffers, pos: int, end: int | None, watch: SpeedWatch
) -> bool:
    """Copy the body of `resp` to the file from offset `pos`; True when the file is complete.

    Every read is counted by `watch`, which raises `TooSlow` (after the bytes are written) when
    the stream receives slower than the speed rule allows."""
    refuse_html(job, resp)
    limit = job.size if end is None else end
    if resp.status == 200 and job.size is not None:
        length = resp.headers.get("content-length")
        if decimal(length) not in (None, job.size):
            raise SourceError(
                f"{job.remote.display}: the server sends {length} bytes, expected {job.size}",
                "the file at the source changed; pin a revision or update the manifest's sha256",
            )
    while True:
        job.check()
        if limit is not None and limit - pos <= 0:
            return end is None
        buf = bufs.get(job)
        cap = len(buf) if limit is None else min(len(buf), limit - pos)
        n, ended, exc = fill(job, resp, buf, functools.partial(_room, cap))
        if n:
            job.write(buf[:n], pos, bufs.releaser(buf))
            pos += n
        else:
            bufs.put(buf)
        watch.count(n)
        if exc is not None:
            raise exc
        if ended:
            if limit is not None and pos < limit:
                raise http.client.IncompleteRead(b"", limit - pos)
            if job.size is None:
                job.size = pos
            return True
        watch.check()


def remember(job: Job, resp: Response) -> None:
    """Follow-up requests go straight to where the redirect led; keep the validator for If-Range."""
    job.url = resp.url
    etag = resp.headers.get("etag")
    validator = etag if etag and not etag.startswith("W/") else resp.headers.get("last-modified")
    if validator:
        job.validator = validator
    if job.size is None and resp.status == 200:
        length = resp.headers.get("content-length")
        job.size = decimal(length)


def refuse_html(job: Job, resp: Response) -> None:
    ctype = resp.headers.get("content-type", "").lower()
    path = unquote(urlsplit(job.remote.url).path).lower()
    if ctype.startswith("text/html") and not path.endswith((".html", ".htm")):
        raise SourceError(
            f"{job.remote.display}: the server sent an HTML page instead of the file",
            "a login wall, a gated repo or a /blob/ URL? use the /resolve/ URL and set HF_TOKEN",
        )


def _room(cap: int, got: int) -> int:
    """How much more a buffer may take before its `cap` bytes are full (for `fill`)."""
    return cap - got
