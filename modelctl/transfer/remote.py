"""What the transfer layer fetches: a `RemoteFile`: a URL, the headers it may get, what to expect.

Every source (`modelctl.sources`: hf, https, file) resolves to one from metadata only (commit,
sha256, size, the URL to GET). It is defined here, with the layer that consumes it, so that
`transfer` needs nothing from `sources` (as Ollama's `server/download.go` takes a URL, a digest and
a path); the remote header reader in `sources.remote` starts from it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteFile:
    """A file ready to fetch.

    `url` is what to GET (for hf:// the `/resolve/` URL; the CDN redirect is followed at transfer
    time). `headers` carries `authorization` only when the URL's host may receive the token; a
    client must drop it on any redirect to another host or scheme. `sha256` is the expected hash
    (manifest pin, else the Hub's LFS sha256), `None` when unknown. `display` is a redacted
    human label (never a signed URL).
    """

    source: str
    url: str
    display: str
    size: int | None = None
    sha256: str | None = None
    commit: str | None = None
    etag: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
