"""Shared fixtures. Keep small: area helpers live in tests/helpers/ or tests/<area>/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.hub import TestHub


@pytest.fixture
def hub() -> Iterator[TestHub]:
    """A running loopback Hub + CDN (see tests/helpers/hub.py); stopped after the test."""
    with TestHub() as h:
        yield h
