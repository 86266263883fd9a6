"""`modelctl pull` behind a proxy and over TLS (HTTPS_PROXY, a private CA): the real CLI in a subprocess, the
real huggingface_hub, the test hub over http or https (trustme certificates) and a loopback proxy
that may demand credentials. Proxy passwords and tokens never appear in any output."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from tests.helpers.cli import Result, run_cli
from tests.helpers.hub import TestHub
from tests.helpers.proxy import TestProxy

PASSWORD = "pw-" + secrets.token_hex(8)
TOKEN = "hf_" + secrets.token_hex(16)


def stack(tmp: Path, hub: TestHub) -> tuple[Path, bytes]:
    data = os.urandom(2_000_000)
    hub.add_file("org/models", "unet/model.gguf", data)
    path = tmp / "stack.yaml"
    path.write_text(
        "schema: 1\nname: t\ndescription: proxy test\nassets:\n  - id: a\n    role: other\n"
        "    source: hf://org/models/unet/model.gguf\n    dest: unet/model.gguf\n"
    )
    return path, data


def pull(hub: TestHub, tmp: Path, man: Path, **env: str) -> Result:
    hub.add_token(TOKEN)
    full = hub.env(tmp, token=TOKEN, NO_PROXY="", no_proxy="", **env)
    r = run_cli("pull", str(man), "--models-dir", str(tmp / "models"), "--no-check", env=full)
    for secret in (PASSWORD, TOKEN):
        assert secret not in r.out + r.err
    return r


def placed(tmp: Path, data: bytes) -> bool:
    path = tmp / "models" / "unet" / "model.gguf"
    return (
        path.is_file()
        and hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()
    )


def test_pull_through_a_proxy_that_wants_credentials(hub: TestHub, tmp_path: Path) -> None:
    man, data = stack(tmp_path, hub)
    with TestProxy("user", PASSWORD) as proxy:
        url = proxy.url("user", PASSWORD)
        r = pull(hub, tmp_path, man, HTTP_PROXY=url, HTTPS_PROXY=url)
    assert r.code == 0, r.err
    assert placed(tmp_path, data)
    seen = {(m, t.split("?")[0].split("/", 3)[2]) for m, t, ok in proxy.log if ok}
    hub_host, cdn_host = hub.endpoint.split("/")[2], hub.cdn_endpoint.split("/")[2]
    assert ("HEAD", hub_host) in seen  # the metadata
    assert ("GET", cdn_host) in seen  # the bytes, after the redirect
    assert all(ok for _, _, ok in proxy.log)


def test_a_proxy_refusing_the_credentials_fails_with_a_hint(hub: TestHub, tmp_path: Path) -> None:
    man, _ = stack(tmp_path, hub)
    with TestProxy("user", PASSWORD) as proxy:
        url = proxy.url("user", "wrong")
        r = pull(hub, tmp_path, man, HTTP_PROXY=url, HTTPS_PROXY=url)
    assert r.code == 3
    assert "HTTP 407" in r.err and "user:password@host:port" in r.err
    assert not (tmp_path / "models" / "unet" / "model.gguf").exists()


def test_pull_over_https_through_a_connect_tunnel(
    tls_hub: TestHub, ca: Any, tmp_path: Path
) -> None:
    man, data = stack(tmp_path, tls_hub)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with TestProxy("user", PASSWORD) as proxy:
        url = proxy.url("user", PASSWORD)
        r = pull(tls_hub, tmp_path, man, HTTPS_PROXY=url, SSL_CERT_FILE=str(tmp_path / "ca.pem"))
    assert r.code == 0, r.err
    assert placed(tmp_path, data)
    assert proxy.log and all(m == "CONNECT" and ok for m, _, ok in proxy.log)


def test_an_untrusted_certificate_fails_at_once_naming_ssl_cert_file(
    tls_hub: TestHub, tmp_path: Path
) -> None:
    import trustme

    man, _ = stack(tmp_path, tls_hub)
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))  # trusts someone else
    tls_hub.clear_log()
    r = pull(tls_hub, tmp_path, man, SSL_CERT_FILE=str(tmp_path / "other-ca.pem"))
    assert r.code == 3
    assert "certificate is not trusted" in r.err and "SSL_CERT_FILE" in r.err
    assert len(r.err.strip().splitlines()) == 2  # one error line and its hint
    assert tls_hub.requests() == []  # no handshake got through


def test_a_ca_file_that_does_not_exist_is_bad_input(tls_hub: TestHub, tmp_path: Path) -> None:
    man, _ = stack(tmp_path, tls_hub)
    r = pull(tls_hub, tmp_path, man, SSL_CERT_FILE=str(tmp_path / "typo.pem"))
    assert r.code == 2
    assert r.err.startswith(f"error: SSL_CERT_FILE={tmp_path / 'typo.pem'} does not exist")
