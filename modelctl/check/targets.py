"""Identify a path, `hf://` URI or `https://` URL: open its bytes, then ask `modelctl.identify`.

The opening is what makes this a use-case module rather than part of `identify`: remote files are
read through `modelctl.sources.remote` with HTTP Range requests that grow only as far as the header
needs; local paths are checked for the usual mistakes (missing, a folder, unreadable) first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelctl.errors import BadInput, SourceError
from modelctl.formats.model import Header
from modelctl.formats.read import read_header
from modelctl.formats.source import FileSource
from modelctl.identify import identify_header
from modelctl.identify.model import Identity
from modelctl.redact import redact


@dataclass
class Inspection:
    """The header info behind an Identity: parsed header, where it came from, bytes read."""

    target: str
    display: str
    header: Header
    size: int
    bytes_fetched: int | None = None
    commit: str | None = None
    url: str | None = None


def identify_target(
    target: str, *, token: str | None = None, endpoint: str | None = None
) -> tuple[Identity, Inspection]:
    """Identify a path, `hf://owner/repo/path[@rev]` or `https://` URL from its header.

    Remote files are read with HTTP Range requests that grow only as far as the header needs.
    `token` defaults to HF_TOKEN and is only ever sent to the Hub host. With HF_HUB_OFFLINE set no
    remote file is read (huggingface_hub refuses hf:// itself; https:// is refused here), as
    `pull` treats HF_HUB_OFFLINE as `--offline` for every source.
    """
    if target.startswith(("hf://", "https://", "http://")):
        from huggingface_hub import constants

        from modelctl.sources.remote import open_remote

        if constants.HF_HUB_OFFLINE and not target.startswith("hf://"):
            raise SourceError(
                f"HF_HUB_OFFLINE is set: cannot read {redact(target)} over the network",
                "unset HF_HUB_OFFLINE (or set it to 0), or give the path of a local copy",
            )

        with open_remote(target, token=token, endpoint=endpoint) as remote:
            header = read_header(remote)
            name = remote.filename
            inspection = Inspection(
                target, remote.name, header, remote.size, remote.bytes_fetched,
                remote.commit, remote.display_url,
            )  # fmt: skip
        return identify_header(header, filename=name), inspection
    path = Path(target.removeprefix("file://"))
    _check_local(path)
    with FileSource(path) as src:
        header = read_header(src)
    inspection = Inspection(target, str(path), header, header.size)
    return identify_header(header, filename=path.name), inspection


def _check_local(path: Path) -> None:
    if not path.exists():
        raise BadInput(f"{path}: no such file", "check the path, or use hf://owner/repo/file")
    if path.is_dir():
        raise BadInput(f"{path} is a directory", "name a model file inside it")
    if not os.access(path, os.R_OK):
        raise BadInput(f"{path}: permission denied", "check the file's permissions")
