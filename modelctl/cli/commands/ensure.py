"""`ensure` (the container entrypoint hook) and `comfyui-paths` (ComfyUI's extra_model_paths.yaml).

`modelctl ensure` with everything installed never gets here: `cli/main.py` answers it from the
stdlib-only fast path in `modelctl.ensure`. This is the full command, for everything else.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

import typer

from modelctl.cli import options as shared
from modelctl.cli.options import parse_gpu_sm
from modelctl.ensure import config as C


def _help(alias: Any) -> str:
    """The help text of a shared option of `cli/options.py` (declared here under C's name)."""
    return str(get_args(alias)[1].help)


def register(app: typer.Typer) -> None:
    app.command("ensure")(ensure_command)
    app.command("comfyui-paths")(comfyui_paths_command)


# Every option below takes its name (and environment variable) from `modelctl.ensure.config`,
# whose tables the stdlib fast path parses with; the parameter names are the tables' values.
Json = Annotated[bool, typer.Option(C.JSON, help=_help(shared.Json))]
ModelsDir = Annotated[
    str | None, typer.Option(C.MODELS_DIR, help=_help(shared.ModelsDir), show_default=False)
]


def ensure_command(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Stacks to make present: NAME[:axis=value,…] or manifest files "
            f"(default: ${C.ENSURE_ENV}, separated by spaces).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            C.TIMEOUT,
            metavar="SECONDS",
            envvar=C.ENSURE_ENVVARS["timeout"],
            help="Give up after this many seconds in all (exit 5); partial downloads are kept "
            f"and resumed next time. Also ${C.TIMEOUT_ENV}.",
            show_default=False,
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            C.OFFLINE,
            help="Never touch the network; missing assets are an error (exit 1) that lists them. "
            f"Also ${C.OFFLINE_ENVS[0]}=1 or ${C.OFFLINE_ENVS[1]}=1.",
        ),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(C.JOBS, min=1, help="Files to download at once.", show_default=False),
    ] = None,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            C.LOCK_TIMEOUT,
            click_type=shared.Seconds(zero_ok=True),
            help="Seconds to wait for another process pulling the same file (exit 5); "
            "0: do not wait.",
            show_default=False,
        ),
    ] = None,
    locked: Annotated[bool, typer.Option(C.LOCKED, help=_help(shared.Locked))] = False,
    gpu_sm: Annotated[
        str | None, typer.Option(C.GPU_SM, help=_help(shared.GpuSm), show_default=False)
    ] = None,
    json_output: Json = False,
    models_dir: ModelsDir = None,
    manifests: Annotated[
        str | None, typer.Option(C.MANIFESTS, help=_help(shared.Manifests), show_default=False)
    ] = None,
) -> int:
    """Make stacks present: instant when every file's receipt matches, else check and pull.

    Configured entirely by environment for containers (MODELCTL_ENSURE, MODELCTL_MODELS_DIR,
    HF_TOKEN, HF_ENDPOINT, MODELCTL_OFFLINE); never prompts.
    """
    from modelctl.cli.progress import reporting
    from modelctl.ensure.config import env_specs, parse_seconds
    from modelctl.ensure.run import run

    seconds = parse_seconds(timeout, C.TIMEOUT)
    with reporting(json_output) as reporter:
        return run(
            list(specs or []) or env_specs(),
            models_dir=models_dir,
            manifests=manifests,
            offline=offline,
            timeout=seconds,
            json_output=json_output,
            jobs=jobs,
            lock_timeout=lock_timeout,
            reporter=reporter,
            locked=locked,
            gpu_sm=parse_gpu_sm(gpu_sm),
        )


def comfyui_paths_command(
    write: Annotated[
        str | None,
        typer.Option(
            C.WRITE,
            metavar="PATH",
            help="Merge the modelctl section into this extra_model_paths.yaml (other sections "
            "are kept) instead of printing it.",
            show_default=False,
        ),
    ] = None,
    json_output: Json = False,
    models_dir: ModelsDir = None,
) -> int:
    """ComfyUI extra_model_paths.yaml pointing ComfyUI (and ComfyUI-GGUF) at the models dir."""
    from modelctl.ensure.config import models_root
    from modelctl.store import comfyui_paths

    typer.echo(comfyui_paths.report(models_root(models_dir), write, json_output), nl=False)
    return 0
