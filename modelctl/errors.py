"""The error hierarchy, mapped to the documented exit codes in exactly one place.

Every failure a user can cause or meet is one of these. The CLI catches `ModelctlError` and prints
`error: <message>` plus optional hint lines; anything else is a bug. Each class's `exit_code` is the
contract documented in README.md ("Exit codes"):

    0 success · 1 a check found a problem · 2 bad input · 3 a source failed
    4 not enough disk space · 5 timed out (lock wait or --timeout)
"""

from __future__ import annotations


class ModelctlError(Exception):
    """Base of every error modelctl reports to the user.

    `message` is one line naming the cause; `hint` is an optional fix (one or more lines).
    """

    exit_code: int = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class CheckFailed(ModelctlError):
    """A check found a problem: incompatible stack, corrupt / modified / missing file."""

    exit_code = 1


class BadInput(ModelctlError):
    """Usage error, invalid manifest, malformed or unsupported model file."""

    exit_code = 2


class ManifestError(BadInput):
    """An invalid manifest; the message starts with `file:line:`."""


class FormatError(BadInput):
    """A malformed or hostile model file; the message names the byte offset."""


class SourceError(ModelctlError):
    """A source failed: network, HTTP 4xx/5xx, gated repo, checksum mismatch of downloaded bytes."""

    exit_code = 3


class DiskFull(ModelctlError):
    """Not enough disk space, before or during a transfer."""

    exit_code = 4


class TimedOut(ModelctlError):
    """Waited too long for another process's lock, or `--timeout` was reached."""

    exit_code = 5


def printable(text: str) -> str:
    """`text` with control characters escaped, so a hostile value cannot break the one-line rule."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)
