"""Fetch one `RemoteFile` into a claimed partial: resumable, segmented, hashed while it is written.

One file, one call: `fetch(remote, partial, options, on_bytes, cancel)` returns the sha256 and size
of what now sits in `partial.data`. The caller compares them with what it expected and publishes.

- Resume (RFC 9110 §14): the partial's state lists the written ranges. A single stream asks
  `Range: bytes=N-` with `If-Range: <validator>` and accepts a 206 only when `Content-Range`
  parses and starts at N (any other is the server's protocol failure, retried, never written);
  a 200 (Range ignored, or the content changed) or a 416 starts over in a new file.
- Segments: a file of known size >= `segment_threshold` may be fetched as ranged pieces over up to
  `connections` connections. It starts as one stream (ranged requests of `SOLO_PIECE`) and opens
  the other connections only when that stream receives slower than `solo_rate` (a CDN's
  per-connection cap; time blocked on the disk or the hasher does not count): on a fast link
  (loopback: 1 stream ~1,000 MB/s, 8 streams ~640 MB/s on 2 cores) one stream wins, because every
  extra stream costs CPU and its pieces arrive out of order (hashed by reading them back).
  Pieces are then handed out lowest offset first so the contiguous prefix
  (and with it the hash, see `hashing.py`) grows steadily; an idle connection splits the largest
  piece still in flight, so no connection idles at the tail. A server that answers a ranged request
  with 200 makes the whole file fall back to one stream.
- Buffers: each stream reads into a few large buffers (`buffer_size`, filled completely before
  they are written) and offers each written buffer to the hasher, which hashes it from memory
  while the stream fills the next one; a buffer is reused only once the hasher handed it back.
- Retries (`retry.py`, the one policy): network errors, stalls (the read timeout), streams
  slower than the speed rule (`MODELCTL_LOW_SPEED_LIMIT` / `_TIME`), 408, 425, 429, 500, 502,
  503, 504; each worker's count and time budget are reset by progress: new bytes at their
  offsets beyond any held before, at a speed the rule accepts, not bytes received. Bytes thrown
  away by starting over may reach the file's size. 401/403/404 fail at once (a 403/410 from the
  CDN first goes back to the original URL once, for a fresh signed redirect). A full disk stops
  at once, keeping the partial; so does every other stop (exit 3).
- Every `save_interval` seconds a separate thread takes a snapshot of the written ranges, flushes
  the file (`fdatasync`, which also starts the disk writing early so the final fsync is short)
  and only then saves that snapshot as the state, so the state never claims bytes that are not on
  the disk and a SIGKILL or power loss costs at most that much re-download. (A resumed prefix is
  re-hashed anyway and a mismatch starts over from zero; the flush keeps that from happening.)

Where each part lives: `job.py` (options, the shared state, buffers, worker threads and the
saver), `stream.py` (one resumable stream), `segments.py` (several connections), `failures.py`
(retry or stop, and the messages), `hashing.py` (the prefix hasher), `http.py` (the client).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from modelctl.errors import SourceError, from_os_error
from modelctl.transfer.failures import disk_full
from modelctl.transfer.job import (
    SOLO_BUFFERS,
    Buffers,
    Cancelled,
    DiskError,
    FetchResult,
    Job,
    Restart,
    TransferOptions,
    run_workers,
)
from modelctl.transfer.remote import RemoteFile
from modelctl.transfer.segments import segmented
from modelctl.transfer.stream import single_stream
from modelctl.transfer.target import Target

__all__ = ["FetchResult", "TransferOptions", "fetch"]


def fetch(
    remote: RemoteFile,
    partial: Target,
    opts: TransferOptions,
    on_bytes: Callable[[int], None] = lambda n: None,
    cancel: threading.Event | None = None,
) -> FetchResult:
    """Complete `partial` from `remote`; its sha256 and size (compare them before publishing)."""
    try:
        job = Job(remote, partial, opts, on_bytes, cancel or threading.Event())
    except DiskError as exc:  # the partial's file cannot even be opened
        raise disk_full(remote, exc, None, partial) from None
    try:
        if remote.url.startswith("file://"):
            run_workers(job, [lambda: copy_local(job)])
        elif _segmentable(job):
            try:
                segmented(job)
            except Restart:
                job.restart()
                run_workers(job, [lambda: single_stream(job)])
        else:
            run_workers(job, [lambda: single_stream(job)])
        size = job.written.prefix()
        if job.size is not None and size != job.size:
            raise SourceError(
                f"{remote.display}: got {size} bytes, expected {job.size}",
                "the server sent a truncated file; run the same command again to resume",
            )
        digest = job.hasher.finish()
        return FetchResult(digest, size, job.fetched, job.resumed)
    except Cancelled:
        raise KeyboardInterrupt from None
    except DiskError as exc:
        raise disk_full(remote, exc, job, partial) from None
    finally:
        with contextlib.suppress(OSError):
            job.save()
        job.close()


def _segmentable(job: Job) -> bool:
    o = job.opts
    return job.size is not None and o.connections > 1 and job.size >= o.segment_threshold


def copy_local(job: Job) -> None:
    """Copy a local mirror file into the partial (resumes from the contiguous prefix too)."""
    path = unquote(urlsplit(job.remote.url).path)
    try:
        src = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):  # this process's limit, not the mirror's
            raise from_os_error(exc, f"while opening {job.remote.display}") from None
        raise SourceError(
            f"cannot read {job.remote.display}: {exc.strerror}", "check the file:// path"
        ) from None
    with src:
        size = os.fstat(src.fileno()).st_size
        if job.size is None:
            job.size = size
        pos = job.written.prefix()
        bufs = Buffers(job.opts.buffer_size, SOLO_BUFFERS)
        src.seek(pos)
        while pos < size:
            job.check()
            buf = bufs.get(job)
            n = src.readinto(buf[: min(len(buf), size - pos)])
            if not n:
                bufs.put(buf)
                break
            job.write(buf[:n], pos, bufs.releaser(buf))
            pos += n
