"""Run the real `modelctl` CLI: as a subprocess (`run_cli`), the way users and containers do, or
in this process through its entry function (`run_main`), for cases where only the output counts.

Why two: a subprocess costs an interpreter start plus modelctl's imports (0.3-0.6 s on a 2-core
machine), and most CLI tests only check what a command prints and returns. Those run in-process;
whatever depends on the process itself stays a subprocess: the Hub (huggingface_hub reads
HF_ENDPOINT/HF_HOME/HF_HUB_OFFLINE into `huggingface_hub.constants` when first imported), signals,
concurrent processes, a terminal, start-up time and what a run imports (tests/helpers/probe.py).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import io
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current environment with the repo on PYTHONPATH, colours off and `extra` applied."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    env.setdefault("COLUMNS", "200")
    env.pop("MODELCTL_DEBUG", None)
    env.update(extra or {})
    return env


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> Result:
    """Run `python -m modelctl ARGS…` and capture exit code, stdout and stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelctl", *args],
        env=cli_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


class NeedsSubprocess(BaseException):
    """An in-process run reached huggingface_hub beyond its constants: that case talks to the Hub
    (or depends on the process) and belongs to `run_cli`. A BaseException, so that the CLI's
    catch-all for internal errors cannot turn it into an exit code."""


HUB = "huggingface_hub"
HUB_CONSTANTS = f"{HUB}.constants"


class _HubGuard(importlib.abc.MetaPathFinder):
    """Lets `huggingface_hub` and `huggingface_hub.constants` be imported (fresh, see
    `_fresh_hub_constants`); any other part of huggingface_hub raises `NeedsSubprocess`."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.startswith(f"{HUB}.") and name != HUB_CONSTANTS:
            raise NeedsSubprocess(f"`{name}` imported by an in-process run: use run_cli")


@contextlib.contextmanager
def _fresh_hub_constants() -> Iterator[None]:
    """Hide this process's huggingface_hub for one run, so that its constants are read from the
    run's environment as a fresh process would read them, and nothing else of it can be used.

    Commands that only look at the Hub's settings (doctor --offline reads HF_HUB_OFFLINE, the
    endpoint and the token file path from `huggingface_hub.constants`) then see exactly what a
    subprocess would; a command that would talk to the Hub fails the test instead of using a
    client configured by an earlier test.
    """
    hidden = {n: m for n, m in sys.modules.items() if n == HUB or n.startswith(f"{HUB}.")}
    for name in hidden:
        del sys.modules[name]
    guard = _HubGuard()
    sys.meta_path.insert(0, guard)
    try:
        yield
    finally:
        sys.meta_path.remove(guard)
        for name in [n for n in sys.modules if n == HUB or n.startswith(f"{HUB}.")]:
            del sys.modules[name]
        sys.modules.update(hidden)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# A fresh interpreter's warning filters (no -W, no PYTHONWARNINGS), as CPython sets them up:
# python/cpython Python/_warnings.c `init_filters` (v3.11). pytest installs its own per test.
DEFAULT_WARNING_FILTERS: tuple[
    tuple[Literal["default", "ignore"], type[Warning], str | None], ...
] = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, None),
    ("ignore", PendingDeprecationWarning, None),
    ("ignore", ImportWarning, None),
    ("ignore", ResourceWarning, None),
)


def _to_stderr(
    message: Warning | str, category: type[Warning], filename: str, lineno: int,
    file: object = None, line: str | None = None,
) -> None:  # fmt: skip
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@contextlib.contextmanager
def _fresh_process_reporting() -> Iterator[None]:
    """What a fresh process prints to its stderr goes to this run's stderr, not to pytest.

    pytest catches log records (handlers on the root logger), warnings, and exceptions that end a
    thread or are unraisable; in a subprocess they would be lines on stderr, where a test's "one
    `error:` line, no Traceback" assertion sees them. So for the call: the root logger without
    handlers at WARNING (records reach `logging.lastResort`, which writes to the current
    sys.stderr), the interpreter's default warning filters with warnings written to sys.stderr,
    and the default thread and unraisable hooks (they print to sys.stderr).
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = threading.excepthook, sys.unraisablehook
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    threading.excepthook, sys.unraisablehook = threading.__excepthook__, sys.__unraisablehook__
    try:
        with warnings.catch_warnings():
            warnings.resetwarnings()
            for action, category, module in reversed(DEFAULT_WARNING_FILTERS):
                warnings.filterwarnings(action, category=category, module=module or "")
            warnings.showwarning = _to_stderr
            yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        threading.excepthook, sys.unraisablehook = hooks


def run_main(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """`modelctl ARGS…` through `modelctl.cli.main.main` in this process: the environment of
    `run_cli` (`cli_env(env)`) and `cwd` applied for the call and restored after it, stdout and
    stderr captured (not terminals, as with `run_cli`), log records, warnings and thread
    exceptions printed to that stderr as a fresh process would print them. The same `Result` as
    `run_cli`.

    Only for output-only cases: see the module doc. Child processes that the command starts (the
    doctor's probes) inherit the call's environment, as they would under `run_cli`.
    """
    from modelctl.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    with _fresh_hub_constants(), _environment(cli_env(env)):
        try:
            if cwd is not None:
                os.chdir(cwd)
            with (
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
                _fresh_process_reporting(),
            ):
                code = main(list(args))
        finally:
            os.chdir(here)
    return Result(code, out.getvalue(), err.getvalue())
