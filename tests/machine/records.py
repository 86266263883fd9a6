"""Recorded NVML answers (the JSON `modelctl.machine.gpu.record_nvml` returns) for machines we test
against without owning them, and a recorded /proc/self/mountinfo for the filesystem probe.

The H100 record is the answer NVML gave on a real H100 80GB HBM3 (`doctor --save-nvml`);
the others follow the same shape with the cards' published figures (compute capability from
NVIDIA's CUDA GPU table, memory as NVML reports it: total bytes, a little less free).
"""

from __future__ import annotations

import json
from pathlib import Path

from modelctl.machine.gpu import GpuReport, parse_record

MIB = 1024**2


def device(index: int, name: str, cc: tuple[int, int], total: int, free: int) -> dict:
    return {
        "index": index,
        "name": name,
        "uuid": f"GPU-{index:08x}-0000-0000-0000-000000000000",
        "cuda_compute_capability": list(cc),
        "memory": {"total": total, "free": free, "used": total - free},
    }


def machine(*devices: dict, driver: str = "580.95.05", cuda: int = 13000) -> dict:
    return {
        "nvml_module": "13.580.82",
        "driver_version": driver,
        "cuda_driver_version": cuda,
        "devices": list(devices),
    }


RTX_3090 = machine(device(0, "NVIDIA GeForce RTX 3090", (8, 6), 24576 * MIB, 23871 * MIB))
RTX_5090 = machine(device(0, "NVIDIA GeForce RTX 5090", (12, 0), 32607 * MIB, 31880 * MIB))
# Recorded on an H100 with `modelctl doctor --save-nvml` (nvidia-ml-py there reports no __version__).
H100 = {
    "nvml_module": None,
    "driver_version": "580.159.04",
    "cuda_driver_version": 13000,
    "devices": [
        {
            "index": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "uuid": "GPU-f96cf38d-1b31-9043-1443-2d8b975a9593",
            "cuda_compute_capability": [9, 0],
            "memory": {"total": 85520809984, "free": 85017493504, "used": 503316480},
        }
    ],
}
RTX_3060_12GB = machine(device(0, "NVIDIA GeForce RTX 3060", (8, 6), 12288 * MIB, 11710 * MIB))
NO_GPU = {"error": "NVMLError_LibraryNotFound: NVML Shared Library Not Found"}
NO_DRIVER = {"error": "NVMLError_DriverNotLoaded: Driver Not Loaded"}
NO_MODULE = {"error": "nvidia-ml-py is not installed", "missing_module": True}
MIXED = machine(
    device(0, "NVIDIA GeForce RTX 5090", (12, 0), 32607 * MIB, 31880 * MIB),
    device(1, "NVIDIA GeForce RTX 4090", (8, 9), 24564 * MIB, 24000 * MIB),
)

RECORDS = {
    "rtx3090": RTX_3090,
    "rtx5090": RTX_5090,
    "h100": H100,
    "rtx3060-12gb": RTX_3060_12GB,
    "no-gpu": NO_GPU,
    "no-driver": NO_DRIVER,
    "no-module": NO_MODULE,
    "mixed": MIXED,
}


def report(key: str) -> GpuReport:
    """Record `key` as the GPU probe reports it."""
    return parse_record(RECORDS[key])


def write_record(directory: Path, key: str) -> Path:
    """Save record `key` as JSON for MODELCTL_NVML_RECORD."""
    path = Path(directory) / f"nvml-{key}.json"
    path.write_text(json.dumps(RECORDS[key]), "utf-8")
    return path


# /proc/self/mountinfo (proc(5)) of a host with ext4, tmpfs, NFS with and without `nolock`, and a
# mount point with an escaped space.
MOUNTINFO = """\
22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
30 22 0:25 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw
41 22 0:40 / /mnt/models rw,relatime shared:20 - nfs4 nas:/export/models rw,vers=4.2,local_lock=none,addr=10.0.0.2
42 22 0:41 / /mnt/legacy rw,relatime shared:21 - nfs nas:/old rw,vers=3,nolock,addr=10.0.0.2
43 22 0:42 / /mnt/my\\040models rw,relatime shared:22 - xfs /dev/sdb1 rw
44 41 0:43 / /mnt/models/cache rw,relatime shared:23 - tmpfs tmpfs rw
"""
