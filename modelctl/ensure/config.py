"""How `ensure` is configured: environment variables and the options the fast path parses.

Stdlib only (see `modelctl.ensure`): this module is imported on every container start.

The option and variable names below are the one declaration of the command lines of `ensure` and
`comfyui-paths`: the fast parser (`parse_fast_args`, `modelctl.ensure.fast`) reads its tables, and
the typer commands (`modelctl/cli/commands/ensure.py`) declare each option from the same names, so
the two cannot disagree about which options exist, which take a value and which variable stands
in for one (tests/cli/test_ensure.py compares the typer command's click parameters with them).
"""

from __future__ import annotations

import os

from modelctl.units import decimal

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import; annotations are strings anyway
    from typing import Any

TRUE_VALUES = ("1", "true", "yes", "on")
STATE_DIR = ".modelctl"  # = modelctl.store.layout.STATE_DIR (not imported: it pulls in pathlib)
DEFAULT_MODELS_DIR = "./shared/models"  # = modelctl.store.layout.DEFAULT_MODELS_DIR

# option names
TIMEOUT = "--timeout"
OFFLINE = "--offline"
JOBS = "--jobs"
LOCK_TIMEOUT = "--lock-timeout"
LOCKED = "--locked"
GPU_SM = "--gpu-sm"
JSON = "--json"
MODELS_DIR = "--models-dir"
MANIFESTS = "--manifests"
WRITE = "--write"

# environment variables
ENSURE_ENV = "MODELCTL_ENSURE"  # the SPECs when none is given, separated by white space
TIMEOUT_ENV = "MODELCTL_TIMEOUT"  # --timeout when it is not given
OFFLINE_ENVS = ("MODELCTL_OFFLINE", "HF_HUB_OFFLINE")  # either set to a TRUE_VALUE: --offline
MODELS_DIR_ENV = "MODELCTL_MODELS_DIR"  # = what modelctl.store.layout.models_dir reads
MANIFESTS_ENV = "MODELCTL_MANIFESTS"  # = what modelctl.manifest.catalog reads
GPU_SM_ENV = "MODELCTL_GPU_SM"  # = modelctl.machine.target.SM_ENV (test_ensure holds them equal)

# option -> the command's parameter name. Flags take no value and default to False; valued
# options take one (`--x v` or `--x=v`) and default to None. ENVVARS: parameter -> the variable
# the command reads when the option is not given.
ENSURE_FLAGS = {OFFLINE: "offline", LOCKED: "locked", JSON: "json_output"}
ENSURE_VALUED = {TIMEOUT: "timeout", JOBS: "jobs", LOCK_TIMEOUT: "lock_timeout",
                 GPU_SM: "gpu_sm", MODELS_DIR: "models_dir", MANIFESTS: "manifests"}  # fmt: skip
ENSURE_ENVVARS = {"timeout": TIMEOUT_ENV}
COMFYUI_PATHS_FLAGS = {JSON: "json_output"}
COMFYUI_PATHS_VALUED = {WRITE: "write", MODELS_DIR: "models_dir"}
COMFYUI_PATHS_ENVVARS: dict[str, str] = {}


def env_specs() -> list[str]:
    """SPECs from `$MODELCTL_ENSURE` (separated by white space)."""
    return os.environ.get(ENSURE_ENV, "").split()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def env_offline() -> bool:
    """`$MODELCTL_OFFLINE` or huggingface_hub's own `$HF_HUB_OFFLINE`."""
    return any(env_flag(name) for name in OFFLINE_ENVS)


def models_root(option: str | None) -> str:
    """The models dir as `store.layout.models_dir` computes it, without importing pathlib."""
    value = option or os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR
    return os.path.abspath(os.path.expanduser(value))


def check_models_root(root: str) -> None:
    """Refuse a models dir that is a file (or a dangling link), or lies under one: nothing can
    be installed there, and each command would otherwise fail at its first mkdir with an OSError.
    A models dir that does not exist yet is fine: the first pull creates it."""
    path = root
    while not os.path.isdir(path):
        if os.path.lexists(path):
            from modelctl.errors import BadInput

            what = "is" if path == root else f"lies under {path}, which is"
            raise BadInput(
                f"the models dir {root} {what} not a folder",
                f"point {MODELS_DIR} or ${MODELS_DIR_ENV} at a folder (a missing one is created)",
            )
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


# The longest any seconds option (`--timeout`, `--lock-timeout`, `--stall-timeout`) may say: about
# 31 years, which no real wait needs. A bound keeps every deadline inside what the timers take:
# `threading.Timer` (the ensure watchdog) dies with OverflowError in its thread beyond
# `threading.TIMEOUT_MAX`, and `socket.settimeout` refuses what does not fit a C timeval.
MAX_SECONDS = 1e9


def seconds(value: str, zero_ok: bool = False) -> float | None:
    """`value` as seconds: a number above 0 (from 0 when `zero_ok`: "do not wait") up to
    MAX_SECONDS; None for anything else (text, nan, inf, negative, too large).

    The one grammar of the command line's seconds, for the fast parser and the typer commands
    alike (`modelctl.cli.options.Seconds`), so that the fast path never accepts what the full
    command would refuse. `float` reads it, as click's FLOAT does (` 5`, `1e3`, `1_000`).
    """
    try:
        number = float(value)
    except ValueError:
        return None
    above = number >= 0 if zero_ok else number > 0
    return number if above and number <= MAX_SECONDS else None  # nan fails both comparisons


def parse_seconds(value: str | None, option: str) -> float | None:
    """A positive number of seconds (from an option or its environment variable), or None."""
    if value is None or not value.strip():
        return None
    number = seconds(value)
    if number is None:
        from modelctl.errors import BadInput

        raise BadInput(
            f"{option} must be a positive number of seconds, got `{value}`",
            f"e.g. {option} 600, at most {MAX_SECONDS:.0f} (also ${TIMEOUT_ENV})",
        )
    return number


def parse_options(
    args: list[str], flags: dict[str, str], valued: dict[str, str]
) -> dict[str, Any] | None:
    """Click-compatible parsing of the given options (`--x v`, `--x=v`); None for anything else."""
    opts: dict[str, Any] = {"args": []}
    opts.update({name: False for name in flags.values()})
    opts.update({name: None for name in valued.values()})
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg in flags:
            opts[flags[arg]] = True
        elif name in valued:
            if not eq:
                i += 1
                if i >= len(args):
                    return None
                value = args[i]
            opts[valued[name]] = value
        elif arg.startswith("-"):
            return None
        else:
            opts["args"].append(arg)
        i += 1
    return opts


def parse_fast_args(args: list[str]) -> dict[str, Any] | None:
    """The options the ensure fast path understands; None for anything else (help, typos, `--`)."""
    opts = parse_options(args, ENSURE_FLAGS, ENSURE_VALUED)
    if opts is None:
        return None
    for param, name in ENSURE_ENVVARS.items():
        if opts[param] is None:
            opts[param] = os.environ.get(name) or None  # click ignores an empty variable too
    timeout = opts["timeout"]
    if timeout is not None and timeout.strip() and seconds(timeout) is None:
        return None  # the full command reports it
    if opts["jobs"] is not None and (decimal(opts["jobs"]) or 0) < 1:
        return None
    if opts["lock_timeout"] is not None and seconds(opts["lock_timeout"], zero_ok=True) is None:
        return None
    opts["specs"] = opts.pop("args") or env_specs()
    return opts if opts["specs"] else None
