"""Download URLs found in workflows -> manifest sources.

Hub links come in the forms people copy: the download link `/<repo>/resolve/<rev>/<path>`, the
page link `/<repo>/blob/<rev>/<path>`, the raw view `/raw/`, on `huggingface.co` or `hf.co`, for
models and `datasets/`. All become `hf://owner/repo/path` plus the revision (percent-decoded, so
`refs%2Fpr%2F3` is `refs/pr/3`), which lets the Hub client verify the LFS sha256 and honour
`HF_ENDPOINT` mirrors. Anything else stays an https source. Whether the result is acceptable is
decided by the manifest grammar itself (`manifest.uris.check_source` / `check_revision`), so a Hub
path the hf:// grammar cannot hold (an `@`, a space) falls back to the https URL instead of failing.

Credential query parameters (Civitai `token=`, cloud signatures) are removed: a manifest is meant to
be committed and printed, and tokens come from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from modelctl.manifest.uris import check_revision, check_source

HUB_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
HUB_VIEWS = frozenset({"resolve", "blob", "raw"})


class UrlError(ValueError):
    """A URL no manifest source can hold; the message says why, `hint` how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Source:
    source: str
    revision: str | None = None
    removed_params: tuple[str, ...] = ()


def to_source(url: str, secret_params: frozenset[str] = frozenset()) -> Source:
    """The manifest source (and revision) for a download URL, or `UrlError`."""
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
    host = (parts.hostname or "").lower()
    if host in HUB_HOSTS and not parts.username and not parts.password:
        hub = _hub_source(parts.path)
        if hub:
            return hub
    if scheme == "http":
        raise UrlError(
            f"the url `{text}` uses plain http",
            "change it to https:// in the workflow; modelctl does not download over plain http",
        )
    query, removed = _strip_secrets(parts.query, secret_params)
    https = urlunsplit(("https", parts.netloc, parts.path, query, ""))
    problem = check_source(https)
    if problem:
        raise UrlError(f"the url `{text}`: {problem[0]}", problem[1])
    return Source(https, None, removed)


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


def _strip_secrets(query: str, secret_params: frozenset[str]) -> tuple[str, tuple[str, ...]]:
    if not query:
        return "", ()
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() not in secret_params]
    removed = tuple(k for k, _ in pairs if k.lower() in secret_params)
    if not removed:
        return query, ()
    return urlencode(kept), removed
