"""Download URLs found in workflows -> manifest sources.

Hub links come in the forms people copy: the download link `/<repo>/resolve/<rev>/<path>`, the
page link `/<repo>/blob/<rev>/<path>`, the raw view `/raw/`, on `huggingface.co` or `hf.co`, for
models and `datasets/`. All become `hf://owner/repo/path` plus the revision (percent-decoded, so
`refs%2Fpr%2F3` is `refs/pr/3`), which lets the Hub client verify the LFS sha256 and honour
`HF_ENDPOINT` mirrors. Anything else stays an https source. Whether the result is acceptable is
decided by the manifest grammar itself (`manifest.uris.check_source` / `check_revision`), so a Hub
path the hf:// grammar cannot hold (an `@`, a space) falls back to the https URL instead of failing.

Credentials never reach a manifest: it is meant to be committed and printed, and tokens come
from the environment. A URL with user info (`user:password@`) is refused (`check_source`); every
query parameter that `modelctl.redact.is_credential_param` names is removed (the test that keeps
them out of every printed line: Civitai `token=`, AWS / GCS / CloudFront signatures, Azure SAS
`sig=`, `key=`, …); with a signature gone, the parameters that only describe it go too
(`SIGNING_PARAMS`: AWS SigV4's and GCS V4's `X-Amz-*` / `X-Goog-*`, CloudFront's `Expires`,
Azure SAS's `sv`, `se`, `sp`, …). Other parameters stay as they were written (Civitai's
`type=Model&format=SafeTensor`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit, urlunsplit

from modelctl.manifest.uris import check_revision, check_source
from modelctl.redact import is_credential_param, param_name

HUB_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
HUB_VIEWS = frozenset({"resolve", "blob", "raw"})
# what describes a signature without being one: AWS SigV4 query auth (docs.aws.amazon.com,
# AmazonS3 sigv4-query-string-auth), GCS V4 signing (cloud.google.com/storage/docs/
# access-control/signed-urls), CloudFront canned policies, Azure service SAS (learn.microsoft.com,
# rest/api/storageservices/create-service-sas); removed only together with a credential
SIGNING_PREFIXES = ("x-amz-", "x-goog-")
SIGNING_PARAMS = frozenset({
    "expires", "googleaccessid", "sv", "ss", "srt", "sr", "sp", "se", "st", "spr", "si", "sdd",
    "skoid", "sktid", "skt", "ske", "sks", "skv", "ses",
})  # fmt: skip


class UrlError(ValueError):
    """A URL no manifest source can hold; the message says why, `hint` how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Source:
    source: str
    revision: str | None = None
    removed_params: tuple[str, ...] = ()  # credential query parameters taken out


def to_source(url: str) -> Source:
    """The manifest source (and revision) for a download URL, credentials removed, or `UrlError`."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise UrlError(f"`{text}` is not a valid URL ({exc})", "fix the url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlError(
            f"the url `{text}` is not an http(s) URL",
            "models are downloaded from https:// links (Hugging Face, Civitai, …)",
        )
    query, removed = strip_credentials(parts.query)
    host = (parts.hostname or "").lower()
    if host in HUB_HOSTS and not parts.username and not parts.password:
        hub = _hub_source(parts.path)
        if hub:
            return replace(hub, removed_params=removed)
    if scheme == "http":
        raise UrlError(
            f"the url `{text}` uses plain http",
            "change it to https:// in the workflow; modelctl does not download over plain http",
        )
    https = urlunsplit(("https", parts.netloc, parts.path, query, ""))
    problem = check_source(https)
    if problem:
        raise UrlError(f"the url `{text}`: {problem[0]}", problem[1])
    return Source(https, None, removed)


def removed_credentials(source: Source, where: str, name: str) -> list[str]:
    """The warnings saying what `to_source` took out of the url of the model `name`."""
    if not source.removed_params:
        return []
    return [
        f"{where}removed a signed query string ({', '.join(source.removed_params)}) from the url "
        f"of {name}; supply credentials through the environment"
    ]


def _hub_source(path: str) -> Source | None:
    segments = path.split("/")[1:]
    prefix = ""
    if segments[:1] == ["datasets"]:
        prefix, segments = "datasets/", segments[1:]
    if len(segments) < 5 or segments[2] not in HUB_VIEWS:
        return None
    owner, repo, _view, rev = (unquote(s) for s in segments[:4])
    file_path = "/".join(unquote(s) for s in segments[4:])
    source = f"hf://{prefix}{owner}/{repo}/{file_path}"
    if check_source(source) or check_revision(rev):
        return None
    return Source(source, rev)


def strip_credentials(query: str) -> tuple[str, tuple[str, ...]]:
    """`query` without its credential parameters (and, when it had one, the parameters that only
    describe a signature), the others kept exactly as written; and the names taken out."""
    pairs = [p for p in query.split("&") if p]
    names = [param_name(p.partition("=")[0]) for p in pairs]
    if not any(is_credential_param(n) for n in names):
        return query, ()
    kept, removed = [], []
    for pair, name in zip(pairs, names, strict=True):
        signing = name.startswith(SIGNING_PREFIXES) or name in SIGNING_PARAMS
        if is_credential_param(name) or signing:
            removed.append(pair.partition("=")[0])
        else:
            kept.append(pair)
    return "&".join(kept), tuple(removed)
