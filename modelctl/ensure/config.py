"""How `ensure` is configured: environment variables and the options the fast path parses.

Stdlib only (see `modelctl.ensure`): this module is imported on every container start.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import; annotations are strings anyway
    from typing import Any

TRUE_VALUES = ("1", "true", "yes", "on")
STATE_DIR = ".modelctl"  # = modelctl.store.layout.STATE_DIR (not imported: it pulls in pathlib)
DEFAULT_MODELS_DIR = "./shared/models"  # = modelctl.store.layout.DEFAULT_MODELS_DIR
_FLAGS = {"--offline": "offline", "--json": "json", "--locked": "locked"}
_VALUED = {"--timeout": "timeout", "--models-dir": "models_dir", "--manifests": "manifests",
           "--jobs": "jobs", "--lock-timeout": "lock_timeout", "--gpu-sm": "gpu_sm"}  # fmt: skip


def env_specs() -> list[str]:
    """SPECs from `$MODELCTL_ENSURE` (separated by white space)."""
    return os.environ.get("MODELCTL_ENSURE", "").split()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def env_offline() -> bool:
    """`$MODELCTL_OFFLINE` or huggingface_hub's own `$HF_HUB_OFFLINE`."""
    return env_flag("MODELCTL_OFFLINE") or env_flag("HF_HUB_OFFLINE")


def models_root(option: str | None) -> str:
    """The models dir as `store.layout.models_dir` computes it, without importing pathlib."""
    value = option or os.environ.get("MODELCTL_MODELS_DIR") or DEFAULT_MODELS_DIR
    return os.path.abspath(os.path.expanduser(value))


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _positive(value: str) -> bool:
    try:
        seconds = float(value)
    except ValueError:
        return False
    return 0 < seconds < float("inf")


def parse_seconds(value: str | None, option: str) -> float | None:
    """A positive number of seconds (from an option or its environment variable), or None."""
    if value is None or not value.strip():
        return None
    if not _positive(value):
        from modelctl.errors import BadInput

        raise BadInput(
            f"{option} must be a positive number of seconds, got `{value}`",
            f"e.g. {option} 600 (also $MODELCTL_TIMEOUT)",
        )
    return float(value)


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
    opts = parse_options(args, _FLAGS, _VALUED)
    if opts is None:
        return None
    timeout = opts["timeout"] if opts["timeout"] is not None else os.environ.get("MODELCTL_TIMEOUT")
    if timeout is not None and timeout.strip() and not _positive(timeout):
        return None  # the full command reports it
    if opts["jobs"] is not None and not (opts["jobs"].isdigit() and int(opts["jobs"]) >= 1):
        return None
    if opts["lock_timeout"] is not None and not _number(opts["lock_timeout"]):
        return None
    opts["specs"] = opts.pop("args") or env_specs()
    return opts if opts["specs"] else None
