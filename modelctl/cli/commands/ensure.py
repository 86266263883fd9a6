"""`ensure` (the container entrypoint hook) and `comfyui-paths` (ComfyUI's extra_model_paths.yaml).

`modelctl ensure` with everything installed never gets here: `cli/main.py` answers it from the
stdlib-only fast path in `modelctl.ensure`. This is the full command, for everything else.
"""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.cli.options import GpuSm, Json, Locked, Manifests, ModelsDir, parse_gpu_sm


def register(app: typer.Typer) -> None:
    app.command("ensure")(ensure_command)
    app.command("comfyui-paths")(comfyui_paths_command)


def ensure_command(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Stacks to make present: NAME[:axis=value,…] or manifest files "
            "(default: $MODELCTL_ENSURE, separated by spaces).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            envvar="MODELCTL_TIMEOUT",
            help="Give up after this many seconds in all (exit 5); partial downloads are kept "
            "and resumed next time. Also $MODELCTL_TIMEOUT.",
            show_default=False,
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Never touch the network; missing assets are an error (exit 1) that lists them. "
            "Also $MODELCTL_OFFLINE=1 or $HF_HUB_OFFLINE=1.",
        ),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="Files to download at once.", show_default=False),
    ] = None,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            "--lock-timeout",
            help="Seconds to wait for another process pulling the same file (exit 5).",
            show_default=False,
        ),
    ] = None,
    locked: Locked = False,
    gpu_sm: GpuSm = None,
    json_output: Json = False,
    models_dir: ModelsDir = None,
    manifests: Manifests = None,
) -> int:
    """Make stacks present: instant when every file's receipt matches, else check and pull.

    Configured entirely by environment for containers (MODELCTL_ENSURE, MODELCTL_MODELS_DIR,
    HF_TOKEN, HF_ENDPOINT, MODELCTL_OFFLINE); never prompts.
    """
    from modelctl.cli.progress import reporting
    from modelctl.ensure.config import env_specs, parse_seconds
    from modelctl.ensure.run import run

    seconds = parse_seconds(timeout, "--timeout")
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
            "--write",
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
