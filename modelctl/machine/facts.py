"""The `$env` facts compat rules read: the GPU's compute capability and what SVDQuant precision it
runs.

The GPU rule itself (which sm runs int4, which fp4) belongs to `modelctl.compat.gpu_rules`; this
module only decides which GPU the check is about: `--gpu-sm` / `$MODELCTL_GPU_SM` first, else the
first GPU NVML shows, else none - and then rules that need it are skipped with a hint. Compat's
engine receives this dict as an argument (`compat.stack.run_check(..., env)`) and never probes.
"""

from __future__ import annotations

from typing import Any


def machine_env(gpu_sm: int | None = None) -> dict[str, Any]:
    """`{gpu_sm, gpu, svdquant_precision}` for the target GPU, or `{}` when none is known.

    `svdquant_precision` is `int4`, `fp4`, or `none` for a GPU without Nunchaku 4-bit kernels.
    """
    from modelctl.compat.gpu_rules import svdquant_support
    from modelctl.machine.target import override_sm

    sm, where = override_sm(gpu_sm), "--gpu-sm"
    if sm is None:
        sm, where = _probed_sm()
    if sm is None:
        return {}
    return {"gpu_sm": sm, "gpu": where, "svdquant_precision": svdquant_support(sm) or "none"}


def _probed_sm() -> tuple[int | None, str]:
    """The first visible GPU's sm from NVML (or a replayed record); (None, "") without one."""
    from modelctl.errors import ModelctlError
    from modelctl.machine.gpu import probe

    try:
        report = probe()
    except ModelctlError:
        return None, ""
    if not report.gpus:
        return None, ""
    gpu = report.gpus[0]
    return gpu.sm, f"GPU {gpu.index} {gpu.name}"
