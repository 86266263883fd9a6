"""Run the real CLI as a child whose address space is capped, so "reads at most N bytes" is a
fact the kernel checks: a child that read a 3 GiB file (or /dev/zero) whole would die of
MemoryError (exit 70) long before finishing, instead of passing quietly."""

from __future__ import annotations

import resource
import subprocess
import sys

from tests.helpers.cli import Result, cli_env

# The CLI with typer, rich and PyYAML loaded runs within 256 MiB of address space; 512 MiB leaves
# room for its work and none for a 3 GiB file read whole.
MEMORY_LIMIT = 512 << 20


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli_limited(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """`python -m modelctl ARGS…` under `MEMORY_LIMIT`; `timeout` guards against a blocked read
    (a FIFO with no writer), raising `subprocess.TimeoutExpired` rather than hanging the run."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelctl", *args],
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=_limit_memory,  # setrlimit only: safe between fork and exec
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
