"""`check`: compatibility verdicts between the parts of a stack, before anything is downloaded.

`modelctl check SPEC` checks a manifest selection (installed files read locally, the others by
their headers over HTTP Range requests); `modelctl check FILE|URL…` checks loose files as one stack,
roles inferred from what each file is; `--workflow FILE` checks the models a ComfyUI workflow
loads. Exit 0 when every rule holds, 1 when any fails (2 bad input, 3 unreachable source).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.cli.options import GpuSm, Json, Manifests, ModelsDir, models_layout, parse_gpu_sm
from modelctl.cli.output import console, print_json, shown

if TYPE_CHECKING:
    from rich.console import Console

    from modelctl.compat.model import Part, Report, Verdict

# Suffixes that make an argument a model file rather than a manifest name.
FILE_SUFFIXES = (".gguf", ".safetensors", ".sft", ".model", ".bin", ".pt", ".pth", ".ckpt")
URL_PREFIXES = ("hf://", "https://", "http://", "file://")
# What the "width" column shows per role: (fact, label) pairs, the first present ones joined.
WIDTH_FACTS: dict[str, tuple[tuple[str, str], ...]] = {
    "diffusion_model": (("dim", "dim {}"), ("cap_feat_dim", "text {}"), ("in_channels", "{} ch")),
    "text_encoder": (("embedding_length", "{}"),),
    "vae": (("latent_channels", "{} ch"), ("vae_dims", "{}-D")),
    "tokenizer": (("vocab_size", "vocab {}"),),
    "mmproj": (("embedding_length", "{}"),),
}
MARKS = {"fail": "[red]✗[/red]", "pass": "[green]✓[/green]", "skip": "[yellow]-[/yellow]"}

Targets = Annotated[
    list[str] | None,
    typer.Argument(
        help="A SPEC (NAME[:axis=value,…] or a manifest file), or model files / hf:// / https:// "
        "URLs checked together as one stack.",
        show_default=False,
    ),
]
WorkflowOpt = Annotated[
    str | None,
    typer.Option("--workflow", help="Also check the models a ComfyUI workflow JSON loads.",
                 show_default=False),
]  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)


def is_file_target(arg: str) -> bool:
    """A model file or URL (checked as a loose file), as opposed to a manifest SPEC."""
    if arg.startswith(URL_PREFIXES):
        return True
    if arg.lower().endswith(FILE_SUFFIXES):
        return True
    path = Path(os.path.expanduser(arg))
    return path.is_file() and path.suffix not in (".yaml", ".yml")


def check_command(
    targets: Targets = None,
    json_output: Json = False,
    gpu_sm: GpuSm = None,
    workflow: WorkflowOpt = None,
    models_dir: ModelsDir = None,
    manifests: Manifests = None,
) -> int:
    """Check that the parts of a stack fit together (text encoder, VAE, loaders, GPU, tokenizer)."""
    from modelctl.errors import BadInput

    targets = list(targets or [])
    if not targets and not workflow:
        raise BadInput("nothing to check", "give a SPEC, model files / URLs, or --workflow FILE")
    sm = parse_gpu_sm(gpu_sm)
    reports = _run(targets, workflow, sm, models_dir, manifests)
    if json_output:
        data = [r.to_json() for r in reports]
        print_json(data[0] if len(data) == 1 else data)
    else:
        for i, report in enumerate(reports):
            if i:
                console().print()
            print_report(report)
    return 0 if all(r.ok for r in reports) else 1


def _run(
    targets: list[str],
    workflow: str | None,
    sm: int | None,
    models_dir: str | None,
    manifests: str | None,
) -> list[Report]:
    from modelctl.check.stack import check_files, check_selection
    from modelctl.plan.selections import pinned_selection

    files = [t for t in targets if is_file_target(t)]
    specs = [t for t in targets if not is_file_target(t)]
    layout = models_layout(models_dir)
    reports = [check_selection(pinned_selection(spec, manifests, sm), layout, sm) for spec in specs]
    if workflow:
        from modelctl.workflow import selection_from_workflow

        reports.append(check_selection(selection_from_workflow(workflow, manifests), layout, sm))
    if files:
        reports.append(check_files(files, sm))
    return reports


# ---- human output


def width_text(part: Part) -> str:
    """The widths that decide compatibility for this part's role, e.g. `dim 3840 · text 2560`."""
    facts = part.facts
    parts = [label.format(facts[key]) for key, label in WIDTH_FACTS.get(part.role, ())
             if facts.get(key) is not None]  # fmt: skip
    svdq = facts.get("svdquant")
    if isinstance(svdq, dict) and svdq.get("precision"):
        parts.append(f"svdq {svdq.get('precision')} r{svdq.get('rank', '?')}")
    return shown(" · ".join(parts)) or "-"  # facts come from file headers: data, not markup


def print_report(report: Report) -> None:
    """Parts table, then failures in full, then one line per rule that holds or was skipped."""
    from rich.table import Table

    out = console()
    gpu = report.env
    where = f"sm {gpu['gpu_sm']} ({gpu['gpu']})" if gpu.get("gpu_sm") else "unknown (--gpu-sm N)"
    out.print(f"[bold]check {shown(report.stack)}[/bold]   GPU: {shown(where)}")
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("role", "file", "family", "width"):
        table.add_column(column)
    for part in report.parts:
        table.add_row(part.role, shown(part.name), shown(part.family or "?"), width_text(part))
    out.print(table)
    out.print()
    for verdict in sorted(report.verdicts, key=lambda v: ("fail", "pass", "skip").index(v.status)
                          if v.status in MARKS else 3):  # fmt: skip
        if verdict.status in MARKS:
            _print_verdict(out, verdict)
    counts = report.counts()
    applicable = counts["fail"] + counts["pass"] + counts["skip"]
    tail = (f"{counts['pass']} hold, {counts['skip']} skipped, "
            f"{counts['n/a']} not applicable")  # fmt: skip
    if report.ok:
        out.print(f"\n[green bold]OK[/green bold]: no rule fails ({tail})")
    else:
        out.print(
            f"\n[red bold]INCOMPATIBLE[/red bold]: {counts['fail']} of {applicable} rules "
            f"fail ({tail})"
        )


def _print_verdict(out: Console, verdict: Verdict) -> None:
    """A failure leads with what is wrong, then the rule, why it matters and the fix."""
    from rich.padding import Padding
    from rich.text import Text

    rule = verdict.rule
    if verdict.status != "fail":
        line = f"{MARKS[verdict.status]} {shown(rule.title)}  [dim]{rule.id}[/dim]"
        if verdict.status == "skip":
            line += f"  [yellow]skipped: {shown(verdict.note or 'facts unknown')}[/yellow]"
        out.print(line)
        return
    for finding in verdict.findings:
        out.print(f"{MARKS['fail']} [bold]{shown(finding.message)}[/bold]")
    fix = rule.fix
    target = ""
    if fix.get("use"):
        target = f" -> {fix['use']}" + (f" from {fix['from']}" if fix.get("from") else "")
    for label, text in (
        ("rule", f"{rule.title} ({rule.id})"),
        ("why", rule.explanation),
        ("fix", fix["text"] + target),
    ):
        body = Text.assemble((f"{label}: ", "bold" if label == "fix" else "dim"), text)
        out.print(Padding(body, (0, 0, 0, 4), expand=False))
