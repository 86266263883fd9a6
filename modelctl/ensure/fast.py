"""The fast path: answer `ensure` / `comfyui-paths` from the cache with the stdlib only.

A container restart with every file in place must cost about one interpreter start, so this path
cannot parse YAML nor import huggingface_hub, rich or typer. It never raises: any surprise returns
None and the full command runs instead, so the cache can make ensure faster, never wrong.
"""

from __future__ import annotations

import sys
import time

from modelctl.ensure.cache import cache_key, cached_entry, intact_bytes
from modelctl.ensure.config import (
    COMFYUI_PATHS_FLAGS,
    COMFYUI_PATHS_VALUED,
    models_root,
    parse_fast_args,
    parse_options,
)
from modelctl.ensure.report import report_ok


def fast_main(args: list[str]) -> int | None:
    """Answer `ensure …` / `comfyui-paths …` without the full CLI when possible; None: run it.

    These two run at every container start, where the full CLI's start-up (Typer, and through it
    pydantic) costs over a second. Never raises: any surprise means "not sure", and the full
    command decides (and reports errors with their exit codes).
    """
    if args[:1] == ["ensure"]:
        return fast_ensure(args[1:])
    if args[:1] == ["comfyui-paths"]:
        return fast_comfyui_paths(args[1:])
    return None


def fast_comfyui_paths(args: list[str]) -> int | None:
    """`comfyui-paths [--write PATH] [--json] [--models-dir D]` with the stdlib only."""
    try:
        opts = parse_options(args, COMFYUI_PATHS_FLAGS, COMFYUI_PATHS_VALUED)
        if opts is None or opts.pop("args"):
            return None
        from modelctl.store import comfyui_paths

        root = models_root(opts["models_dir"])
        text = comfyui_paths.report(root, opts["write"], opts["json_output"])
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    except Exception:
        return None


def fast_ensure(args: list[str]) -> int | None:
    """Exit code 0 when every asset of the SPECs is installed and intact; None: run the full app."""
    try:
        opts = parse_fast_args(args)
        if opts is None:
            return None
        started = time.monotonic()
        root = models_root(opts["models_dir"])
        key = cache_key(opts["specs"], opts["manifests"], opts["locked"], opts["gpu_sm"])
        entry = cached_entry(root, key)
        if entry is None:
            return None
        total = intact_bytes(root, entry["assets"])
        if total is None:
            return None
        report_ok(
            opts["json_output"],
            specs=entry["specs"],
            root=root,
            assets=len(entry["assets"]),
            total=total,
            downloaded=0,
            seconds=time.monotonic() - started,
            fast=True,
        )
        return 0
    except Exception:
        return None
