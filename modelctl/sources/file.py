"""`file://` sources: a local mirror folder (another disk, an NFS export, a pre-seeded cache).

The file is copied into a partial and verified like a download (the sha256 must be pinned unless
`--allow-unverified`): a mirror can hold a truncated or stale copy as easily as a server. A relative
`file://` path is read relative to the manifest's folder, so a manifest and its mirror can travel
together; an absolute path is `file:///abs/path`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, unquote

from modelctl.errors import SourceError
from modelctl.manifest.model import ResolvedAsset
from modelctl.sources.https import require_pin
from modelctl.transfer.remote import RemoteFile


def local_path(source: str, base: Path | None) -> Path:
    raw = unquote(source[len("file://") :])
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path.absolute()


def resolve(asset: ResolvedAsset, base: Path | None, allow_unverified: bool = False) -> RemoteFile:
    require_pin(asset, allow_unverified)
    path = local_path(asset.source, base)
    try:
        st = path.stat()
    except OSError as exc:
        raise SourceError(
            f"{asset.source}: {exc.strerror} ({path})",
            "check the file:// path and the mirror mount",
        ) from None
    if not path.is_file():
        raise SourceError(
            f"{asset.source}: {path} is not a file", "point file:// at the file itself"
        )
    if asset.size is not None and st.st_size != asset.size:
        raise SourceError(
            f"{asset.source}: the mirror's file has {st.st_size} bytes, "
            f"the manifest says {asset.size}",
            "the mirror holds another version of the file; refresh it or fix the manifest",
        )
    return RemoteFile(
        source=asset.source,
        url="file://" + quote(str(path)),
        display=str(path),
        size=st.st_size,
        sha256=asset.sha256.lower() if asset.sha256 else None,
    )
