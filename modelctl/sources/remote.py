"""Read the header of a remote file (hf:// or https://) with HTTP Range requests that grow.

A header reader asks for bytes as it parses; `RemoteSource` keeps the contiguous prefix fetched
so far and, when a read goes past it, fetches just what is missing plus one read-ahead block. The
block starts at 64 KiB and doubles up to 1 MiB, so a tiny safetensors header costs one request and
a 15 MB GGUF vocabulary a dozen, and the bytes fetched never exceed the header size plus one block.
A read far past that prefix (a header reader skipping a long GGUF string it keeps truncated) is
served from one detached window fetched at its offset, so what a header declares but the reader
does not read is never downloaded. Nothing is downloaded to disk.

hf:// targets are resolved by `modelctl.sources.hf.resolve` (huggingface_hub's HEAD: endpoint,
token, commit, size), and the bytes come through `modelctl.transfer.http.Pool`, whose redirects drop
`Authorization` on any change of origin and refuse https -> http; after the first answer we keep
reading from the URL that answered (the signed CDN URL), without the token.
"""

from __future__ import annotations

import re
import time
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from modelctl.errors import BadInput, SourceError
from modelctl.redact import redact
from modelctl.units import decimal

if TYPE_CHECKING:
    from modelctl.transfer.retry import RetryPolicy, SpeedWatch

FIRST_BLOCK = 64 << 10
MAX_BLOCK = 1 << 20
MAX_FETCH = 256 << 20  # no header we read is larger; stop a hostile server here
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class RemoteSource:
    """A ByteSource over HTTP Range requests; `bytes_fetched` counts body bytes received."""

    read_chunk = FIRST_BLOCK  # what a sequential reader should ask for at a time

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        display: str,
        *,
        size: int | None = None,
        commit: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        from modelctl.transfer.http import Pool
        from modelctl.transfer.retry import RetryPolicy

        self.name = display
        self.url = url
        self.headers = dict(headers)
        self.commit = commit
        self.filename = PurePosixPath(unquote(urlsplit(url).path)).name
        self.display_url = redact(url)
        self.bytes_fetched = 0
        self.requests = 0
        self._data = bytearray()
        self._window_start = 0  # a detached range past the prefix (see _read_window)
        self._window = bytearray()
        self._window_block = FIRST_BLOCK
        self._ranges_ok = True  # False once the server answered 200 to a Range request
        self._size = size
        self._block = FIRST_BLOCK
        self._retry = retry or RetryPolicy.from_env()
        self._pool = Pool(timeout, timeout)
        self._fetch_to(FIRST_BLOCK)

    @property
    def size(self) -> int:
        assert self._size is not None
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        if n <= 0 or offset >= self.size:
            return b""
        end = min(offset + n, self.size)
        if self._ranges_ok and offset > len(self._data) + MAX_BLOCK:
            return self._read_window(offset, end)
        if end > len(self._data):
            self._fetch_to(end)
        return bytes(self._data[offset:end])

    def _read_window(self, offset: int, end: int) -> bytes:
        """Bytes far past the prefix, from one detached window that grows like the prefix."""
        w0 = self._window_start
        if not w0 <= offset <= w0 + len(self._window) + MAX_BLOCK:
            self._window_start, self._window = offset, bytearray()
            self._window_block = FIRST_BLOCK
            w0 = offset
        start = w0 + len(self._window)
        if end > start:
            want = min(max(end, start + self._window_block), self.size)
            if self.bytes_fetched + want - start > MAX_FETCH:
                raise self._too_much()
            self._get(start, want - 1, self._window, w0)
            self._window_block = min(self._window_block * 2, MAX_BLOCK)
        return bytes(self._window[offset - w0 : end - w0])

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> RemoteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ fetching

    def _fetch_to(self, end: int) -> None:
        """Grow the cached prefix to at least `end` bytes (plus the read-ahead block)."""
        start = len(self._data)
        want = max(end, start + self._block)
        if self._size is not None:
            want = min(want, self._size)
        if want > MAX_FETCH:
            raise self._too_much()
        if want <= start:
            return
        self._get(start, want - 1, self._data)
        self._block = min(self._block * 2, MAX_BLOCK)

    def _too_much(self) -> SourceError:
        return SourceError(
            f"{self.name}: the header needs more than {MAX_FETCH >> 20} MiB",
            "this is not a model header modelctl can read remotely; download the file",
        )

    def _get(self, first: int, last: int, into: bytearray, base: int = 0) -> None:
        """`_get_once` under the retry policy; the last failure becomes one SourceError.

        `into` holds the bytes from offset `base` on (the prefix, or the detached window). A retry
        asks only for what is still missing: an attempt that failed part-way kept the bytes it
        had appended (asking from `first` again would append them twice), and counts as progress
        when it brought new ones at a speed the policy accepts.
        """
        from modelctl.transfer.http import NETWORK_ERRORS, HttpStatusError, RedirectError
        from modelctl.transfer.retry import TooSlow

        tries = self._retry.start()
        tries.reached(base + len(into))  # only bytes beyond those are progress
        watch = self._retry.watch()
        while True:
            try:
                self._get_once(max(first, base + len(into)), last, into, watch)
                return
            except HttpStatusError as exc:
                wait = tries.failed(exc)
                if wait is None:
                    raise self._status_error(exc.status) from None
            except RedirectError as exc:
                raise SourceError(
                    f"{self.name}: {redact(str(exc))}",
                    "the server redirects where modelctl will not follow; use another URL",
                ) from None
            except NETWORK_ERRORS as exc:
                if not watch.settle():
                    tries.reached(base + len(into))
                wait = tries.failed(exc)
                if wait is None:
                    what = f"too slow: {exc}" if isinstance(exc, TooSlow) else type(exc).__name__
                    raise SourceError(
                        f"{self.name}: network error while reading the header: {what}",
                        "check the network, a proxy, or HF_ENDPOINT",
                    ) from None
            with watch.paused():
                time.sleep(wait)

    def _get_once(self, first: int, last: int, into: bytearray, watch: SpeedWatch) -> None:
        from modelctl.transfer.http import headers_for_redirect

        headers = {**self.headers, "range": f"bytes={first}-{last}"}
        resp = self._pool.request(self.url, headers)
        self.requests += 1
        try:
            if resp.url != self.url:  # followed a redirect: keep reading from where it answered
                self.headers = headers_for_redirect(self.url, resp.url, self.headers)
                self.url = resp.url
            if resp.status == 206:
                got_first, total = self._content_range(resp.headers.get("content-range", ""))
                if got_first != first:
                    raise SourceError(
                        f"{self.name}: asked for bytes from {first}, the server sent from "
                        f"{got_first}",
                        "the server mishandles Range requests; download the file instead",
                    )
                skip = 0
            else:  # 200: the server ignored Range; read the prefix we need and hang up
                total = decimal(resp.headers.get("content-length"))
                skip = first
                self._ranges_ok = False
            if total is not None:
                self._size = total if self._size is None else self._size
                if total != self._size:
                    raise SourceError(
                        f"{self.name}: the server reports {total} bytes, expected {self._size}",
                        "the file changed while reading; try again",
                    )
            if self._size is None:
                raise SourceError(
                    f"{self.name}: the server did not say how large the file is",
                    "it ignores Range requests; download the file and inspect the local copy",
                )
            last = min(last, self._size - 1)
            self._read_body(resp, skip, last - first + 1, into, watch)
        finally:
            resp.close(reuse=resp.raw.isclosed())

    def _read_body(
        self, resp: Any, skip: int, length: int, into: bytearray, watch: SpeedWatch
    ) -> None:
        if skip + length > MAX_FETCH:  # a window's range ignored: the server would send it all
            raise self._too_much()
        remaining_skip, remaining = skip, length
        buf = bytearray(min(1 << 20, max(skip + length, 1)))
        view = memoryview(buf)
        while remaining > 0:
            n = resp.readinto(view[: min(len(buf), remaining_skip + remaining)])
            if not n:
                raise SourceError(
                    f"{self.name}: the connection closed after {length - remaining} of "
                    f"{length} bytes",
                    "try again",
                )
            self.bytes_fetched += n
            used = min(remaining_skip, n)
            remaining_skip -= used
            take = min(n - used, remaining)
            into += view[used : used + take]
            remaining -= take
            watch.count(n)
            watch.check()

    def _content_range(self, value: str) -> tuple[int, int | None]:
        m = _CONTENT_RANGE.match(value.strip())
        if not m:
            raise SourceError(
                f"{self.name}: a 206 answer without a valid Content-Range ({value[:60]!r})",
                "the server mishandles Range requests; download the file instead",
            )
        return int(m.group(1)), (None if m.group(3) == "*" else int(m.group(3)))

    def _status_error(self, status: int) -> SourceError:
        hints = {
            401: "the file needs a login: set HF_TOKEN (for hf:// or the Hub host)",
            403: "access refused: for a gated repo accept its terms and set HF_TOKEN",
            404: "no such file: check the path and revision",
            416: "the server refused the byte range; the file may be empty",
        }
        return SourceError(f"{self.name}: HTTP {status}", hints.get(status, "try again later"))


def open_remote(
    target: str, *, token: str | None = None, endpoint: str | None = None
) -> RemoteSource:
    """Resolve `hf://owner/repo/path[@rev]` or an https URL and open a RemoteSource on it."""
    from modelctl.transfer.retry import RetryPolicy

    retry = RetryPolicy.from_env()  # a bad MODELCTL_RETRY_MAX_DELAY stops before any request
    if target.startswith("hf://"):
        return _open_hf(target, token, endpoint, retry)
    if target.startswith("http://"):
        raise BadInput(f"{redact(target)}: plain http is not allowed", "use https://")
    from modelctl.manifest.uris import check_source
    from modelctl.sources.https import hub_headers

    problem = check_source(target)
    if problem:
        raise BadInput(f"{redact(target)}: {problem[0]}", problem[1])
    headers = hub_headers(target)
    if token is not None and headers:
        headers["authorization"] = f"Bearer {token}"
    return RemoteSource(target, headers, redact(target), retry=retry)


def _open_hf(
    target: str, token: str | None, endpoint: str | None, retry: RetryPolicy
) -> RemoteSource:
    import os

    from modelctl.manifest.model import ResolvedAsset
    from modelctl.manifest.uris import parse_hf
    from modelctl.sources import hf

    if endpoint:
        os.environ["HF_ENDPOINT"] = endpoint  # read by huggingface_hub at import time
    try:
        ref = parse_hf(target)
    except ValueError as exc:
        raise BadInput(
            f"{target}: {exc}", "write hf://owner/repo/path/to/file[@revision]"
        ) from None
    source = ref.uri().rsplit("@", 1)[0] if ref.revision else ref.uri()
    asset = ResolvedAsset(
        id="inspect", role="other", source=source, dest=f"inspect/{PurePosixPath(ref.path).name}",
        revision=ref.revision, sha256=None, size=None, expect={}, allow_pickle=False,
    )  # fmt: skip
    remote = hf.resolve(asset, retry)
    headers = dict(remote.headers)
    if token is not None and headers.get("authorization"):
        headers["authorization"] = f"Bearer {token}"
    display = f"hf://{remote.display}@{(remote.commit or '')[:12]}"
    return RemoteSource(
        remote.url, headers, display, size=remote.size, commit=remote.commit, retry=retry
    )
