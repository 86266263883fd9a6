"""The Typer application: one module per command family under `cli/commands/`, registered here.

Building a Typer command costs a signature walk per option, and each command module pulls in its
own imports, so a run registers only the module of the command it names (about 0.1 s less on every
invocation); `--help`, no command or an unknown one registers them all.
"""

from __future__ import annotations

import importlib

import typer

# command name -> module under modelctl.cli.commands that registers it
COMMANDS: dict[str, str] = {
    "list": "catalog",
    "show": "catalog",
    "schema": "catalog",
    "pull": "pull",
    "ensure": "ensure",
    "comfyui-paths": "ensure",
    "inspect": "inspect",
    "check": "check",
    "verify": "inventory",
    "status": "inventory",
    "lock": "inventory",
    "rm": "inventory",
    "gc": "inventory",
    "doctor": "doctor",
    "from-workflow": "workflow",
}


def build_app(args: list[str] | None = None) -> typer.Typer:
    """The app with the command `args` names registered, or every command when it names none."""
    app = typer.Typer(
        name="modelctl",
        help="Declarative, verified model assets for ComfyUI stacks.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)  # keeps `modelctl CMD` a sub-command even when only CMD is registered
    wanted = COMMANDS.get(args[0]) if args else None
    modules = (
        [wanted] if wanted else sorted(set(COMMANDS.values()), key=list(COMMANDS.values()).index)
    )
    for name in modules:
        importlib.import_module(f"modelctl.cli.commands.{name}").register(app)
    return app


def _root() -> None:
    """Declarative, verified model assets for ComfyUI stacks."""
