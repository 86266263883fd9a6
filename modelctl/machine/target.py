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


def parse_sm(text: str) -> int:
    """`86`, `8.6`, `sm_86`, `120`, `12.0` -> 86 / 120."""
    match = _SM_RE.match(text.strip())
    if not match:
        raise BadInput(f"`{text}` is not a compute capability", _spellings_hint())
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
    from modelctl.compat.gpu_rules import precision_choices, svdquant_precisions, svdquant_support

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
            f"{_override_hint()}\nor choose {precision_choices(cards=True)}",
        )
    choices = {svdquant_support(g.sm) for g in report.gpus}
    if len(choices) > 1:
        seen = ", ".join(f"GPU {g.index} {g.name} sm {g.sm}" for g in report.gpus)
        raise BadInput(
            f"{name}: precision=auto is ambiguous: the visible GPUs need different precisions "
            f"({seen})",
            f"{_override_hint()}\nor choose precision={'|'.join(svdquant_precisions())} explicitly",
        )
    gpu = report.gpus[0]
    return gpu.sm, f"GPU {gpu.index} {gpu.name} (sm {gpu.sm})"


def _spellings_hint() -> str:
    """`write it as 86, 8.6 or sm_86 (RTX 3090), 89 (RTX 4090), …` from the rules' examples."""
    from modelctl.compat.gpu_rules import sm_examples

    (sm, card), *more = sm_examples()
    first = f"{sm}, {sm // 10}.{sm % 10} or sm_{sm} ({card})"
    return "write it as " + ", ".join([first, *(f"{s} ({c})" for s, c in more)])


def _override_hint() -> str:
    """How to name the target GPU, with the rules' first example card."""
    from modelctl.compat.gpu_rules import sm_examples

    sm, card = sm_examples()[0]
    return (
        f"pass --gpu-sm N (or set {SM_ENV}) for the GPU that will run it, e.g. {sm} for an {card}"
    )
