"""`units`: `human_size` total over every int (issue 16, item 10: float() of a huge size
overflowed); `decimal`, counts from untrusted text, with Python's own `int` as the oracle."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.units import decimal, human_size


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "?"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (int(25.7 * 1024**3), "25.7 GiB"),
        (3 * 1024**5, "3.0 PiB"),
        (2**63 - 1, "8.0 EiB"),  # the largest size a manifest may hold
        (1024**7, "more than 1023 EiB"),
        (10**400, "more than 1023 EiB"),  # float(10**400) raises OverflowError
        (-(10**400), "-more than 1023 EiB"),
    ],
)
def test_human_size(n: int | None, text: str) -> None:
    assert human_size(n) == text


def test_decimal_refuses_what_int_refuses_or_reads_differently():
    for text in ("²", "١٢", "12³", "", " 1", "1 ", "+1", "-1", "1_000", "0x10", "1" * 21, None):
        assert decimal(text) is None


def test_decimal_of_more_than_4300_digits_is_none_not_valueerror():
    assert decimal("9" * 5000) is None
    assert decimal("9" * 5000, max_digits=10_000) is None


@given(st.text(max_size=25))
def test_decimal_agrees_with_int_on_ascii_digits(text):
    want = int(text) if text and text.isascii() and text.isdigit() and len(text) <= 20 else None
    assert decimal(text) == want
