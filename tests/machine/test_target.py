"""The target GPU's compute capability: `--gpu-sm` / $MODELCTL_GPU_SM spellings."""

from __future__ import annotations

import pytest

from modelctl.errors import BadInput
from modelctl.machine.target import parse_sm


@pytest.mark.parametrize(
    ("text", "sm"),
    [("86", 86), ("8.6", 86), ("sm_86", 86), ("SM89", 89), ("120", 120), ("12.0", 120)],
)
def test_parse_sm(text: str, sm: int) -> None:
    assert parse_sm(text) == sm


@pytest.mark.parametrize("text", ["", "ampere", "8", "8.6.1", "1200", "-86"])
def test_parse_sm_rejects(text: str) -> None:
    with pytest.raises(BadInput, match="not a compute capability"):
        parse_sm(text)


def test_parse_sm_hint_names_example_cards() -> None:
    with pytest.raises(BadInput) as exc:
        parse_sm("ampere")
    assert (
        exc.value.hint == "write it as 86, 8.6 or sm_86 (RTX 3090), 89 (RTX 4090), 120 (RTX 5090)"
    )
