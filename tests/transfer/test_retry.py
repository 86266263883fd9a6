"""The one retry policy (`modelctl.transfer.retry`): which answers and errors are retried, how long
each wait is (backoff, `Retry-After`, the caps), when a run of failures stops (count, budget,
progress, bytes thrown away), the speed rule, and the environment (`MODELCTL_RETRY_MAX_DELAY`,
`MODELCTL_LOW_SPEED_LIMIT`, `MODELCTL_LOW_SPEED_TIME`). Real exceptions of our client, of `http.client` and of
huggingface_hub's client, real sockets and the real clock; nothing of ours is replaced."""

from __future__ import annotations

import email.utils
import errno
import http.client
import socket
import ssl
import time

import httpx2
import pytest
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)

from modelctl.errors import BadInput, SourceError
from modelctl.transfer.http import HttpStatusError, Pool
from modelctl.transfer.retry import (
    LOW_SPEED_LIMIT_ENV,
    LOW_SPEED_TIME_ENV,
    MAX_DELAY_ENV,
    RETRY_STATUSES,
    RetryPolicy,
    SpeedWatch,
    TooSlow,
    parse_retry_after,
    retry_after_of,
    retryable_error,
    status_of,
    transport_error,
)

URL = "https://hub.example/org/repo/resolve/main/m.gguf"
POLICY = RetryPolicy()


def hub_error(status: int, headers: dict[str, str] | None = None) -> HfHubHTTPError:
    """huggingface_hub's own error for an answer, as `hf_raise_for_status` builds it."""
    response = httpx2.Response(status, headers=headers, request=httpx2.Request("HEAD", URL))
    return HfHubHTTPError(f"{status} error", response=response)


# ---------------------------------------------------------------------- statuses


def test_the_one_set_of_retryable_statuses() -> None:
    assert {408, 425, 429, 500, 502, 503, 504} == RETRY_STATUSES
    retried = {s for s in range(100, 600) if POLICY.retryable_status(s)}
    assert retried == RETRY_STATUSES


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_retryable_statuses_from_both_clients(status: int) -> None:
    assert POLICY.retryable(HttpStatusError(status, URL, {}))
    assert POLICY.retryable(hub_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 407, 410, 416, 451, 501, 505])
def test_answers_that_asking_again_cannot_change(status: int) -> None:
    assert not POLICY.retryable(HttpStatusError(status, URL, {}))
    assert not POLICY.retryable(hub_error(status))


def test_huggingface_hubs_typed_errors_go_by_their_status() -> None:
    response = httpx2.Response(401, request=httpx2.Request("HEAD", URL))
    assert status_of(RepositoryNotFoundError("nope", response=response)) == 401
    gated = GatedRepoError("gated", response=httpx2.Response(403, request=response.request))
    assert not POLICY.retryable(gated)  # an OSError subclass, but an answer, not a network error


# ---------------------------------------------------------------------- exceptions


def _refused() -> ConnectionRefusedError:
    """A real refused connection: a loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pool = Pool(2, 2)
    try:
        pool.request(f"http://127.0.0.1:{port}/x", {})
    except ConnectionRefusedError as exc:
        return exc
    finally:
        pool.close()
    raise AssertionError("the port answered")


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        ConnectionAbortedError(errno.ECONNABORTED, "aborted"),
        BrokenPipeError(errno.EPIPE, "Broken pipe"),
        TimeoutError("timed out"),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        OSError("Tunnel connection failed: 502 Bad Gateway"),  # the proxy's upstream failed
        http.client.IncompleteRead(b"", 100),
        http.client.RemoteDisconnected("Remote end closed connection without response"),
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
        httpx2.ConnectTimeout("connect timed out"),
        httpx2.ReadTimeout("read timed out"),
        httpx2.ConnectError("[Errno 111] Connection refused"),
        httpx2.ReadError("connection reset"),
        httpx2.RemoteProtocolError("peer closed connection without sending complete message"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_network_errors_are_retried(exc: BaseException) -> None:
    assert retryable_error(exc) and POLICY.retryable(exc)


def test_a_redirect_loop_of_the_hub_client_is_a_transport_error_not_retried() -> None:
    """So `sources.hf.ask_hub` words it (exit 3) instead of letting it through (exit 70)."""
    loop = httpx2.TooManyRedirects("Exceeded 20 redirects")
    assert transport_error(loop) and not POLICY.retryable(loop)


def test_a_real_refused_connection_is_retried() -> None:
    assert POLICY.retryable(_refused())


def _cert_failure_inside_hub_client() -> httpx2.ConnectError:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify")
    try:
        try:
            raise cause
        except ssl.SSLError as inner:
            raise httpx2.ConnectError("handshake failed") from inner
    except httpx2.ConnectError as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify"),
        _cert_failure_inside_hub_client(),
        OSError("Tunnel connection failed: 407 Proxy Authentication Required"),
        OSError("Tunnel connection failed: 403 Forbidden"),
        OfflineModeIsEnabled("offline"),
        httpx2.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'"),
        httpx2.TooManyRedirects("Exceeded 20 redirects"),
        ValueError("a bug"),
        KeyError("x"),
        SourceError("ours", "already worded"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_no_wait_can_fix_are_not_retried(exc: BaseException) -> None:
    assert not retryable_error(exc) and not POLICY.retryable(exc)


# ---------------------------------------------------------------------- Retry-After


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("0") == 0.0


def test_retry_after_as_an_http_date_in_each_of_rfc_9110s_formats() -> None:
    when = email.utils.parsedate_to_datetime("Sun, 06 Nov 1994 08:49:37 GMT").timestamp()
    for form in (
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime (UTC, RFC 9110 section 5.6.7)
    ):
        assert parse_retry_after(form, now=when - 30) == pytest.approx(30.0), form
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=when + 5) == 0.0  # past
    soon = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= (parse_retry_after(soon) or 0) <= 60


@pytest.mark.parametrize("value", [None, "", "  ", "soon", "-5", "1.5", "12 seconds"])
def test_unreadable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_is_read_from_both_clients_errors() -> None:
    assert retry_after_of(HttpStatusError(429, URL, {"retry-after": "3"})) == "3"
    assert retry_after_of(hub_error(503, {"Retry-After": "4"})) == "4"
    assert retry_after_of(hub_error(503)) is None
    assert retry_after_of(ConnectionResetError()) is None


# ---------------------------------------------------------------------- waits and caps


def test_backoff_is_full_jitter_doubling_up_to_the_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=3.0)
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (5, 3.0), (10_000, 3.0)]:
        waits = [policy.delay(failures) for _ in range(300)]
        assert all(0 <= w <= ceiling for w in waits), failures
        assert max(waits) > ceiling / 2  # spread over the whole range, not a fixed step
        assert min(waits) < ceiling / 2


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(base=0.5, retry_after_cap=10.0)
    assert all(7 <= policy.delay(1, "7") <= 7.5 for _ in range(50))
    assert all(10 <= policy.delay(1, "3600") <= 10.5 for _ in range(50))
    assert all(0 <= policy.delay(3, "garbage") <= 2.0 for _ in range(50))  # plain backoff


def test_max_delay_caps_backoff_and_retry_after_alike() -> None:
    policy = RetryPolicy(max_delay=0.05)
    assert all(policy.delay(6) <= 0.05 for _ in range(50))
    assert all(policy.delay(1, "120") == 0.05 for _ in range(10))
    assert RetryPolicy(max_delay=0.0).delay(1, "120") == 0.0


# ---------------------------------------------------------------------- when to stop


def test_failures_in_a_row_are_bounded_and_progress_resets_them() -> None:
    tries = RetryPolicy(attempts=3, max_delay=0.0).start()
    assert [tries.failed() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert tries.failed() is None and tries.failures == 4
    tries.progressed()
    assert tries.failures == 0
    assert [tries.failed(ConnectionResetError()) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert tries.failed(ConnectionResetError()) is None


def test_an_answer_that_is_not_retryable_stops_at_once() -> None:
    tries = POLICY.start()
    assert tries.failed(HttpStatusError(404, URL, {})) is None
    assert tries.failures == 1


def test_a_wait_past_the_budget_stops_instead_of_sleeping() -> None:
    tries = RetryPolicy(budget=5.0).start()
    assert tries.failed(HttpStatusError(503, URL, {"retry-after": "60"})) is None
    assert tries.failures == 1  # stopped on the first failure: a 60 s wait cannot fit


def test_the_budget_bounds_a_run_of_failures_in_time() -> None:
    policy = RetryPolicy(attempts=1000, base=0.02, cap=0.02, budget=0.3)
    tries = policy.start()
    t0 = time.monotonic()
    while (wait := tries.failed(TimeoutError())) is not None:
        time.sleep(wait)
    assert time.monotonic() - t0 <= 0.3 + 0.1
    assert 3 <= tries.failures < 1000
    tries.progressed()  # progress gives a new budget
    assert tries.failed(TimeoutError()) is not None


def test_call_retries_until_it_succeeds() -> None:
    errors = [ConnectionResetError(errno.ECONNRESET, "reset"), hub_error(503)]
    seen: list[int] = []

    def flaky() -> str:
        seen.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    assert RetryPolicy(max_delay=0.01).call(flaky) == "ok"
    assert len(seen) == 3


def test_call_raises_an_answer_at_once_and_the_last_error_when_spent() -> None:
    calls: list[int] = []

    def gone() -> None:
        calls.append(1)
        raise HttpStatusError(404, URL, {})

    with pytest.raises(HttpStatusError):
        RetryPolicy(max_delay=0.0).call(gone)
    assert len(calls) == 1

    def down() -> None:
        calls.append(1)
        raise hub_error(502)

    calls.clear()
    with pytest.raises(HfHubHTTPError):
        RetryPolicy(attempts=2, max_delay=0.0).call(down)
    assert len(calls) == 3  # the first try and two retries


# ---------------------------------------------------------------------- MODELCTL_RETRY_MAX_DELAY


def test_max_delay_from_the_environment() -> None:
    assert RetryPolicy.from_env({}).max_delay is None
    assert RetryPolicy.from_env({MAX_DELAY_ENV: ""}).max_delay is None
    assert RetryPolicy.from_env({MAX_DELAY_ENV: "0.05"}).max_delay == 0.05
    assert RetryPolicy.from_env({MAX_DELAY_ENV: " 2 "}).max_delay == 2.0
    assert RetryPolicy.from_env({MAX_DELAY_ENV: "0"}).delay(1, "120") == 0.0
    policy = RetryPolicy.from_env({MAX_DELAY_ENV: "1"}, attempts=3, base=0.1)
    assert (policy.attempts, policy.base, policy.max_delay) == (3, 0.1, 1.0)


def test_max_delay_is_read_from_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_DELAY_ENV, "0.25")
    assert RetryPolicy.from_env().max_delay == 0.25
    monkeypatch.delenv(MAX_DELAY_ENV)
    assert RetryPolicy.from_env().max_delay is None


@pytest.mark.parametrize("value", ["abc", "-1", "-0.5", "nan", "inf", "1s", "5,0"])
def test_a_bad_max_delay_is_bad_input_with_a_hint(value: str) -> None:
    with pytest.raises(BadInput) as info:
        RetryPolicy.from_env({MAX_DELAY_ENV: value})
    err = info.value
    assert err.exit_code == 2
    assert err.message == f"{MAX_DELAY_ENV} must be a number of seconds >= 0, got `{value}`"
    assert err.hint and MAX_DELAY_ENV in err.hint


# ---------------------------------------------------------------------- progress and waste


def test_progress_is_more_bytes_held_than_ever_not_bytes_received() -> None:
    """A server that starts the file over on every attempt brings bytes each time, but never
    more than the first time: only a new high starts the count over."""
    tries = RetryPolicy(attempts=3, max_delay=0.0).start()
    assert tries.reached(1 << 20) and tries.failed() == 0.0
    for _ in range(2):
        assert not tries.reached(1 << 20)  # the same first MiB, again
        assert tries.failed() == 0.0
    assert not tries.reached(512 << 10)
    assert tries.failed() is None
    assert tries.stopped == "after 3 retries without progress"
    assert tries.reached((1 << 20) + 1) and tries.failures == 0  # one byte more: progress


def test_bytes_thrown_away_stop_once_past_the_file_size_or_the_floor() -> None:
    policy = RetryPolicy(max_delay=0.0)
    assert policy.wasted_allowed(None) == policy.wasted_allowed(0) == 64 << 20
    assert policy.wasted_allowed(10 << 30) == 10 << 30
    tries = policy.start()
    assert tries.failed(wasted=64 << 20, size=1000) == 0.0  # at the floor: still allowed
    assert tries.failed(wasted=(64 << 20) + 1, size=1000) is None
    assert tries.stopped == "after 64.0 MiB received and thrown away, more than the 64.0 MiB a " \
        "file of this size may waste"  # fmt: skip
    big = policy.start()
    assert big.failed(wasted=5 << 30, size=10 << 30) == 0.0
    assert big.failed(wasted=(10 << 30) + 1, size=10 << 30) is None
    unknown = RetryPolicy(max_delay=0.0, wasted_floor=0).start()
    unknown.reached(100)  # without a size, the most held stands in for it
    assert unknown.failed(wasted=100) == 0.0 and unknown.failed(wasted=101) is None


# ---------------------------------------------------------------------- the speed rule


class Clock:
    """A clock the test moves (the rule's own arithmetic, without waiting for it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_speed_rule_judges_whole_windows() -> None:
    clock = Clock()
    watch = SpeedWatch(1000, 10, clock)
    for second in range(1, 10):  # nothing for 9 s: the window is not over, nothing judged
        clock.now = second
        watch.check()
    clock.now = 10
    watch.count(10_000)
    watch.check()  # 10,000 bytes in 10 s: exactly the limit, a new window starts
    assert not watch.slow
    clock.now = 15
    watch.count(100_000)  # a burst
    clock.now = 20
    watch.check()  # 100 kB in the window's 10 s: fast enough
    clock.now = 30
    watch.count(9_999)
    with pytest.raises(TooSlow, match=r"slower than 1000 bytes/s for 10 s \(9999 bytes received\)"):
        watch.check()
    assert watch.slow
    assert isinstance(TooSlow("x"), TimeoutError) and POLICY.retryable(TooSlow("x"))


def test_a_slow_stream_stays_slow_until_a_window_ends_fast() -> None:
    """What a slow stream receives is no progress until a whole window was fast again; the
    waits between attempts are not part of any window."""
    clock = Clock()
    watch = SpeedWatch(1000, 10, clock)
    clock.now = 10
    assert watch.settle()  # a window with nothing in it ended: slow
    clock.now = 15
    watch.count(50_000)
    assert watch.settle()  # half a window, however fast: still slow
    with watch.paused():
        clock.now = 100  # a backoff of 85 s
    clock.now = 105
    assert not watch.settle()  # 50 kB in the window's 10 s of attempts: fast again
    clock.now = 200
    with watch.paused():
        clock.now = 1000
    assert watch.settle()  # 95 s of attempts without a byte


def test_a_speed_limit_of_zero_turns_the_rule_off() -> None:
    clock = Clock()
    watch = SpeedWatch(0, 1, clock)
    clock.now = 3600
    watch.check()
    assert not watch.settle()


def test_the_speed_rule_from_the_environment() -> None:
    policy = RetryPolicy.from_env({})
    assert (policy.low_speed_limit, policy.low_speed_time) == (1024.0, 60.0)
    policy = RetryPolicy.from_env({LOW_SPEED_LIMIT_ENV: "0", LOW_SPEED_TIME_ENV: "0.25"})
    assert (policy.low_speed_limit, policy.low_speed_time) == (0.0, 0.25)
    watch = RetryPolicy.from_env({LOW_SPEED_LIMIT_ENV: " 50000 "}).watch()
    assert (watch.limit, watch.window) == (50000.0, 60.0)


@pytest.mark.parametrize(
    ("name", "value", "bound"),
    [
        (LOW_SPEED_LIMIT_ENV, "-1", "a number of bytes/s >= 0"),
        (LOW_SPEED_LIMIT_ENV, "fast", "a number of bytes/s >= 0"),
        (LOW_SPEED_LIMIT_ENV, "inf", "a number of bytes/s >= 0"),
        (LOW_SPEED_TIME_ENV, "0", "a number of seconds > 0"),
        (LOW_SPEED_TIME_ENV, "-5", "a number of seconds > 0"),
        (LOW_SPEED_TIME_ENV, "nan", "a number of seconds > 0"),
        (LOW_SPEED_TIME_ENV, "1m", "a number of seconds > 0"),
    ],
)
def test_a_bad_speed_rule_is_bad_input_with_a_hint(name: str, value: str, bound: str) -> None:
    with pytest.raises(BadInput) as info:
        RetryPolicy.from_env({name: value})
    assert info.value.message == f"{name} must be {bound}, got `{value}`"
    assert info.value.hint and "unset it for the default" in info.value.hint
