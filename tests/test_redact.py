"""`redact`: tokens, Authorization values, URL credentials and signed query strings never print.

Redaction works on text by pattern, so URLs that do not parse (a space, a broken bracket, stray
quotes, non-ASCII), percent-encoded and nested URLs, and secrets outside any URL are covered too.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelctl.redact import REDACTED, is_credential_param, redact

SECRET = "S3cr3tV4lue0123456789"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # AWS SigV4, CloudFront, GCS V4, Azure SAS, Civitai, generic
        (f"GET https://cdn.example/x.gguf?X-Amz-Signature={SECRET}&Expires=9",
         "https://cdn.example/x.gguf?X-Amz-Signature=<redacted>&Expires=9"),
        (f"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={SECRET}"
         f"%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token={SECRET}",
         "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=<redacted>&X-Amz-Security-Token="),
        (f"https://d1.cloudfront.net/m.bin?Expires=1&Policy={SECRET}&Signature={SECRET}"
         f"&Key-Pair-Id={SECRET}", "Expires=1&Policy=<redacted>&Signature=<redacted>&Key-Pair-Id="),
        (f"https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256"
         f"&X-Goog-Credential={SECRET}&X-Goog-Signature={SECRET}",
         "X-Goog-Credential=<redacted>&X-Goog-Signature=<redacted>"),
        (f"https://a.blob.core.windows.net/c/b.safetensors?sv=2022-11-02&se=2024&sp=r&sig={SECRET}",
         "?sv=2022-11-02&se=2024&sp=r&sig=<redacted>"),
        (f"https://civitai.com/api/download/models/1?type=Model&format=SafeTensor&token={SECRET}",
         "?type=Model&format=SafeTensor&token=<redacted>"),
        (f"https://x.example/m?key={SECRET}&api_key={SECRET}&apikey={SECRET}&access_token={SECRET}",
         "key=<redacted>&api_key=<redacted>&apikey=<redacted>&access_token=<redacted>"),
        # case, percent-encoded names (once, twice), an encoded `=`
        (f"https://x/y?x-amz-SIGNATURE={SECRET}&TOKEN={SECRET}", "x-amz-SIGNATURE=<redacted>&TOKEN="),
        (f"https://x/y?x%2Damz%2Dsignature={SECRET}", "x%2Damz%2Dsignature=<redacted>"),
        (f"https://x/y?X%252DAmz%252DSignature={SECRET}", "X%252DAmz%252DSignature=<redacted>"),
        (f"https://x/y?%73ig={SECRET}", "%73ig=<redacted>"),
        (f"https://x/y?sig%3D{SECRET}", "sig%3D<redacted>"),
        # a URL inside another's query, encoded once or twice, or not at all
        (f"https://x/?url=https%3A%2F%2Fcdn%2Fa%3Fsig%3D{SECRET}%26b%3D1",
         "url=https%3A%2F%2Fcdn%2Fa%3Fsig%3D<redacted>%26b%3D1"),
        (f"https://x/?u=https%253A%252F%252Fc%252Fa%253Fsig%253D{SECRET}%2526b",
         "%253Fsig%253D<redacted>%2526b"),
        (f"https://x/?next=https://cdn/a?b=1&sig={SECRET}", "next=https://cdn/a?b=1&sig=<redacted>"),
        # URLs that do not parse: a space (a `Location` header), a broken IPv6 bracket, non-ASCII
        (f"redirect to https://cdn/a b.gguf?Expires=1&Signature={SECRET}&X-Amz-Signature={SECRET}",
         "a b.gguf?Expires=1&Signature=<redacted>&X-Amz-Signature=<redacted>"),
        (f"odd http://[::1:80/x?sig={SECRET}", "http://[::1:80/x?sig=<redacted>"),
        (f"https://ü.example/ä?token={SECRET}&x=ö", "?token=<redacted>&x=ö"),
        (f"'/a b.gguf?Signature={SECRET}' (found at least ' ')", "'/a b.gguf?Signature=<redacted>'"),
        # fragments, matrix parameters, quoted values, Python reprs and JSON objects
        (f"https://x/cb#access_token={SECRET}&state=1", "#access_token=<redacted>&state=1"),
        (f"https://x/p;jsessionid={SECRET}?a=1", "https://x/p;jsessionid=<redacted>"),
        (f"token='{SECRET}' password=\"{SECRET}\"", "token='<redacted>' password=\"<redacted>\""),
        (f"{{'token': '{SECRET}', 'n': 1}}", "{'token': '<redacted>', 'n': 1}"),
        (f'{{"password": "{SECRET}", "api_key": "{SECRET}"}}',
         '{"password": "<redacted>", "api_key": "<redacted>"}'),
        # user info, headers, hf_ tokens
        (f"proxy http://user:{SECRET}@proxy.local:3128 refused", "proxy http://proxy.local:3128"),
        (f"proxy socks5://user:{SECRET}@127.0.0.1:1080: no", "socks5://127.0.0.1:1080: no"),
        (f"https://u:p@{SECRET}@host/x", "https://host/x"),
        (f"authorization: Bearer {SECRET}", "authorization: Bearer <redacted>"),
        (f"Proxy-Authorization: Basic {SECRET}==", "Proxy-Authorization: Basic <redacted>"),
        (f"{{'authorization': '{SECRET}'}}", "'authorization': '<redacted>'"),
        (f"Cookie: {SECRET}", "Cookie: <redacted>"),
        ("token hf_AbCdEfGh12345678 leaked", "token hf_<redacted> leaked"),
        (f"X-Amz-Security-Token: {SECRET}", "X-Amz-Security-Token: <redacted>"),
        (f"x-goog-api-key={SECRET} x-requested-with: kept", "x-goog-api-key=<redacted> x-reque"),
        (f"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{SECRET} end", "jwt <redacted> end"),
    ],
)  # fmt: skip
def test_secrets_are_removed_and_the_rest_kept(text: str, kept: str) -> None:
    out = redact(text)
    assert SECRET not in out and "hf_AbCdEfGh" not in out
    assert kept in out


def test_urls_without_secrets_are_untouched() -> None:
    text = (
        "hf://org/repo/model.gguf@main from https://huggingface.co/org/repo and file:///m/a.bin; "
        "https://civitai.com/api/download/models/9?type=Model&format=SafeTensor&size=pruned "
        "https://huggingface.co/o/r/resolve/main/x.gguf?download=true quant=Q4_K_M sm=8.6"
    )
    assert redact(text) == text


def test_redaction_is_idempotent_and_keeps_json_valid() -> None:
    doc = json.dumps({"u": f"https://x/?sig={SECRET}&a=1", "b": "token=", "c": "x?token="})
    once = redact(doc)
    assert redact(once) == once
    assert json.loads(once)["u"] == "https://x/?sig=<redacted>&a=1"
    assert json.loads(once)["b"] == "token="


@pytest.mark.parametrize(
    "name",
    ["sig", "Signature", "X-Amz-Signature", "x%2Damz%2Dsignature", "X-Goog-Credential", "token",
     "access_token", "__token__", "api_key", "Key-Pair-Id", "Policy", "password", "hdnts", "s",
     "verify", "X-Xet-Signed-Range"],
)  # fmt: skip
def test_credential_parameter_names(name: str) -> None:
    assert is_credential_param(name)


@pytest.mark.parametrize(
    "name", ["type", "format", "size", "fp", "download", "Expires", "se", "revision", "quant"]
)
def test_ordinary_parameter_names(name: str) -> None:
    assert not is_credential_param(name)


@pytest.mark.parametrize("env", ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CIVITAI_API_TOKEN"])
@pytest.mark.parametrize("value", ["custom-token-value", "tok\u00e9n value\n", 'a"b\\c-tok'])
def test_environment_secrets_are_removed_in_every_printed_form(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    """Raw, without its trailing newline (as it is sent), percent-encoded, and JSON-escaped."""
    from urllib.parse import quote

    monkeypatch.setenv(env, value)
    clean = value.strip()
    for form in (value, clean, quote(clean, safe=""), json.dumps(clean)[1:-1]):
        out = redact(f"sent [{form}] upstream")
        assert out == f"sent [{REDACTED}] upstream", (form, out)


@pytest.mark.parametrize(
    ("name", "value"),
    [("HTTPS_PROXY", f"http://me:{SECRET}@proxy:3128"), ("https_proxy", f"me:{SECRET}@proxy:3128"),
     ("ALL_PROXY", f"socks5://me:{SECRET}@proxy:1080")],
)  # fmt: skip
def test_proxy_passwords_are_secrets_also_outside_a_url(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """A scheme-less proxy (`user:pass@host:port`, which urllib accepts) has no `://` before its
    user info; its password is removed as a known value wherever it shows."""
    monkeypatch.setenv(name, value)
    for text in (f"proxy {value} refused", f"password {SECRET} rejected"):
        assert SECRET not in redact(text)


@pytest.mark.parametrize("value", ["true", "null", "test", "1234567"])
def test_a_short_environment_value_is_not_hunted_for(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A 4-character HF_TOKEN (a placeholder) would otherwise turn every `true` of the JSON output
    or `test` of a path into `<redacted>`; the patterns still catch it where it is sent."""
    monkeypatch.setenv("HF_TOKEN", value)
    text = '{"ok": true, "path": "/tmp/test", "n": null, "id": 1234567}'
    assert redact(text) == text
    assert redact(f"authorization: Bearer {value}") == "authorization: Bearer <redacted>"


def test_pathological_text_takes_linear_time() -> None:
    """No pattern backtracks over long runs (a hostile server's error page may be quoted)."""
    for text in ("a" * 200_000, "a." * 100_000, "%41" * 70_000, "%3F" * 70_000, "a=" * 100_000,
                 "://" * 70_000, "'token': '" * 20_000, "&sig=x" * 40_000):  # fmt: skip
        started = time.monotonic()
        redact(text)
        assert time.monotonic() - started < 30  # a guard against quadratic blow-up, not a speed


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["sig", "X-Amz-Signature", "x%2Damz%2Dsignature", "token", "Signature",
                     "X-Goog-Credential", "api_key", "KEY"]),
    st.lists(st.sampled_from([*"abcdefXYZ0189+/-_.~", "%2B", "%2F", "%3D", "%252F"]), min_size=8,
             max_size=40).map("".join),  # base64 and hex, encoded as signatures are
    st.sampled_from(["https://h/p?", "https://h/a b?x=1&", "http://[::1/p?", "#", " ", "'",
                     "https://h/?u=https%3A%2F%2Fc%3F"]),
    st.sampled_from(["", "&x=1", " trailing", "'", "#frag", "%26b%3D1"]),
)  # fmt: skip
def test_a_credential_value_never_survives(name: str, value: str, before: str, after: str) -> None:
    value = "Zq" + value + "Zq"  # a recognisable secret, never a prefix of `<redacted>`
    sep = "%3D" if "%3F" in before else "="
    out = redact(f"{before}{name}{sep}{value}{after}")
    assert "Zq" not in out, out
