"""`list`, `show` and `schema`: what stacks exist and what a selection resolves to."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelctl.cli.options import GpuSm, Json, Manifests, ModelsDir, models_layout, parse_gpu_sm
from modelctl.cli.output import console, human_size, print_json, shown


def register(app: typer.Typer) -> None:
    app.command("list")(list_command)
    app.command("show")(show_command)
    app.command("schema")(schema_command)


def list_command(json_output: Json = False, manifests: Manifests = None) -> int:
    """Bundled and user manifests, with their variant axes."""
    from modelctl.cli.main import print_error
    from modelctl.errors import BadInput, ModelctlError
    from modelctl.manifest.catalog import entries, load_entry, search_dirs

    rows, failed = [], []
    for entry in entries(search_dirs(manifests)).values():
        try:
            manifest = load_entry(entry)
        except ModelctlError as exc:
            print_error(exc.message, exc.hint, label="warning")
            failed.append(entry.name)
            continue
        rows.append(
            {
                "name": manifest.name,
                "description": manifest.description,
                "path": str(entry.path),
                "bundled": entry.bundled,
                "axes": {
                    a.name: {"values": list(a.values), "default": a.default}
                    for a in manifest.axes.values()
                },
                "assets": len(manifest.assets),
            }
        )
    if json_output:
        print_json(rows)
    else:
        _print_list(rows)
    if failed:  # the one error line, after the manifests that could be read
        raise BadInput(
            f"{len(failed)} manifest(s) could not be read: {', '.join(failed)}",
            "fix or remove them (the warnings above say what is wrong with each)",
        )
    return 0


def _print_list(rows: list[dict[str, Any]]) -> None:
    """The manifests as a table; their text is data, escaped so rich reads no markup in it."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("name", "variants (default*)", "description"):
        table.add_column(column)
    for row in rows:
        axes = "; ".join(
            f"{name}=" + "|".join(v + ("*" if v == ax["default"] else "") for v in ax["values"])
            for name, ax in row["axes"].items()
        )
        table.add_row(shown(row["name"]), shown(axes or "-"), shown(row["description"]))
    console().print(table)


def show_command(
    spec: Annotated[str, typer.Argument(help="NAME[:axis=value,…] or a manifest file.")],
    json_output: Json = False,
    models_dir: ModelsDir = None,
    manifests: Manifests = None,
    gpu_sm: GpuSm = None,
) -> int:
    """The resolved plan: each asset, source, destination, size, installed state."""
    from modelctl.plan.resolve import plan
    from modelctl.plan.selections import pinned_selection

    selection = pinned_selection(spec, manifests, parse_gpu_sm(gpu_sm))
    layout = models_layout(models_dir)
    items = plan(selection, layout)
    data: dict[str, Any] = {  # the JSON document `--json` prints
        "spec": selection.spec,
        "manifest": selection.manifest.name,
        "description": selection.manifest.description,
        "variants": selection.values,
        "models_dir": str(layout.root),
        "assets": [
            {
                "id": i.asset.id,
                "role": i.asset.role,
                "source": i.asset.source,
                "revision": i.asset.revision,
                "dest": i.asset.dest,
                "path": str(i.path),
                "sha256": i.asset.sha256 or (i.receipt.sha256 if i.receipt else None),
                "size": i.size,
                "state": i.state,
                "expect": i.asset.expect,
            }
            for i in items
        ],
        "requires": selection.manifest.requires,
    }
    if json_output:
        print_json(data)
        return 0
    from rich.table import Table

    # manifest text and paths are data: escaped, so that `[/x]` in a description is not markup
    out = console()
    out.print(f"[bold]{shown(data['spec'])}[/bold]  {shown(data['description'])}")
    out.print(f"models dir: {shown(data['models_dir'])}")
    table = Table(box=None, pad_edge=False)
    for column in ("asset", "role", "dest", "source", "size", "state"):
        table.add_column(column)
    for a in data["assets"]:
        source = a["source"] + (f"@{a['revision']}" if a["revision"] else "")
        cells = (a["id"], a["role"], a["dest"], source, human_size(a["size"]), a["state"])
        table.add_row(*map(shown, cells))
    out.print(table)
    return 0


def schema_command() -> int:
    """Print the manifest v1 JSON Schema (for editor validation and completion)."""
    from modelctl.manifest.schema import json_schema

    print_json(json_schema())
    return 0
