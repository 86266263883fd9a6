"""The entry point: run the Typer app and map every error to one `error:` line and its exit code.

This is the single place where exceptions become exit codes. Nothing reaches the user as a
traceback; internal bugs print one line too (set MODELCTL_DEBUG=1 to see the traceback).
"""

from __future__ import annotations

import os
import sys

from modelctl.errors import ModelctlError, printable
from modelctl.redact import redact

INTERNAL_ERROR = 70


def print_error(message: str, hint: str | None = None) -> None:
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
        if os.environ.get("MODELCTL_DEBUG"):
            raise
        print_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in modelctl; rerun with MODELCTL_DEBUG=1 and report the traceback",
        )
        return INTERNAL_ERROR


def _run(args: list[str]) -> int:
    import click

    from modelctl.cli.app import build_app

    app = build_app()
    try:
        result = app(args=args, prog_name="modelctl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
    except click.ClickException as exc:
        command = f"modelctl {args[0]} --help" if args else "modelctl --help"
        print_error(exc.format_message(), f"see `{command}`")
        return 2
    return result if isinstance(result, int) else 0
