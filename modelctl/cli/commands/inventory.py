"""`verify`, `status`, `lock`, `rm` and `gc`: know what is on the volume, pin it, keep it clean.

Thin commands: the work lives in `store/verify.py`, `store/inventory.py`, `store/remove.py`,
`store/gc.py` and the `lock` use case (`lock/run.py`, `lock/pinning.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelctl.cli.options import Json, Manifests, ModelsDir, Seconds, models_layout
from modelctl.cli.output import console, human_size, print_json, shown
from modelctl.errors import BadInput, CheckFailed, printable

if TYPE_CHECKING:
    from modelctl.manifest.model import Selection
    from modelctl.store.verify import Verdict

Specs = Annotated[
    list[str] | None,
    typer.Argument(help="NAME[:axis=value,…] or manifest files.", show_default=False),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would happen; change nothing.")]


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
    app.command("status")(status_command)
    app.command("lock")(lock_command)
    app.command("rm")(rm_command)
    app.command("gc")(gc_command)


def _selections(specs: list[str], manifests: str | None) -> list[Selection]:
    """Each SPEC as a Selection, pinned by its manifest's lock file when there is one."""
    from modelctl.plan.selections import pinned_selections

    return pinned_selections(specs, manifests)


# ------------------------------------------------------------------------------------ verify


def verify_command(
    specs: Specs = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-hash every byte (sha256) and compare.")
    ] = False,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Re-read every byte at memory speed (xxh3-128 fingerprint from an earlier "
            "--full); files without one get sha256.",
        ),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", min=1, help="Files hashed at once (default: cores).", show_default=False
        ),
    ] = None,
    json_output: Json = False,
    models_dir: ModelsDir = None,
    manifests: Manifests = None,
) -> int:
    """Installed files against their receipts (fast: stat only) or their contents (--full).

    Without SPEC, every file with a receipt. Exit 0 when all hold, 1 on any problem.
    """
    from modelctl.store import verify

    if full and quick:
        raise BadInput("--full and --quick exclude each other", "choose one")
    mode = "full" if full else "quick" if quick else "fast"
    layout = models_layout(models_dir)
    if specs:
        assets = [a for s in _selections(specs, manifests) for a in s.assets]
        targets = verify.targets_for_assets(layout, assets)
    else:
        targets = verify.targets_for_receipts(layout)
    verdicts = verify.verify(layout, targets, mode=mode, jobs=jobs)
    problems = [v for v in verdicts if not v.ok]
    if json_output:
        print_json(
            {
                "mode": mode,
                "models_dir": str(layout.root),
                "ok": not problems,
                "checked": len(verdicts),
                "problems": len(problems),
                "files": [v.to_json() for v in verdicts],
            }
        )
        return 1 if problems else 0
    _print_verdicts(verdicts, mode, str(layout.root))
    return 1 if problems else 0


def _print_verdicts(verdicts: list[Verdict], mode: str, root: str) -> None:
    import sys

    for v in verdicts:
        if not v.ok or v.detail or v.restamped or v.state in ("adopted", "finished", "unverified"):
            detail = f"  ({v.detail})" if v.detail else ""
            sys.stdout.write(printable(f"{v.state:<10} {v.dest}{detail}") + "\n")
    bad = sum(not v.ok for v in verdicts)
    unverified = sum(v.state == "unverified" for v in verdicts)
    how = {"fast": "stat vs receipt", "quick": "xxh3-128", "full": "sha256"}[mode]
    # "intact" means unchanged since install; for a file no hash vouched for, that is all it means
    caveat = (
        f"; {unverified} of them checked by size only at install, no hash to check against"
        if unverified
        else ""
    )
    if not verdicts:
        sys.stdout.write(f"nothing to verify in {root}\n")
    elif bad:
        sys.stdout.write(f"{bad} of {len(verdicts)} files have a problem ({how}){caveat}\n")
    else:
        sys.stdout.write(f"all {len(verdicts)} files intact ({how}){caveat}\n")


# ------------------------------------------------------------------------------------ status


def status_command(
    specs: Specs = None,
    json_output: Json = False,
    models_dir: ModelsDir = None,
    manifests: Manifests = None,
) -> int:
    """Installed / missing / partial / modified per selection; unmanaged files; disk usage."""
    from modelctl.plan.resolve import plan
    from modelctl.store.inventory import partial_for, scan

    layout = models_layout(models_dir)
    inv = scan(layout)
    selections = []
    for selection in _selections(specs or [], manifests):
        rows = []
        for item in plan(selection, layout):
            row = {
                "id": item.asset.id,
                "dest": item.asset.dest,
                "state": item.state,
                "size": item.size,
                "partial_bytes": None,
            }
            if item.state == "missing":
                p = partial_for(inv.partials, item.asset.source, item.asset.sha256)
                if p is not None:
                    row["state"], row["partial_bytes"] = "partial", p.written
                    row["size"] = row["size"] or p.size
            rows.append(row)
        selections.append({"spec": selection.spec, "assets": rows})
    data = {
        "models_dir": str(layout.root),
        "selections": selections,
        "managed": {
            "files": len(inv.receipts),
            "bytes": sum(r.size for r in inv.receipts.values()),
            "missing": sorted(d for d in inv.receipts if d not in inv.files),
        },
        "unmanaged": [{"path": f.relpath, "size": f.size} for f in inv.unmanaged],
        "interrupted": [{"path": d, "size": r.size} for d, r in inv.interrupted.items()],
        "partials": [
            {"key": p.key, "bytes": p.written, "size": p.size, "source": p.source}
            for p in inv.partials
        ],
        "leftovers": [{"path": f.relpath, "size": f.size} for f in inv.staging],
        "folders": inv.folder_totals(),
        "disk": inv.disk(),
    }
    if json_output:
        print_json(data)
        return 0
    _print_status(data)
    return 0


def _print_status(data: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    out.print(f"models dir: {shown(data['models_dir'])}")
    for sel in data["selections"]:
        table = Table(title=shown(sel["spec"]), box=None, pad_edge=False, title_justify="left")
        for column in ("asset", "dest", "size", "state"):
            table.add_column(column)
        for row in sel["assets"]:
            state = row["state"]
            if row["partial_bytes"] is not None:
                state += f" ({human_size(row['partial_bytes'])} of {human_size(row['size'])})"
            table.add_row(
                shown(row["id"]), shown(row["dest"]), human_size(row["size"]), shown(state)
            )
        out.print(table)
    m = data["managed"]
    out.print(f"managed: {m['files']} files, {human_size(m['bytes'])}")
    for dest in m["missing"]:
        out.print(f"  missing (receipt without file): {shown(dest)}")
    for f in data["interrupted"]:
        out.print(f"interrupted install (receipt not yet written; the next pull, ensure or verify "
                  f"finishes it): {shown(f['path'])}  {human_size(f['size'])}")  # fmt: skip
    if data["unmanaged"]:
        total = sum(f["size"] for f in data["unmanaged"])
        out.print(f"unmanaged (no receipt; never touched): {len(data['unmanaged'])} files, "
                  f"{human_size(total)}")  # fmt: skip
        for f in data["unmanaged"]:
            out.print(f"  {shown(f['path'])}  {human_size(f['size'])}")
    for p in data["partials"]:
        out.print(f"partial: {shown(p['source'] or p['key'])}  "
                  f"{human_size(p['bytes'])} of {human_size(p['size'])}")  # fmt: skip
    for f in data["leftovers"]:
        out.print(f"leftover: {shown(f['path'])}  {human_size(f['size'])} (modelctl gc)")
    if data["folders"]:
        out.print("folders: " + ", ".join(
            f"{shown(k)} {human_size(v)}" for k, v in data["folders"].items()))  # fmt: skip
    disk = data["disk"]
    if disk:
        out.print(f"disk: {human_size(disk['free'])} free of {human_size(disk['total'])}")


# ------------------------------------------------------------------------------------ lock


def lock_command(
    spec: Annotated[str, typer.Argument(help="NAME[:axis=value,…] or a manifest file.")],
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Only check that the lock pins the manifest (exit 1 if not); offline."
        ),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            metavar="FILE",
            help="Write the lock here instead of beside the manifest.",
            show_default=False,
        ),
    ] = None,
    json_output: Json = False,
    manifests: Manifests = None,
) -> int:
    """Pin each asset to commit + sha256 + size in NAME.lock.yaml beside the manifest.

    Without a variant selection every variant combination is locked; with one, only that
    selection's entries are refreshed and the others kept. Reads Hub metadata only.
    """
    from modelctl.lock.run import disagreements, pin_and_write, prepare

    job = prepare(spec, manifests, output)
    path = job.path
    if check:
        if job.old is None:
            raise CheckFailed(f"{path} does not exist", f"create it with `modelctl lock {spec}`")
        problems = disagreements(job, job.old)
        if json_output:
            print_json({"lock": str(path), "ok": not problems, "problems": problems})
        else:
            for p in problems:
                typer.echo(f"disagrees: {p}")
            typer.echo(f"{path}: " + ("pins the manifest" if not problems else "out of date"))
        return 1 if problems else 0
    written = pin_and_write(job)
    if json_output:
        print_json(
            {
                "lock": str(path),
                "changed": written.changed,
                "assets": [e.to_json() for e in written.entries],
            }
        )
        return 0
    for e in written.entries:
        at = f"@{e.commit[:12]}" if e.commit else ""
        typer.echo(
            printable(f"{e.id:<16} {e.sha256[:16]}… {human_size(e.size):>10}  {e.source}{at}")
        )
    state = "written" if written.changed else "unchanged"
    typer.echo(f"{path}: {len(written.lock.entries)} pinned files ({state})")
    return 0


# ------------------------------------------------------------------------------------ rm / gc


def rm_command(
    specs: Annotated[list[str], typer.Argument(help="NAME[:axis=value,…] or manifest files.")],
    force: Annotated[
        bool, typer.Option("--force", help="Also remove managed files changed since install.")
    ] = False,
    dry_run: DryRun = False,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            "--lock-timeout",
            click_type=Seconds(zero_ok=True),
            help="Seconds to wait for a pull of the same file (exit 5); 0: do not wait.",
            show_default=False,
        ),
    ] = 60.0,
    json_output: Json = False,
    models_dir: ModelsDir = None,
    manifests: Manifests = None,
) -> int:
    """Remove the files modelctl installed for these selections (never unmanaged files).

    Files another installed selection also uses are kept; files changed since install need --force.
    """
    from modelctl.store.remove import remove

    layout = models_layout(models_dir)
    items = remove(layout, _selections(specs, manifests), force, dry_run, lock_timeout)
    freed = sum(i.bytes for i in items if i.action == "removed")
    if json_output:
        print_json({"dry_run": dry_run, "freed": freed, "files": [i.to_json() for i in items]})
        return 0
    for i in items:
        detail = f"  ({i.detail})" if i.detail else ""
        typer.echo(printable(f"{i.action:<15} {i.dest}{detail}"))
    verb = "would free" if dry_run else "freed"
    typer.echo(f"{verb} {human_size(freed)}")
    return 0


def gc_command(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Only partials and leftovers untouched this long (e.g. 0, 30m, 24h, 7d).",
        ),
    ] = "24h",
    dry_run: DryRun = False,
    json_output: Json = False,
    models_dir: ModelsDir = None,
) -> int:
    """Remove stale partials (not locked by a running pull), orphaned receipts, leftovers."""
    from modelctl.store.gc import collect, parse_age

    try:
        age = parse_age(older_than)
    except ValueError:
        raise BadInput(
            f"--older-than `{older_than}` is not an age", "write e.g. 0, 90s, 30m, 24h or 7d"
        ) from None
    layout = models_layout(models_dir)
    removed, kept = collect(layout, age, dry_run)
    freed = sum(r.bytes for r in removed if r.done or dry_run)
    if json_output:
        print_json(
            {
                "dry_run": dry_run,
                "freed": freed,
                "removed": [r.to_json() for r in removed],
                "kept": [{"path": str(k.path), "kind": k.kind, "why": k.why} for k in kept],
            }
        )
        return 0
    for r in removed:
        verb = "would remove" if dry_run else "removed" if r.done else "skipped"
        note = f"  ({r.note})" if r.note else ""
        typer.echo(printable(f"{verb} {r.kind} {r.path}  {human_size(r.bytes)}{note}"))
    for k in kept:
        typer.echo(printable(f"kept {k.kind} {k.path}  ({k.why})"))
    typer.echo(f"{'would free' if dry_run else 'freed'} {human_size(freed)}")
    return 0
