"""Options every command shares (`--json`, `--models-dir`, `--manifests`), declared once."""

from __future__ import annotations

from typing import Annotated

import typer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from modelctl.store.layout import Layout

Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ModelsDir = Annotated[
    str | None,
    typer.Option(
        "--models-dir",
        help="Models folder (default: $MODELCTL_MODELS_DIR, else ./shared/models).",
        show_default=False,
    ),
]
GpuSm = Annotated[
    str | None,
    typer.Option(
        "--gpu-sm",
        help="Compute capability of the GPU that will run the stack (86, 8.6, 120) for "
        "precision=auto and the GPU rules; default: $MODELCTL_GPU_SM, else the GPU NVML sees.",
        show_default=False,
    ),
]
Locked = Annotated[
    bool,
    typer.Option(
        "--locked", help="Require NAME.lock.yaml and fail (exit 1) if the manifest drifted."
    ),
]
Manifests = Annotated[
    str | None,
    typer.Option(
        "--manifests",
        help="Extra manifest folders, separated by ':' (also $MODELCTL_MANIFESTS).",
        show_default=False,
    ),
]


def parse_gpu_sm(value: str | None) -> int | None:
    """`--gpu-sm` text (86, 8.6, sm_86) as an integer compute capability, or None."""
    if value is None:
        return None
    from modelctl.machine.target import parse_sm

    return parse_sm(value)


def models_layout(value: str | None) -> Layout:
    """The models dir `--models-dir` names (else $MODELCTL_MODELS_DIR, else the default)."""
    from modelctl.store.layout import Layout, models_dir

    return Layout(models_dir(value))
