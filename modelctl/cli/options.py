"""Options every command shares (`--json`, `--models-dir`, `--manifests`), declared once."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ModelsDir = Annotated[
    str | None,
    typer.Option(
        "--models-dir",
        help="Models folder (default: $MODELCTL_MODELS_DIR, else ./shared/models).",
        show_default=False,
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
