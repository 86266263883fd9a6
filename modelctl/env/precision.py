"""`precision: auto`: pick the SVDQuant precision (int4 / fp4) for the GPU that runs the stack.

Nunchaku's own loaders choose the precision from the GPU (`get_precision("auto")`) and refuse a file
of the other one, so a manifest's `auto` default must be resolved the same way before anything is
downloaded: from `--gpu-sm` / `$MODELCTL_GPU_SM` when given (building an image or CI on a machine
without the target GPU), else from the GPU probe. Without either, or on a GPU with no 4-bit kernels
(Hopper, Volta…), it is bad input (exit 2) with a hint, never a silent guess.
"""

from __future__ import annotations

import os
import re

from modelctl.env.gpu import GpuReport
from modelctl.compat.gpu_rules import rules, svdquant_support, svdquant_unsupported_reason
from modelctl.errors import BadInput
from modelctl.manifest.model import Selection

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


def axis_name() -> str:
    return rules()["precision_axis"]["name"]


def needs_resolution(selection: Selection) -> bool:
    """True when the selection still says `precision=auto`."""
    return selection.values.get(axis_name()) == rules()["precision_axis"]["auto"]


def resolve_auto(
    selection: Selection, gpu_sm: int | None, report: GpuReport | None = None
) -> Selection:
    """The same selection with `precision=auto` replaced by the concrete precision for the GPU.

    `gpu_sm` (from `--gpu-sm`) wins, then `$MODELCTL_GPU_SM`, then the GPU probe (`report`, probed
    here when not given). Selections without `precision=auto` come back unchanged.
    """
    if not needs_resolution(selection):
        return selection
    from modelctl.manifest.select import select

    sm, where = _target_sm(selection, gpu_sm, report)
    precision = svdquant_support(sm)
    if precision is None:
        raise BadInput(
            f"{selection.manifest.name}: precision=auto cannot be resolved for {where}: "
            + svdquant_unsupported_reason(sm),
            "choose precision=int4 or precision=fp4 explicitly to prepare files for another GPU, "
            "or pass --gpu-sm for the GPU that will run it",
        )
    return select(selection.manifest, {**selection.values, axis_name(): precision})


def _target_sm(
    selection: Selection, gpu_sm: int | None, report: GpuReport | None
) -> tuple[int, str]:
    forced = override_sm(gpu_sm)
    if forced is not None:
        return forced, f"sm {forced} (--gpu-sm / {SM_ENV})"
    if report is None:
        from modelctl.env.gpu import probe

        report = probe()
    name = selection.manifest.name
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
