"""Run `modelctl from-workflow` over every official ComfyUI workflow template.

The templates come from the `comfyui-workflow-templates-json` package on PyPI (the JSON the
ComfyUI frontend ships), downloaded once with `pip download --no-deps` into bench/.cache (git-ignored).
For each template the real CLI entry point runs in this process (`-o out.yaml --json`); every
manifest written is loaded again with the manifest validator, and the models we found are compared
with the frontend's own rule (a `properties.models` entry counts when an active node, inside active
subgraph instances, selects its name in a widget: ComfyUI_frontend `getSelectedModelsMetadata` and
`isNodeAndAncestorsActive`), re-implemented here independently as the oracle.

Prints: templates read, manifests written, models found, unresolved, failures (must be 0), the
oracle agreement, total time and peak RSS. Exit status 1 when anything failed.

    python bench/workflows.py [--version 0.1.123] [--cache bench/.cache]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PACKAGE = "comfyui-workflow-templates-json"
INACTIVE = (2, 4)  # LGraphEventMode.NEVER, BYPASS


def fetch(cache: Path, version: str | None) -> Path:
    """The package wheel in `cache`, downloaded with pip when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    pattern = f"comfyui_workflow_templates_json-{version or '*'}-*.whl"
    wheels = sorted(cache.glob(pattern))
    if not wheels:
        spec = f"{PACKAGE}=={version}" if version else PACKAGE
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "-d",
                str(cache),
                spec,
            ],
            check=True,
        )
        wheels = sorted(cache.glob(pattern))
    if not wheels:
        raise SystemExit(f"pip download left no {pattern} in {cache}")
    return wheels[-1]


def extract(wheel: Path) -> Path:
    """Unpack the template JSON files next to the wheel (once)."""
    target = wheel.with_suffix("")
    if not target.is_dir():
        tmp = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                parts = info.filename.split("/")
                if info.filename.endswith(".json") and "templates" in parts and ".." not in parts:
                    (tmp / parts[-1]).parent.mkdir(parents=True, exist_ok=True)
                    (tmp / parts[-1]).write_bytes(zf.read(info))
        tmp.rename(target)
    return target


def frontend_models(doc: dict) -> set[tuple[str, str]]:
    """(directory, name) of the declared models the frontend would ask for (the oracle)."""
    defs = {s["id"]: s for s in (doc.get("definitions") or {}).get("subgraphs", [])}
    root = doc.get("models") or []
    found: set[tuple[str, str]] = set()

    def walk(graph: dict, active: bool, stack: tuple[str, ...]) -> None:
        for node in graph.get("nodes", []):
            on = active and node.get("mode", 0) not in INACTIVE
            values = node.get("widgets_values") or []
            values = values if isinstance(values, list) else list(values.values())
            selected = {v for v in values if isinstance(v, str) and v.strip()}
            for m in ((node.get("properties") or {}).get("models") or []) + root:
                if on and m["name"] in selected:
                    found.add((m["directory"], m["name"]))
            if node["type"] in defs and node["type"] not in stack:
                walk(defs[node["type"]], on, (*stack, node["type"]))

    walk(doc, True, ())
    return found


def canonical(folder: str) -> str:
    from modelctl.store.comfyui_folders import canonical as comfyui_canonical

    return comfyui_canonical(folder)


def run_cli(args: list[str]) -> tuple[int, str, str]:
    from modelctl.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def library_pass(templates: Path) -> float:
    """Seconds for analyze + render + validate over every template, without the CLI around it."""
    from modelctl.errors import BadInput
    from modelctl.workflow import analyze, manifest_text
    from modelctl.workflow.render import default_name

    started = time.perf_counter()
    for path in sorted(templates.glob("*.json")):
        try:
            report = analyze(path)
        except BadInput:
            continue
        if report.models:
            manifest_text(report, default_name(path))  # renders and validates
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help=f"{PACKAGE} version (default: newest)")
    parser.add_argument("--cache", type=Path, default=REPO / "bench" / ".cache")
    args = parser.parse_args()

    wheel = fetch(args.cache, args.version)
    templates = extract(wheel)
    from modelctl.manifest.validate import parse_manifest

    stats = dict.fromkeys(
        ("read", "written", "no_models", "models", "unresolved", "skipped", "warnings", "agree"), 0
    )
    not_workflows, failures, unique = [], [], set()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(templates.glob("*.json")):
            doc = json.loads(path.read_bytes())
            is_ui = isinstance(doc, dict) and isinstance(doc.get("nodes"), list)
            out = Path(tmp) / f"{path.stem}.yaml"
            code, stdout, stderr = run_cli(["from-workflow", str(path), "-o", str(out), "--json"])
            if not is_ui:  # the package's index and search-config files
                ok = code == 2 and "not a ComfyUI workflow" in stderr
                (not_workflows if ok else failures).append(
                    f"{path.name}: rc={code} {stderr.strip()}"
                )
                continue
            stats["read"] += 1
            if code != 0:
                failures.append(f"{path.name}: rc={code} {stderr.strip()}")
                continue
            report = json.loads(stdout)
            ours = {(m["folder"], m["dest"].split("/", 1)[1]) for m in report["models"]}
            oracle = {(canonical(d), n) for d, n in frontend_models(doc)}
            stats["agree"] += ours == oracle
            if ours != oracle:
                failures.append(
                    f"{path.name}: ours-only {ours - oracle}, frontend-only {oracle - ours}"
                )
            stats["models"] += len(report["models"])
            stats["unresolved"] += len(report["unresolved"])
            stats["skipped"] += len(report["skipped"])
            stats["warnings"] += len(report["warnings"])
            unique.update(m["dest"] for m in report["models"])
            if report["output"] is None:
                stats["no_models"] += 1
                if report["models"] or report["unresolved"]:
                    failures.append(f"{path.name}: models found but nothing written")
                continue
            manifest = parse_manifest(out.read_bytes(), out)
            if len(manifest.assets) != len(report["models"]):
                failures.append(f"{path.name}: manifest has {len(manifest.assets)} assets")
            stats["written"] += 1
    elapsed = time.perf_counter() - started
    library = library_pass(templates)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"package: {wheel.name}")
    print(f"templates read:            {stats['read']}")
    print(f"  manifests written+valid: {stats['written']}")
    print(f"  no local model files:    {stats['no_models']} (API-node templates; nothing to write)")
    print(
        f"non-workflow JSON skipped: {len(not_workflows)} (index/search files; exit 2 as expected)"
    )
    print(f"models found:              {stats['models'] + stats['unresolved']}")
    print(f"  resolved (in manifests): {stats['models']} ({len(unique)} distinct files)")
    print(f"  unresolved:              {stats['unresolved']}")
    print(f"  skipped (bypassed/stale):{stats['skipped']:>4}")
    print(f"warnings:                  {stats['warnings']}")
    print(f"frontend-rule agreement:   {stats['agree']}/{stats['read']} templates")
    print(f"failures:                  {len(failures)}")
    for line in failures[:20]:
        print(f"  FAIL {line}")
    per = 1000 / max(stats["read"], 1)
    print(f"total time (CLI entry):    {elapsed:.2f} s ({elapsed * per:.1f} ms/template)")
    print(f"  of which workflow code:  {library:.2f} s ({library * per:.1f} ms/template);")
    print("  the rest is Typer building the command line once per call")
    print(f"peak RSS:                  {peak_mib:.0f} MiB")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
