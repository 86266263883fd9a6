"""`from-workflow`: a manifest from the models a ComfyUI workflow loads."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from modelctl.cli.options import Json, Manifests

if TYPE_CHECKING:
    from modelctl.workflow.collect import Model, Report


def register(app: typer.Typer) -> None:
    app.command("from-workflow")(from_workflow_command)


def from_workflow_command(
    workflow: Annotated[Path, typer.Argument(help="A ComfyUI workflow .json (UI or API format).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the manifest here (default: print it).",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Manifest name (default: from the file name).", show_default=False
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing -o file.")] = False,
    json_output: Json = False,
    manifests: Manifests = None,
) -> int:
    """Collect the models a workflow loads into a manifest: Hub links become hf:// sources."""
    from modelctl.workflow import analyze, manifest_text
    from modelctl.workflow.render import check_name, default_name

    # With -o, name the manifest after the output file, so it can sit in a manifests folder
    # (the catalog insists that `name:` matches the file name).
    manifest_name = check_name(name) if name else default_name(output or workflow)
    report = analyze(workflow, manifests)
    text = None
    if report.models or report.unresolved:
        text = manifest_text(report, manifest_name)  # BadInput when nothing has a URL
    if output is not None and text is not None:
        _write(output, text, force)
    if json_output:
        from modelctl.cli.output import print_json

        print_json(_json(report, manifest_name, text, output))
    elif text is None:
        _say(sys.stderr, _nothing_line(report))
        _details(report, sys.stderr)
    elif output is None:
        sys.stdout.write(text)
        _summary(report, None, sys.stderr)
    else:
        _summary(report, output, sys.stdout)
    return 0


def _nothing_line(report: Report) -> str:
    return (
        f"{report.workflow}: no model file to download (the workflow loads none; API nodes run "
        "remotely); nothing written"
    )


def _write(output: Path, text: str, force: bool) -> None:
    """Write atomically (temp file + rename) so no half-written manifest ever has the final name."""
    from modelctl.errors import BadInput

    output = Path(os.path.expanduser(output))
    if output.is_dir():
        raise BadInput(f"{output} is a folder", "give a file name, e.g. -o my-stack.yaml")
    if output.exists() and not force:
        raise BadInput(
            f"{output} already exists", "pass --force to overwrite it, or choose another -o"
        )
    if not output.parent.is_dir():
        raise BadInput(f"the folder {output.parent} does not exist", "create it first")
    from modelctl.store.atomic import write_text

    try:
        write_text(output, text)
    except OSError as exc:
        raise BadInput(
            f"cannot write {output}: {exc.strerror}", "choose a writable path with -o"
        ) from None


def _json(report: Report, name: str, text: str | None, output: Path | None) -> dict[str, Any]:
    from modelctl.workflow.table import load_table

    table = load_table()

    def model(m: Model) -> dict[str, Any]:
        return {
            "name": m.name,
            "folder": m.folder,
            "dest": m.dest,
            "role": table.best_role(m.roles) if m.roles else table.folder_role(m.folder),
            "source": m.source,
            "revision": m.revision,
            "sha256": m.sha256,
            "origin": m.origin,
            "used_by": [
                {
                    "node": u.node,
                    "type": u.node_type,
                    "title": u.title,
                    "widget": u.widget,
                    "active": u.active,
                    "copies": u.copies,
                }
                for u in m.uses
            ],
        }

    return {
        "workflow": report.workflow,
        "format": report.format,
        "name": name,
        "output": str(output) if output is not None and text is not None else None,
        "models": [model(m) for m in report.models],
        "unresolved": [{**model(m), "hint": hint} for m, hint in report.unresolved],
        "skipped": [{**model(m), "reason": why} for m, why in report.skipped],
        "warnings": report.warnings,
        "manifest": text,
    }


def _say(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")  # redacted on its way out (modelctl.cli.output.redacted_streams)


def _summary(report: Report, output: Path | None, stream: TextIO) -> None:
    where = f"wrote {output}" if output is not None else "manifest printed above"
    _say(
        stream,
        f"{where}: {len(report.models)} model(s) from {report.workflow} ({report.format} format)",
    )
    for m in report.models:
        rev = f"@{m.revision}" if m.revision else ""
        _say(stream, f"  {m.dest}  <-  {m.source}{rev}")
    _details(report, stream)


def _details(report: Report, stream: TextIO) -> None:
    from modelctl.workflow.collect import clean_text, users_label

    def users(m: Model) -> str:
        return users_label(m.uses) or (m.declared_where or "")

    if report.unresolved:
        _say(stream, f"unresolved, no download URL anywhere ({len(report.unresolved)}):")
        for m, hint in report.unresolved:
            _say(stream, clean_text(f"  {m.where()}  used by {users(m)}"))
            _say(stream, clean_text(f"    hint: {hint}"))
    if report.skipped:
        _say(stream, f"skipped ({len(report.skipped)}):")
        for m, why in report.skipped:
            _say(stream, clean_text(f"  {m.where()}: {why}"))
    for warning in report.warnings:  # diagnostics: on stderr even when the summary is not
        _say(sys.stderr, clean_text(f"warning: {warning}"))
