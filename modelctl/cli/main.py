"""The entry point: run the Typer app and map every error to one `error:` line and its exit code.

This is the single place where exceptions become exit codes. Nothing reaches the user as a
traceback; internal bugs print one line too (set MODELCTL_DEBUG=1 to see the traceback, which is
printed through the same redaction as every other line).
"""

from __future__ import annotations

import errno
import os
import sys

from modelctl.errors import ModelctlError, from_os_error, printable

INTERNAL_ERROR = 70

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import; annotations are strings anyway
    from typing import Any

    # exception classes of typer or of click, imported by name: no common base to name here
    _Classes = tuple[type[Any], ...]


def print_error(message: str, hint: str | None = None, label: str = "error") -> None:
    """`label: message` and its hint lines on stderr, secrets redacted, one line each (so also
    when a caller runs a command function without `main`'s wrapped streams).

    A run prints one `error:` line, the cause it stops with; problems it goes on after (a
    manifest `list` cannot read) are `warning:` lines in the same shape.
    """
    from modelctl.redact import redact  # urllib.parse and re: not on the no-op `ensure` path

    sys.stderr.write(f"{label}: {printable(redact(message))}\n")
    for line in (hint or "").splitlines():
        sys.stderr.write(f"  hint: {printable(redact(line))}\n")
    sys.stderr.flush()


def escape_unencodable_output() -> None:
    """Let stdout write what its encoding cannot hold as backslash escapes, as stderr does.

    Paths and arguments can hold bytes that are not UTF-8 (Python decodes them to lone
    surrogates), and output holds non-ASCII text (`✓`, names); a strict stdout (a UTF-8 locale
    such as en_US.UTF-8, or an ASCII one) raises UnicodeEncodeError on either, after part of the
    output is out. Escaped, a JSON string reads back as the same text (`\\udcff` is a JSON
    escape) and the rest stays readable; C.UTF-8 would have written the raw bytes instead.
    A stream without `reconfigure` (a test's StringIO) is left alone.
    """
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    escape_unencodable_output()
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
    except OSError as exc:
        if exc.errno not in (errno.EMFILE, errno.ENFILE):
            return _internal(exc)
        # out of file descriptors: whatever open met it (an import, a data file, a socket), the
        # cause is the process's limit, not that code path
        err = from_os_error(exc, "opening a file")
        print_error(err.message, err.hint)
        return err.exit_code
    except Exception as exc:
        return _internal(exc)


def _internal(exc: Exception) -> int:
    """A bug: still one line, never a traceback or a secret."""
    if os.environ.get("MODELCTL_DEBUG"):  # the traceback, for a bug report: redacted too
        import traceback

        traceback.print_exception(exc)
        return INTERNAL_ERROR
    print_error(
        f"internal error: {type(exc).__name__}: {exc}",
        "this is a bug in modelctl; rerun with MODELCTL_DEBUG=1 and report the traceback",
    )
    return INTERNAL_ERROR


def _raise_open_file_limit() -> None:
    """Lift the soft RLIMIT_NOFILE to the hard limit, as Go does for every program (golang/go
    src/os/rlimit.go @ go1.19, go.dev/issue/46279): some systems keep the soft limit low for
    programs that use select(2); a pull's parallel files and connections should not run into
    it. A hard limit that is still too low ends in one EMFILE error (see `main`)."""
    import contextlib

    try:
        import resource
    except ImportError:  # not a Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft and (hard == resource.RLIM_INFINITY or hard > soft):
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        with contextlib.suppress(OSError, ValueError):  # not allowed here: keep the soft limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


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


def _show(help_text: str) -> None:
    """The help click puts in a NoArgsIsHelpError, on stdout as `--help` prints it."""
    if help_text.strip():
        sys.stdout.write(help_text.rstrip("\n") + "\n")


def _run(args: list[str]) -> int:
    from modelctl.cli.app import build_app

    _raise_open_file_limit()
    exits, aborts, usage = _cli_exceptions()
    app = build_app(args)
    try:
        result = app(args=args, prog_name="modelctl", standalone_mode=False)
    except exits as exc:
        return exc.exit_code
    except aborts:
        raise KeyboardInterrupt from None
    except usage as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `modelctl` alone (click >= 8.2)
            _show(exc.format_message())  # empty when typer has already printed its rich help
            print_error("no command given", "`modelctl --help` lists the commands")
            return 2
        message = exc.format_message().strip() or "invalid command line"
        known = args and not args[0].startswith("-") and "No such command" not in message
        print_error(message, f"see `modelctl {args[0] + ' ' if known else ''}--help`")
        return 2
    return result if isinstance(result, int) else 0
