"""Printing: JSON for scripts, rich tables for people (rich imported only when a person reads), and
the one place every printed secret is removed.

`redacted_streams()` (entered by `modelctl.cli.main` around every command) puts a `RedactingStream`
in front of stdout and stderr, so each line anything prints — our commands, typer/click, rich,
progress lines, `print`, warnings, log records, huggingface_hub's bars — goes through
`modelctl.redact.redact` first. Two renderers also redact their input, because their output is not
the text they were given: JSON escapes strings (`print_json` / `json_text` redact the values before
encoding), and rich wraps long table cells over several lines, which would split a signature
across them (`console()` redacts each string it renders before laying it out).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from modelctl.redact import redact, redactor
from modelctl.units import human_size

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "console", "human_size", "json_text", "print_json", "redacted", "redacted_streams", "shown",
]  # fmt: skip


def redacted(data: Any, clean: Callable[[str], str] | None = None) -> Any:
    """`data` (JSON-like: dicts, lists, strings, numbers) with `redact` applied to every string,
    and anything else JSON cannot hold turned into its redacted `str()`."""
    clean = clean or redactor()
    if isinstance(data, str):
        return clean(data)
    if isinstance(data, dict):
        return {clean(k) if isinstance(k, str) else k: redacted(v, clean) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redacted(v, clean) for v in data]
    if data is None or isinstance(data, (bool, int, float)):
        return data
    return clean(str(data))


def json_text(data: Any, indent: int | None = None) -> str:
    """`data` as JSON, every string in it redacted."""
    return json.dumps(redacted(data), indent=indent, ensure_ascii=False)


def print_json(data: Any) -> None:
    """Write `data` as indented, redacted JSON to stdout."""
    sys.stdout.write(json_text(data, indent=2) + "\n")


class RedactingStream(io.TextIOBase):
    """A text stream that writes whole lines through `redact` to the stream it wraps.

    Text is held until a newline or a flush, so a secret written in pieces (`print(a, b)` writes
    `a`, ` `, `b`) is seen whole. The wrapped stream's binary `buffer` is not offered: click writes
    to it when a stream's encoding looks wrong, which would pass by the redaction.
    """

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner
        self._pending = ""
        self._lock = threading.Lock()  # download threads print too

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # as io.TextIOWrapper does; click probes with b""
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            lines, newline, self._pending = (self._pending + text).rpartition("\n")
            if newline:
                self.inner.write(redact(lines + newline))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            text, self._pending = self._pending, ""
            if text:
                self.inner.write(redact(text))
        if not getattr(self.inner, "closed", False):
            self.inner.flush()

    def close(self) -> None:  # the wrapped stream stays open: it is the process's
        self.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it read-only
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)


@contextlib.contextmanager
def redacted_streams() -> Iterator[None]:
    """Route `sys.stdout` and `sys.stderr` through `RedactingStream`s for the block."""
    saved = sys.stdout, sys.stderr
    with contextlib.ExitStack() as stack:
        # None: the process started without that descriptor (`>&-`); what it prints is dropped,
        # as `print` drops it, instead of failing on the first write
        inner = [s if s is not None else stack.enter_context(open(os.devnull, "w")) for s in saved]
        wrapped = [RedactingStream(s) for s in inner]
        sys.stdout, sys.stderr = wrapped
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved
            for stream in wrapped:
                with contextlib.suppress(BrokenPipeError, ValueError):  # a closed pipe
                    stream.flush()


def shown(value: str) -> str:
    """Data (manifest text, paths, header fields) for a rich line or cell: control characters
    escaped (`printable`: an ESC from a manifest's description would reach the terminal as an
    escape sequence) and rich markup escaped (`[/x]` in it would raise MarkupError)."""
    from rich.markup import escape

    from modelctl.errors import printable

    return escape(printable(value))


def console(stderr: bool = False) -> Console:
    """A rich Console (honours NO_COLOR and non-TTY output by itself) redacting what it renders."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 160
    return _console_class()(stderr=stderr, highlight=False, soft_wrap=False, width=width)


@functools.cache
def _console_class() -> type[Console]:
    from rich.console import Console
    from rich.text import Text

    class RedactingConsole(Console):
        """Every string it renders (print arguments, table cells) is redacted before layout."""

        def render_str(self, text: str, **kwargs: Any) -> Text:
            rendered = super().render_str(text, **kwargs)
            clean = redact(rendered.plain)
            if clean == rendered.plain:
                return rendered
            # a secret was there: the styling of that one string is dropped with it
            return Text(clean, style=rendered.style, justify=rendered.justify,
                        overflow=rendered.overflow, no_wrap=rendered.no_wrap)  # fmt: skip

    return RedactingConsole
