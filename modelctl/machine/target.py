"""Which GPU a command is about: its compute capability (sm), from `--gpu-sm` / `$MODELCTL_GPU_SM`
when given (building an image or CI on a machine without the target GPU), else from the GPU probe.

Plain values in, plain values out: `plan` uses `target_sm` to resolve a manifest's
`precision: auto`, `doctor` and `machine.facts` use `override_sm`. Without an override and without
a GPU, or with GPUs that disagree, it is bad input (exit 2) with a hint, never a silent guess.
"""

from __future__ import annotations

import os
import re

from modelctl.errors import BadInput
from modelctl.machine.gpu import GpuReport

SM_ENV = "MODELCTL_GPU_SM"
_SM_RE = re.compile(r"^(?:sm_?)?(?:(\d{1,2})\.(\d)|(\d{2,3}))$", re.IGNORECASE)
_HINT = (
    "pass --gpu-sm N (or set MODELCTL_GPU_SM) for the GPU that will run it, e.g. 86 for an RTX 3090"
)


def parse_sm(text: str) -> int:
    """`86`, `8.6`, `sm_86`, `120`, `12.0` -> 86 / 120."""
    match = _SM_RE.match(text.strip())
    if not match:
        raise BadInput(
            f"`{text}` is not a compute capability",
            "write it as 86, 8.6 or sm_86 (RTX 3090), 89 (RTX 4090), 120 (RTX 5090)",
        )
    major, minor, whole = match.groups()
    return int(whole) if whole else int(major) * 10 + int(minor)


def override_sm(gpu_sm: int | None = None) -> int | None:
    """The compute capability forced by `--gpu-sm`, else `$MODELCTL_GPU_SM`, else None."""
    if gpu_sm is not None:
        return gpu_sm
    text = os.environ.get(SM_ENV, "").strip()
    return parse_sm(text) if text else None


def target_sm(name: str, gpu_sm: int | None, report: GpuReport | None = None) -> tuple[int, str]:
    """(sm, where it came from) of the GPU that will run `name`'s `precision=auto` stack.

    `gpu_sm` (from `--gpu-sm`) wins, then `$MODELCTL_GPU_SM`, then the GPU probe (`report`, probed
    here when not given). `name` (the manifest's) only labels the messages.
    """
    from modelctl.compat.gpu_rules import svdquant_support

    forced = override_sm(gpu_sm)
    if forced is not None:
        return forced, f"sm {forced} (--gpu-sm / {SM_ENV})"
    if report is None:
        from modelctl.machine.gpu import probe

        report = probe()
    if not report.gpus:
        raise BadInput(
            f"{name}: precision=auto needs to know the GPU, and no NVIDIA GPU is visible"
            + (f" ({report.problem})" if report.problem else ""),
            f"{_HINT}\nor choose precision=int4 (RTX 20/30/40, A100) or precision=fp4 (RTX 50)",
        )
    choices = {svdquant_support(g.sm) for g in report.gpus}
    if len(choices) > 1:
        seen = ", ".join(f"GPU {g.index} {g.name} sm {g.sm}" for g in report.gpus)
        raise BadInput(
            f"{name}: precision=auto is ambiguous: the visible GPUs need different precisions "
            f"({seen})",
            f"{_HINT}\nor choose precision=int4|fp4 explicitly",
        )
    gpu = report.gpus[0]
    return gpu.sm, f"GPU {gpu.index} {gpu.name} (sm {gpu.sm})"
