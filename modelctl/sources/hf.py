"""`hf://owner/repo/path` + revision -> RemoteFile, through huggingface_hub's own metadata request.

huggingface_hub does what it is best at here: the endpoint (`HF_ENDPOINT`), the token (`HF_TOKEN` or
the stored login), the `/resolve/` URL and the HEAD that yields the commit (`X-Repo-Commit`), the
LFS sha256 (`X-Linked-Etag`), the size (`X-Linked-Size`) and typed errors for gated / missing repos,
revisions and files. The bytes are then fetched by `modelctl.transfer` from the `/resolve/<commit>/`
URL, pinned to the commit the HEAD saw so a moving branch cannot change the file mid-pull.

The token goes only to the Hub endpoint (https, or an explicitly configured `HF_ENDPOINT`), and the
transfer client drops it on the redirect to the CDN, as huggingface_hub does
(src/huggingface_hub/file_download.py @ v2.4.0). huggingface_hub's log records pass through `redact`
(its retry warnings in utils/_http.py log the request URL, and a signed CDN URL is a credential).

One shortcut, for start-up time: importing huggingface_hub's HTTP stack (httpx2, its auth and
download modules) costs ~0.3 s per process on a 2-core machine, a quarter of a whole 1 GiB pull
on loopback. So the HEAD is first sent with our own client (`quick_metadata`), and its answer is
taken only when it is the plain success that `get_hf_file_metadata` would return unchanged: a 200,
or a redirect to another origin (the CDN), with a 40-hex `X-Repo-Commit`. Everything else (a
relative redirect of a renamed repo, any 4xx/5xx, a network error, a missing header) goes to
huggingface_hub, which asks again and answers with its typed errors; that request is retried as
`transfer.retry` says, and its errors are worded by `map_error`, the one mapping of Hub errors
(also used by `lock`'s calls in `lock.pinning`). Likewise the
token (`hub_token`) is read from `HF_TOKEN` only when huggingface_hub would read nothing else
first (no OIDC exchange configured) or later (no stored login file); otherwise `get_token()`
decides. tests/sources/test_hf.py holds both against huggingface_hub as the oracle.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from modelctl.errors import BadInput, SourceError
from modelctl.manifest.model import ResolvedAsset
from modelctl.manifest.uris import HEX40_RE, HEX64_RE, HfRef, parse_hf
from modelctl.redact import clean_token, install_log_filter, redact
from modelctl.transfer.remote import RemoteFile
from modelctl.transfer.retry import RetryPolicy, status_of, transport_error, untrusted_certificate
from modelctl.units import decimal

T = TypeVar("T")


def endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def token_allowed(ep: str) -> bool:
    """Send the token only to an https endpoint, or to one the user configured explicitly."""
    return urlsplit(ep).scheme == "https" or bool(os.environ.get("HF_ENDPOINT"))


def auth_headers(ep: str) -> dict[str, str]:
    token = hub_token() if token_allowed(ep) else None
    return {"authorization": f"Bearer {token}"} if token else {}


def hub_token() -> str | None:
    """huggingface_hub's `get_token()`, without importing its HTTP stack when `HF_TOKEN` decides.

    `get_token()` tries an OIDC exchange (when HF_OIDC_RESOURCE is set), then HF_TOKEN /
    HUGGING_FACE_HUB_TOKEN, then the stored login (refreshing OAuth tokens), then Colab secrets.
    """
    from huggingface_hub import constants

    if os.environ.get("HF_OIDC_RESOURCE") or "google.colab" in sys.modules:
        return check_token(_library_token(), "the Hugging Face token")
    name = "HF_TOKEN" if os.environ.get("HF_TOKEN") else "HUGGING_FACE_HUB_TOKEN"
    env = os.environ.get(name)
    token = clean_token(env) if env else None
    if token or not os.path.exists(constants.HF_TOKEN_PATH):
        return check_token(token, name)
    return check_token(_library_token(), f"the stored token ({constants.HF_TOKEN_PATH})")


def check_token(token: str | None, where: str) -> str | None:
    """`token` if an HTTP header can carry it, else `BadInput` naming `where` (never the value).

    A Bearer token is visible ASCII (RFC 6750 §2.1 `b64token`; RFC 9110 §5.5 field values), and
    http.client encodes header values as Latin-1: a pasted `hf_…` with a typographic quote, a
    non-breaking space or an emoji would otherwise fail inside the request as an internal error.
    Line ends and surrounding white space were already removed (`clean_token`, as huggingface_hub
    does), so `echo hf_… > token` works.
    """
    if not token:
        return None
    bad = next((i for i, ch in enumerate(token) if not "!" <= ch <= "~"), None)
    if bad is None:
        return token
    what = "a space" if token[bad] in " \t" else "a character that is not printable ASCII"
    fix = f"set {where}" if where.isupper() else "log in again (`hf auth login`) or set HF_TOKEN"
    raise BadInput(
        f"{where} contains {what} (character {bad + 1} of {len(token)}), which an HTTP header "
        "cannot carry",
        f"{fix} to the token exactly as https://huggingface.co/settings/tokens shows it "
        "(hf_ followed by letters and digits)",
    )


def _library_token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


def ref_of(asset: ResolvedAsset) -> HfRef:
    ref = parse_hf(asset.source)
    return HfRef(ref.repo_id, ref.path, asset.revision or ref.revision or "main", ref.repo_type)


def repo_page(ref: HfRef) -> str:
    prefix = "datasets/" if ref.repo_type == "dataset" else ""
    return f"{endpoint()}/{prefix}{ref.repo_id}"


def resolve_url(ref: HfRef, revision: str) -> str:
    return f"{repo_page(ref)}/resolve/{quote(revision, safe='')}/{quote(ref.path)}"


def resolve(
    asset: ResolvedAsset, retry: RetryPolicy | None = None, timeout: float = 10
) -> RemoteFile:
    """One metadata request (HEAD, retried as `retry` says) -> RemoteFile."""
    ref = ref_of(asset)
    ep = endpoint()
    headers = auth_headers(ep)
    meta = _head(ref, headers, retry or RetryPolicy.from_env(), timeout)
    commit = meta.commit_hash
    if not commit or not HEX40_RE.fullmatch(commit):
        raise SourceError(
            f"{ref.uri()}: {ep} did not say which commit it serves (no X-Repo-Commit)",
            "is HF_ENDPOINT a Hugging Face Hub or a mirror that speaks its protocol?",
        )
    etag = (meta.etag or "").lower()
    hub_sha = etag if HEX64_RE.fullmatch(etag) else None
    if asset.sha256 and hub_sha and asset.sha256.lower() != hub_sha:
        raise SourceError(
            f"{ref.uri()}@{commit[:12]}: the Hub's sha256 {hub_sha} differs from the manifest's "
            f"{asset.sha256.lower()}",
            "the file changed upstream: pin `revision:` to a checked commit, or update sha256",
        )
    return RemoteFile(
        source=asset.source,
        url=resolve_url(ref, commit),
        display=f"{ref.repo_id}/{ref.path}",
        size=meta.size if meta.size is not None else asset.size,
        sha256=(asset.sha256 or hub_sha or None),
        commit=commit,
        etag=etag or None,
        headers=headers,
    )


@dataclass(frozen=True)
class FileMetadata:
    """The fields of huggingface_hub's `HfFileMetadata` that a pull uses."""

    commit_hash: str | None
    etag: str | None
    size: int | None


def quick_metadata(url: str, headers: dict[str, str], timeout: float) -> FileMetadata | None:
    """The HEAD's answer if it is a plain success (see module doc); None: ask huggingface_hub."""
    from modelctl.transfer.http import NETWORK_OR_REDIRECT, REDIRECTS, Pool

    pool = Pool(connect_timeout=timeout, read_timeout=timeout)
    try:
        resp = pool.exchange(url, headers, "HEAD")
    except NETWORK_OR_REDIRECT:
        return None
    finally:
        pool.close()
    h = resp.headers
    location = h.get("location")
    if resp.status in REDIRECTS:
        if not location or _same_or_hub_origin(url, _redirect(url, location)):
            return None  # a renamed repo: huggingface_hub follows it
    elif resp.status != 200:
        return None
    commit = h.get("x-repo-commit")
    if not commit or not HEX40_RE.fullmatch(commit):
        return None
    etag = h.get("x-linked-etag") or h.get("etag")
    size = h.get("x-linked-size") or (None if location else h.get("content-length"))
    return FileMetadata(
        commit_hash=commit,
        etag=etag.lstrip("W/").strip('"') if etag is not None else None,
        size=decimal(size),
    )


def _redirect(url: str, location: str) -> str:
    """Where the HEAD's redirect leads (`transfer.http.redirect_target`: a URL the transfer can
    send); one that is not a URL (a bad port or host) is a SourceError, not a ValueError."""
    from modelctl.transfer.http import RedirectError, redirect_target

    try:
        return redirect_target(url, location)
    except RedirectError as exc:
        raise SourceError(
            f"{redact(url)}: {exc}",
            "the Hub endpoint redirects where modelctl will not follow; check HF_ENDPOINT, or "
            "report it to the Hub's operator",
        ) from None


def _same_or_hub_origin(url: str, target: str) -> bool:
    """huggingface_hub follows a redirect to the same origin or to a Hub origin (not the CDN)."""

    def origin(u: str) -> tuple[str, str, int]:
        p = urlsplit(u)
        return p.scheme, (p.hostname or "").lower(), p.port or (443 if p.scheme == "https" else 80)

    from huggingface_hub import constants

    hubs = {("https", host, 443) for host in constants.HF_URL_HOSTS}  # hf.co, huggingface.co, …
    return origin(target) in {origin(url), origin(endpoint()), *hubs}


def _head(ref: HfRef, headers: dict[str, str], retry: RetryPolicy, timeout: float) -> Any:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:  # huggingface_hub would refuse too, as a ConnectionError
        raise _offline(ref)
    url = resolve_url(ref, ref.revision or "main")
    if url.startswith("https:"):
        from modelctl.transfer.http import check_ca_env

        check_ca_env()
    quick = quick_metadata(url, headers, timeout)
    if quick is not None:
        return quick
    install_log_filter()
    from huggingface_hub import get_hf_file_metadata

    return ask_hub(
        lambda: get_hf_file_metadata(url, token=False, headers=headers, timeout=timeout), ref, retry
    )


def ask_hub(fn: Callable[[], T], ref: HfRef, retry: RetryPolicy) -> T:
    """`fn()`, a huggingface_hub call about `ref`, retried as `retry` says; the Hub's answer or
    the network error that ends it becomes one SourceError (`map_error`). Anything else (ours, a
    bug) propagates unchanged."""
    try:
        return retry.call(fn)
    except Exception as exc:
        if status_of(exc) is None and not transport_error(exc):
            raise
        raise map_error(exc, ref) from None


def _offline(ref: HfRef) -> SourceError:
    return SourceError(
        f"HF_HUB_OFFLINE is set: cannot ask {endpoint()} about {_asked(ref)}",
        "unset HF_HUB_OFFLINE (or set it to 0) to reach the Hub",
    )


def _asked(ref: HfRef) -> str:
    """`ref` as the user wrote it: hf://repo/path@revision, or hf://repo@revision for the repo."""
    if ref.path:
        return ref.uri()
    prefix = "datasets/" if ref.repo_type == "dataset" else ""
    return f"hf://{prefix}{ref.repo_id}" + (f"@{ref.revision}" if ref.revision else "")


def map_error(exc: BaseException, ref: HfRef) -> SourceError:
    """huggingface_hub's typed errors (and the network's) -> one actionable line, no URL query, no
    token. The one mapping of Hub errors, for `pull`/`inspect`'s HEAD of a file and `lock`'s calls
    about a repo: `ref` is what was asked, its `path` empty when the question was about the repo
    (its commit, its file list) rather than one file."""
    from huggingface_hub import errors

    status = status_of(exc)
    page = repo_page(ref)
    where = f"{ref.repo_id}@{ref.revision or 'main'}"
    target = f"{where}/{ref.path}" if ref.path else where
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return _offline(ref)
    if isinstance(exc, errors.GatedRepoError):
        access = f"access to {ref.path} was refused" if ref.path else "access was refused"
        return SourceError(
            f"{ref.repo_id} is gated: {access} (HTTP {status})",
            f"accept the conditions at {page} with your account, then set HF_TOKEN to a token "
            "of it",
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        anon = (
            "" if os.environ.get("HF_TOKEN") else " (or it is private/gated and no HF_TOKEN is set)"
        )
        return SourceError(
            f"repository {ref.repo_id} not found{anon} (HTTP {status})",
            f"check the repo id in the source; for a private or gated repo set HF_TOKEN ({page})",
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return SourceError(
            f"revision `{ref.revision}` not found in {ref.repo_id} (HTTP {status})",
            "check `revision:` (a branch, tag or full 40-hex commit that exists); see the branches "
            f"and commits at {page}",
        )
    if isinstance(exc, errors.EntryNotFoundError) and ref.path:
        return SourceError(
            f"file {ref.path} not found in {where} (HTTP {status})",
            f"check the path after the repo id; the files are listed at {page}/tree/"
            f"{ref.revision or 'main'}",
        )
    if status in (401, 403):
        return SourceError(
            f"access to {target} refused (HTTP {status})",
            f"set HF_TOKEN to a token that may read {page}",
        )
    if status == 407:
        return SourceError(
            f"the proxy refused the request for {target} (HTTP 407)",
            "the proxy wants credentials: write them into HTTPS_PROXY / HTTP_PROXY as "
            "user:password@host:port",
        )
    if untrusted_certificate(exc):
        return SourceError(
            f"cannot reach {endpoint()} for {target}: its TLS certificate is not trusted",
            "behind a TLS-inspecting proxy, set SSL_CERT_FILE to a CA bundle that includes the "
            "proxy's certificate",
        )
    if status is not None:
        return SourceError(f"{target}: HTTP {status} from {endpoint()}", "try again later")
    return SourceError(
        f"cannot reach {endpoint()} for {target}: {type(exc).__name__}",
        "check the network, a proxy, or HF_ENDPOINT",
    )
