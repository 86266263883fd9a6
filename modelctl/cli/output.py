"""Printing: JSON for scripts, rich tables for people (rich imported only when a person reads)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from modelctl.units import human_size

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "human_size", "print_json"]


def print_json(data: Any, redacted: bool = False) -> None:
    """Write `data` as indented JSON to stdout; `redacted` passes it through `redact` first."""
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    if redacted:
        from modelctl.redact import redact

        text = redact(text)
    sys.stdout.write(text + "\n")


def console(stderr: bool = False) -> Console:
    """A rich Console (honours NO_COLOR and non-TTY output by itself)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)
