"""What a failed request or write means for a transfer: wait and retry, or stop with one line.

Whether to retry and how long to wait is `retry.py`'s policy (408/425/429/5xx, network errors,
stalls and answers too slow for the speed rule back off with jitter until the count, the time
budget or the bytes a file may waste are spent; progress resets the count and the time). What is
decided here: 401/403/404 stop at once (a 403/410 from the CDN first goes back to the original
URL once, for a fresh signed redirect), an answer that names another file size stops at once, an
untrusted certificate, a proxy that refuses us or a redirect we will not follow stop at once
naming the cause, and a full disk stops at once and keeps the partial. Every stop is one
SourceError (exit 3) that keeps the partial download.
"""

from __future__ import annotations

import errno
import http.client
import os
import time
from urllib.parse import urlsplit

from modelctl.errors import DiskFull, SourceError, from_os_error
from modelctl.redact import redact
from modelctl.transfer.http import (
    BadAnswer,
    ContentRange,
    HttpStatusError,
    RedirectError,
    proxy_for,
)
from modelctl.transfer.job import DiskError, Job
from modelctl.transfer.remote import RemoteFile
from modelctl.transfer.retry import (
    LOW_SPEED_LIMIT_ENV,
    LOW_SPEED_TIME_ENV,
    RetryState,
    SpeedWatch,
    TooSlow,
    untrusted_certificate,
)
from modelctl.transfer.target import Target

KEPT = "the partial download is kept; run the same command again to resume"


def on_status(job: Job, exc: HttpStatusError, tries: RetryState) -> None:
    """Handle an HTTP error during transfer: wait before the next attempt, or raise."""
    if exc.status in (403, 410) and job.url != job.remote.url and tries.failures == 0:
        job.url = job.remote.url  # an expired signed CDN URL: ask the origin for a fresh one
        tries.failed()  # at once: counted, so a second 403 stops
        return
    if not job.opts.retry.retryable_status(exc.status):
        raise SourceError(
            f"{job.remote.display}: HTTP {exc.status} while downloading",
            _status_hint(exc.status),
        )
    backoff(job, exc, tries)


def size_changed(job: Job, got: ContentRange | None) -> None:
    """A SourceError when a Content-Range names a file size other than the one expected."""
    if got is None or got.complete is None or job.size is None or got.complete == job.size:
        return
    raise SourceError(
        f"{job.remote.display}: the server says the file has {got.complete} bytes, "
        f"expected {job.size}",
        "the file at the source changed; pin a revision or update the manifest's size and sha256",
    )


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return (
            "the file needs access: set HF_TOKEN to a token that may read it, or accept the terms"
        )
    if status == 404:
        return "the file is gone at the source; check the URL, revision and path in the manifest"
    if status == 416:
        return "the server refuses to send the file even from its start; report it to the source"
    if status == 407:
        return (
            "the proxy wants credentials: write them into HTTPS_PROXY / HTTP_PROXY as "
            "user:password@host:port"
        )
    return "the server refused the request; try again later"


def on_network_error(
    job: Job, exc: BaseException, tries: RetryState, slow: str | None = None
) -> None:
    """A dropped, stalled, too slow or unreachable connection, or an answer that breaks the
    protocol: back off or raise (the caller has told `tries` whether the attempt made progress,
    and says in `slow` when the stream is slower than the speed rule). A bad redirect stops the
    download."""
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        # out of file descriptors while opening a socket: this process's limit, not the network;
        # no retry helps, and exit 3 would send a script to retry the source
        raise from_os_error(exc, f"while connecting for {job.remote.display}") from None
    if isinstance(exc, RedirectError):
        raise SourceError(
            f"{job.remote.display}: {exc}",
            "the server redirects where modelctl will not follow (a loop, https to http, or a "
            "URL that is not valid); report it to the source, or use another URL",
        ) from None
    backoff(job, exc, tries, slow=slow)


def backoff(
    job: Job, exc: BaseException, tries: RetryState, judged: bool = False,
    slow: str | None = None,
) -> None:  # fmt: skip
    """Wait as the policy says before the next attempt; raise when it says stop.

    With `judged`, the caller has decided that another attempt may help (a 416 after a resume:
    the file starts over), so the policy only counts it; else it judges `exc` too. `slow` (the
    speed rule's verdict on the stream) goes into the message.
    """
    wait = tries.failed(None if judged else exc, job.discarded, job.size)
    if wait is not None:
        sleep(job, wait)
        return
    what = f"HTTP {exc.status}" if isinstance(exc, HttpStatusError) else describe(exc)
    why = f"giving up {tries.stopped}: " if tries.stopped else ""
    if slow and not isinstance(exc, TooSlow):
        what += f" (the stream is {slow})"
    raise SourceError(
        f"{job.remote.display}: {why}{what}",
        _network_hint(job.url, exc) or _stop_hint(exc, slow is not None),
    ) from None


def slowness(watch: SpeedWatch) -> str | None:
    """The speed rule's verdict on a stream that is slow, for the message; None when it is not."""
    return watch.verdict() if watch.slow else None


def _stop_hint(exc: BaseException, slow: bool) -> str:
    if slow or isinstance(exc, TooSlow):
        return (
            f"{KEPT}; on a link this slow set {LOW_SPEED_LIMIT_ENV}=0 (or lower it, or raise "
            f"{LOW_SPEED_TIME_ENV})"
        )
    if isinstance(exc, BadAnswer):
        return f"the server does not resume downloads correctly; {KEPT}, or use another URL"
    return KEPT


def _network_hint(url: str, exc: BaseException) -> str | None:
    parts = urlsplit(url)
    proxy = proxy_for(parts.scheme, parts.hostname or "")
    if untrusted_certificate(exc):
        return (
            "the server's TLS certificate is not trusted here; behind a TLS-inspecting proxy set "
            "SSL_CERT_FILE to a CA bundle that includes the proxy's certificate"
        )
    if proxy:
        return (
            f"the request went through the proxy {redact(proxy)} (HTTPS_PROXY / HTTP_PROXY / "
            "ALL_PROXY): check it, or exempt this host in NO_PROXY; a partial download is kept"
        )
    return None


def describe(exc: BaseException) -> str:
    """`exc` in a few words, on one line (a server's status line may end in CRLF)."""
    if isinstance(exc, TooSlow):
        return f"too slow: {exc}"
    if isinstance(exc, BadAnswer):
        return redact(" ".join(str(exc).split()))
    if isinstance(exc, TimeoutError):
        return "no data received (stalled connection)"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed mid-body"
    return redact(" ".join(f"{type(exc).__name__}: {exc}".split()))


def sleep(job: Job, seconds: float) -> None:
    if job.opts.deadline is not None:
        seconds = min(seconds, max(0.0, job.opts.deadline - time.monotonic()))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        job.check()
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def disk_full(remote: RemoteFile, err: DiskError, job: Job | None, target: Target) -> BaseException:
    """A write into the target failed: the full disk with how far the download got, or else what
    the volume said (`errors.from_os_error`: read-only, permission, no inodes left, I/O error)."""
    if job is None or err.offset < 0 or err.exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return from_os_error(
            err.exc, f"while writing the partial download of {remote.display}", _named(err, target)
        )
    have = job.written.prefix()
    missing = f"{job.size - have} more bytes needed" if job.size else "the total size is unknown"
    return DiskFull(
        f"disk full after writing {have} bytes of {remote.display} ({missing})",
        f"free space on {job.partial.volume} and run the same command again; "
        "the partial download is kept and resumes",
    )


def _named(err: DiskError, target: Target) -> str:
    """The path the failed call was about (`pwrite` names none: then the partial's data file)."""
    name = err.exc.filename
    return os.fsdecode(name) if isinstance(name, str | bytes) else str(target.data)
