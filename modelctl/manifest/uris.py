"""The grammar of source URIs, destinations and revisions, shared by the manifest and the sources.

Checks return `None` when the value is fine, else `(problem, fix)`, so callers can attach the
file and line. Validating names before building URLs matters: a `..` in a path once sent a Hub token
to another repository's URL (huggingface_hub PR #4916).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

REPO_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
HEX40_RE = re.compile(r"^[0-9a-f]{40}$")  # a git commit (or blob sha1)
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")  # a sha256, as the Hub and our receipts write it
REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

Problem = tuple[str, str] | None


@dataclass(frozen=True)
class HfRef:
    """`hf://[datasets/]owner/repo/path[@revision]` split into its parts."""

    repo_id: str
    path: str
    revision: str | None = None
    repo_type: str = "model"

    def uri(self) -> str:
        prefix = "datasets/" if self.repo_type == "dataset" else ""
        rev = f"@{self.revision}" if self.revision else ""
        return f"hf://{prefix}{self.repo_id}/{self.path}{rev}"


def parse_hf(uri: str, allow_revision: bool = True) -> HfRef:
    """Split an hf:// URI; raises ValueError with a readable reason."""
    if not uri.startswith("hf://"):
        raise ValueError("an hf:// URI must start with hf://")
    rest = uri[len("hf://") :]
    repo_type = "model"
    if rest.startswith("datasets/"):
        repo_type, rest = "dataset", rest[len("datasets/") :]
    parts = rest.split("/", 2)
    if len(parts) < 3 or not parts[2]:
        raise ValueError("expected hf://owner/repo/path/to/file")
    owner, repo, path = parts
    revision = None
    if "@" in path:
        if not allow_revision:
            raise ValueError("put the revision in the `revision:` field, not after '@'")
        path, revision = path.rsplit("@", 1)
        problem = check_revision(revision)
        if problem:
            raise ValueError(problem[0])
    for part in (owner, repo):
        if not REPO_PART_RE.fullmatch(part) or ".." in part:
            raise ValueError(f"`{owner}/{repo}` is not a valid repository id")
    problem = _check_relpath(path, "file path")
    if problem:
        raise ValueError(problem[0])
    return HfRef(f"{owner}/{repo}", path, revision, repo_type)


def check_source(source: str) -> Problem:
    """Is `source` an hf://, https:// or file:// URI we can fetch safely?"""
    if _CONTROL_RE.search(source) or " " in source:
        return "contains spaces or control characters", "percent-encode them or rename the file"
    scheme = source.split("://", 1)[0] if "://" in source else ""
    if scheme == "hf":
        try:
            parse_hf(source, allow_revision=False)
        except ValueError as exc:
            return str(exc), "write hf://owner/repo/path/to/file"
        return None
    if scheme == "https":
        try:
            parts = urlsplit(source)
        except ValueError:  # an unbalanced `[` (IPv6 host): urllib refuses to split it
            return "the URL is not valid", "write https://host/path"
        if parts.username or parts.password:
            return (
                "credentials in the URL",
                "remove user:password@; tokens come from the environment",
            )
        if not parts.hostname:
            return "the URL has no host", "write https://host/path"
        if not parts.path or parts.path.endswith("/"):
            return "the URL does not name a file", "point it at the file itself"
        if any(seg == ".." for seg in parts.path.split("/")):
            return "the URL path contains `..`", "write the path without `..`"
        return None
    if scheme == "file":
        path = source[len("file://") :]
        if not path:
            return "file:// needs a path", "write file:///absolute/path or file://relative/path"
        return None
    if scheme == "http":
        return "plain http is not allowed", "use https://"
    return f"unsupported source scheme `{scheme or source}`", "use hf://, https:// or file://"


def _check_relpath(path: str, what: str) -> Problem:
    if not path:
        return f"the {what} is empty", "name a file"
    if "\\" in path:
        return f"the {what} contains a backslash", "use forward slashes"
    if path.startswith("/"):
        return (
            f"the {what} is absolute",
            "make it relative to the models dir, e.g. vae/ae.safetensors",
        )
    if _CONTROL_RE.search(path):
        return f"the {what} contains control characters", "rename it"
    for segment in path.split("/"):
        if segment == "..":
            return f"the {what} contains `..`", "keep it inside the models dir"
        if segment in ("", "."):
            return f"the {what} has an empty or `.` segment", "remove the extra slash or `./`"
    return None


def check_dest(dest: str) -> Problem:
    """Is `dest` a safe path relative to the models dir, outside modelctl's own `.modelctl/`?"""
    problem = _check_relpath(dest, "destination")
    if problem:
        return problem
    if len(dest) > 1024:
        return "the destination is over 1024 characters", "shorten it"
    if dest.split("/", 1)[0].startswith("."):
        return "the destination starts with a hidden folder", "use a ComfyUI folder such as vae/"
    if "/" not in dest:
        return "the destination has no folder", "put it in a ComfyUI folder, e.g. vae/" + dest
    return None


def check_revision(revision: str) -> Problem:
    """A branch, tag, `refs/pr/N` or a full 40-hex commit."""
    if HEX40_RE.fullmatch(revision):
        return None
    if (
        not REF_RE.fullmatch(revision)
        or ".." in revision
        or "//" in revision
        or revision.endswith(("/", ".lock"))
    ):
        return (
            f"`{revision}` is not a valid revision",
            "use a branch, a tag, refs/pr/N or a full 40-character commit",
        )
    return None
