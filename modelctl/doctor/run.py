"""`modelctl doctor`: run every probe, turn answers into checks, keep the facts for `--json`.

The probes are `modelctl.machine`'s (GPU, packages, filesystem, ComfyUI) and `doctor.hub`; the
verdicts are the check modules of this package, one per section of the report.

The slow probes (importing torch in the target Python, the Hub round trip) run in threads while the
GPU, filesystem and metadata probes run, so a healthy machine answers in about the time torch
takes to import.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelctl.compat.gpu_rules import cpu_offload_recommended, rules, svdquant_support
from modelctl.doctor import comfyui, gpu, hub, models_dir, nunchaku, python, requires
from modelctl.doctor.model import STATUSES, Check
from modelctl.errors import BadInput
from modelctl.machine.gpu import GpuReport
from modelctl.manifest.model import Selection

if TYPE_CHECKING:
    from modelctl.machine.comfyui import ComfyInstall
    from modelctl.machine.fs import FsReport
    from modelctl.machine.packages import PythonEnv, TorchImport

# requires.packages names that are not Python distributions but read from --comfyui DIR.
COMFY_NAMES = ("comfyui", "comfyui-nunchaku")


@dataclass
class DoctorOptions:
    specs: list[str] = field(default_factory=list)
    manifests: str | None = None
    models_dir: str | None = None
    python: str = sys.executable
    comfyui: Path | None = None
    gpu_sm: int | None = None
    offline: bool = False
    save_nvml: Path | None = None


@dataclass
class DoctorResult:
    checks: list[Check]
    facts: dict[str, Any]

    @property
    def status(self) -> str:
        found = {c.status for c in self.checks}
        return "fail" if "fail" in found else "warn" if "warn" in found else "ok"

    @property
    def exit_code(self) -> int:
        return 1 if self.status == "fail" else 0

    def to_json(self) -> dict[str, Any]:
        counts = {s: sum(c.status == s for c in self.checks) for s in STATUSES}
        return {
            "status": self.status,
            "counts": counts,
            "checks": [c.to_json() for c in self.checks],
            **self.facts,
        }


def run(opts: DoctorOptions) -> DoctorResult:
    from modelctl.machine import fs, packages
    from modelctl.machine import gpu as gpu_probe
    from modelctl.machine.target import override_sm
    from modelctl.store.layout import models_dir as models_root

    raw, source = gpu_probe.raw_answers()
    if opts.save_nvml:
        _save(opts.save_nvml, raw)
    report = gpu_probe.parse_record(raw, source)
    sm = override_sm(opts.gpu_sm)
    selections, spec_checks = _selections(opts, sm, report)

    names = set(rules()["doctor_packages"]["names"])
    for sel in selections:
        names |= {n.lower() for n in (sel.manifest.requires.get("packages") or {})}
    names -= {*COMFY_NAMES, "python"}
    py = packages.probe_dists(opts.python, sorted(names))

    with ThreadPoolExecutor(max_workers=2) as pool:
        torch_future = (
            pool.submit(packages.probe_torch, opts.python) if py.dists.get("torch") else None
        )
        hub_future = pool.submit(hub.probe, opts.offline)
        layout_root = models_root(opts.models_dir)
        fs_report = fs.probe_dir(layout_root)
        needed, unknown = _needed_bytes(selections, layout_root)
        comfy = _comfy(opts.comfyui)
        imp = torch_future.result() if torch_future else None
        hub_report = hub_future.result()

    required = any(_needs_nunchaku(sel) for sel in selections)
    out: list[Check] = [python.python_check(py)]
    out += python.torch_checks(py, imp, report)
    out += gpu.gpu_checks(report)
    out += gpu.blackwell_checks(report, py, imp)
    out += gpu.svdquant_checks(report, sm)
    out += nunchaku.nunchaku_checks(py, imp, required)
    if comfy is not None:
        out += comfyui.comfyui_checks(comfy, py)
    out += models_dir.fs_checks(fs_report, needed, unknown)
    out += hub.hub_checks(hub_report)
    versions = _versions(py, comfy)
    for sel in selections:
        out += requires.requires_checks(
            sel.manifest.name, sel.manifest.requires, sel.values, report, sm, versions
        )
    out += spec_checks
    facts = {
        "python": _python_facts(py, imp),
        "gpu": _gpu_facts(report, sm),
        "nunchaku": _nunchaku_facts(py),
        "models_dir": _fs_facts(fs_report, needed, unknown),
        "hub": _hub_facts(hub_report),
        "comfyui": None if comfy is None else _comfy_facts(comfy),
        "specs": [
            {"spec": s.spec, "manifest": s.manifest.name, "variants": s.values} for s in selections
        ],
    }
    return DoctorResult(out, facts)


def _save(path: Path, raw: dict[str, Any]) -> None:
    import json

    try:
        path.write_text(json.dumps(raw, indent=2) + "\n", "utf-8")
    except OSError as exc:
        raise BadInput(
            f"cannot write {path}: {exc.strerror or exc}", "choose a writable path"
        ) from None


def _selections(
    opts: DoctorOptions, sm: int | None, report: GpuReport
) -> tuple[list[Selection], list[Check]]:
    """Resolve each SPEC; `precision=auto` goes through the GPU probe, and a failure to resolve it
    is a finding of doctor (a `fail` row), not an abort."""
    from modelctl.manifest.catalog import find
    from modelctl.manifest.select import select, split_spec
    from modelctl.plan.selections import needs_resolution, resolve_auto

    selections, found = [], []
    for spec in opts.specs:
        name, choices = split_spec(spec)  # not resolve_spec: an unresolvable `auto` is a finding
        sel = select(find(name, opts.manifests), choices)
        if needs_resolution(sel):
            try:
                sel = resolve_auto(sel, sm, report)
            except BadInput as exc:
                hint = exc.hint.splitlines()[0] if exc.hint else None
                found.append(Check(f"{sel.manifest.name}.precision", "fail", exc.message, hint))
        selections.append(sel)
    return selections, found


def _needs_nunchaku(sel: Selection) -> bool:
    wanted = sel.manifest.requires
    name = rules()["nunchaku_distribution"]["name"]
    packages = {n.lower() for n in (wanted.get("packages") or {})}
    return name in packages or "precision" in (wanted.get("gpu") or {})


def _needed_bytes(selections: list[Selection], root: Path) -> tuple[int | None, int]:
    """Bytes still to download for the selections (assets shared by dest counted once; None
    without a SPEC), and how many assets have no known size. Selections with an unresolved `auto`
    are skipped."""
    from modelctl.plan.resolve import plan
    from modelctl.plan.selections import needs_resolution
    from modelctl.store.layout import Layout

    if not selections:
        return None, 0
    seen: dict[str, int | None] = {}
    for sel in selections:
        if needs_resolution(sel):
            continue
        for item in plan(sel, Layout(root)):
            if item.state in ("missing", "outdated") and item.asset.dest not in seen:
                seen[item.asset.dest] = item.size
    known = [s for s in seen.values() if s is not None]
    return sum(known), len(seen) - len(known)


def _comfy(directory: Path | None) -> ComfyInstall | None:
    if directory is None:
        return None
    from modelctl.machine.comfyui import inspect

    return inspect(directory)


def _versions(py: PythonEnv, comfy: ComfyInstall | None) -> dict[str, str | None]:
    versions = {name.lower(): (d.version if d else None) for name, d in py.dists.items()}
    versions["python"] = py.version
    versions["comfyui"] = comfy.version if comfy else None
    versions["comfyui-nunchaku"] = comfy.plugin_version if comfy else None
    return versions


def _python_facts(py: PythonEnv, imp: TorchImport | None) -> dict[str, Any]:
    return {
        "executable": py.executable,
        "version": py.version,
        "cp_tag": py.cp_tag,
        "platform": py.platform,
        "packages": {k: (d.version if d else None) for k, d in sorted(py.dists.items())},
        "torch": None
        if imp is None
        else {
            "imported": imp.ok,
            "version": imp.version,
            "cuda": imp.cuda,
            "cuda_available": imp.cuda_available,
            "error": imp.error,
        },
    }


def _gpu_facts(report: GpuReport, sm: int | None) -> dict[str, Any]:
    return {
        "visible": report.visible,
        "problem": report.problem,
        "source": report.source,
        "driver": report.driver,
        "cuda_driver": report.cuda_driver,
        "sm_override": sm,
        "svdquant_override": svdquant_support(sm) if sm is not None else None,
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "uuid": g.uuid,
                "sm": g.sm,
                "compute_capability": g.capability,
                "vram_total_bytes": g.total_bytes,
                "vram_free_bytes": g.free_bytes,
                "vram_total_gib": round(g.total_gib, 2),
                "vram_free_gib": round(g.free_gib, 2),
                "svdquant": svdquant_support(g.sm) or "unsupported",
                "cpu_offload": cpu_offload_recommended(g.total_bytes)
                if svdquant_support(g.sm)
                else None,
            }
            for g in report.gpus
        ],
    }


def _nunchaku_facts(py: PythonEnv) -> dict[str, Any]:
    from modelctl.machine.packages import identify_nunchaku

    dist = py.dists.get(rules()["nunchaku_distribution"]["name"])
    if dist is None:
        return {"installed": None}
    ident = identify_nunchaku(dist)
    return {
        "installed": dist.version,
        "svdquant_engine": ident.engine,
        "torch_tag": ident.torch_tag,
        "location": dist.location,
    }


def _fs_facts(fs_report: FsReport, needed: int | None, unknown: int) -> dict[str, Any]:
    return {
        "path": str(fs_report.path),
        "exists": fs_report.exists,
        "probed": str(fs_report.probed),
        "fstype": fs_report.mount.fstype if fs_report.mount else None,
        "mount_point": fs_report.mount.point if fs_report.mount else None,
        "free_bytes": fs_report.free_bytes,
        "writable": fs_report.writable,
        "locks": fs_report.lock,
        "needed_bytes": needed,
        "unknown_sizes": unknown if needed is not None else None,
    }


def _hub_facts(h: hub.HubReport) -> dict[str, Any]:
    return {
        "endpoint": h.endpoint,
        "token_present": h.token_present,
        "token_source": h.token_source,
        "checked": h.checked,
        "reachable": h.reachable,
        "http_status": h.http_status,
        "account": h.account,
    }


def _comfy_facts(c: ComfyInstall) -> dict[str, Any]:
    return {
        "root": str(c.root) if c.root else None,
        "version": c.version,
        "plugin_dir": str(c.plugin_dir) if c.plugin_dir else None,
        "plugin_version": c.plugin_version,
    }
