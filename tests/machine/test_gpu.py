"""GPU probe: recorded NVML answers in, GpuReport out (the same parser as the live probe)."""

from __future__ import annotations

import json

import pytest

from modelctl.errors import BadInput
from modelctl.machine import gpu
from modelctl.units import GIB
from tests.machine.records import RECORDS, write_record


def test_rtx3090_is_sm86_with_24_gib() -> None:
    report = gpu.parse_record(RECORDS["rtx3090"])
    (card,) = report.gpus
    assert card.name == "NVIDIA GeForce RTX 3090"
    assert card.sm == 86 and card.capability == "8.6"
    assert card.total_bytes == 24 * GIB and round(card.total_gib) == 24
    assert card.free_bytes < card.total_bytes
    assert report.driver == "580.95.05" and report.cuda_driver == "13.0"
    assert report.visible and report.problem is None


@pytest.mark.parametrize(("key", "sm"), [("rtx5090", 120), ("h100", 90), ("rtx3060-12gb", 86)])
def test_compute_capability_becomes_sm(key: str, sm: int) -> None:
    assert gpu.parse_record(RECORDS[key]).gpus[0].sm == sm


@pytest.mark.parametrize("key", ["no-gpu", "no-driver", "no-module"])
def test_no_gpu_is_a_report_not_an_error(key: str) -> None:
    report = gpu.parse_record(RECORDS[key])
    assert not report.visible and report.gpus == ()
    assert report.problem


def test_missing_module_names_the_extra() -> None:
    assert "modelctl[gpu]" in gpu.parse_record(RECORDS["no-module"]).problem


def test_zero_devices() -> None:
    report = gpu.parse_record(
        {"driver_version": "580", "cuda_driver_version": 12080, "devices": []}
    )
    assert not report.visible and report.problem == "NVML reports no devices"
    assert report.cuda_driver == "12.8"


def test_one_broken_device_keeps_the_others() -> None:
    data = json.loads(json.dumps(RECORDS["mixed"]))
    data["devices"][1] = {"index": 1, "error": "NVMLError_GpuIsLost: GPU is lost"}
    report = gpu.parse_record(data)
    assert [g.index for g in report.gpus] == [0]
    assert "GPU 1" in report.problem and "lost" in report.problem


def test_probe_replays_the_record_named_by_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(gpu.RECORD_ENV, str(write_record(tmp_path, "h100")))
    report = gpu.probe()
    assert report.gpus[0].sm == 90 and report.source.startswith("record:")


def test_unreadable_record_is_bad_input(tmp_path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(BadInput, match="cannot read the NVML record"):
        gpu.probe(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(BadInput, match="not a JSON object"):
        gpu.probe(bad)


def test_live_probe_returns_parseable_answers() -> None:
    """On any machine (GPU or not) the live answers parse: errors become a reason, not a crash."""
    raw = gpu.record_nvml()
    json.dumps(raw)
    report = gpu.parse_record(raw)
    assert report.visible or report.problem
