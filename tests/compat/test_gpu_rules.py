"""The GPU rules file: the sm table of nunchaku/utils.py and the cpu_offload threshold."""

from __future__ import annotations

import pytest

from modelctl.compat import gpu_rules
from modelctl.units import GIB


@pytest.mark.parametrize(
    ("sm", "precision"),
    [(75, "int4"), (80, "int4"), (86, "int4"), (89, "int4"), (120, "fp4"), (121, "fp4")],
)
def test_supported(sm: int, precision: str) -> None:
    assert gpu_rules.svdquant_support(sm) == precision


@pytest.mark.parametrize("sm", [60, 61, 70, 72, 87, 90, 100, 103, 110])
def test_unsupported_includes_hopper(sm: int) -> None:
    assert gpu_rules.svdquant_support(sm) is None
    assert f"sm {sm}" in gpu_rules.svdquant_unsupported_reason(sm)


def test_cpu_offload_below_15_gib() -> None:
    assert gpu_rules.cpu_offload_recommended(12 * GIB)
    assert gpu_rules.cpu_offload_recommended(int(14.9 * GIB))
    assert not gpu_rules.cpu_offload_recommended(15 * GIB)
    assert not gpu_rules.cpu_offload_recommended(24 * GIB)


def test_every_rule_names_its_upstream_source() -> None:
    for section, body in gpu_rules.rules().items():
        source = body["source"]
        assert "@" in source or "pyproject" in source, section
        assert "model-facts" not in source


def test_sms_table_is_a_copy() -> None:
    table = gpu_rules.svdquant_sms()
    table["fp4"].append(90)
    assert gpu_rules.svdquant_support(90) is None


def test_hint_facts_agree_with_the_sm_table() -> None:
    assert list(gpu_rules.rules()["svdquant"]["cards"]) == gpu_rules.svdquant_precisions()
    for sm, card in gpu_rules.sm_examples():
        assert gpu_rules.svdquant_support(sm), (sm, card)


def test_hints_are_phrased_from_the_table() -> None:
    assert gpu_rules.svdquant_unsupported_reason(90) == (
        "Nunchaku SVDQuant has no 4-bit kernels for sm 90 "
        "(it supports int4 on sm 75/80/86/89 and fp4 on sm 120/121)"
    )
    assert gpu_rules.svdquant_cards("int4") == "RTX 20/30/40, A100"
    assert gpu_rules.svdquant_cards("fp4") == "RTX 50"
    assert gpu_rules.svdquant_rtx_series() == "RTX 20/30/40/50"
    assert gpu_rules.precision_choices() == "precision=int4 or precision=fp4"
    assert gpu_rules.precision_choices(cards=True) == (
        "precision=int4 (RTX 20/30/40, A100) or precision=fp4 (RTX 50)"
    )
    assert gpu_rules.blackwell_install_hint() == (
        "install torch >= 2.7 built for CUDA >= 12.8 (e.g. the cu128 wheels)"
    )
