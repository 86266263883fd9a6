"""One stream from a start offset to the end: resume with Range + If-Range, or start over.

A 206 is accepted only when `Content-Range` starts where we asked; a 200 to a ranged request (Range
ignored, or the content changed) or a 416 starts over in a new file (`Restart`). The validator
(ETag / Last-Modified) of the first answer is remembered for the next resume.
"""

from __future__ import annotations

import functools
import http.client
from urllib.parse import unquote, urlsplit

from modelctl.errors import SourceError, TimedOut
from modelctl.transfer.failures import on_network_error, on_status, pause
from modelctl.transfer.http import NETWORK_OR_REDIRECT, HttpStatusError, Pool, Response
from modelctl.transfer.job import (
    SOLO_BUFFERS,
    Buffers,
    Cancelled,
    DiskError,
    Job,
    Restart,
    fill,
)


def single_stream(job: Job) -> None:
    pool = Pool(job.opts.connect_timeout, job.opts.stall_timeout)
    bufs = Buffers(job.opts.buffer_size, SOLO_BUFFERS)
    tries = job.opts.retry.start()
    try:
        while True:
            job.check()
            start = job.written.prefix()
            if job.size is not None and start >= job.size:
                if start > job.size:  # more data than expected (git-lfs): start over
                    job.restart()
                    continue
                return
            before = job.fetched
            try:
                resp = open_stream(job, pool, start)
                try:
                    if consume(job, resp, bufs, resp_start(resp, start), None):
                        return
                finally:
                    resp.close(reuse=True)
            except Restart:
                job.restart()
                pause(job, tries)
                continue
            except HttpStatusError as exc:
                on_status(job, exc, tries)
                continue
            except (DiskError, Cancelled, TimedOut, SourceError):
                raise
            except NETWORK_OR_REDIRECT as exc:
                on_network_error(job, exc, tries, job.fetched > before)
                continue
            if job.fetched > before:
                tries.progressed()
    finally:
        pool.close()


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
    remember(job, resp)
    if start > 0 and resp.status == 200:
        # Range ignored or content changed: consume this body from byte 0 in a new file
        job.restart()
        return resp
    if resp.status == 206 and range_start(resp) != start:
        resp.close()
        raise Restart()
    return resp


def consume(job: Job, resp: Response, bufs: Buffers, pos: int, end: int | None) -> bool:
    """Copy the body of `resp` to the file from offset `pos`; True when the file is complete."""
    refuse_html(job, resp)
    limit = job.size if end is None else end
    if resp.status == 200 and job.size is not None:
        length = resp.headers.get("content-length")
        if length and length.isdigit() and int(length) != job.size:
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
        if exc is not None:
            raise exc
        if ended:
            if limit is not None and pos < limit:
                raise http.client.IncompleteRead(b"", limit - pos)
            if job.size is None:
                job.size = pos
            return True


def remember(job: Job, resp: Response) -> None:
    """Follow-up requests go straight to where the redirect led; keep the validator for If-Range."""
    job.url = resp.url
    etag = resp.headers.get("etag")
    validator = etag if etag and not etag.startswith("W/") else resp.headers.get("last-modified")
    if validator:
        job.validator = validator
    if job.size is None and resp.status == 200:
        length = resp.headers.get("content-length")
        if length and length.isdigit():
            job.size = int(length)


def range_start(resp: Response) -> int | None:
    value = resp.headers.get("content-range", "")
    try:
        unit, rest = value.split(" ", 1)
        return int(rest.split("-", 1)[0]) if unit.strip().lower() == "bytes" else None
    except ValueError:
        return None


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
