"""Printing: JSON for scripts, rich tables for people (rich imported only when a person reads)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from modelctl.units import human_size

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "human_size", "print_json", "shown"]


def print_json(data: Any, redacted: bool = False) -> None:
    """Write `data` as indented JSON to stdout; `redacted` passes it through `redact` first."""
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    if redacted:
        from modelctl.redact import redact

        text = redact(text)
    sys.stdout.write(text + "\n")


def shown(value: str) -> str:
    """Data (manifest text, paths, header fields) for a rich line or cell: control characters
    escaped (`printable`: an ESC from a manifest's description would reach the terminal as an
    escape sequence) and rich markup escaped (`[/x]` in it would raise MarkupError)."""
    from rich.markup import escape

    from modelctl.errors import printable

    return escape(printable(value))


def console(stderr: bool = False) -> Console:
    """A rich Console (honours NO_COLOR and non-TTY output by itself)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)
