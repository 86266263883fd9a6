"""NVIDIA GPUs as NVML sees them: name, VRAM, compute capability, driver.

The probe has two halves so that tests and bug reports can replay a real machine's answers:
`record_nvml()` asks NVML (through `nvidia-ml-py`, the optional extra `modelctl[gpu]`) and returns
its raw answers as plain JSON data; `parse_record()` turns such a record into a `GpuReport`. A live
probe is just `parse_record(record_nvml())`; `MODELCTL_NVML_RECORD=FILE` (or `probe(record=FILE)`)
replays a saved record instead of asking the driver, which is how the tests describe an RTX 3090,
an RTX 5090, an H100 or a machine with no GPU without owning one.

NVML rather than torch: it needs no CUDA context (fast, no VRAM used), works in a container or venv
without torch, and reports free memory for every device.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelctl.datafiles import read_bounded
from modelctl.errors import BadInput
from modelctl.units import GIB

RECORD_ENV = "MODELCTL_NVML_RECORD"
MAX_RECORD_BYTES = 16 << 20  # a record of 8 GPUs is a few KiB
NO_GPU = "no NVIDIA GPU visible"


@dataclass(frozen=True)
class GpuInfo:
    """One GPU: `sm` is the compute capability as major*10+minor (8.6 -> 86, 12.0 -> 120)."""

    index: int
    name: str
    sm: int
    total_bytes: int
    free_bytes: int
    uuid: str | None = None

    @property
    def capability(self) -> str:
        return f"{self.sm // 10}.{self.sm % 10}"

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GIB

    @property
    def free_gib(self) -> float:
        return self.free_bytes / GIB


@dataclass(frozen=True)
class GpuReport:
    """What the machine has: GPUs (possibly none), driver versions, and why none are visible."""

    gpus: tuple[GpuInfo, ...]
    driver: str | None = None
    cuda_driver: str | None = None
    problem: str | None = None
    source: str = "nvml"

    @property
    def visible(self) -> bool:
        return bool(self.gpus)


def probe(record: str | Path | None = None) -> GpuReport:
    """This machine's GPUs, or the recorded NVML answers in `record` / $MODELCTL_NVML_RECORD."""
    raw, source = raw_answers(record)
    return parse_record(raw, source)


def raw_answers(record: str | Path | None = None) -> tuple[dict[str, Any], str]:
    """NVML's raw answers and where they came from (`nvml`, or `record:PATH` when replayed)."""
    path = record or os.environ.get(RECORD_ENV)
    if path:
        return load_record(Path(path)), f"record:{path}"
    return record_nvml(), "nvml"


def load_record(path: Path) -> dict[str, Any]:
    """Read a saved NVML record (the JSON `record_nvml` returns)."""
    try:
        data = json.loads(read_bounded(path, MAX_RECORD_BYTES))
    except (OSError, ValueError, RecursionError) as exc:
        raise BadInput(
            f"cannot read the NVML record {path}: {exc}",
            f"unset {RECORD_ENV} or point it at a file written by `modelctl doctor --save-nvml`",
        ) from None
    if not isinstance(data, dict):
        raise BadInput(
            f"the NVML record {path} is not a JSON object",
            f"unset {RECORD_ENV} or point it at a file written by `modelctl doctor --save-nvml`",
        )
    return data


def record_nvml() -> dict[str, Any]:
    """Ask NVML and return its raw answers as JSON-ready data (or `{"error": …}` when it cannot)."""
    try:
        import pynvml  # the optional extra modelctl[gpu] (no stubs: see [tool.mypy] overrides)
    except ImportError:
        return {"error": "nvidia-ml-py is not installed", "missing_module": True}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    try:
        return {
            "nvml_module": getattr(pynvml, "__version__", None),
            "driver_version": _text(_ask(pynvml.nvmlSystemGetDriverVersion)),
            "cuda_driver_version": _ask(pynvml.nvmlSystemGetCudaDriverVersion),
            "devices": [_record_device(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())],
        }
    except pynvml.NVMLError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        pynvml.nvmlShutdown()


def _record_device(pynvml: Any, index: int) -> dict[str, Any]:
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        return {
            "index": index,
            "name": _text(pynvml.nvmlDeviceGetName(handle)),
            "uuid": _text(_ask(pynvml.nvmlDeviceGetUUID, handle)),
            "cuda_compute_capability": list(pynvml.nvmlDeviceGetCudaComputeCapability(handle)),
            "memory": {"total": memory.total, "free": memory.free, "used": memory.used},
        }
    except pynvml.NVMLError as exc:
        return {"index": index, "error": f"{type(exc).__name__}: {exc}"}


def _ask(fn: Callable[..., Any], *args: Any) -> Any:
    """An optional NVML answer: None when this driver or device does not support the query."""
    import pynvml

    try:
        return fn(*args)
    except pynvml.NVMLError:
        return None


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def parse_record(data: dict[str, Any], source: str = "nvml") -> GpuReport:
    """A `GpuReport` from raw NVML answers (live or replayed)."""
    if "error" in data:
        if data.get("missing_module"):
            problem = f"{data['error']} (pip install 'modelctl[gpu]')"
        else:
            problem = f"NVML: {data['error']}"
        return GpuReport((), problem=problem, source=source)
    gpus: list[GpuInfo] = []
    broken: list[str] = []
    for raw in data.get("devices") or []:
        if "error" in raw:
            broken.append(f"GPU {raw.get('index')}: {raw['error']}")
            continue
        major, minor = raw["cuda_compute_capability"]
        gpus.append(
            GpuInfo(
                index=int(raw.get("index", len(gpus))),
                name=str(raw["name"]),
                sm=int(major) * 10 + int(minor),
                total_bytes=int(raw["memory"]["total"]),
                free_bytes=int(raw["memory"]["free"]),
                uuid=raw.get("uuid"),
            )
        )
    found: str | None = "; ".join(broken) or (None if gpus else "NVML reports no devices")
    return GpuReport(
        tuple(gpus),
        driver=data.get("driver_version"),
        cuda_driver=_cuda_version(data.get("cuda_driver_version")),
        problem=found,
        source=source,
    )


def _cuda_version(value: Any) -> str | None:
    """NVML's CUDA driver version integer (12080) as `12.8`."""
    if not isinstance(value, int) or value <= 0:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"
