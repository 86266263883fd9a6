"""`units.decimal`: counts from untrusted text, with Python's own `int` as the oracle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modelctl.units import decimal


def test_refuses_what_int_refuses_or_reads_differently():
    for text in ("²", "١٢", "12³", "", " 1", "1 ", "+1", "-1", "1_000", "0x10", "1" * 21, None):
        assert decimal(text) is None


def test_more_than_4300_digits_is_none_not_valueerror():
    assert decimal("9" * 5000) is None
    assert decimal("9" * 5000, max_digits=10_000) is None


@given(st.text(max_size=25))
def test_agrees_with_int_on_ascii_digits(text):
    want = int(text) if text and text.isascii() and text.isdigit() and len(text) <= 20 else None
    assert decimal(text) == want
