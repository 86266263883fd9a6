"""Nunchaku's file-name grammar (`svdq-{precision}_r{rank}-…`): one reader, used by identify and compat."""

from __future__ import annotations

import pytest

from modelctl.compat.names import read_name as claims
from modelctl.identify.svdquant import read_name


@pytest.mark.parametrize(
    ("name", "facts"),
    [
        ("svdq-int4_r32-qwen-image-edit-2509-lightningv2.0-4steps.safetensors",
         {"precision": "int4", "rank": 32}),
        ("svdq-fp4_r128-z-image-turbo.safetensors", {"precision": "fp4", "rank": 128}),
        ("SVDQ-INT4_R32-x.safetensors", {"precision": "int4", "rank": 32}),  # values lower-cased
        ("svdq-fp4_x.safetensors", {"precision": "fp4"}),
        ("svdq-int4_r12345-x.safetensors", {"precision": "int4"}),  # no rank of five digits
        ("svdq-int4-flux.1-dev", {}),  # the old folder naming states no rank, and no `_`
        ("flux1-dev-Q4_K_M.gguf", {}),
    ],
)  # fmt: skip
def test_the_name_states_precision_and_rank(name, facts):
    assert read_name(name) == facts
    got = claims(name)
    assert {k: got[k] for k in ("precision", "rank") if k in got} == facts
