"""Doctor's GPU checks: the driver and each GPU NVML sees, which SVDQuant precision each runs (and
whether Nunchaku needs cpu_offload there), and the newer stack Blackwell GeForce cards need. Every
sm number and threshold comes from `compat/data/gpu_rules.yaml` through `compat.gpu_rules`."""

from __future__ import annotations

from modelctl.compat.gpu_rules import (
    blackwell_install_hint,
    cpu_offload_recommended,
    rules,
    svdquant_cards,
    svdquant_precisions,
    svdquant_support,
    svdquant_unsupported_reason,
)
from modelctl.doctor.model import Check, gib, version_in
from modelctl.doctor.python import torch_version
from modelctl.machine.gpu import NO_GPU, GpuReport
from modelctl.machine.packages import PythonEnv, TorchImport


def gpu_checks(gpu: GpuReport) -> list[Check]:
    if not gpu.visible:
        return [
            Check(
                "gpu",
                "warn",
                NO_GPU + (f" ({gpu.problem})" if gpu.problem else ""),
                "fine for downloads and image builds; to run models install the NVIDIA driver "
                "(containers: --gpus all) and pip install 'modelctl[gpu]'",
            )
        ]
    checks = [
        Check(
            "gpu.driver",
            "ok",
            f"NVIDIA driver {gpu.driver or '?'} (CUDA {gpu.cuda_driver or '?'}), "
            f"{len(gpu.gpus)} GPU(s)",
        )
    ]
    for g in gpu.gpus:
        checks.append(
            Check(
                f"gpu.{g.index}",
                "ok",
                f"GPU {g.index}: {g.name}, compute capability {g.capability} (sm {g.sm}), "
                f"VRAM {gib(g.total_bytes)} total, {gib(g.free_bytes)} free",
            )
        )
    if gpu.problem:
        checks.append(Check("gpu.errors", "warn", gpu.problem, "check `nvidia-smi`"))
    return checks


def svdquant_checks(gpu: GpuReport, sm_override: int | None) -> list[Check]:
    """Nunchaku SVDQuant precision (and cpu_offload advice) per GPU, or for `--gpu-sm`."""
    if sm_override is not None:
        return [_svdquant_row("nunchaku.precision", f"--gpu-sm {sm_override}", sm_override)]
    if not gpu.visible:
        return [
            Check(
                "nunchaku.precision",
                "skip",
                f"Nunchaku SVDQuant precision not checked: {NO_GPU}",
                "pass --gpu-sm N to check for the GPU that will run the stack",
            )
        ]
    checks = []
    for g in gpu.gpus:
        row = _svdquant_row(f"nunchaku.precision.{g.index}", f"GPU {g.index} {g.name}", g.sm)
        checks.append(row)
        if svdquant_support(g.sm) is None:
            continue
        if cpu_offload_recommended(g.total_bytes):
            limit = rules()["cpu_offload"]["below_vram_gib"]
            checks.append(
                Check(
                    f"nunchaku.cpu_offload.{g.index}",
                    "warn",
                    f"GPU {g.index} has {gib(g.total_bytes)} (< {limit} GiB): "
                    "Nunchaku needs cpu_offload",
                    "set cpu_offload to `enable` (or `auto`) in the Nunchaku DiT loader node",
                )
            )
        else:
            checks.append(
                Check(
                    f"nunchaku.cpu_offload.{g.index}",
                    "ok",
                    f"GPU {g.index} has {gib(g.total_bytes)}: cpu_offload not needed",
                )
            )
    return checks


def _svdquant_row(check_id: str, label: str, sm: int) -> Check:
    precision = svdquant_support(sm)
    if precision is None:
        return Check(
            check_id,
            "warn",
            f"{label} (sm {sm}): Nunchaku SVDQuant unsupported: {svdquant_unsupported_reason(sm)}",
            "run Nunchaku stacks on "
            + " or ".join(f"an {p} GPU ({svdquant_cards(p)})" for p in svdquant_precisions())
            + "; use a GGUF or bf16 stack on this one",
        )
    return Check(
        check_id,
        "ok",
        f"{label} (sm {sm}): Nunchaku SVDQuant {precision} (svdq-{precision}_* files)",
    )


def blackwell_checks(gpu: GpuReport, py: PythonEnv, imp: TorchImport | None) -> list[Check]:
    """Blackwell GeForce (`blackwell_build.sm`) needs a newer torch and CUDA build than the
    general wheels (nunchaku's installation docs)."""
    rule = rules()["blackwell_build"]
    targets = [g for g in gpu.gpus if g.sm in rule["sm"]]
    version = torch_version(py, imp)
    if not targets or not version:
        return []
    problems = []
    if not version_in(version.split("+")[0], rule["torch"]):
        problems.append(f"torch {version} (needs {rule['torch']})")
    cuda = imp.cuda if imp and imp.ok else None
    if cuda and not version_in(cuda, rule["cuda"]):
        problems.append(f"CUDA build {cuda} (needs {rule['cuda']})")
    if not problems:
        return [Check("gpu.blackwell", "ok", f"torch {version} supports {targets[0].name}")]
    return [
        Check(
            "gpu.blackwell",
            "fail",
            f"{targets[0].name} (sm {targets[0].sm}) needs a newer stack: " + "; ".join(problems),
            blackwell_install_hint(),
        )
    ]
