"""`https://` URLs -> RemoteFile. The manifest must pin the sha256 (unless `--allow-unverified`).

A plain URL has no trustworthy metadata, so the manifest's sha256 is the only proof of identity.
One HEAD learns the size for the disk-space plan (a server that refuses HEAD just leaves it
unknown; 401/403/404 fail here, before any download). The Hub token is attached only when the URL
is the Hub endpoint itself over https (any other host would receive it), and dropped on any
redirect to another host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from modelctl.errors import BadInput, SourceError
from modelctl.manifest.model import ResolvedAsset
from modelctl.redact import redact
from modelctl.transfer.http import NETWORK_OR_REDIRECT, HttpStatusError, Pool
from modelctl.transfer.remote import RemoteFile
from modelctl.units import decimal


def require_pin(asset: ResolvedAsset, allow_unverified: bool) -> None:
    if not asset.sha256 and not allow_unverified:
        raise BadInput(
            f"asset `{asset.id}` ({redact(asset.source)}) has no sha256 to verify it against",
            "add `sha256:` to the asset (modelctl lock can fill it), or pass --allow-unverified",
        )


def hub_headers(url: str) -> dict[str, str]:
    """The Hub token, only when `url` is on the configured Hub endpoint over https."""
    import os

    ep = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    a, b = urlsplit(url), urlsplit(ep)
    if a.scheme == "https" and (a.hostname, a.port) == (b.hostname, b.port):
        from modelctl.sources.hf import auth_headers

        return auth_headers(ep.rstrip("/"))
    return {}


def resolve(
    asset: ResolvedAsset, allow_unverified: bool = False, timeout: float = 10
) -> RemoteFile:
    require_pin(asset, allow_unverified)
    url = asset.source
    headers = hub_headers(url)
    size = asset.size
    if size is None:
        size = _head_size(url, headers, timeout)
    return RemoteFile(
        source=asset.source,
        url=url,
        display=redact(url),
        size=size,
        sha256=asset.sha256.lower() if asset.sha256 else None,
        headers=headers,
    )


def _head_size(url: str, headers: dict[str, str], timeout: float) -> int | None:
    pool = Pool(timeout, timeout)
    try:
        resp = pool.request(url, headers, method="HEAD")
        resp.close()
    except HttpStatusError as exc:
        if exc.status in (401, 403, 404, 410):
            raise SourceError(
                f"{redact(url)}: HTTP {exc.status}",
                "check the URL; a file that needs a login cannot be fetched with a plain URL"
                if exc.status != 404
                else "the URL names no file; check it in the manifest",
            ) from None
        return None
    except NETWORK_OR_REDIRECT:
        return None
    finally:
        pool.close()
    length = resp.headers.get("content-length", "")
    return decimal(length) if "content-encoding" not in resp.headers else None
