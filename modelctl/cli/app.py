"""The Typer application: one module per command family under `cli/commands/`, registered here."""

from __future__ import annotations

import typer


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="modelctl",
        help="Declarative, verified model assets for ComfyUI stacks.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    from modelctl.cli.commands import (
        catalog,
        check,
        doctor,
        ensure,
        inspect,
        inventory,
        pull,
        workflow,
    )

    for module in (catalog, ensure, doctor, workflow, inventory, pull, inspect, check):
        module.register(app)
    return app
