"""Doctor's checks of a manifest's `requires:` from recorded NVML answers."""

from __future__ import annotations

from modelctl.doctor.model import Check
from modelctl.doctor.requires import requires_checks
from tests.machine.records import report


def by_id(rows: list[Check]) -> dict[str, Check]:
    return {r.id: r for r in rows}


def _requires(key: str, requires: dict, values: dict, sm=None, **versions) -> dict:
    rows = requires_checks("stack", requires, values, report(key), sm, versions)
    return by_id(rows)


def test_min_vram() -> None:
    req = {"gpu": {"min_vram_gib": 16}}
    assert _requires("rtx3090", req, {})["stack.vram"].status == "ok"
    low = _requires("rtx3060-12gb", req, {})["stack.vram"]
    assert low.status == "fail" and "12.0 GiB" in low.summary
    assert _requires("no-gpu", req, {})["stack.vram"].status == "warn"


def test_precision_requirement_with_placeholder() -> None:
    req = {"gpu": {"precision": "{precision}"}}
    assert _requires("rtx3090", req, {"precision": "int4"})["stack.precision"].status == "ok"
    wrong = _requires("rtx3090", req, {"precision": "fp4"})["stack.precision"]
    assert wrong.status == "fail" and "int4 only" in wrong.summary and "precision=int4" in wrong.fix
    hopper = _requires("h100", req, {"precision": "int4"})["stack.precision"]
    assert hopper.status == "fail" and "sm 90" in hopper.summary
    assert _requires("no-gpu", req, {"precision": "fp4"}, sm=120)["stack.precision"].status == "ok"
    assert _requires("no-gpu", req, {"precision": "auto"})["stack.precision"].status == "skip"


def test_package_requirements() -> None:
    req = {"packages": {"nunchaku": ">=1.0.0", "comfyui": ">=0.3.60", "diffusers": "bad range"},
           "python": ">=3.10,<3.14"}  # fmt: skip
    rows = _requires(
        "rtx3090", req, {}, nunchaku="1.0.1+torch2.8", comfyui="0.3.59", python="3.12.3"
    )
    assert rows["stack.requires.nunchaku"].status == "ok"
    assert rows["stack.requires.comfyui"].status == "fail"
    assert "0.3.59 is installed" in rows["stack.requires.comfyui"].summary
    assert rows["stack.requires.diffusers"].status == "fail"
    assert "not a version range" in rows["stack.requires.diffusers"].summary
    assert rows["stack.requires.python"].status == "ok"
    missing = _requires("rtx3090", {"packages": {"nunchaku": ">=1.0"}}, {})
    assert "not installed" in missing["stack.requires.nunchaku"].summary
