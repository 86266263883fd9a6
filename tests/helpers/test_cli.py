"""`run_main` stands in for `run_cli` only where it answers the same: the subprocess is the oracle.

Also: the run's environment and working directory are undone afterwards, huggingface_hub's
constants are read from each run's environment, and a run that would use the rest of
huggingface_hub (talk to a Hub) is stopped with `NeedsSubprocess` instead of running on a client
configured by whatever imported it first.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import NeedsSubprocess, run_cli, run_main
from tests.machine.records import write_record


def test_the_same_code_stdout_and_stderr_as_a_subprocess(tmp_path: Path) -> None:
    models = str(tmp_path / "models")
    for args in (
        ["bogus"],  # a usage error: one error line and a hint
        ["list"],  # a rich table, not on a terminal
        ["show", "z-image-turbo:quant=Q8_0", "--json", "--models-dir", models],
        ["show", "z-image-turbo:quant=Q9"],  # a manifest error
    ):
        env = {"MODELCTL_MODELS_DIR": models}
        assert run_main(*args, env=env, cwd=tmp_path) == run_cli(*args, env=env, cwd=tmp_path)


def test_the_environment_and_working_directory_are_restored(tmp_path: Path) -> None:
    before, here = dict(os.environ), os.getcwd()
    r = run_main("ensure", "nothing-here", env={"HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    assert r.code == 2, r.err
    assert dict(os.environ) == before and os.getcwd() == here


def test_hub_constants_come_from_each_runs_environment(tmp_path: Path) -> None:
    for port in (9, 10):
        env = {
            "HF_ENDPOINT": f"http://127.0.0.1:{port}",
            "HF_HOME": str(tmp_path / "hf_home"),
            "MODELCTL_NVML_RECORD": str(write_record(tmp_path, "no-gpu")),
            "MODELCTL_MODELS_DIR": str(tmp_path / "models"),
        }
        r = run_main("doctor", "--offline", "--json", env=env)
        assert json.loads(r.out)["hub"]["endpoint"] == f"http://127.0.0.1:{port}", r.err


def test_talking_to_a_hub_in_process_is_refused() -> None:
    import huggingface_hub

    with pytest.raises(NeedsSubprocess):  # nothing listens on port 9: huggingface_hub's turn
        run_main("inspect", "hf://org/repo/model.gguf", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert sys.modules["huggingface_hub"] is huggingface_hub
