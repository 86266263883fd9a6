"""Doctor's checks of a manifest's `requires:` (VRAM, SVDQuant precision, package and Python
versions) against the machine, with `{axis}` placeholders filled from the selection."""

from __future__ import annotations

import re
from typing import Any

from modelctl.compat.gpu_rules import (
    rules,
    svdquant_rtx_series,
    svdquant_support,
    svdquant_unsupported_reason,
)
from modelctl.doctor.model import Check, gib, version_in
from modelctl.machine.gpu import NO_GPU, GpuReport
from modelctl.units import GIB

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def fill(template: str, values: dict[str, str]) -> str:
    """`{axis}` placeholders filled from the selection (unknown ones left as written)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def requires_checks(
    label: str,
    requires: dict[str, Any],
    values: dict[str, str],
    gpu: GpuReport,
    sm_override: int | None,
    versions: dict[str, str | None],
) -> list[Check]:
    """A selection's `requires:` against the machine. `versions` maps package names (and
    `python`, `comfyui`, `comfyui-nunchaku`) to installed versions (None: absent)."""
    checks: list[Check] = []
    gpu_req = requires.get("gpu") or {}
    if "min_vram_gib" in gpu_req:
        checks.append(_vram_check(label, float(gpu_req["min_vram_gib"]), gpu))
    if "precision" in gpu_req:
        checks.append(_precision_check(label, fill(gpu_req["precision"], values), gpu, sm_override))
    for name, spec in (requires.get("packages") or {}).items():
        checks.append(_package_check(label, name, spec, versions.get(name.lower())))
    if "python" in requires:
        checks.append(_package_check(label, "python", requires["python"], versions.get("python")))
    return checks


def _vram_check(label: str, minimum: float, gpu: GpuReport) -> Check:
    check_id = f"{label}.vram"
    if not gpu.visible:
        return Check(
            check_id,
            "warn",
            f"{label} needs {minimum:g} GiB of VRAM; {NO_GPU}",
            "run doctor on the machine that will run the stack",
        )
    best = max(gpu.gpus, key=lambda g: g.total_bytes)
    if best.total_bytes / GIB + 1e-9 < minimum:
        return Check(
            check_id,
            "fail",
            f"{label} needs {minimum:g} GiB of VRAM; the largest GPU ({best.name}) has "
            f"{gib(best.total_bytes)}",
            "choose a smaller variant, or enable CPU offload if the stack supports it",
        )
    return Check(
        check_id, "ok", f"{label}: {best.name} has {gib(best.total_bytes)} (needs {minimum:g} GiB)"
    )


def _precision_check(label: str, wanted: str, gpu: GpuReport, sm_override: int | None) -> Check:
    check_id = f"{label}.precision"
    axis, auto = rules()["precision_axis"]["name"], rules()["precision_axis"]["auto"]
    if "{" in wanted or wanted == auto:
        return Check(check_id, "skip", f"{label}: precision not resolved ({wanted})")
    if sm_override is not None:
        targets = [(f"--gpu-sm {sm_override}", sm_override)]
    else:
        targets = [(f"GPU {g.index} {g.name}", g.sm) for g in gpu.gpus]
    if not targets:
        return Check(
            check_id,
            "warn",
            f"{label} uses SVDQuant {wanted}; {NO_GPU}",
            "pass --gpu-sm N to check for the GPU that will run it",
        )
    bad = [(name, sm) for name, sm in targets if svdquant_support(sm) != wanted]
    if not bad:
        return Check(check_id, "ok", f"{label}: SVDQuant {wanted} runs on {targets[0][0]}")
    name, sm = bad[0]
    runs = svdquant_support(sm)
    if runs is None:
        return Check(
            check_id,
            "fail",
            f"{label} needs SVDQuant {wanted}, but {name} (sm {sm}): "
            + svdquant_unsupported_reason(sm),
            f"run this stack on an {svdquant_rtx_series()}-class GPU, or pick a non-Nunchaku stack",
        )
    return Check(
        check_id,
        "fail",
        f"{label} uses SVDQuant {wanted} files; {name} (sm {sm}) runs {runs} only",
        f"select {axis}={runs} (or {axis}={auto})",
    )


def _package_check(label: str, name: str, spec: str, version: str | None) -> Check:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion

    check_id = f"{label}.requires.{name}"
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        return Check(
            check_id,
            "fail",
            f"{label}: requires.packages.{name} `{spec}` is not a version range",
            "write a PEP 440 range such as >=1.0,<2",
        )
    if version is None:
        return Check(
            check_id,
            "fail",
            f"{label} needs {name} {spec}; it is not installed",
            f"install {name} {spec}",
        )
    try:
        ok = version_in(version, spec)
    except InvalidVersion:
        return Check(check_id, "warn", f"{label}: cannot compare {name} {version} with {spec}")
    if not ok:
        return Check(
            check_id,
            "fail",
            f"{label} needs {name} {spec}; {version} is installed",
            f"install {name} {spec}",
        )
    return Check(check_id, "ok", f"{label}: {name} {version} satisfies {spec}")
