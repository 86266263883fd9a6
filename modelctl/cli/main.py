"""The entry point: run the Typer app and map every error to one `error:` line and its exit code.

This is the single place where exceptions become exit codes. Nothing reaches the user as a
traceback; internal bugs print one line too (set MODELCTL_DEBUG=1 to see the traceback, which is
printed through the same redaction as every other line).
"""

from __future__ import annotations

import os
import sys

from modelctl.errors import ModelctlError, printable

INTERNAL_ERROR = 70

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import; annotations are strings anyway
    from typing import Any

    # exception classes of typer or of click, imported by name: no common base to name here
    _Classes = tuple[type[Any], ...]


def print_error(message: str, hint: str | None = None) -> None:
    """One `error:` line and its hint lines on stderr, redacted (so also when a caller runs a
    command function without `main`'s wrapped streams)."""
    from modelctl.redact import redact  # urllib.parse and re: not on the no-op `ensure` path

    sys.stderr.write(f"error: {printable(redact(message))}\n")
    for line in (hint or "").splitlines():
        sys.stderr.write(f"  hint: {printable(redact(line))}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] in (["ensure"], ["comfyui-paths"]):  # container start: stdlib only, when we can
        from modelctl.ensure import fast_main

        code = fast_main(args)
        if code is not None:
            return code
    from modelctl.cli.output import redacted_streams  # every line printed from here is redacted

    with redacted_streams():
        return _guarded(args)


def _guarded(args: list[str]) -> int:
    """`_run(args)`, every exception mapped to one `error:` line and its exit code."""
    try:
        return _run(args)
    except ModelctlError as exc:
        print_error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        print_error("interrupted", "partial downloads are kept; run the same command to resume")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line, never a traceback or a secret
        if os.environ.get("MODELCTL_DEBUG"):  # the traceback, for a bug report: redacted too
            import traceback

            traceback.print_exc()
            return INTERNAL_ERROR
        print_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in modelctl; rerun with MODELCTL_DEBUG=1 and report the traceback",
        )
        return INTERNAL_ERROR


def _cli_exceptions() -> tuple[_Classes, _Classes, _Classes]:
    """(exit, abort, usage) exception classes of typer and of click, whichever are installed.

    typer >= 0.20 raises its own classes (`typer.exceptions`); older typer raises click's.
    """
    exits, aborts, usage = [], [], []
    for name, usage_class in (
        ("typer.exceptions", "TyperException"),
        ("click.exceptions", "ClickException"),
    ):
        try:
            module = __import__(name, fromlist=["Exit"])
        except ImportError:
            continue
        exits.append(module.Exit)
        aborts.append(module.Abort)
        if hasattr(module, usage_class):
            usage.append(getattr(module, usage_class))
    return tuple(exits), tuple(aborts), tuple(usage)


def _run(args: list[str]) -> int:
    from modelctl.cli.app import build_app

    exits, aborts, usage = _cli_exceptions()
    app = build_app(args)
    try:
        result = app(args=args, prog_name="modelctl", standalone_mode=False)
    except exits as exc:
        return exc.exit_code
    except aborts:
        raise KeyboardInterrupt from None
    except usage as exc:
        message = exc.format_message()
        known = args and not args[0].startswith("-") and "No such command" not in message
        print_error(message, f"see `modelctl {args[0] + ' ' if known else ''}--help`")
        return 2
    return result if isinstance(result, int) else 0
