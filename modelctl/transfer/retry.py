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
- When to stop (`RetryState`): after more than `attempts` failures in a row without progress, or
  when such a run of failures would last longer than `budget` seconds, or when the bytes received
  and thrown away exceed the file's size (`wasted_allowed`). Progress starts the count and the
  budget anew, so a long download over a flaky link finishes while a dead server fails in bounded
  time. For a download, progress is *new* bytes kept at their offsets (`RetryState.reached`: more
  than ever held before), not bytes received: a server that ignores Range and drops every answer
  after 1 MiB sends 1 MiB each time, which starts the file over and is no progress.
- When a stream is too slow to go on with (`SpeedWatch`): below `low_speed_limit` bytes/s on
  average over `low_speed_time` seconds, as curl's `--speed-limit` / `--speed-time`
  (CURLOPT_LOW_SPEED_LIMIT / CURLOPT_LOW_SPEED_TIME, curl/curl lib/speedcheck.c, curl-8_11_0).
  It raises `TooSlow`, a timeout: the attempt fails and is retried like a stall, and what the
  stream receives is kept but is no progress until it is fast again, so a server trickling a
  byte a second (or answering each request with a byte) fails in bounded time instead of
  holding a pull forever.

Read where a policy is built (`RetryPolicy.from_env`), so tests can be quick without changing
what is retried: `MODELCTL_RETRY_MAX_DELAY` (seconds, >= 0) caps every single wait, backoff and
`Retry-After` alike; `MODELCTL_LOW_SPEED_LIMIT` (bytes/s, >= 0; 0 turns the rule off) and
`MODELCTL_LOW_SPEED_TIME` (seconds, > 0) set the speed rule.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from modelctl.errors import BadInput
from modelctl.units import decimal

T = TypeVar("T")

RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_DELAY_ENV = "MODELCTL_RETRY_MAX_DELAY"
LOW_SPEED_LIMIT_ENV = "MODELCTL_LOW_SPEED_LIMIT"
LOW_SPEED_TIME_ENV = "MODELCTL_LOW_SPEED_TIME"
MiB = 1 << 20

# huggingface_hub's client (httpx2) raises these for a timeout or a broken exchange; matched by
# name so that asking does not import it (huggingface_hub/utils/_http.py, v2.4.0)
_HUB_CLIENT_RETRYABLE = frozenset({"TimeoutException", "NetworkError", "RemoteProtocolError"})
# ... and TooManyRedirects (a RequestError, not a TransportError): a failed exchange, never retried
_HUB_CLIENT_TRANSPORT = frozenset({"TransportError", "TooManyRedirects", *_HUB_CLIENT_RETRYABLE})
# OSError subclasses of huggingface_hub.errors that no wait can fix
_NEVER = frozenset({"OfflineModeIsEnabled", "EntryNotFoundError"})


class TooSlow(TimeoutError):
    """A stream slower than the policy's speed rule (or the head of an answer that never
    completes): a timeout, retried like a stall; its message says what was too slow."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many failures in a row, how long to wait between them, for how long in all, how many
    bytes may be thrown away, and how slow a stream may be."""

    attempts: int = 6  # retries: the 7th failure in a row without progress stops
    base: float = 0.5  # seconds: the first backoff is uniform in [0, base]
    cap: float = 30.0  # no backoff is longer
    retry_after_cap: float = 120.0  # a server's Retry-After is honoured up to this
    budget: float = 300.0  # seconds a run of failures may last, from its first failure
    max_delay: float | None = None  # MODELCTL_RETRY_MAX_DELAY: caps every single wait
    # received and thrown away (a file started over) may reach the file's size, at least this
    wasted_floor: int = 64 * MiB
    # curl's --speed-limit / --speed-time: below this many bytes/s over that many seconds a
    # stream has stalled. 1 KiB/s is ~11 days for a 1 GB file, so no usable link is cut, and
    # a minute averages out a hand-over or a congested moment; 0 turns the rule off
    low_speed_limit: float = 1024.0  # MODELCTL_LOW_SPEED_LIMIT
    low_speed_time: float = 60.0  # MODELCTL_LOW_SPEED_TIME

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **fields: Any) -> RetryPolicy:
        """A policy with `fields`, amended by the environment: every wait capped by
        `MODELCTL_RETRY_MAX_DELAY`, the speed rule set by `MODELCTL_LOW_SPEED_LIMIT` and
        `MODELCTL_LOW_SPEED_TIME`, each where it is set.

        A value that is not a finite number in range is a BadInput (exit 2).
        """
        env = os.environ if environ is None else environ
        policy = cls(**fields)
        max_delay = _env_number(
            env, MAX_DELAY_ENV, 0.0,
            f"e.g. {MAX_DELAY_ENV}=5 caps every wait between retries at 5 s; unset it for the "
            "normal backoff",
        )  # fmt: skip
        limit = _env_number(
            env, LOW_SPEED_LIMIT_ENV, 0.0,
            f"a number of bytes per second, e.g. {LOW_SPEED_LIMIT_ENV}=1024; 0 turns the "
            f"minimum-speed rule off; unset it for the default ({policy.low_speed_limit:.0f})",
            unit="a number of bytes/s",
        )  # fmt: skip
        window = _env_number(
            env, LOW_SPEED_TIME_ENV, None,
            f"e.g. {LOW_SPEED_TIME_ENV}=60: slower than {LOW_SPEED_LIMIT_ENV} over that many "
            f"seconds is a stall; unset it for the default ({policy.low_speed_time:.0f})",
        )  # fmt: skip
        if max_delay is not None:
            policy = replace(policy, max_delay=max_delay)
        if limit is not None:
            policy = replace(policy, low_speed_limit=limit)
        if window is not None:
            policy = replace(policy, low_speed_time=window)
        return policy

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

    def wasted_allowed(self, size: int | None) -> int:
        """Bytes that may be received and thrown away for a file of `size` bytes: its size,
        at least `wasted_floor` (a small file gets a few starts over too)."""
        return max(size or 0, self.wasted_floor)

    def watch(self) -> SpeedWatch:
        """The speed rule for one stream, started now."""
        return SpeedWatch(self.low_speed_limit, self.low_speed_time)

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
    """One run of consecutive failures under a policy: their count, when the first was, the most
    bytes held so far, and why the run stopped (`stopped`, for the message)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self.best = 0  # the most bytes held at their offsets after any attempt (`reached`)
        self.stopped: str | None = None
        self._since: float | None = None

    def progressed(self) -> None:
        """The last attempt moved the work on: the count and the budget start over."""
        self.failures = 0
        self._since = None

    def reached(self, held: int) -> bool:
        """After an attempt `held` bytes are kept at their offsets: progress (and True) only when
        that is more than ever before. Bytes that replace ones thrown away are no progress."""
        if held <= self.best:
            return False
        self.best = held
        self.progressed()
        return True

    def failed(
        self, exc: BaseException | None = None, wasted: int = 0, size: int | None = None
    ) -> float | None:
        """Count one more failure; the seconds to wait before the next attempt, or None to stop.

        With `exc`, the policy decides whether it is worth retrying at all (and reads its
        `Retry-After`); without, the caller has decided it is (e.g. a server that cannot resume).
        Stops after more than `attempts` failures in a row, when the wait would end past
        `budget` seconds after the first of them, or when `wasted` bytes (received and thrown
        away) exceed what the policy allows for a file of `size` (unknown: the most held).
        """
        now = time.monotonic()
        if self._since is None:
            self._since = now
        self.failures += 1
        if exc is not None and not self.policy.retryable(exc):
            return None
        allowed = self.policy.wasted_allowed(size if size is not None else self.best)
        if wasted > allowed:
            self.stopped = (
                f"after {_mib(wasted)} received and thrown away, more than the "
                f"{_mib(allowed)} a file of this size may waste"
            )
            return None
        if self.failures > self.policy.attempts:
            self.stopped = f"after {self.failures - 1} retries without progress"
            return None
        wait = self.policy.delay(self.failures, retry_after_of(exc) if exc is not None else None)
        if now + wait - self._since > self.policy.budget:
            self.stopped = f"after failing for {now - self._since:.0f} s without progress"
            return None
        return wait


class SpeedWatch:
    """The speed rule over one stream, as curl's `Curl_speedcheck` (curl/curl
    lib/speedcheck.c, curl-8_11_0): received bytes are counted in windows of `window` seconds;
    a window that ends with fewer than `limit` bytes per second is slow. A limit of 0 (or less)
    turns the rule off.

    curl ends the whole transfer there; here `check` raises `TooSlow`, which ends the attempt
    (the policy counts it as a failure), and the stream stays `slow` until a window ends fast
    enough: meanwhile nothing it receives is progress. A window spans the stream's attempts, so
    a server that answers every request with a few bytes is judged as a trickle over one
    connection is; the waits between attempts (`paused`) are not the server's time and do not
    count. A zero-byte stall is the read timeout's (`--stall-timeout`); this catches the
    trickle that keeps a read timeout from ever firing.
    """

    def __init__(
        self, limit: float, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.slow = False  # the last window that ended was too slow
        self._mark = clock()
        self._got = 0
        self._last = (0.0, 0)  # the last window judged: its seconds and bytes

    def count(self, n: int) -> None:
        """`n` more bytes arrived."""
        self._got += n

    def check(self) -> None:
        """Raise `TooSlow` when a window just ended too slow."""
        if self._judge():
            raise TooSlow(self.verdict())

    def verdict(self) -> str:
        """The last window judged, in words: `slower than 1024 bytes/s for 60 s (…)`."""
        seconds, got = self._last
        return f"slower than {self.limit:g} bytes/s for {seconds:.3g} s ({got} bytes received)"

    def settle(self) -> bool:
        """After an attempt failed: judge the window if it has ended; whether the stream is slow
        (then what the attempt brought is no progress)."""
        self._judge()
        return self.slow

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """A wait between attempts: its time is taken out of the window."""
        began = self.clock()
        try:
            yield
        finally:
            self._mark += self.clock() - began

    def _judge(self) -> bool:
        """Close the window if it has lasted `window` seconds; True when it was too slow."""
        if self.limit <= 0:
            return False
        now = self.clock()
        elapsed = now - self._mark
        if elapsed < self.window:
            return False
        self._last = (elapsed, self._got)
        self.slow = self._got < self.limit * elapsed
        self._mark, self._got = now, 0
        return self.slow


def _mib(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n} bytes"


def _env_number(
    env: Mapping[str, str], name: str, minimum: float | None, hint: str,
    unit: str = "a number of seconds",
) -> float | None:  # fmt: skip
    """The number in `env[name]`, None when unset or empty; a value that is not finite, or below
    `minimum` (None: not above 0), is a BadInput."""
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    ok = math.isfinite(number) and (number > 0 if minimum is None else number >= minimum)
    if not ok:
        bound = "> 0" if minimum is None else f">= {minimum:g}"
        raise BadInput(f"{name} must be {unit} {bound}, got `{value}`", hint)
    return number


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
    seconds = decimal(value)
    if seconds is not None:
        return float(seconds)
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
    message, or huggingface_hub's client's transport errors (its TransportError family, and
    TooManyRedirects: a redirect loop is the exchange's failure, and must become one message)."""
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
