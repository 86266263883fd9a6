"""GPU and Nunchaku rules, read from `compat/data/gpu_rules.yaml` so they live in one place.

Knowledge compat needs (which GPU runs which SVDQuant precision), kept pure: no probing here, the
machine facts come from `modelctl.machine`. `doctor`, the `precision: auto` resolver and the
compatibility checker all ask these functions; none of them hard-codes an sm number or a threshold.
The file has no top-level `rules:` list, so `compat.rules.load_rules` passes over it.
"""

from __future__ import annotations

import functools
import re
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
    supported = " and ".join(
        f"{precision} on sm {'/'.join(map(str, sms))}" for precision, sms in svdquant_sms().items()
    )
    return " ".join(rules()["svdquant"]["unsupported"].split()).format(sm=sm, supported=supported)


def svdquant_sms() -> dict[str, list[int]]:
    """{precision: [sm, …]} as the rules file lists them."""
    return {k: list(v) for k, v in rules()["svdquant"]["precision_by_sm"].items()}


def svdquant_precisions() -> list[str]:
    """The SVDQuant precisions in the rules file's order (`int4`, `fp4`)."""
    return list(rules()["svdquant"]["precision_by_sm"])


def nunchaku_install_hint() -> str:
    """Where to get the SVDQuant engine's wheel, as one line."""
    return " ".join(rules()["nunchaku_distribution"]["install_hint"].split())


def cpu_offload_recommended(total_vram_bytes: int) -> bool:
    """ComfyUI-nunchaku's `cpu_offload: auto` decision for a GPU of this total memory."""
    return total_vram_bytes / GIB < rules()["cpu_offload"]["below_vram_gib"]


# ---- GPU facts as hints phrase them, so no hint retypes an sm number or a card name


def svdquant_cards(precision: str) -> str:
    """The cards that run `precision`, for hints: `RTX 20/30/40, A100` (int4), `RTX 50` (fp4)."""
    cards = rules()["svdquant"]["cards"][precision]
    named = [_rtx(cards["rtx"])] if cards.get("rtx") else []
    return ", ".join(named + [str(card) for card in cards.get("other") or ()])


def svdquant_rtx_series() -> str:
    """Every GeForce RTX series that runs SVDQuant, for hints: `RTX 20/30/40/50`."""
    cards = rules()["svdquant"]["cards"]
    return _rtx([series for p in svdquant_precisions() for series in cards[p].get("rtx") or ()])


def _rtx(series: list[int]) -> str:
    return "RTX " + "/".join(map(str, series))


def sm_examples() -> list[tuple[int, str]]:
    """(sm, card) pairs hints give as examples of `--gpu-sm` values: (86, `RTX 3090`), …"""
    return [(int(e["sm"]), str(e["card"])) for e in rules()["svdquant"]["examples"]]


def precision_choices(cards: bool = False) -> str:
    """`precision=int4 or precision=fp4`; with `cards`, each followed by the cards that run it."""
    axis = rules()["precision_axis"]["name"]
    return " or ".join(
        f"{axis}={p}" + (f" ({svdquant_cards(p)})" if cards else "") for p in svdquant_precisions()
    )


def blackwell_install_hint() -> str:
    """What to install for Blackwell GeForce, from `blackwell_build`: `install torch >= 2.7 built
    for CUDA >= 12.8 (e.g. the cu128 wheels)`; PyTorch names its wheel index `cu` + the CUDA
    version without its dot."""
    rule = rules()["blackwell_build"]
    cuda = re.sub(r"^[<>=!~]+\s*", "", rule["cuda"])
    return (
        f"install torch {_spaced(rule['torch'])} built for CUDA {_spaced(rule['cuda'])} "
        f"(e.g. the cu{cuda.replace('.', '')} wheels)"
    )


def _spaced(spec: str) -> str:
    """A one-clause version range as prose: `>=2.7` -> `>= 2.7`."""
    return re.sub(r"^([<>=!~]+)\s*", r"\1 ", spec)
