"""Doctor's verdicts: probe results in, `Check` rows out (ok / warn / fail / skip, each with a fix).

Pure functions of the probes' data (GpuReport, PythonEnv, TorchImport, FsReport, HubReport,
ComfyInstall), so every verdict is testable from recorded answers. Thresholds and sm lists come
from `data/gpu_rules.yaml` via `gpu_rules`.

Severity policy: `fail` means something a selected stack needs is broken or missing (exit 1);
facts that only matter for some stacks (no GPU, a GPU Nunchaku cannot use, no token) are `warn`
or `ok` unless a SPEC's `requires` makes them needed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from modelctl.env.comfyui import ComfyInstall
from modelctl.env.fs import FsReport
from modelctl.env.gpu import GIB, NO_GPU, GpuReport
from modelctl.compat.gpu_rules import (
    cpu_offload_recommended,
    nunchaku_install_hint,
    rules,
    svdquant_support,
    svdquant_unsupported_reason,
)
from modelctl.env.hub import HubReport
from modelctl.env.packages import Dist, PythonEnv, TorchImport, identify_nunchaku, major_minor

STATUSES = ("ok", "warn", "fail", "skip")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Check:
    id: str
    status: str
    summary: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _gib(n: int | float) -> str:
    return f"{n / GIB:.1f} GiB"


def _version_in(version: str, spec: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    return SpecifierSet(spec).contains(Version(version), prereleases=True)


# ---------------------------------------------------------------- python and torch


def python_check(py: PythonEnv) -> Check:
    return Check(
        "python", "ok", f"Python {py.version} ({py.cp_tag}, {py.platform}) at {py.executable}"
    )


def torch_version(py: PythonEnv, imp: TorchImport | None) -> str | None:
    """The torch version, from the import when it worked, else from the metadata."""
    if imp and imp.ok and imp.version:
        return imp.version
    dist = py.dists.get("torch")
    return dist.version if dist else None


def torch_checks(py: PythonEnv, imp: TorchImport | None, gpu: GpuReport) -> list[Check]:
    dist = py.dists.get("torch")
    if dist is None:
        return [
            Check(
                "torch",
                "warn",
                f"torch is not installed in {py.executable}",
                "run doctor with --python set to the interpreter that runs ComfyUI, "
                "or install torch there",
            )
        ]
    if imp is None or not imp.ok:
        error = imp.error if imp else "not tried"
        return [
            Check(
                "torch",
                "fail",
                f"torch {dist.version} is installed but {error}",
                "reinstall torch for your CUDA driver: pip install --force-reinstall torch "
                "--index-url https://download.pytorch.org/whl/cuXYZ",
            )
        ]
    checks = [
        Check("torch", "ok", f"torch {imp.version} (CUDA build {imp.cuda or 'none: CPU only'})")
    ]
    if gpu.visible and not imp.cuda:
        checks.append(
            Check(
                "torch.cuda",
                "fail",
                f"torch {imp.version} is a CPU-only build but an NVIDIA GPU is present",
                "install a CUDA build of torch from https://download.pytorch.org/whl/",
            )
        )
    elif gpu.visible and imp.cuda_available is False:
        checks.append(
            Check(
                "torch.cuda",
                "fail",
                f"torch {imp.version} cannot use the GPU" + (f": {imp.error}" if imp.error else ""),
                "check that the NVIDIA driver supports torch's CUDA build "
                f"({imp.cuda}) and that the container has GPU access (--gpus all)",
            )
        )
    checks.extend(_driver_vs_torch(imp, gpu))
    return checks


def _driver_vs_torch(imp: TorchImport, gpu: GpuReport) -> list[Check]:
    from packaging.version import InvalidVersion, Version

    if not (imp.cuda and gpu.cuda_driver):
        return []
    try:
        needed, have = Version(imp.cuda), Version(gpu.cuda_driver)
    except InvalidVersion:
        return []
    if needed.major > have.major:
        return [
            Check(
                "torch.driver",
                "fail",
                f"torch is built for CUDA {imp.cuda} but the NVIDIA driver {gpu.driver} supports "
                f"CUDA {gpu.cuda_driver} at most",
                f"update the NVIDIA driver, or install a torch build for CUDA {have.major}.x",
            )
        ]
    return []


# ---------------------------------------------------------------- GPUs and Nunchaku precision


def gpu_checks(gpu: GpuReport) -> list[Check]:
    if not gpu.visible:
        return [
            Check(
                "gpu",
                "warn",
                NO_GPU + (f" ({gpu.problem})" if gpu.problem else ""),
                "fine for downloads and image builds; to run models install the NVIDIA driver "
                "(containers: --gpus all) and pip install 'modelctl[gpu]'",
            )
        ]
    checks = [
        Check(
            "gpu.driver",
            "ok",
            f"NVIDIA driver {gpu.driver or '?'} (CUDA {gpu.cuda_driver or '?'}), "
            f"{len(gpu.gpus)} GPU(s)",
        )
    ]
    for g in gpu.gpus:
        checks.append(
            Check(
                f"gpu.{g.index}",
                "ok",
                f"GPU {g.index}: {g.name}, compute capability {g.capability} (sm {g.sm}), "
                f"VRAM {_gib(g.total_bytes)} total, {_gib(g.free_bytes)} free",
            )
        )
    if gpu.problem:
        checks.append(Check("gpu.errors", "warn", gpu.problem, "check `nvidia-smi`"))
    return checks


def svdquant_checks(gpu: GpuReport, sm_override: int | None) -> list[Check]:
    """Nunchaku SVDQuant precision (and cpu_offload advice) per GPU, or for `--gpu-sm`."""
    if sm_override is not None:
        return [_svdquant_row("nunchaku.precision", f"--gpu-sm {sm_override}", sm_override)]
    if not gpu.visible:
        return [
            Check(
                "nunchaku.precision",
                "skip",
                f"Nunchaku SVDQuant precision not checked: {NO_GPU}",
                "pass --gpu-sm N to check for the GPU that will run the stack",
            )
        ]
    checks = []
    for g in gpu.gpus:
        row = _svdquant_row(f"nunchaku.precision.{g.index}", f"GPU {g.index} {g.name}", g.sm)
        checks.append(row)
        if svdquant_support(g.sm) is None:
            continue
        if cpu_offload_recommended(g.total_bytes):
            limit = rules()["cpu_offload"]["below_vram_gib"]
            checks.append(
                Check(
                    f"nunchaku.cpu_offload.{g.index}",
                    "warn",
                    f"GPU {g.index} has {_gib(g.total_bytes)} (< {limit} GiB): "
                    "Nunchaku needs cpu_offload",
                    "set cpu_offload to `enable` (or `auto`) in the Nunchaku DiT loader node",
                )
            )
        else:
            checks.append(
                Check(
                    f"nunchaku.cpu_offload.{g.index}",
                    "ok",
                    f"GPU {g.index} has {_gib(g.total_bytes)}: cpu_offload not needed",
                )
            )
    return checks


def _svdquant_row(check_id: str, label: str, sm: int) -> Check:
    precision = svdquant_support(sm)
    if precision is None:
        return Check(
            check_id,
            "warn",
            f"{label} (sm {sm}): Nunchaku SVDQuant unsupported: {svdquant_unsupported_reason(sm)}",
            "run Nunchaku stacks on an int4 GPU (RTX 20/30/40, A100) or an fp4 GPU (RTX 50); "
            "use a GGUF or bf16 stack on this one",
        )
    return Check(
        check_id,
        "ok",
        f"{label} (sm {sm}): Nunchaku SVDQuant {precision} (svdq-{precision}_* files)",
    )


def blackwell_checks(gpu: GpuReport, py: PythonEnv, imp: TorchImport | None) -> list[Check]:
    """sm 120/121 needs torch >= 2.7 built for CUDA >= 12.8 (nunchaku installation docs)."""
    rule = rules()["blackwell_build"]
    targets = [g for g in gpu.gpus if g.sm in rule["sm"]]
    version = torch_version(py, imp)
    if not targets or not version:
        return []
    problems = []
    if not _version_in(version.split("+")[0], rule["torch"]):
        problems.append(f"torch {version} (needs {rule['torch']})")
    cuda = imp.cuda if imp and imp.ok else None
    if cuda and not _version_in(cuda, rule["cuda"]):
        problems.append(f"CUDA build {cuda} (needs {rule['cuda']})")
    if not problems:
        return [Check("gpu.blackwell", "ok", f"torch {version} supports {targets[0].name}")]
    return [
        Check(
            "gpu.blackwell",
            "fail",
            f"{targets[0].name} (sm {targets[0].sm}) needs a newer stack: " + "; ".join(problems),
            "install torch >= 2.7 built for CUDA >= 12.8 (e.g. the cu128 wheels)",
        )
    ]


# ---------------------------------------------------------------- the nunchaku distribution


def nunchaku_checks(py: PythonEnv, imp: TorchImport | None, required: bool) -> list[Check]:
    spec = rules()["nunchaku_distribution"]
    hint = nunchaku_install_hint()
    dist = py.dists.get(spec["name"])
    if dist is None:
        if required:
            return [
                Check(
                    "nunchaku.package",
                    "fail",
                    f"nunchaku is not installed in {py.executable}",
                    hint,
                )
            ]
        return [
            Check("nunchaku.package", "ok", "nunchaku not installed (only Nunchaku stacks need it)")
        ]
    ident = identify_nunchaku(dist)
    if not ident.engine:
        return [
            Check(
                "nunchaku.package",
                "fail",
                f"the installed `nunchaku` {dist.version} is not the SVDQuant engine: it has no "
                f"compiled `nunchaku._C` extension (it is the unrelated PyPI package of that name)",
                f"pip uninstall nunchaku, then {hint}",
            )
        ]
    checks = []
    if not ident.version_ok:
        checks.append(
            Check(
                "nunchaku.package",
                "fail",
                f"nunchaku {dist.version} is older than {spec['engine_min_version']}",
                hint,
            )
        )
    else:
        checks.append(
            Check(
                "nunchaku.package",
                "ok",
                f"nunchaku {dist.version}: the SVDQuant engine ({ident.extension['path']})",
            )
        )
    checks.extend(_nunchaku_build_checks(dist, ident.extension or {}, py, hint))
    checks.append(_torch_tag_check(dist, ident.torch_tag, torch_version(py, imp), py, hint))
    return checks


def _nunchaku_build_checks(dist: Dist, ext: dict, py: PythonEnv, hint: str) -> list[Check]:
    checks = []
    if not ext.get("exists", True):
        checks.append(
            Check(
                "nunchaku.extension",
                "fail",
                f"nunchaku's compiled extension {ext['path']} is missing on disk",
                f"reinstall: {hint}",
            )
        )
    elif not ext.get("abi_ok", True):
        checks.append(
            Check(
                "nunchaku.extension",
                "fail",
                f"nunchaku's compiled extension {ext['path']} is not built for "
                f"Python {py.version} ({py.cp_tag})",
                hint,
            )
        )
    pythons = {t.split("-")[0] for t in dist.wheel_tags}
    if pythons and py.cp_tag not in pythons and not any(p.startswith("py") for p in pythons):
        checks.append(
            Check(
                "nunchaku.wheel",
                "fail",
                f"nunchaku was installed from a wheel for {', '.join(sorted(pythons))}, "
                f"but this is {py.cp_tag}",
                hint,
            )
        )
    return checks


def _torch_tag_check(
    dist: Dist, tag: str | None, torch: str | None, py: PythonEnv, hint: str
) -> Check:
    if tag is None:
        return Check(
            "nunchaku.torch",
            "warn",
            f"nunchaku {dist.version} has no +torchX.Y tag (a source build?): "
            "its torch ABI cannot be checked",
            "make sure it was built against the installed torch",
        )
    if torch is None:
        return Check(
            "nunchaku.torch",
            "fail",
            f"nunchaku {dist.version} needs torch {tag}, and torch is not installed",
            f"pip install 'torch=={tag}.*'",
        )
    have = major_minor(torch)
    if have != tag:
        return Check(
            "nunchaku.torch",
            "fail",
            f"nunchaku {dist.version} was built for torch {tag}, but torch {torch} is installed "
            "(its C++ extension only loads with the torch it was compiled against)",
            f"install nunchaku's +torch{have} wheel for {py.cp_tag} "
            f"(https://github.com/nunchaku-tech/nunchaku/releases), or torch {tag}",
        )
    return Check("nunchaku.torch", "ok", f"nunchaku's +torch{tag} tag matches torch {torch}")


# ---------------------------------------------------------------- ComfyUI and its plugin


def comfyui_checks(install: ComfyInstall, py: PythonEnv) -> list[Check]:
    checks = []
    if install.root is not None:
        checks.append(
            Check(
                "comfyui",
                "ok" if install.version else "warn",
                f"ComfyUI {install.version or '(version unknown)'} at {install.root}",
                None if install.version else "comfyui_version.py not found",
            )
        )
    if install.plugin_dir is None:
        checks.append(Check("comfyui-nunchaku", "ok", "ComfyUI-nunchaku is not installed"))
        return checks
    version = install.plugin_version
    if not version:
        checks.append(
            Check(
                "comfyui-nunchaku",
                "warn",
                f"ComfyUI-nunchaku at {install.plugin_dir} has no readable version",
                "check its pyproject.toml",
            )
        )
        return checks
    rule = next(
        (r for r in rules()["comfyui_nunchaku"]["rules"] if _version_in(version, r["plugin"])), None
    )
    if rule is None:
        checks.append(
            Check(
                "comfyui-nunchaku",
                "warn",
                f"ComfyUI-nunchaku {version}: no known version constraints",
                "check its requirements by hand",
            )
        )
        return checks
    checks.append(
        Check("comfyui-nunchaku", "ok", f"ComfyUI-nunchaku {version} at {install.plugin_dir}")
    )
    backend = py.dists.get(rules()["nunchaku_distribution"]["name"])
    if backend is None or not identify_nunchaku(backend).engine:
        found = (
            f"nunchaku {backend.version} (not the SVDQuant engine)" if backend else "no nunchaku"
        )
        checks.append(
            Check(
                "comfyui-nunchaku.backend",
                "fail",
                f"ComfyUI-nunchaku {version} needs nunchaku {rule['nunchaku']}; found {found}",
                nunchaku_install_hint(),
            )
        )
    elif not _version_in(backend.public_version, rule["nunchaku"]):
        checks.append(
            Check(
                "comfyui-nunchaku.backend",
                "fail",
                f"ComfyUI-nunchaku {version} needs nunchaku {rule['nunchaku']}, "
                f"found {backend.version}",
                "upgrade nunchaku (or use a ComfyUI-nunchaku release made for it)",
            )
        )
    else:
        checks.append(
            Check(
                "comfyui-nunchaku.backend",
                "ok",
                f"nunchaku {backend.version} satisfies ComfyUI-nunchaku {version} "
                f"({rule['nunchaku']})",
            )
        )
    if not _version_in(py.version, rule["python"]):
        checks.append(
            Check(
                "comfyui-nunchaku.python",
                "fail",
                f"ComfyUI-nunchaku {version} needs Python {rule['python']}, this is {py.version}",
                "use a supported Python for ComfyUI",
            )
        )
    return checks


# ---------------------------------------------------------------- models dir


def fs_checks(fs: FsReport, needed: int | None = None, unknown: int = 0) -> list[Check]:
    mount = f"{fs.mount.fstype} mounted at {fs.mount.point}" if fs.mount else "filesystem unknown"
    where = str(fs.path) if fs.exists else f"{fs.path} (does not exist yet; created in {fs.probed})"
    free = _gib(fs.free_bytes) if fs.free_bytes is not None else "? GiB"
    checks = [Check("models_dir", "ok", f"models dir {where}: {mount}, {free} free")]
    if not fs.writable:
        checks.append(
            Check(
                "models_dir.writable",
                "fail",
                f"cannot write in {fs.probed}: {fs.write_error}",
                "fix the folder's owner/permissions (containers: run as the volume's "
                "owner) or choose another --models-dir",
            )
        )
        return checks
    checks.append(Check("models_dir.writable", "ok", f"{fs.probed} is writable"))
    checks.append(_lock_check(fs))
    if needed is not None:
        checks.append(_space_check(fs, needed, unknown))
    return checks


def _lock_check(fs: FsReport) -> Check:
    if fs.lock == "works":
        if fs.host_local_locks:
            opts = ",".join(o for o in fs.mount.options if "lock" in o) if fs.mount else ""
            return Check(
                "models_dir.locks",
                "warn",
                f"file locks work between processes of this host only (NFS {opts})",
                "do not install into this folder from several hosts at once, or remount "
                "without nolock/local_lock",
            )
        return Check("models_dir.locks", "ok", "file locks work (two-process probe)")
    if fs.lock == "no-op":
        return Check(
            "models_dir.locks",
            "warn",
            "file locks are a no-op here: a second process took a held lock"
            + (f" ({fs.mount.fstype})" if fs.mount else ""),
            "avoid concurrent installs into this folder (downloads stay correct, "
            "but may be fetched twice); on NFS remount with locking",
        )
    if fs.lock == "untested":
        return Check("models_dir.locks", "skip", "file locks not tested")
    return Check(
        "models_dir.locks",
        "warn",
        f"file locks fail here: {fs.lock[len('error: ') :]}",
        "avoid concurrent installs into this folder; on NFS/Lustre enable locking",
    )


def _space_check(fs: FsReport, needed: int, unknown: int) -> Check:
    tail = f" (+{unknown} asset(s) of unknown size)" if unknown else ""
    if fs.free_bytes is not None and needed > fs.free_bytes:
        return Check(
            "models_dir.space",
            "fail",
            f"the selected stacks need {_gib(needed)}{tail}, only {_gib(fs.free_bytes)} free",
            "free space, or choose another --models-dir",
        )
    status = "warn" if unknown else "ok"
    if unknown and not needed:
        return Check(
            "models_dir.space",
            status,
            f"the size of {unknown} asset(s) to download is unknown; "
            f"{_gib(fs.free_bytes or 0)} free",
            "pin `size:` in the manifest (modelctl lock) to check space exactly",
        )
    return Check(
        "models_dir.space",
        status,
        f"the selected stacks need {_gib(needed)} more{tail}; {_gib(fs.free_bytes or 0)} free",
        "pin `size:` in the manifest (modelctl lock) to check space exactly" if unknown else None,
    )


# ---------------------------------------------------------------- the Hub


def hub_checks(hub: HubReport) -> list[Check]:
    if hub.token_present:
        who = f", account {hub.account}" if hub.account else ""
        role = f" ({hub.token_role} token)" if hub.token_role else ""
        token = Check(
            "hub.token", "ok", f"Hugging Face token set via {hub.token_source}{who}{role}"
        )
    else:
        token = Check("hub.token", "ok", "no Hugging Face token (enough for public repos)", None)
    if hub.error and not hub.checked:
        return [Check("hub.token", "fail", hub.error, "fix or unset HF_TOKEN / HF_TOKEN_PATH")]
    if not hub.checked:
        return [token, Check("hub.endpoint", "skip", f"{hub.endpoint} not contacted (offline)")]
    if hub.reachable is None:
        return [
            token,
            Check(
                "hub.endpoint",
                "warn",
                f"{hub.endpoint}: the Hub check failed: {hub.error}",
                "retry; if it persists, report it with MODELCTL_DEBUG=1",
            ),
        ]
    if not hub.reachable:
        return [
            token,
            Check(
                "hub.endpoint",
                "fail",
                f"cannot reach {hub.endpoint}: {hub.error}",
                "check the network / proxy and HF_ENDPOINT, or use --offline",
            ),
        ]
    if hub.token_rejected:
        return [
            Check(
                "hub.token",
                "fail",
                f"{hub.endpoint} rejects the token from {hub.token_source} (HTTP 401)",
                "create a new token and set HF_TOKEN (or `hf auth login`)",
            ),
            Check("hub.endpoint", "ok", f"{hub.endpoint} answers"),
        ]
    if hub.error:
        return [
            token,
            Check(
                "hub.endpoint",
                "warn",
                f"{hub.endpoint} answers, but whoami failed: {hub.error}",
                "a mirror may not implement /api/whoami-v2; downloads may still work",
            ),
        ]
    return [token, Check("hub.endpoint", "ok", f"{hub.endpoint} answers (HTTP {hub.http_status})")]


# ---------------------------------------------------------------- a manifest's `requires`


def fill(template: str, values: dict[str, str]) -> str:
    """`{axis}` placeholders filled from the selection (unknown ones left as written)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def requires_checks(
    label: str,
    requires: dict[str, Any],
    values: dict[str, str],
    gpu: GpuReport,
    sm_override: int | None,
    versions: dict[str, str | None],
) -> list[Check]:
    """A selection's `requires:` against the machine. `versions` maps package names (and
    `python`, `comfyui`, `comfyui-nunchaku`) to installed versions (None: absent)."""
    checks: list[Check] = []
    gpu_req = requires.get("gpu") or {}
    if "min_vram_gib" in gpu_req:
        checks.append(_vram_check(label, float(gpu_req["min_vram_gib"]), gpu))
    if "precision" in gpu_req:
        checks.append(_precision_check(label, fill(gpu_req["precision"], values), gpu, sm_override))
    for name, spec in (requires.get("packages") or {}).items():
        checks.append(_package_check(label, name, spec, versions.get(name.lower())))
    if "python" in requires:
        checks.append(_package_check(label, "python", requires["python"], versions.get("python")))
    return checks


def _vram_check(label: str, minimum: float, gpu: GpuReport) -> Check:
    check_id = f"{label}.vram"
    if not gpu.visible:
        return Check(
            check_id,
            "warn",
            f"{label} needs {minimum:g} GiB of VRAM; {NO_GPU}",
            "run doctor on the machine that will run the stack",
        )
    best = max(gpu.gpus, key=lambda g: g.total_bytes)
    if best.total_bytes / GIB + 1e-9 < minimum:
        return Check(
            check_id,
            "fail",
            f"{label} needs {minimum:g} GiB of VRAM; the largest GPU ({best.name}) has "
            f"{_gib(best.total_bytes)}",
            "choose a smaller variant, or enable CPU offload if the stack supports it",
        )
    return Check(
        check_id, "ok", f"{label}: {best.name} has {_gib(best.total_bytes)} (needs {minimum:g} GiB)"
    )


def _precision_check(label: str, wanted: str, gpu: GpuReport, sm_override: int | None) -> Check:
    check_id = f"{label}.precision"
    if "{" in wanted or wanted == rules()["precision_axis"]["auto"]:
        return Check(check_id, "skip", f"{label}: precision not resolved ({wanted})")
    if sm_override is not None:
        targets = [(f"--gpu-sm {sm_override}", sm_override)]
    else:
        targets = [(f"GPU {g.index} {g.name}", g.sm) for g in gpu.gpus]
    if not targets:
        return Check(
            check_id,
            "warn",
            f"{label} uses SVDQuant {wanted}; {NO_GPU}",
            "pass --gpu-sm N to check for the GPU that will run it",
        )
    bad = [(name, sm) for name, sm in targets if svdquant_support(sm) != wanted]
    if not bad:
        return Check(check_id, "ok", f"{label}: SVDQuant {wanted} runs on {targets[0][0]}")
    name, sm = bad[0]
    runs = svdquant_support(sm)
    if runs is None:
        return Check(
            check_id,
            "fail",
            f"{label} needs SVDQuant {wanted}, but {name} (sm {sm}): "
            + svdquant_unsupported_reason(sm),
            "run this stack on an RTX 20/30/40/50-class GPU, or pick a non-Nunchaku stack",
        )
    return Check(
        check_id,
        "fail",
        f"{label} uses SVDQuant {wanted} files; {name} (sm {sm}) runs {runs} only",
        f"select precision={runs} (or precision=auto)",
    )


def _package_check(label: str, name: str, spec: str, version: str | None) -> Check:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion

    check_id = f"{label}.requires.{name}"
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        return Check(
            check_id,
            "fail",
            f"{label}: requires.packages.{name} `{spec}` is not a version range",
            "write a PEP 440 range such as >=1.0,<2",
        )
    if version is None:
        return Check(
            check_id,
            "fail",
            f"{label} needs {name} {spec}; it is not installed",
            f"install {name} {spec}",
        )
    try:
        ok = _version_in(version, spec)
    except InvalidVersion:
        return Check(check_id, "warn", f"{label}: cannot compare {name} {version} with {spec}")
    if not ok:
        return Check(
            check_id,
            "fail",
            f"{label} needs {name} {spec}; {version} is installed",
            f"install {name} {spec}",
        )
    return Check(check_id, "ok", f"{label}: {name} {version} satisfies {spec}")
