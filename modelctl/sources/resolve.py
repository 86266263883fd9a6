"""Dispatch an asset's source to its resolver (`hf`, `https`, `file`) -> RemoteFile.

Each resolver makes at most one metadata request (hf: HEAD through huggingface_hub; https: HEAD for
the size; file: a stat), never downloads, and raises `SourceError`/`BadInput` with an actionable
message. Modules are imported on use so `ensure` with nothing to do imports none of them.
"""

from __future__ import annotations

from pathlib import Path

from modelctl.errors import BadInput
from modelctl.manifest.model import ResolvedAsset
from modelctl.transfer.remote import RemoteFile
from modelctl.transfer.retry import RetryPolicy


def resolve(
    asset: ResolvedAsset,
    base: Path | None = None,
    allow_unverified: bool = False,
    retry: RetryPolicy | None = None,
    timeout: float = 10,
) -> RemoteFile:
    """Where and what to fetch for `asset` (`base`: the manifest's folder, for relative file://)."""
    scheme = asset.scheme
    if scheme == "hf":
        from modelctl.sources import hf

        return hf.resolve(asset, retry, timeout)
    if scheme == "https":
        from modelctl.sources import https

        return https.resolve(asset, allow_unverified, timeout)
    if scheme == "file":
        from modelctl.sources import file

        return file.resolve(asset, base, allow_unverified)
    raise BadInput(
        f"asset `{asset.id}`: unsupported source scheme `{scheme}`",
        "use hf://, https:// or file://",
    )


def is_network(asset: ResolvedAsset) -> bool:
    return asset.scheme in ("hf", "https")
