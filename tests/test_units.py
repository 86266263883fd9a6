"""`human_size`: total over every int (issue 16, item 10: float() of a huge size overflowed)."""

from __future__ import annotations

import pytest

from modelctl.units import human_size


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
