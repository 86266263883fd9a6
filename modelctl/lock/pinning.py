"""Resolving a selection's assets to pins (commit, sha256, size) without downloading weights.

For hf:// assets the Hub's metadata API gives everything for LFS files: the revision resolves to
a commit (`HfApi.repo_info`), then one `get_paths_info` call per repo and commit returns each
file's size and LFS sha256 (an LFS file's etag is its sha256: huggingface_hub
src/huggingface_hub/_local_folder.py @ v2.4.0, LocalDownloadFileMetadata). Small non-LFS files
(configs, tokenizers; the Hub caps them at 10 MiB) only carry a git blob sha1, so those few are
fetched and hashed, and the bytes are checked against the blob sha1 before their sha256 is trusted.

https:// assets must already carry a sha256 in the manifest (nothing upstream vouches for the
bytes); file:// assets without one are hashed where they lie. All Hub calls go through
huggingface_hub (HF_ENDPOINT, HF_TOKEN, proxies, offline mode), imported only here, and through
`sources.hf.ask_hub`: retried as `transfer.retry` says (408/425/429/5xx, network errors), their
errors worded by the one mapping of Hub errors, `sources.hf.map_error`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from modelctl.errors import BadInput, SourceError
from modelctl.manifest.model import ResolvedAsset
from modelctl.manifest.uris import HEX40_RE, HfRef, parse_hf
from modelctl.plan.lockfile import LockEntry
from modelctl.redact import redact

if TYPE_CHECKING:
    from modelctl.transfer.retry import RetryPolicy

SMALL_FILE_LIMIT = 64 << 20  # a non-LFS file larger than this is not a Hub file we will fetch


def pin_assets(assets: Iterable[ResolvedAsset]) -> list[LockEntry]:
    """One LockEntry per distinct (source, revision) of `assets`, in first-seen order."""
    unique: dict[tuple[str, str | None], ResolvedAsset] = {}
    for asset in assets:
        unique.setdefault((asset.source, asset.revision), asset)
    unpinnable = [
        a for a in unique.values() if a.scheme not in ("hf", "file") and not a.sha256
    ]  # https and anything else
    if unpinnable:
        ids = ", ".join(f"`{a.id}` ({redact(a.source)})" for a in unpinnable)
        raise BadInput(
            f"cannot lock {ids}: an https asset needs a sha256 in the manifest",
            "add `sha256:` (and `size:`) to the asset; the lock can only pin what is known",
        )
    pins: dict[tuple[str, str | None], LockEntry] = {}
    hf = [a for a in unique.values() if a.scheme == "hf"]
    for entry in _pin_hf(hf):
        pins[entry.key] = entry
    for asset in unique.values():
        if asset.scheme == "file":
            pins[(asset.source, asset.revision)] = _pin_file(asset)
        elif asset.scheme != "hf":
            assert asset.sha256 is not None  # `unpinnable` above refused the ones without
            pins[(asset.source, asset.revision)] = LockEntry(
                asset.source, asset.revision, asset.sha256.lower(), asset.size, None, asset.id
            )
    return [pins[k] for k in unique]


def _pin_file(asset: ResolvedAsset) -> LockEntry:
    path = Path(unquote(urlsplit(asset.source).path))
    if asset.sha256:
        return LockEntry(asset.source, None, asset.sha256.lower(), asset.size, None, asset.id)
    from modelctl.store.hashing import hash_file

    try:
        digest = hash_file(path, xxh3=False)
    except OSError as exc:
        raise SourceError(
            f"cannot read {path} for asset `{asset.id}`: {exc.strerror}",
            "check the file:// path in the manifest and that the file is readable",
        ) from None
    return LockEntry(asset.source, None, digest.sha256 or "", digest.size, None, asset.id)


def _pin_hf(assets: list[ResolvedAsset]) -> list[LockEntry]:
    """Group by repo and revision: one repo_info + one paths-info call per group."""
    if not assets:
        return []
    from huggingface_hub import constants

    from modelctl.redact import install_log_filter
    from modelctl.sources.hf import hub_token
    from modelctl.transfer.retry import RetryPolicy

    install_log_filter()
    if constants.HF_HUB_OFFLINE:
        raise SourceError(
            "lock needs the Hub's file metadata, but offline mode is on (HF_HUB_OFFLINE)",
            "unset HF_HUB_OFFLINE to lock, or pin sha256 and size in the manifest",
        )
    hub_token()  # HfApi reads the same token: one no HTTP header can carry is exit 2 here
    retry = RetryPolicy.from_env()
    groups: dict[tuple[str, str, str | None], list[tuple[ResolvedAsset, str]]] = {}
    for asset in assets:
        ref = parse_hf(asset.source, allow_revision=False)
        groups.setdefault((ref.repo_type, ref.repo_id, asset.revision), []).append(
            (asset, ref.path)
        )
    out = []
    for (repo_type, repo_id, revision), members in groups.items():
        out.extend(_pin_group(repo_type, repo_id, revision, members, retry))
    return out


def _pin_group(
    repo_type: str,
    repo_id: str,
    revision: str | None,
    members: list[tuple[ResolvedAsset, str]],
    retry: RetryPolicy,
) -> list[LockEntry]:
    from huggingface_hub import HfApi, RepoFile

    from modelctl.sources.hf import ask_hub

    api = HfApi()
    label = f"{repo_id}@{revision or 'main'}"
    repo = HfRef(repo_id, "", revision, repo_type)  # the question is about the repo, not a file
    commit: str | None
    if revision and HEX40_RE.fullmatch(revision):
        commit = revision
    else:
        commit = ask_hub(
            lambda: api.repo_info(repo_id, revision=revision, repo_type=repo_type).sha, repo, retry
        )
    if not commit or not HEX40_RE.fullmatch(commit):
        raise SourceError(
            f"the Hub gave no commit for {label}",
            "is HF_ENDPOINT a Hugging Face Hub or a mirror that speaks its protocol?",
        )
    paths = sorted({path for _, path in members})
    listed = ask_hub(
        lambda: api.get_paths_info(repo_id, paths, revision=commit, repo_type=repo_type),
        repo,
        retry,
    )
    infos = {info.path: info for info in listed}
    out = []
    for asset, path in members:
        info = infos.get(path)
        if not isinstance(info, RepoFile):  # absent, or a folder of that name
            raise SourceError(
                f"{path} does not exist in {repo_id} at commit {commit[:12]} (asset `{asset.id}`)",
                "check the file name and the revision in the manifest",
            )
        if info.lfs is not None:
            sha256, size = info.lfs.sha256, info.lfs.size
        else:
            sha256, size = _hash_small(repo_type, repo_id, commit, path, info, retry)
        if asset.sha256 and asset.sha256.lower() != sha256:
            raise SourceError(
                f"asset `{asset.id}`: the manifest pins sha256 {asset.sha256[:12]}…, but "
                f"{repo_id}/{path} at {commit[:12]} has {sha256[:12]}…",
                "the upstream file changed or the manifest is wrong; fix the manifest's sha256 "
                "or pin `revision:` to the commit you meant",
            )
        out.append(LockEntry(asset.source, asset.revision, sha256, size, commit, asset.id))
    return out


def _hash_small(
    repo_type: str, repo_id: str, commit: str, path: str, info: Any, retry: RetryPolicy
) -> tuple[str, int]:
    """sha256 of a small git (non-LFS) file, fetched and checked against its git blob sha1."""
    from huggingface_hub import constants, hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    from modelctl.sources.hf import ask_hub

    if info.size > SMALL_FILE_LIMIT:
        raise SourceError(
            f"{repo_id}/{path} is {info.size} bytes but has no LFS sha256",
            "pin `sha256:` in the manifest yourself (`sha256sum` of a checked copy)",
        )
    url = hf_hub_url(repo_id, path, repo_type=repo_type, revision=commit)
    headers = build_hf_headers()
    headers["Accept-Encoding"] = "identity"

    def get() -> Any:
        response = get_session().get(
            url, headers=headers, follow_redirects=True, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT
        )
        hf_raise_for_status(response)
        return response.content

    data = ask_hub(get, HfRef(repo_id, path, commit, repo_type), retry)
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    if len(data) != info.size or (info.blob_id and blob != info.blob_id):
        raise SourceError(
            f"{repo_id}/{path} at {commit[:12]}: the bytes served do not match the Hub's git "
            "blob id", "retry later; a proxy or mirror may be serving stale content"
        )  # fmt: skip
    return hashlib.sha256(data).hexdigest(), len(data)
