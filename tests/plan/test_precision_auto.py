"""`precision: auto` resolves through the GPU probe, `--gpu-sm` and $MODELCTL_GPU_SM."""

from __future__ import annotations

import pytest

from modelctl.errors import BadInput
from modelctl.machine import gpu
from modelctl.machine.target import SM_ENV
from modelctl.manifest.catalog import find
from modelctl.manifest.model import Selection
from modelctl.manifest.select import select, split_spec
from modelctl.plan.selections import resolve_auto
from tests.helpers.manifests import nunchaku_manifest
from tests.machine.records import report


@pytest.fixture(autouse=True)
def _no_override(monkeypatch) -> None:
    monkeypatch.delenv(SM_ENV, raising=False)
    monkeypatch.delenv(gpu.RECORD_ENV, raising=False)


@pytest.fixture
def spec(tmp_path) -> str:
    return str(nunchaku_manifest(tmp_path))


def resolve_spec(spec: str) -> Selection:
    """The selection as written (`precision=auto` left in place, whatever resolve_spec does)."""
    name, choices = split_spec(spec)
    return select(find(name), choices)


@pytest.mark.parametrize(("key", "precision"), [("rtx3090", "int4"), ("rtx5090", "fp4")])
def test_auto_follows_the_gpu(spec: str, key: str, precision: str) -> None:
    sel = resolve_auto(resolve_spec(spec), None, report(key))
    assert sel.values["precision"] == precision
    assert sel.assets[0].dest == f"diffusion_models/svdq-{precision}_r32-test.safetensors"


def test_other_axes_are_kept(spec: str) -> None:
    sel = resolve_auto(resolve_spec(spec + ":rank=r128"), None, report("rtx3090"))
    assert sel.values == {"precision": "int4", "rank": "r128"}
    assert sel.spec.endswith("precision=int4,rank=r128")


def test_explicit_precision_is_untouched(spec: str) -> None:
    sel = resolve_spec(spec + ":precision=fp4")
    assert resolve_auto(sel, None, report("h100")) is sel


def test_gpu_sm_wins_over_the_probe(spec: str) -> None:
    sel = resolve_auto(resolve_spec(spec), 120, report("rtx3090"))
    assert sel.values["precision"] == "fp4"


def test_environment_override_without_gpu(spec: str, monkeypatch) -> None:
    monkeypatch.setenv(SM_ENV, "8.9")
    sel = resolve_auto(resolve_spec(spec), None, report("no-gpu"))
    assert sel.values["precision"] == "int4"


def test_bad_environment_override(spec: str, monkeypatch) -> None:
    monkeypatch.setenv(SM_ENV, "hopper")
    with pytest.raises(BadInput, match="not a compute capability"):
        resolve_auto(resolve_spec(spec), None, report("rtx3090"))


def test_no_gpu_and_no_override_is_bad_input(spec: str) -> None:
    with pytest.raises(BadInput) as exc:
        resolve_auto(resolve_spec(spec), None, report("no-gpu"))
    assert exc.value.exit_code == 2
    assert "no NVIDIA GPU is visible" in exc.value.message
    assert "--gpu-sm" in exc.value.hint and "precision=int4" in exc.value.hint


def test_hopper_is_unsupported(spec: str) -> None:
    with pytest.raises(BadInput) as exc:
        resolve_auto(resolve_spec(spec), None, report("h100"))
    assert "sm 90" in exc.value.message and "H100" in exc.value.message
    assert "precision=int4 or precision=fp4" in exc.value.hint


def test_unsupported_override(spec: str) -> None:
    with pytest.raises(BadInput, match="sm 70"):
        resolve_auto(resolve_spec(spec), 70, None)


def test_gpus_that_disagree_need_an_override(spec: str) -> None:
    with pytest.raises(BadInput, match="ambiguous"):
        resolve_auto(resolve_spec(spec), None, report("mixed"))
    assert resolve_auto(resolve_spec(spec), 89, report("mixed")).values["precision"] == "int4"


def test_probe_is_used_when_no_report_is_given(spec: str, tmp_path, monkeypatch) -> None:
    from tests.machine.records import write_record

    monkeypatch.setenv(gpu.RECORD_ENV, str(write_record(tmp_path, "rtx5090")))
    assert resolve_auto(resolve_spec(spec), None).values["precision"] == "fp4"
