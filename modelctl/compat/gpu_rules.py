"""GPU and Nunchaku rules, read from `compat/data/gpu_rules.yaml` so they live in one place.

Knowledge compat needs (which GPU runs which SVDQuant precision), kept pure: no probing here, the
machine facts come from `modelctl.machine`. `doctor`, the `precision: auto` resolver and the
compatibility checker all ask these functions; none of them hard-codes an sm number or a threshold.
The file has no top-level `rules:` list, so `compat.rules.load_rules` passes over it.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from modelctl.units import GIB


@functools.cache
def rules() -> dict[str, Any]:
    """The parsed rules file (read once per process; callers must not mutate it)."""
    from modelctl.datafiles import load_yaml

    text = resources.files("modelctl.compat").joinpath("data/gpu_rules.yaml").read_text("utf-8")
    return load_yaml(text)


def svdquant_support(sm: int) -> str | None:
    """The SVDQuant precision Nunchaku runs on compute capability `sm` (86, 120…): `int4`,
    `fp4`, or None when the GPU has no 4-bit kernels (Volta, Hopper, datacenter Blackwell)."""
    for precision, sms in rules()["svdquant"]["precision_by_sm"].items():
        if sm in sms:
            return precision
    return None


def svdquant_unsupported_reason(sm: int) -> str:
    """One line saying why `sm` cannot run SVDQuant, with the supported list."""
    return " ".join(rules()["svdquant"]["unsupported"].split()).format(sm=sm)


def svdquant_sms() -> dict[str, list[int]]:
    """{precision: [sm, …]} as the rules file lists them."""
    return {k: list(v) for k, v in rules()["svdquant"]["precision_by_sm"].items()}


def nunchaku_install_hint() -> str:
    """Where to get the SVDQuant engine's wheel, as one line."""
    return " ".join(rules()["nunchaku_distribution"]["install_hint"].split())


def cpu_offload_recommended(total_vram_bytes: int) -> bool:
    """ComfyUI-nunchaku's `cpu_offload: auto` decision for a GPU of this total memory."""
    return total_vram_bytes / GIB < rules()["cpu_offload"]["below_vram_gib"]
