"""When to ask again and how long to wait: the one retry policy of every HTTP caller in modelctl.

Every request modelctl makes (the Hub's metadata HEAD in `sources.hf`, the Hub API calls of `lock`
in `lock.pinning`, the header reads of `inspect` in `sources.remote`, the byte streams of
`transfer`) asks this module the same questions, so that a status or an error means the same
thing everywhere:

- Which answers are worth asking again (`RETRY_STATUSES`): 408 Request Timeout, 429 Too Many
  Requests, 500, 502, 503 and 504, the set huggingface_hub retries itself
  (`_DEFAULT_RETRY_ON_STATUS_CODES` in huggingface_hub/utils/_http.py of huggingface_hub 2.4.0),
  plus 425 Too Early: RFC 8470 section 5.2 lets a client retry a request refused as early data,
  and a new attempt on a new connection is no longer early (a TLS-terminating CDN sends it).
  RFC 9110 sections 15.5.9 and 15.6 describe 408 and the 5xx as the server's or the exchange's
  condition, not the request's, and RFC 6585 section 4 makes 429 "slow down". 501 and 505 say
  the server cannot do this at all, and every 4xx else (401/403/404 above all) is an answer:
  asking again gets the same one.
- Which exceptions are worth asking again (`retryable_error`): timeouts, refused, reset or
  dropped connections, a body cut short, DNS failures (the `OSError`s and `http.client`
  exceptions of a socket), and huggingface_hub's client's `TimeoutException`, `NetworkError` and
  `RemoteProtocolError` (its `_DEFAULT_RETRY_ON_EXCEPTIONS`, same file). Never: a TLS certificate
  that does not verify, a proxy that refuses us (403/407 to CONNECT), offline mode.
- How long to wait (`RetryPolicy.delay`): exponential backoff with full jitter (uniform between 0
  and `base * 2**(n-1)`, at most `cap`), so containers that failed together do not retry together;
  a `Retry-After` (delay-seconds or an HTTP-date, RFC 9110 section 10.2.3) is honoured up to
  `retry_after_cap`.
- When to stop (`RetryState`): after more than `attempts` failures in a row, or when a run of
  failures would last longer than `budget` seconds. Progress (bytes received) starts both anew, so
  a long download over a flaky link finishes while a dead server fails in bounded time.

`MODELCTL_RETRY_MAX_DELAY` (seconds, >= 0) caps every single wait, backoff and `Retry-After` alike;
it is read where a policy is built (`RetryPolicy.from_env`), so tests can make retries quick
without changing what is retried.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from modelctl.errors import BadInput

T = TypeVar("T")

RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_DELAY_ENV = "MODELCTL_RETRY_MAX_DELAY"

# huggingface_hub's client (httpx2) raises these for a timeout or a broken exchange; matched by
# name so that asking does not import it (huggingface_hub/utils/_http.py, v2.4.0)
_HUB_CLIENT_RETRYABLE = frozenset({"TimeoutException", "NetworkError", "RemoteProtocolError"})
_HUB_CLIENT_TRANSPORT = frozenset({"TransportError", *_HUB_CLIENT_RETRYABLE})
# OSError subclasses of huggingface_hub.errors that no wait can fix
_NEVER = frozenset({"OfflineModeIsEnabled", "EntryNotFoundError"})


@dataclass(frozen=True)
class RetryPolicy:
    """How many failures in a row, how long to wait between them, and for how long in all."""

    attempts: int = 6  # retries after consecutive failures: the 7th failure in a row stops
    base: float = 0.5  # seconds: the first backoff is uniform in [0, base]
    cap: float = 30.0  # no backoff is longer
    retry_after_cap: float = 120.0  # a server's Retry-After is honoured up to this
    budget: float = 300.0  # seconds a run of failures may last, from its first failure
    max_delay: float | None = None  # MODELCTL_RETRY_MAX_DELAY: caps every single wait

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **fields: Any) -> RetryPolicy:
        """A policy with `fields`, every wait capped by `MODELCTL_RETRY_MAX_DELAY` when it is set.

        A value that is not a finite number of seconds >= 0 is a BadInput (exit 2).
        """
        env = os.environ if environ is None else environ
        value = env.get(MAX_DELAY_ENV, "").strip()
        policy = cls(**fields)
        if not value:
            return policy
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not (math.isfinite(seconds) and seconds >= 0):
            raise BadInput(
                f"{MAX_DELAY_ENV} must be a number of seconds >= 0, got `{value}`",
                f"e.g. {MAX_DELAY_ENV}=5 caps every wait between retries at 5 s; unset it for "
                "the normal backoff",
            )
        return replace(policy, max_delay=seconds)

    # ------------------------------------------------------------------ the questions

    def retryable_status(self, status: int) -> bool:
        return status in RETRY_STATUSES

    def retryable(self, exc: BaseException) -> bool:
        """Whether asking again may help: by the status for an HTTP answer, else by the error."""
        status = status_of(exc)
        if status is not None:
            return self.retryable_status(status)
        return retryable_error(exc)

    def delay(self, failures: int, retry_after: str | None = None) -> float:
        """Seconds to wait before attempt number `failures + 1`."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            wait = min(hinted, self.retry_after_cap) + random.uniform(0, self.base)
        else:
            step = self.base * 2.0 ** min(max(0, failures - 1), 60)
            wait = random.uniform(0, min(self.cap, step))
        return wait if self.max_delay is None else min(wait, self.max_delay)

    def start(self) -> RetryState:
        """A fresh count of failures in a row, for one request or one stream."""
        return RetryState(self)

    def call(self, fn: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
        """`fn()` until it returns; an error that is not retryable, or the one after which the
        policy stops, propagates unchanged (the caller maps it to a message)."""
        tries = self.start()
        while True:
            try:
                return fn()
            except Exception as exc:
                wait = tries.failed(exc)
                if wait is None:
                    raise
                sleep(wait)


class RetryState:
    """One run of consecutive failures under a policy: their count and when the first was."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self._since: float | None = None

    def progressed(self) -> None:
        """The last attempt moved bytes: the count and the budget start over."""
        self.failures = 0
        self._since = None

    def failed(self, exc: BaseException | None = None) -> float | None:
        """Count one more failure; the seconds to wait before the next attempt, or None to stop.

        With `exc`, the policy decides whether it is worth retrying at all (and reads its
        `Retry-After`); without, the caller has decided it is (e.g. a server that cannot resume).
        Stops after more than `attempts` failures in a row, or when the wait would end past
        `budget` seconds after the first of them.
        """
        now = time.monotonic()
        if self._since is None:
            self._since = now
        self.failures += 1
        if exc is not None and not self.policy.retryable(exc):
            return None
        if self.failures > self.policy.attempts:
            return None
        wait = self.policy.delay(self.failures, retry_after_of(exc) if exc is not None else None)
        if now + wait - self._since > self.policy.budget:
            return None
        return wait


# ---------------------------------------------------------------------- reading errors


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an error that carries one: ours (`transfer.http.HttpStatusError`) or
    huggingface_hub's (`HfHubHTTPError` and its subclasses, through `.response`)."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return int(code) if isinstance(code, int) else None


def retry_after_of(exc: BaseException) -> str | None:
    """The `Retry-After` header of the answer behind `exc`, if any."""
    headers = getattr(exc, "headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    return value if isinstance(value, str) else None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` (RFC 9110 section 10.2.3: delay-seconds or an HTTP-date) as seconds from
    `now` (default: the clock); None when absent or unreadable, 0 for a date in the past."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import datetime
    import email.utils  # an HTTP date is rare; the module costs ~10 ms at start-up

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # asctime has no zone; RFC 9110 section 5.6.7: it is UTC too
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def transport_error(exc: BaseException) -> bool:
    """A failure of the exchange itself rather than an answer: a socket error, a broken HTTP
    message, or huggingface_hub's client's transport errors (its TransportError family)."""
    import http.client  # already imported by whoever raised one; not at start-up

    if isinstance(exc, OSError | http.client.HTTPException):
        return status_of(exc) is None  # huggingface_hub's HTTP errors are OSErrors too
    return bool({c.__name__ for c in type(exc).__mro__} & _HUB_CLIENT_TRANSPORT)


def retryable_error(exc: BaseException) -> bool:
    """A transport error that a later attempt may not meet: timeouts, refused, reset or dropped
    connections, a body cut short, DNS; not a certificate, a refusing proxy or offline mode."""
    if not transport_error(exc) or untrusted_certificate(exc) or proxy_refused(exc):
        return False
    names = {c.__name__ for c in type(exc).__mro__}
    if names & _NEVER:
        return False
    if not names & _HUB_CLIENT_TRANSPORT:  # a socket error or a broken HTTP message
        return True
    return bool(names & _HUB_CLIENT_RETRYABLE)


def untrusted_certificate(exc: BaseException) -> bool:
    """A TLS certificate that does not verify, anywhere in the chain of causes: no retry helps."""
    import ssl

    seen: BaseException | None = exc
    for _ in range(16):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            seen
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def proxy_refused(exc: BaseException) -> bool:
    """`http.client`'s CONNECT answered 403/407 by the proxy: it will answer the same again."""
    return str(exc).startswith("Tunnel connection failed: 40")
