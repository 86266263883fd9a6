"""`redact`: tokens, Authorization values, URL credentials and signed query strings never print."""

from __future__ import annotations

import pytest

from modelctl.redact import redact


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("GET https://cdn.example/x.gguf?X-Amz-Signature=abc123&Expires=9", "abc123",
         "https://cdn.example/x.gguf?<redacted>"),
        ("proxy http://user:s3cret@proxy.local:3128 refused", "s3cret", "http://proxy.local:3128"),
        ("proxy socks5://user:pw9x@127.0.0.1:1080: no", "pw9x", "socks5://127.0.0.1:1080:"),
        ("authorization: Bearer hf_abcdefghijkl", "hf_abcdefghijkl", "authorization: Bearer "),
        ("Proxy-Authorization: Basic dXNlcjpwdw==", "dXNlcjpwdw==", "Proxy-Authorization: Basic "),
        ("{'authorization': 'hf_zzzzzzzzzzzz'}", "hf_zzzzzzzzzzzz", "'authorization': '"),
        ("token hf_AbCdEfGh12345678 leaked", "hf_AbCdEfGh12345678", "token hf_<redacted>"),
        ("odd http://[::1:80/x?sig=1", "sig=1", "http://<redacted>"),
    ],
)  # fmt: skip
def test_secrets_are_removed_and_the_rest_kept(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert kept in out


def test_urls_without_secrets_are_untouched() -> None:
    text = "hf://org/repo/model.gguf from https://huggingface.co/org/repo and file:///m/a.bin"
    assert redact(text) == text


def test_the_environment_token_is_removed_whatever_its_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "custom-token-value")
    assert redact("sent custom-token-value upstream") == "sent <redacted> upstream"
