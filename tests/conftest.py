"""Shared fixtures. Keep small: area helpers live in tests/helpers/ or tests/<area>/."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hub import TestHub


@pytest.fixture(scope="session", autouse=True)
def child_bytecode_cache() -> Iterator[None]:
    """Interpreters the tests start (the CLI as a subprocess, import probes, hub.run_python)
    keep the bytecode they compile, in the session's temp folder (PYTHONPYCACHEPREFIX).

    With PYTHONDONTWRITEBYTECODE=1 in the environment, every fresh interpreter compiles each
    modelctl module it imports again: ~0.35 s for all of them on a 2-core machine, per process.
    The folder outlives the session: a prefix replaces every `__pycache__` (the standard library's
    and site-packages' too), so a fresh one would first compile all of those once. A bytecode file
    is used only while its source's mtime and size match, as in `__pycache__`. Nothing is written
    into the source tree, and a user's own PYTHONPYCACHEPREFIX is kept.
    """
    saved = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    folder = Path(tempfile.gettempdir()) / f"modelctl-tests-pycache-{os.getuid()}"
    os.environ.setdefault("PYTHONPYCACHEPREFIX", str(folder))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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
