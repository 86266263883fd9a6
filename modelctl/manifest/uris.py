"""The grammar of source URIs, destinations and revisions, shared by the manifest and the sources.

Checks return `None` when the value is fine, else `(problem, fix)`, so callers can attach the
file and line. Validating names before building URLs matters: a `..` in a path once sent a Hub token
to another repository's URL (huggingface_hub PR #4916).

The grammar is written once, as regular expressions (`Rule`s and pattern bodies) that `check_*`
run and `manifest.schema` copies into the JSON Schema. So each is written in the part of the
dialect that Python's `re` and ECMA-262 (the dialect of JSON Schema's `pattern`) read alike: no
`(?P<name>)`, no `\\Z`, `END` instead of `$` (Python's `$` also matches before a final newline),
`\\{` rather than a bare `{`. tests/manifest/test_schema.py runs every pattern of the schema
through both engines (ECMA-262 by node, where it is installed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

END = r"(?![\s\S])"  # the end of the value, in both dialects

Problem = tuple[str, str] | None


def whole(body: str) -> str:
    """A pattern that matches a value when `body` matches all of it."""
    return f"^(?:{body}){END}"


@dataclass(frozen=True)
class Rule:
    """One way a value can be wrong: `bad` matches, from its start, every value with the problem.

    `problem` and `fix` may name `{what}` (the kind of value); `fix` may also name `{value}`.
    `on_template` is False for the rules that an `{axis}` placeholder can flip (see
    `manifest.schema`): those hold for a template only when it holds no placeholder.
    """

    bad: str
    problem: str
    fix: str
    on_template: bool = True

    def find(self, value: str, what: str = "") -> Problem:
        if re.match(self.bad, value) is None:
            return None
        return self.problem.format(what=what), self.fix.format(what=what, value=value)


def first_problem(rules: Iterable[Rule], value: str, what: str = "") -> Problem:
    """The first rule, in order, that `value` breaks."""
    for rule in rules:
        problem = rule.find(value, what)
        if problem:
            return problem
    return None


REPO_PART = r"(?![^/]*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,95}"  # an hf owner or repository name
REPO_PART_RE = re.compile(whole(REPO_PART))
HEX40_RE = re.compile(r"^[0-9a-f]{40}$")  # a git commit (or blob sha1)
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")  # a sha256, as the Hub and our receipts write it
# A branch, tag, `refs/pr/N` or full 40-hex commit: no `..` or `//`, not ending in `/` or `.lock`.
REF = (
    rf"(?![\s\S]*(?:\.\.|//))(?![\s\S]*(?:/|\.lock){END})"
    r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}"
)
REF_RE = re.compile(whole(REF))
REVISION_SEP = "@"  # hf://owner/repo/path@revision

_CONTROL = r"[\x00-\x1f\x7f]"
_SEGMENT_END = rf"(?:/|{END})"

# Relative paths inside the models dir (a dest, the file path of an hf:// URI). Of the last two
# rules, the first `..`, empty or `.` segment decides which one reports.
RELPATH_RULES = (
    Rule(END, "the {what} is empty", "name a file"),
    Rule(r"[^\\]*\\", "the {what} contains a backslash", "use forward slashes"),
    Rule(
        "/",
        "the {what} is absolute",
        "make it relative to the models dir, e.g. vae/ae.safetensors",
    ),
    Rule(rf"[\s\S]*?{_CONTROL}", "the {what} contains control characters", "rename it"),
    Rule(
        rf"(?:(?!\.\.?{_SEGMENT_END})[^/]+/)*\.\.{_SEGMENT_END}",
        "the {what} contains `..`",
        "keep it inside the models dir",
    ),
    Rule(
        rf"(?:[^/]*/)*\.?{_SEGMENT_END}",
        "the {what} has an empty or `.` segment",
        "remove the extra slash or `./`",
    ),
)

MAX_DEST = 1024
DEST_RULES = (
    *RELPATH_RULES,
    Rule(
        rf"[\s\S]{{{MAX_DEST + 1}}}",
        f"the {{what}} is over {MAX_DEST} characters",
        "shorten it",
        on_template=False,  # `{quant}` may stand for a longer or a shorter value
    ),
    # `.modelctl/` holds our own state
    Rule(r"\.", "the {what} starts with a hidden folder", "use a ComfyUI folder such as vae/"),
    Rule(
        rf"[^/]*{END}",
        "the {what} has no folder",
        "put it in a ComfyUI folder, e.g. vae/{value}",
    ),
)

SCHEMES = ("hf", "https", "file")
SOURCE_RULES = (
    Rule(
        rf"[\s\S]*?(?:{_CONTROL}| )",
        "contains spaces or control characters",
        "percent-encode them or rename the file",
    ),
)

# https:// URLs, as urllib.parse.urlsplit splits them: the authority runs to the first `/`, `?` or
# `#`; its user info is what precedes its last `@`, its host what follows, up to a `:` (or inside
# `[...]`); the path runs from the authority to the first `?` or `#`.
_AUTHORITY_END = r"(?![^/?#])"
_AUTHORITY = rf"https://[^/?#]*{_AUTHORITY_END}"
HTTPS_RULES = (
    Rule(
        # a user name or password: user info other than empty or a lone `:`
        rf"https://(?!:?@[^@/?#]*{_AUTHORITY_END})[^/?#]*@",
        "credentials in the URL",
        "remove user:password@; tokens come from the environment",
    ),
    Rule(
        rf"https://(?:[^/?#]*@)?(?![^/?#]*@)"
        rf"(?:[^\[/?#]*\[(?:\]|{_AUTHORITY_END})|(?![^/?#]*\[)(?::|{_AUTHORITY_END}))",
        "the URL has no host",
        "write https://host/path",
    ),
    Rule(
        rf"{_AUTHORITY}(?:[^?#]*/)?(?:[?#]|{END})",
        "the URL does not name a file",
        "point it at the file itself",
    ),
    Rule(
        rf"{_AUTHORITY}(?:/[^/?#]*)*/\.\.(?:[/?#]|{END})",
        "the URL path contains `..`",
        "write the path without `..`",
    ),
)
FILE_RULES = (
    Rule(
        rf"file://{END}",
        "file:// needs a path",
        "write file:///absolute/path or file://relative/path",
    ),
)


def hf_pattern(owner: str = r"[^/]*", repo: str = r"[^/]*", path: str = r"[\s\S]+") -> str:
    """`hf://[datasets/]owner/repo/path`, with the given patterns for the parts.

    Groups: 1 `datasets/` (or None), 2 owner, 3 repo, 4 path; the part patterns add none.
    """
    return rf"hf://(?:(datasets/)|(?!datasets/))({owner})/({repo})/({path})"


_HF_RE = re.compile(hf_pattern() + END)


@dataclass(frozen=True)
class HfRef:
    """`hf://[datasets/]owner/repo/path[@revision]` split into its parts."""

    repo_id: str
    path: str
    revision: str | None = None
    repo_type: str = "model"

    def uri(self) -> str:
        prefix = "datasets/" if self.repo_type == "dataset" else ""
        rev = f"{REVISION_SEP}{self.revision}" if self.revision else ""
        return f"hf://{prefix}{self.repo_id}/{self.path}{rev}"


def parse_hf(uri: str, allow_revision: bool = True) -> HfRef:
    """Split an hf:// URI; raises ValueError with a readable reason."""
    if not uri.startswith("hf://"):
        raise ValueError("an hf:// URI must start with hf://")
    match = _HF_RE.match(uri)
    if not match:
        raise ValueError("expected hf://owner/repo/path/to/file")
    datasets, owner, repo, path = match.groups()
    revision = None
    if REVISION_SEP in path:
        if not allow_revision:
            raise ValueError("put the revision in the `revision:` field, not after '@'")
        path, revision = path.rsplit(REVISION_SEP, 1)
        problem = check_revision(revision)
        if problem:
            raise ValueError(problem[0])
    for part in (owner, repo):
        if not REPO_PART_RE.fullmatch(part):
            raise ValueError(f"`{owner}/{repo}` is not a valid repository id")
    problem = first_problem(RELPATH_RULES, path, "file path")
    if problem:
        raise ValueError(problem[0])
    return HfRef(f"{owner}/{repo}", path, revision, "dataset" if datasets else "model")


def check_source(source: str) -> Problem:
    """Is `source` an hf://, https:// or file:// URI we can fetch safely?"""
    problem = first_problem(SOURCE_RULES, source)
    if problem:
        return problem
    scheme = source.split("://", 1)[0] if "://" in source else ""
    if scheme == "hf":
        try:
            parse_hf(source, allow_revision=False)
        except ValueError as exc:
            return str(exc), "write hf://owner/repo/path/to/file"
        return None
    if scheme == "https":
        try:
            urlsplit(source)
        except ValueError:  # an unbalanced `[` (IPv6 host): urllib refuses to split it
            return "the URL is not valid", "write https://host/path"
        return first_problem(HTTPS_RULES, source)
    if scheme == "file":
        return first_problem(FILE_RULES, source)
    if scheme == "http":
        return "plain http is not allowed", "use https://"
    known = [f"{name}://" for name in SCHEMES]
    return (
        f"unsupported source scheme `{scheme or source}`",
        f"use {', '.join(known[:-1])} or {known[-1]}",
    )


def check_dest(dest: str) -> Problem:
    """Is `dest` a safe path relative to the models dir, outside modelctl's own `.modelctl/`?"""
    return first_problem(DEST_RULES, dest, "destination")


def check_revision(revision: str) -> Problem:
    """A branch, tag, `refs/pr/N` or a full 40-hex commit (which `REF` also matches)."""
    if REF_RE.fullmatch(revision):
        return None
    return (
        f"`{revision}` is not a valid revision",
        "use a branch, a tag, refs/pr/N or a full 40-character commit",
    )
