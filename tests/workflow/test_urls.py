"""`workflow.urls`: credentials in a workflow's download links never reach the manifest.

Removed: every parameter `modelctl.redact.is_credential_param` names (what printing redacts), in
any case and percent-encoding, and with it the parameters that only describe a signature; kept:
everything else, byte for byte.
"""

from __future__ import annotations

import pytest

from modelctl.workflow.urls import removed_credentials, strip_credentials, to_source


@pytest.mark.parametrize(
    ("url", "source", "removed"),
    [
        ("https://storage.googleapis.com/b/o.safetensors?X-Goog-Algorithm=GOOG4-RSA-SHA256"
         "&X-Goog-Credential=sa%40p%2F2024&X-Goog-Date=2024&X-Goog-Expires=600"
         "&X-Goog-SignedHeaders=host&X-Goog-Signature=abc",
         "https://storage.googleapis.com/b/o.safetensors",
         ("X-Goog-Algorithm", "X-Goog-Credential", "X-Goog-Date", "X-Goog-Expires",
          "X-Goog-SignedHeaders", "X-Goog-Signature")),
        ("https://b.s3.amazonaws.com/k.gguf?versionId=3&X-Amz-Signature=abc&X-Amz-Date=1",
         "https://b.s3.amazonaws.com/k.gguf?versionId=3", ("X-Amz-Signature", "X-Amz-Date")),
        ("https://a.blob.core.windows.net/c/b.safetensors?sv=2022&se=2030&sr=b&sp=r&sig=x%2B",
         "https://a.blob.core.windows.net/c/b.safetensors", ("sv", "se", "sr", "sp", "sig")),
        ("https://d.cloudfront.net/m.bin?Expires=1&Signature=s&Key-Pair-Id=k",
         "https://d.cloudfront.net/m.bin", ("Expires", "Signature", "Key-Pair-Id")),
        ("https://civitai.com/api/download/models/1?type=Model&format=SafeTensor&token=t",
         "https://civitai.com/api/download/models/1?type=Model&format=SafeTensor", ("token",)),
        ("https://x.example/m.gguf?x%2Damz%2Dsignature=a&%74oken=b&keep=a%20b",
         "https://x.example/m.gguf?keep=a%20b", ("x%2Damz%2Dsignature", "%74oken")),
        ("https://x.example/m.gguf?API_KEY=a&Access_Token=b&n=1",
         "https://x.example/m.gguf?n=1", ("API_KEY", "Access_Token")),
        ("https://huggingface.co/o/r/resolve/main/x.safetensors?token=t&download=true",
         "hf://o/r/x.safetensors", ("token",)),
    ],
)  # fmt: skip
def test_credential_parameters_are_removed_and_named(
    url: str, source: str, removed: tuple[str, ...]
) -> None:
    converted = to_source(url)
    assert (converted.source, converted.removed_params) == (source, removed)
    (warning,) = removed_credentials(converted, "node 3: ", "x.safetensors")
    assert warning == (
        f"node 3: removed a signed query string ({', '.join(removed)}) from the url of "
        "x.safetensors; supply credentials through the environment"
    )


@pytest.mark.parametrize(
    "query",
    ["type=Model&format=SafeTensor&size=pruned&fp=fp16", "expires=3&se=2030&sv=1", "download=true",
     "a=%2F%3D&b=c+d", ""],
)  # fmt: skip
def test_queries_without_a_credential_are_kept_exactly(query: str) -> None:
    """Without a signature, `Expires` / `se` / `sv` describe nothing secret and stay."""
    assert strip_credentials(query) == (query, ())
    assert removed_credentials(to_source(f"https://x.example/m.gguf?{query}"), "", "m") == []


def test_a_fragment_never_reaches_the_manifest() -> None:
    assert to_source("https://x.example/m.gguf#access_token=abc").source == (
        "https://x.example/m.gguf"
    )
