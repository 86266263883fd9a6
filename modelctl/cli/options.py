"""Options every command shares (`--json`, `--models-dir`, `--manifests`), declared once."""

from __future__ import annotations

from typing import Annotated, Any

import click
import typer

from modelctl.ensure.config import MAX_SECONDS, check_models_root, seconds

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


if TYPE_CHECKING:  # generic from click 8.5 (input, value); a plain class before it
    _ParamType = click.ParamType[Any, float]
else:
    _ParamType = click.ParamType


class Seconds(_ParamType):
    """A seconds option's value: above 0 (from 0 with `zero_ok`, for "do not wait") up to
    `MAX_SECONDS`, in the grammar the ensure fast path parses (`modelctl.ensure.config.seconds`).

    click's FLOAT takes nan, inf and negatives, which then mean something no one asked for (a
    negative lock timeout waits forever in filelock, nan never times out, 1e300 overflows a
    timer); refusing them here makes each a usage error (exit 2) that names the option.
    """

    name = "seconds"

    def __init__(self, zero_ok: bool = False) -> None:
        self.zero_ok = zero_ok

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):  # a default
            return value
        number = seconds(str(value), self.zero_ok)
        if number is None:
            low = "from 0" if self.zero_ok else "above 0"
            self.fail(f"`{value}` is not a number of seconds {low} up to {MAX_SECONDS:.0f}",
                      param, ctx)  # fmt: skip
        return number


def parse_gpu_sm(value: str | None) -> int | None:
    """`--gpu-sm` text (86, 8.6, sm_86) as an integer compute capability, or None."""
    if value is None:
        return None
    from modelctl.machine.target import parse_sm

    return parse_sm(value)


def models_layout(value: str | None) -> Layout:
    """The models dir `--models-dir` names (else $MODELCTL_MODELS_DIR, else the default)."""
    from modelctl.store.layout import Layout, models_dir

    root = models_dir(value)
    check_models_root(str(root))
    return Layout(root)
