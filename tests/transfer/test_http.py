"""`transfer.http.Pool` through proxies and TLS: a real loopback proxy, a real https test hub
(certificates from trustme), the environment variables users set (HTTPS_PROXY, NO_PROXY,
SSL_CERT_FILE); and what the client makes of what a server sends: Content-Range, and a
redirect's Location (`redirect_target`, `split_url`)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
import trustme

from modelctl.errors import BadInput
from modelctl.transfer.http import (
    ContentRange,
    Pool,
    RedirectError,
    content_range,
    proxy_for,
    redirect_target,
    split_url,
)
from tests.helpers.hub import TestHub
from tests.helpers.proxy import TestProxy

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    return path


def get(url: str) -> tuple[int, bytes]:
    pool = Pool(connect_timeout=5, read_timeout=5)
    try:
        resp = pool.request(url, {})
        return resp.status, resp.raw.read()
    finally:
        pool.close()


def test_plain_http_goes_through_the_proxy_with_its_credentials(
    hub: TestHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(300_000)
    hub.add_file("org/m", "model.gguf", data)
    url = f"{hub.endpoint}/org/m/resolve/main/model.gguf"
    with TestProxy("user", "s3cret:/@") as proxy:
        monkeypatch.setenv("http_proxy", proxy.url("user", "s3cret%3A%2F%40"))
        assert get(url) == (200, data)
    methods = [(m, t.split("?")[0], ok) for m, t, ok in proxy.log]
    assert ("GET", url, True) in methods  # the Hub's resolve URL, in absolute form
    assert any(t.startswith(hub.cdn_endpoint) and ok for _, t, ok in proxy.log)  # the redirect


def test_no_proxy_and_lower_case_first(hub: TestHub, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.add_file("org/m", "a.json", b"{}")
    with TestProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        assert get(f"{hub.endpoint}/org/m/resolve/main/a.json") == (200, b"{}")
        assert proxy.log == []
        assert proxy_for("http", "example.org") == proxy.url()
        monkeypatch.setenv("no_proxy", "example.org")  # lower case wins, as in urllib and httpx
        assert proxy_for("http", "example.org") is None
        assert proxy_for("http", "127.0.0.1") == proxy.url()


def test_https_goes_through_a_connect_tunnel(
    tls_hub: TestHub, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(200_000)
    tls_hub.add_file("org/m", "model.safetensors", data)
    with TestProxy("u", "p") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url("u", "p"))
        assert get(f"{tls_hub.endpoint}/org/m/resolve/main/model.safetensors") == (200, data)
    hub_port, cdn_port = tls_hub.endpoint.rsplit(":", 1)[1], tls_hub.cdn_endpoint.rsplit(":", 1)[1]
    assert ("CONNECT", f"127.0.0.1:{hub_port}", True) in proxy.log
    assert ("CONNECT", f"127.0.0.1:{cdn_port}", True) in proxy.log
    assert all(m == "CONNECT" for m, _, _ in proxy.log)  # nothing in clear text


def test_a_tunnel_refused_for_credentials_is_an_os_error(
    tls_hub: TestHub, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls_hub.add_file("org/m", "a.json", b"{}")
    with TestProxy("u", "right") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url("u", "wrong"))
        with pytest.raises(OSError, match="Tunnel connection failed: 407"):
            get(f"{tls_hub.endpoint}/org/m/resolve/main/a.json")
    assert proxy.log and not any(ok for _, _, ok in proxy.log)


def test_an_untrusted_certificate_fails_verification(tls_hub: TestHub) -> None:
    tls_hub.add_file("org/m", "a.json", b"{}")
    with pytest.raises(ssl.SSLCertVerificationError):
        get(f"{tls_hub.endpoint}/org/m/resolve/main/a.json")


def test_a_socks_proxy_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://user:pw@127.0.0.1:1080")
    with pytest.raises(BadInput) as err:
        get("https://example.invalid/x")
    assert "only http:// proxies" in err.value.message
    assert "pw" not in err.value.message


# ---------------------------------------------------------------------- Content-Range


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("bytes 0-99/100", ContentRange(0, 99, 100)),
        ("bytes 5-9/*", ContentRange(5, 9, None)),
        ("BYTES  5-9/10", ContentRange(5, 9, 10)),  # the unit is case-insensitive
        ("bytes */100", ContentRange(None, None, 100)),  # a 416's
        (" bytes 0-0/1 ", ContentRange(0, 0, 1)),
    ],
)
def test_content_range_as_rfc_9110_section_14_4_writes_it(value: str, parsed: ContentRange) -> None:
    assert content_range(value) == parsed


@pytest.mark.parametrize(
    "value",
    [None, "", "bytes", "bytes garbage", "bytes 9-5/10", "bytes 0-10/10", "bytes */*",
     "items 0-1/2", "bytes -5/10", "bytes 0-5", "bytes 0-5/10, 6-9/10", "bytes 0x1-2/3",
     "bytes 1-2/3 extra"],
)  # fmt: skip
def test_a_content_range_that_is_not_one_is_none(value: str | None) -> None:
    assert content_range(value) is None


# ---------------------------------------------------------------------- redirect targets


BASE = "https://hub.example/org/r/resolve/main/m.gguf"


@pytest.mark.parametrize(
    ("location", "target"),
    [
        ("https://cdn.example/x?sig=1#frag", "https://cdn.example/x?sig=1"),
        ("/other/m.gguf", "https://hub.example/other/m.gguf"),
        ("//cdn.example:8443/x", "https://cdn.example:8443/x"),
        ("/caf\u00c3\u00a9 x/m.gguf", "https://hub.example/caf%C3%A9%20x/m.gguf"),  # UTF-8 bytes
        ("/already%20escaped", "https://hub.example/already%20escaped"),
        ("https://[::1]:8443/x", "https://[::1]:8443/x"),
    ],
)
def test_a_redirect_target_is_a_url_we_can_send(location: str, target: str) -> None:
    assert redirect_target(BASE, location) == target
    split_url(target)  # and it passes the check


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("https://cdn.example:99999/x", "Port out of range"),
        ("https://cdn.example:abc/x", "Port could not be cast"),
        ("https://cdn.example:0/x", "port 0"),
        ("https://[::1/x", "Invalid IPv6 URL"),
        ("https://[::g]/x", "does not appear to be an IPv4 or IPv6 address"),
        ("https://cdn\x01.example/x", "not a valid host name"),
        ("https://-\u00e9\u00e9-.example/x", "not a valid host name"),
        ("ftp://cdn.example/x", "not an http(s) URL with a host"),
        ("http:///x", "not an http(s) URL with a host"),  # https:///x joins as a path
    ],
)
def test_a_redirect_to_what_is_no_url_is_a_redirect_error(location: str, why: str) -> None:
    with pytest.raises(RedirectError, match=r"^redirected to ") as info:
        redirect_target(BASE, location + "?X-Amz-Signature=s3cr3t")
    assert why in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_a_host_name_outside_ascii_goes_out_idna_encoded() -> None:
    got = split_url("https://b\u00fccher.example:8443/p\u00e4th?q=\u00e9")
    assert (got.host, got.port, got.netloc) == ("xn--bcher-kva.example", 8443,
                                                "xn--bcher-kva.example:8443")  # fmt: skip
    assert got.path == "/p%C3%A4th?q=%C3%A9"
    assert split_url("https://user:pw@cdn.example/x").netloc == "cdn.example"  # no userinfo
