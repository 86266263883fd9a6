"""`modelctl pull SPEC…`: check, download, verify and place every asset of some stacks."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.cli.options import (
    GpuSm,
    Json,
    Locked,
    Manifests,
    ModelsDir,
    Seconds,
    models_layout,
    parse_gpu_sm,
)

if TYPE_CHECKING:
    from modelctl.pull.result import PullSummary


def register(app: typer.Typer) -> None:
    app.command("pull")(pull_command)


def pull_command(
    specs: Annotated[
        list[str] | None, typer.Argument(help="NAME[:axis=value,…] or manifest files.")
    ] = None,
    workflow: Annotated[
        list[str] | None,
        typer.Option("--workflow", help="Also pull the models a ComfyUI workflow JSON loads."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and the disk verdict; fetch nothing.")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=16, help="Files at once.")] = 3,
    connections: Annotated[
        int,
        typer.Option("--connections", min=1, max=32, help="Connections per large file."),
    ] = 8,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a file in the way: one modelctl did not install, one changed since "
            "install, or one another stack's manifest installed.",
        ),
    ] = False,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified", help="Allow https:// and file:// sources without sha256."
        ),
    ] = False,
    require_hash: Annotated[
        bool,
        typer.Option(
            "--require-hash",
            help="Refuse (exit 3) any file no sha256 or git blob id vouches for, instead of "
            "checking its size only. Implied by --locked.",
        ),
    ] = False,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Skip the compatibility check before downloading.")
    ] = False,
    min_free: Annotated[
        str | None,
        typer.Option(
            "--min-free",
            help="Space to leave free: bytes (500M, 2GiB) or a percentage (5%).",
            show_default="the smaller of 1GiB and 2%",
        ),
    ] = None,
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout",
            click_type=Seconds(zero_ok=True),
            help="Seconds to wait for another process's lock (exit 5); 0: do not wait.",
        ),
    ] = 1800.0,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", click_type=Seconds(), help="Give up after this many seconds (exit 5)."
        ),
    ] = None,
    stall_timeout: Annotated[
        float,
        typer.Option(
            "--stall-timeout",
            click_type=Seconds(),
            help="Seconds without data before reconnecting.",
        ),
    ] = 30.0,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never use the network (file:// sources still copy).")
    ] = False,
    segment_threshold: Annotated[
        int,
        typer.Option(
            "--segment-threshold",
            envvar="MODELCTL_SEGMENT_THRESHOLD",
            hidden=True,
            help="Files from this many bytes up are fetched over several connections.",
        ),
    ] = 64 << 20,
    locked: Locked = False,
    gpu_sm: GpuSm = None,
    json_output: Json = False,
    models_dir: ModelsDir = None,
    manifests: Manifests = None,
) -> int:
    """Download, verify (sha256) and place the files of stacks, resumably and in parallel."""
    from modelctl.check.hooks import post_verify, preflight
    from modelctl.cli.progress import reporting
    from modelctl.errors import BadInput
    from modelctl.plan.selections import pinned_selections
    from modelctl.pull import PullOptions, pull_selections
    from modelctl.transfer.job import TransferOptions

    sm = parse_gpu_sm(gpu_sm)
    selections = pinned_selections(specs or [], manifests, sm, locked)
    for path in workflow or []:
        from modelctl.workflow import selection_from_workflow

        selections.append(selection_from_workflow(path, manifests))
    if not selections:
        raise BadInput("nothing to pull", "name a stack (see `modelctl list`) or pass --workflow")
    layout = models_layout(models_dir)
    transfer = TransferOptions(
        connections=connections, segment_threshold=segment_threshold, stall_timeout=stall_timeout
    )
    with reporting(json_output) as reporter:
        options = PullOptions(
            jobs=jobs,
            force=force,
            dry_run=dry_run,
            allow_unverified=allow_unverified,
            require_hash=require_hash or locked,
            min_free=min_free,
            lock_timeout=lock_timeout,
            timeout=timeout,
            offline=offline,
            transfer=transfer,
            preflight=None if no_check else functools.partial(preflight, gpu_sm=sm),
            post_verify=post_verify,
            reporter=reporter,
        )
        summary = pull_selections(selections, layout, options)
    if json_output:
        pass  # the `plan` and `summary` events said it all
    elif dry_run:
        _print_plan(summary)
    else:
        _print_summary(summary)
    return 4 if dry_run and not all(v.ok for v in summary.space) else 0


def _print_summary(summary: PullSummary) -> None:
    from modelctl.cli.output import human_size
    from modelctl.cli.progress import CHECK_WORDS
    from modelctl.store.receipts import UNVERIFIED

    got = [i for i in summary.items if i.state == "downloaded"]
    present = [i for i in summary.items if i.state == "present"]
    print(
        f"pulled {len(got)} file(s) ({human_size(summary.fetched)} transferred), "
        f"{len(present)} already present"
    )
    for item in got + present:
        if item.verified in UNVERIFIED:  # never let "pulled" read as "verified"
            print(f"  {item.dest}: {CHECK_WORDS[item.verified]}")


def _print_plan(summary: PullSummary) -> None:
    from modelctl.cli.output import console, human_size

    data = summary.as_dict()
    out = console()
    for item in data["items"]:
        action = "skip (present)" if item["state"] == "present" else "download"
        out.print(f"{action:15} {item['dest']}  {human_size(item['size'])}  {item['source']}",
                  markup=False, highlight=False)  # fmt: skip
    for v in data["space"]:
        verdict = "ok" if v["ok"] else f"SHORT by {human_size(v['shortfall'])}"
        if v["shortfall"] == 0 and not v["ok"]:
            verdict = f"SHORT of inodes: need about {v['inodes_needed']}, {v['inodes_free']} free"
        unknown = f" ({len(v['unknown_sizes'])} size(s) unknown)" if v["unknown_sizes"] else ""
        out.print(
            f"disk {v['path']}: need {human_size(v['needed'])} + {human_size(v['margin'])} margin, "
            f"free {human_size(v['free'])}: {verdict}{unknown}",
            markup=False,
            highlight=False,
        )
