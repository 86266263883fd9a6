"""Doctor's Python and torch checks: the target interpreter, whether torch imports, its CUDA build
against the GPU and the NVIDIA driver. Pure functions of the probes' data (`machine.packages`,
`machine.gpu`)."""

from __future__ import annotations

from modelctl.doctor.model import Check
from modelctl.machine.gpu import GpuReport
from modelctl.machine.packages import PythonEnv, TorchImport


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
