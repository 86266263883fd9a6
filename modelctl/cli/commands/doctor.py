"""`doctor`: GPU, VRAM, compute capability, packages, disk, token and endpoint, checked up front."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.cli.options import GpuSm, Json, Manifests, ModelsDir, parse_gpu_sm

if TYPE_CHECKING:
    from modelctl.doctor.run import DoctorResult


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)


def doctor_command(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Stacks to check the machine against (NAME[:axis=value,…] or a file).",
            show_default=False,
        ),
    ] = None,
    json_output: Json = False,
    models_dir: ModelsDir = None,
    manifests: Manifests = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not contact the Hub (token presence only).")
    ] = False,
    comfyui: Annotated[
        Path | None,
        typer.Option(
            "--comfyui",
            help="ComfyUI folder (or its ComfyUI-nunchaku folder) to check.",
            show_default=False,
        ),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option(
            "--python", help="The Python that runs ComfyUI (default: this one).", show_default=False
        ),
    ] = None,
    gpu_sm: GpuSm = None,
    save_nvml: Annotated[
        Path | None,
        typer.Option(
            "--save-nvml",
            help="Also save NVML's raw answers to FILE (replay with MODELCTL_NVML_RECORD=FILE).",
            show_default=False,
        ),
    ] = None,
) -> int:
    """Check this machine for the stacks: each finding ok / warn / fail with a one-line fix.

    Exit 0 when nothing failed (warnings allowed), 1 when a check failed, 2 on bad input.
    """
    from modelctl.doctor.run import DoctorOptions, run

    opts = DoctorOptions(
        specs=list(specs or []),
        manifests=manifests,
        models_dir=models_dir,
        python=python or sys.executable,
        comfyui=comfyui,
        gpu_sm=parse_gpu_sm(gpu_sm),
        offline=offline,
        save_nvml=save_nvml,
    )
    result = run(opts)
    if json_output:
        from modelctl.cli.output import print_json

        print_json(result.to_json())
    else:
        _print_human(result)
    return result.exit_code


_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def _print_human(result: DoctorResult) -> None:
    from rich.text import Text

    from modelctl.cli.output import console
    from modelctl.redact import redact

    out = console()
    for check in result.checks:
        line = Text()
        line.append(f"{check.status:<5}", style=_STYLE.get(check.status, ""))
        line.append(f" {redact(check.summary)}")
        out.print(line)
        if check.fix and check.status in ("warn", "fail"):
            out.print(Text(f"      fix: {redact(check.fix)}", style="dim"))
    counts = result.to_json()["counts"]
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    out.print(Text(f"doctor: {result.status} ({summary})", style=_STYLE[result.status]))
