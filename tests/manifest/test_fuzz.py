"""Random YAML documents: the loader only ever returns a valid manifest or raises ManifestError."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelctl.errors import ManifestError
from modelctl.manifest import validate as V
from modelctl.manifest.model import Manifest
from modelctl.manifest.validate import parse_manifest
from tests.manifest.test_validate import GOOD

EXTRA_KEYS = ["quant", "family", "x"]
KEYS = [
    *sorted(V.TOP_KEYS | V.ASSET_KEYS | V.AXIS_KEYS | V.REQUIRES_KEYS | V.GPU_KEYS),
    *EXTRA_KEYS,
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**12),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "1",
            "no",
            "0123",
            "diffusion_model",
            "vae",
            "hf://a/b/c.gguf",
            "vae/x.safetensors",
            "../x",
            "{quant}",
            "Q8_0",
            "main",
            "a" * 64,
            "2024-01-01",
        ]
    ),
    st.text(max_size=20),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=6
        ),
    ),
    max_leaves=30,
)


def _check(data: bytes) -> None:
    try:
        manifest = parse_manifest(data, where="fuzz.yaml")
    except ManifestError as exc:
        assert exc.exit_code == 2
        assert exc.message.startswith("fuzz.yaml")
        assert "\n" not in exc.message
    else:
        assert isinstance(manifest, Manifest)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_structures(doc: object) -> None:
    _check(yaml.safe_dump(doc).encode())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_good_manifest(data: st.DataObject) -> None:
    raw = bytearray(GOOD.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if op == "flip":
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "delete":
            del raw[pos]
        else:
            raw[pos:pos] = data.draw(
                st.sampled_from([b":", b"-", b" ", b"\n", b"{", b"[", b"&a", b"*a", b"'"])
            )
    _check(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _check(data)
