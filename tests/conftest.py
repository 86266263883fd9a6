"""Shared fixtures. Keep small: area helpers live in tests/helpers/ or tests/<area>/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.hub import TestHub


@pytest.fixture
def hub() -> Iterator[TestHub]:
    """A running loopback Hub + CDN (see tests/helpers/hub.py); stopped after the test."""
    with TestHub() as h:
        yield h


@pytest.fixture(scope="session")
def ca() -> Any:
    """A test certificate authority (trustme); `ca.cert_pem` is what SSL_CERT_FILE points at."""
    import trustme

    return trustme.CA()


@pytest.fixture
def tls_hub(ca: Any) -> Iterator[TestHub]:
    """The test hub and its CDN over https, with a certificate for 127.0.0.1 signed by `ca`."""
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    with TestHub(tls=ctx) as h:
        yield h
