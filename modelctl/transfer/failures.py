"""What a failed request or write means for a transfer: wait and retry, or stop with one line.

Whether to retry and how long to wait is `retry.py`'s policy (408/425/429/5xx and network errors
back off with jitter until the count or the time budget is spent; progress resets both). What is
decided here: 401/403/404 stop at once (a 403/410 from the CDN first goes back to the original URL
once, for a fresh signed redirect), a 416 starts over, an untrusted certificate or a proxy that
refuses us stop at once naming SSL_CERT_FILE or the proxy, and a full disk stops at once and keeps
the partial.
"""

from __future__ import annotations

import errno
import http.client
import os
import time
from urllib.parse import urlsplit

from modelctl.errors import DiskFull, SourceError, from_os_error
from modelctl.redact import redact
from modelctl.transfer.http import HttpStatusError, RedirectError, proxy_for
from modelctl.transfer.job import DiskError, Job
from modelctl.transfer.remote import RemoteFile
from modelctl.transfer.retry import RetryState, untrusted_certificate
from modelctl.transfer.target import Target


def on_status(job: Job, exc: HttpStatusError, tries: RetryState) -> None:
    """Handle an HTTP error during transfer: wait before the next attempt, or raise."""
    if exc.status == 416:
        job.restart()
        pause(job, tries)
        return
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


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return (
            "the file needs access: set HF_TOKEN to a token that may read it, or accept the terms"
        )
    if status == 404:
        return "the file is gone at the source; check the URL, revision and path in the manifest"
    if status == 407:
        return (
            "the proxy wants credentials: write them into HTTPS_PROXY / HTTP_PROXY as "
            "user:password@host:port"
        )
    return "the server refused the request; try again later"


def on_network_error(job: Job, exc: BaseException, tries: RetryState, progressed: bool) -> None:
    """A dropped, stalled or unreachable connection: back off (the count restarts when the
    attempt moved bytes) or raise. A bad redirect stops the download."""
    if isinstance(exc, RedirectError):
        raise SourceError(
            f"{job.remote.display}: {exc}",
            "the server redirects where modelctl will not follow (a loop, or https to http); "
            "report it to the source, or use another URL",
        ) from None
    if progressed:
        tries.progressed()
    backoff(job, exc, tries)


def backoff(job: Job, exc: BaseException, tries: RetryState) -> None:
    """Wait as the policy says before the next attempt; raise when it says stop."""
    wait = tries.failed(exc)
    if wait is not None:
        sleep(job, wait)
        return
    permanent = not job.opts.retry.retryable(exc)
    what = f"HTTP {exc.status}" if isinstance(exc, HttpStatusError) else describe(exc)
    tried = "" if permanent else f"giving up after {tries.failures - 1} retries: "
    raise SourceError(
        f"{job.remote.display}: {tried}{what}",
        _network_hint(job.url, exc)
        or "the partial download is kept; run the same command again to resume",
    ) from None


def pause(job: Job, tries: RetryState) -> None:
    """After starting over (the server cannot resume this download): counted and waited for like a
    failure, but never the reason to stop; an attempt that then fails stops once the count is
    spent."""
    wait = tries.failed()
    if wait is not None:
        sleep(job, wait)


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
    if isinstance(exc, TimeoutError):
        return "no data received (stalled connection)"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed mid-body"
    return redact(f"{type(exc).__name__}: {exc}")


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
