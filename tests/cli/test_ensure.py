"""`modelctl ensure`: the stdlib fast path, its cache, offline mode, env configuration, and the real
pull path against the test hub (concurrent processes, a killed one, a rerun with no request).

Runs that only read the models dir and print run in-process (`run_main`); what a fresh process
imports is proven by `probe`, and downloads from the test hub run in subprocesses (`run_cli`)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelctl.ensure import config as C
from modelctl.store.layout import Layout
from tests.helpers.cli import cli_env, run_cli, run_main
from tests.helpers.probe import probe
from tests.helpers.stack import fake_stack, write_manifest


@pytest.fixture
def stack(tmp_path: Path) -> dict:
    models = tmp_path / "models"
    manifest = fake_stack(models, tmp_path / "manifests", name="stack", n=6)
    env = {
        "MODELCTL_MODELS_DIR": str(models),
        "MODELCTL_MANIFESTS": str(tmp_path / "manifests"),
        "HF_HUB_OFFLINE": "1",  # nothing here may reach a network
        "HF_HOME": str(tmp_path / "hf_home"),
    }
    return {"models": models, "manifest": manifest, "env": env, "tmp": tmp_path}


def summary(out: str) -> dict:
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return next(e for e in events if e.get("event") == "summary")


# ----------------------------------------------------------------------------- fast path


def test_installed_stack_first_run_writes_cache_then_fast_path_imports_nothing_heavy(stack):
    first = run_main("ensure", "stack", "--json", env=stack["env"])
    assert first.code == 0, first.err
    assert summary(first.out)["fast"] is False
    assert (stack["models"] / ".modelctl" / "ensure-cache.json").is_file()

    result, out, err = probe("ensure", "stack", env=stack["env"])
    assert result == {"code": 0, "heavy": []}, err
    assert len(out.splitlines()) == 1
    assert "6 assets present" in out and "nothing to download" in out


def test_fast_path_reads_everything_from_the_environment(stack):
    env = {**stack["env"], "MODELCTL_ENSURE": "stack stack:quant=Q4_K_M"}
    assert run_main("ensure", env=env).code == 0
    result, out, _ = probe("ensure", "--json", env=env)
    assert result["code"] == 0 and result["heavy"] == []
    event = summary(out)
    assert event["status"] == "ok" and event["fast"] is True and event["assets"] == 6
    assert event["specs"] == ["stack:quant=Q4_K_M", "stack:quant=Q4_K_M"]


def test_changed_manifest_is_not_trusted_from_the_cache(stack):
    assert run_main("ensure", "stack", env=stack["env"]).code == 0
    text = stack["manifest"].read_text().replace("a test stack", "an edited stack")
    stack["manifest"].write_text(text)
    result, _, err = probe("ensure", "stack", env=stack["env"])
    assert result["code"] == 0, err
    assert "yaml" in result["heavy"]  # the slow path re-read the manifest
    result, _, _ = probe("ensure", "stack", env=stack["env"])
    assert result["heavy"] == []  # ... and re-recorded it


def test_new_manifest_that_overrides_the_name_is_noticed(stack, tmp_path):
    assert run_main("ensure", "stack", env=stack["env"]).code == 0
    override = tmp_path / "override"
    override.mkdir()
    write_manifest(override / "stack.yaml", "stack", [("x", "vae", "vae/other.safetensors")])
    env = {**stack["env"], "MODELCTL_MANIFESTS": f"{stack['env']['MODELCTL_MANIFESTS']}:{override}"}
    assert run_main("ensure", "stack", env=env).code == 1  # other key: slow path, offline, missing
    assert run_main("ensure", "stack", env=stack["env"]).code == 0
    # a file appearing in a watched folder after the cache was written
    (Path(stack["env"]["MODELCTL_MANIFESTS"]) / "other.yml").write_text("# not yet a manifest\n")
    result, _, _ = probe("ensure", "stack", env=stack["env"])
    assert result["code"] == 0 and "yaml" in result["heavy"]


def test_modified_file_is_not_trusted_and_offline_names_it(stack):
    """A file whose stat changed is not trusted from the cache; its bytes are not the ones the
    receipt records (the fake stack's receipts name made-up hashes), so it is a file ensure never
    overwrites: named, exit 1, offline or not."""
    assert run_main("ensure", "stack", env=stack["env"]).code == 0
    vae = stack["models"] / "vae" / "stack2-vae.safetensors"
    os.utime(vae, ns=(time.time_ns(), time.time_ns() - 10**9))
    result = run_main("ensure", "stack", "--offline", env=stack["env"])
    assert result.code == 1
    assert result.err.startswith("error: 1 file(s) in the way, which ensure never overwrites")
    assert "vae/stack2-vae.safetensors (it changed since modelctl installed it" in result.err
    assert "Traceback" not in result.err


def test_deleted_file_falls_back_to_the_full_command(stack):
    assert run_main("ensure", "stack", env=stack["env"]).code == 0
    (stack["models"] / "loras" / "stack3-lora.safetensors").unlink()
    result = run_main("ensure", "stack", env={**stack["env"], "MODELCTL_OFFLINE": "1"})
    assert result.code == 1 and "stack3-lora.safetensors (missing)" in result.err


def test_corrupt_cache_is_ignored(stack):
    assert run_main("ensure", "stack", env=stack["env"]).code == 0
    (stack["models"] / ".modelctl" / "ensure-cache.json").write_text("{not json")
    result = run_main("ensure", "stack", "--json", env=stack["env"])
    assert result.code == 0 and summary(result.out)["fast"] is False


def test_relative_manifest_path_is_keyed_by_working_directory(stack, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    env = {**stack["env"], "MODELCTL_MANIFESTS": ""}
    assert run_main("ensure", "stack.yaml", env=env, cwd=stack["manifest"].parent).code == 0
    result = run_main("ensure", "stack.yaml", env=env, cwd=other)
    assert result.code == 2 and "does not exist" in result.err


def test_cache_is_replaced_atomically_and_a_failed_write_is_harmless(tmp_path):
    from modelctl.ensure.cache import CACHE_NAME, cache_path, read_cache, write_cache

    root = str(tmp_path / "models")
    entry = {"specs": [], "watch": [], "assets": []}  # the shape ensure.run writes
    write_cache(root, "k1", entry)
    write_cache(root, "k2", entry)
    state = tmp_path / "models" / C.STATE_DIR
    assert os.listdir(state) == [CACHE_NAME]  # no temporary file left beside it
    assert [e["key"] for e in read_cache(root)["entries"]] == ["k2", "k1"]
    os.unlink(cache_path(root))
    os.mkdir(cache_path(root))  # a folder in the way: the rename fails
    write_cache(root, "k3", entry)  # best effort: no error ...
    assert os.listdir(state) == [CACHE_NAME]  # ... and still no temporary file


# ----------------------------------------------------------------------------- bad input


def test_no_spec_is_bad_input(stack):
    result = run_main("ensure", env={**stack["env"], "MODELCTL_ENSURE": " "})
    assert result.code == 2
    assert result.err.splitlines()[0] == "error: no SPEC to ensure"


def test_unknown_stack_is_bad_input(stack):
    result = run_main("ensure", "nope", env=stack["env"])
    assert result.code == 2 and "no manifest named `nope`" in result.err


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan"])
def test_bad_timeout_is_bad_input(stack, value):
    assert run_main("ensure", "stack", env=stack["env"]).code == 0  # the fast path must say it too
    for args, env in ((["--timeout", value], {}), ([], {"MODELCTL_TIMEOUT": value})):
        result = run_main("ensure", "stack", *args, env={**stack["env"], **env})
        assert result.code == 2, result.err
        assert result.err.splitlines()[0] == (
            f"error: --timeout must be a positive number of seconds, got `{value}`"
        )


# ----------------------------------------------------------------------------- against the test hub

TWO = """\
schema: 1
name: two
description: two assets from the test hub
assets:
  - id: unet
    role: diffusion_model
    source: hf://org/two/model.safetensors
    revision: main
    dest: diffusion_models/model.safetensors
  - id: vae
    role: vae
    source: hf://org/two/vae.safetensors
    revision: main
    dest: vae/vae.safetensors
"""
SIZES = {"model.safetensors": 3 << 20, "vae.safetensors": 1 << 20}
DESTS = {"model.safetensors": "diffusion_models", "vae.safetensors": "vae"}


@pytest.fixture
def two(hub, tmp_path: Path) -> dict:
    rng = random.Random(7)
    data = {name: rng.randbytes(size) for name, size in SIZES.items()}
    for name, blob in data.items():
        hub.add_file("org/two", name, blob)
    manifest = tmp_path / "two.yaml"
    manifest.write_text(TWO)
    models = tmp_path / "models"
    env = hub.env(tmp_path, MODELCTL_MODELS_DIR=str(models), MODELCTL_ENSURE=str(manifest))
    return {"data": data, "models": models, "env": env, "manifest": manifest, "tmp": tmp_path}


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modelctl", "ensure", *args],
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append((p.returncode, stdout, stderr))
    return out


def assert_installed(two: dict) -> None:
    for name, blob in two["data"].items():
        path = two["models"] / DESTS[name] / name
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(blob).digest()
        assert Layout(two["models"]).receipt(f"{DESTS[name]}/{name}").is_file()


def test_eight_ensures_at_once_fetch_each_file_once_and_a_rerun_makes_no_request(two, hub):
    hub.fault("org/two", "model.safetensors", rate=2 << 20)  # ~1.5 s: the others must wait
    procs = [start(two["env"]) for _ in range(8)]
    results = finish(procs)
    assert [code for code, _, _ in results] == [0] * 8, [err for code, _, err in results if code]
    for name, size in SIZES.items():
        assert hub.bytes_downloaded(name) == size, name  # header probes of the check aside
        assert len(hub.downloads(name, origin="cdn")) == 1, name
    assert_installed(two)

    hub.clear_log()
    rerun = run_main("ensure", env=two["env"])  # the fast path
    assert rerun.code == 0, rerun.err
    assert hub.requests() == []
    assert "2 assets present" in rerun.out and "nothing to download" in rerun.out


def test_a_downloader_killed_mid_way_does_not_stop_the_others(two, hub):
    hub.fault("org/two", "model.safetensors", rate=1 << 20)  # ~3 s for the big file
    procs = [start(two["env"]) for _ in range(4)]  # four keep the suite fast; eight above
    key = hashlib.sha256(two["data"]["model.safetensors"]).hexdigest()
    victim = wait_for_downloader(procs, two["models"] / ".modelctl" / "partial" / key)
    os.kill(victim.pid, signal.SIGKILL)
    hub.clear_faults()
    results = finish(procs)
    codes = [code for p, (code, _, _) in zip(procs, results, strict=True) if p is not victim]
    assert codes == [0] * 3, results
    assert victim.returncode == -signal.SIGKILL
    assert_installed(two)
    ranged = [e for e in hub.downloads("model.safetensors") if e.range]
    assert ranged, "the survivor should resume the killed process's partial"
    assert hub.bytes_downloaded("model.safetensors") < 2 * SIZES["model.safetensors"]


def wait_for_downloader(procs: list[subprocess.Popen[str]], prefix: Path) -> subprocess.Popen:
    """The process writing partial `<prefix>.*.part`, once it holds 1 MiB and its state was saved
    (found through Linux /proc)."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to find the downloading process")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for proc in procs:
            try:
                fds = list(Path(f"/proc/{proc.pid}/fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith(f"{prefix}.") and target.endswith(".part"):
                    with contextlib.suppress(OSError, ValueError):
                        state = json.loads(Path(target[: -len(".part")] + ".json").read_text())
                        if sum(end - start for start, end in state["written"]) >= 1 << 20:
                            return proc
        time.sleep(0.05)
    raise AssertionError("no process started downloading")


def test_offline_with_missing_assets_names_them_and_sends_no_request(two, hub):
    for args, extra in ((["--offline"], {}), ([], {"MODELCTL_OFFLINE": "1"})):
        result = run_main("ensure", *args, env={**two["env"], **extra})
        assert result.code == 1, result.err
        first = result.err.splitlines()[0]
        assert first.startswith("error: offline, and 2 asset(s) are not installed:")
        assert "unet -> diffusion_models/model.safetensors (missing)" in first
        assert "vae -> vae/vae.safetensors (missing)" in first
    result = run_main("ensure", "--offline", "--json", env=two["env"])
    event = json.loads(result.out.splitlines()[-1])
    assert (event["event"], event["status"], event["exit_code"]) == ("summary", "error", 1)
    assert hub.requests() == []


def settled_bytes(hub, name: str) -> int:
    """Bytes served for `name` once the hub has logged the request cut off by the client's exit."""
    deadline = time.monotonic() + 10
    while not hub.downloads(name, origin="cdn") and time.monotonic() < deadline:
        time.sleep(0.05)
    return hub.bytes_downloaded(name)


def test_timeout_stops_with_exit_5_and_the_next_run_resumes(two, hub):
    hub.fault("org/two", "model.safetensors", rate=512 << 10)  # 6 s for 3 MiB
    started = time.monotonic()
    result = run_cli("ensure", "--timeout", "3", env=two["env"])
    assert result.code == 5, result.err
    assert time.monotonic() - started < 20
    assert result.err.count("error:") == 1 and "Traceback" not in result.err
    assert not (two["models"] / "diffusion_models" / "model.safetensors").exists()
    served = settled_bytes(hub, "model.safetensors")
    assert 0 < served < SIZES["model.safetensors"]

    hub.clear_faults()
    hub.clear_log()
    again = run_cli("ensure", env=two["env"])
    assert again.code == 0, again.err
    assert_installed(two)
    resumed = [e for e in hub.downloads("model.safetensors", origin="cdn") if e.range]
    assert resumed, "resumed with a Range request"
    start = int(resumed[0].range.removeprefix("bytes=").rstrip("-"))
    assert 0 < start < SIZES["model.safetensors"]
    assert hub.bytes_downloaded("model.safetensors") == SIZES["model.safetensors"] - start


def test_ensure_fetches_only_what_is_missing_and_never_upgrades_in_passing(two, hub):
    assert run_cli("ensure", env=two["env"]).code == 0
    (two["models"] / "vae" / "vae.safetensors").unlink()
    hub.add_file("org/two", "model.safetensors", b"a newer model on main")
    hub.clear_log()
    result = run_cli("ensure", env=two["env"])
    assert result.code == 0, result.err
    assert "1 downloaded" in result.out
    assert [e for e in hub.requests() if e.file == "model.safetensors"] == []
    assert_installed(two)  # the installed model is still the one the receipt names


# ----------------------------------------------------------------------------- fast parser = typer
#
# `modelctl ensure` and `comfyui-paths` are parsed twice: by the stdlib fast parser (from the tables
# of modelctl/ensure/config.py) and, whenever it declines, by the typer command. Both must know the
# same options, with the same arity, defaults and environment variables; the fast parser may
# decline anything (the typer command then decides), but whatever it accepts, click must accept
# with the same values.

FAST_TABLES = {
    "ensure": (C.ENSURE_FLAGS, C.ENSURE_VALUED, C.ENSURE_ENVVARS),
    "comfyui-paths": (C.COMFYUI_PATHS_FLAGS, C.COMFYUI_PATHS_VALUED, C.COMFYUI_PATHS_ENVVARS),
}
NO_ENV = (C.ENSURE_ENV, C.TIMEOUT_ENV, *C.ENSURE_ENVVARS.values())


@functools.cache
def click_command(name: str) -> click.Command:
    """The real typer command, as click sees it (what `modelctl NAME` runs when not fast)."""
    import typer.main

    from modelctl.cli.app import build_app

    group = typer.main.get_command(build_app([name]))
    assert isinstance(group, click.Group)
    return group.commands[name]


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """os.environ without ensure's variables, plus `values`, restored afterwards."""
    saved = dict(os.environ)
    for name in NO_ENV:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def click_params(name: str, argv: list[str]) -> dict[str, Any]:
    """The parameters click parses from `argv` (raises click's usage errors)."""
    return click_command(name).make_context(name, list(argv)).params


@pytest.mark.parametrize("name", sorted(FAST_TABLES))
def test_fast_parser_tables_are_the_typer_commands_options(name):
    flags, valued, envvars = FAST_TABLES[name]
    params = click_command(name).params
    options = [p for p in params if isinstance(p, click.Option)]
    assert {o: p.name for p in options if p.is_flag for o in (*p.opts, *p.secondary_opts)} == flags
    assert {o: p.name for p in options if not p.is_flag for o in (*p.opts, *p.secondary_opts)} == (
        valued
    )
    assert {p.name: p.envvar for p in options if p.envvar} == envvars
    for p in options:  # what `parse_options` assumes of every option
        assert (p.nargs, p.multiple, p.count) == (1, False, False), p.name
        assert p.default is (False if p.is_flag else None), p.name
    arguments = [(p.name, p.nargs) for p in params if isinstance(p, click.Argument)]
    assert arguments == ([("specs", -1)] if name == "ensure" else [])


@pytest.mark.parametrize("name", sorted(FAST_TABLES))
def test_fast_parser_defaults_are_the_typer_commands_defaults(name):
    flags, valued, _ = FAST_TABLES[name]
    with environ():
        fast = C.parse_options([], flags, valued)
        params = click_params(name, [])
    assert fast is not None and fast.pop("args") == []
    assert fast == {k: v for k, v in params.items() if k != "specs"}


def test_fast_path_environment_names_are_the_ones_the_full_command_reads(tmp_path):
    from modelctl.machine import target as precision
    from modelctl.manifest.catalog import search_dirs
    from modelctl.store import layout

    assert (C.STATE_DIR, C.DEFAULT_MODELS_DIR) == (layout.STATE_DIR, layout.DEFAULT_MODELS_DIR)
    assert C.GPU_SM_ENV == precision.SM_ENV
    with environ(**{C.MODELS_DIR_ENV: str(tmp_path / "m"), C.MANIFESTS_ENV: str(tmp_path / "x")}):
        assert C.models_root(None) == str(layout.models_dir(None))
        assert C.models_root("") == str(layout.models_dir(""))
        assert search_dirs()[-1] == tmp_path / "x"
    with environ(**{C.ENSURE_ENV: " a  b:q=1 "}):
        assert C.env_specs() == ["a", "b:q=1"]
    for name in C.OFFLINE_ENVS:
        with environ(**{name: "1"}):
            assert C.env_offline()


def agree(fast: dict[str, Any], params: dict[str, Any]) -> None:
    """The fast parser's values (strings, checked) are what click converted them to."""
    for key, theirs in params.items():
        ours = fast[key]
        if key == "specs":
            assert ours == list(theirs), key
        elif ours is None or theirs is None or isinstance(theirs, (bool, str)):
            assert ours == theirs, key
        elif isinstance(theirs, int):
            assert int(ours) == theirs, key
        else:
            assert float(ours) == theirs or (math.isnan(theirs) and math.isnan(float(ours))), key


ENSURE_OPTIONS = sorted({**C.ENSURE_FLAGS, **C.ENSURE_VALUED})
VALUES = ["3", "0", "+2", " 4", "1.5", "nan", "inf", "-1", "x", "", "=", "--json", "-", "a b"]
TOKENS = st.one_of(
    st.sampled_from(ENSURE_OPTIONS),
    st.builds("{}={}".format, st.sampled_from(ENSURE_OPTIONS), st.sampled_from(VALUES)),
    st.sampled_from(
        ["--help", "-h", "--", "-", "--nope", "-x", "--jso", "--json=", "--no-offline"]
    ),
    st.sampled_from(VALUES),
    st.text(st.characters(codec="utf-8"), max_size=5),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=8), st.sampled_from([None, "5", "", "x", "0"]))
def test_whatever_the_fast_parser_accepts_click_parses_the_same(argv, timeout_env):
    env = {} if timeout_env is None else {C.TIMEOUT_ENV: timeout_env}
    with environ(**env):
        fast = C.parse_fast_args(argv)
        if fast is None:
            return  # declined: the typer command parses it (and reports any error)
        params = click_params("ensure", argv)
    agree(fast, params)


def well_formed(option: str) -> st.SearchStrategy[list[str]]:
    """`option` as a user writes it, with a value both parsers take."""
    if option in C.ENSURE_FLAGS:
        return st.just([option])
    value = {
        C.TIMEOUT: st.sampled_from(["1", "600", "0.5"]),
        C.JOBS: st.integers(1, 16).map(str),
        C.LOCK_TIMEOUT: st.sampled_from(["0", "1.5", "30"]),
    }.get(option, st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1))
    return value.flatmap(lambda v: st.sampled_from([[option, v], [f"{option}={v}"]]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(ENSURE_OPTIONS).flatmap(well_formed), max_size=6),
    st.lists(st.sampled_from(["stack", "stack:quant=Q8_0", "a.yaml"]), min_size=1, max_size=3),
    st.randoms(use_true_random=False),
)
def test_the_fast_parser_accepts_every_option_the_typer_command_has(options, specs, rnd):
    groups = [*options, *([spec] for spec in specs)]
    rnd.shuffle(groups)  # SPECs before, between and after options, as click allows
    argv = [token for group in groups for token in group]
    with environ():
        fast = C.parse_fast_args(argv)
        params = click_params("ensure", argv)
    assert fast is not None, argv
    agree(fast, params)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(
    st.sampled_from(sorted({**C.COMFYUI_PATHS_FLAGS, **C.COMFYUI_PATHS_VALUED})),
    st.sampled_from(["x.yaml", "--write=y", "--models-dir=", "--nope", "--", "spec", ""]),
), max_size=6))  # fmt: skip
def test_whatever_the_fast_comfyui_paths_parser_accepts_click_parses_the_same(argv):
    with environ():
        fast = C.parse_options(argv, C.COMFYUI_PATHS_FLAGS, C.COMFYUI_PATHS_VALUED)
        if fast is None or fast.pop("args"):
            return  # the fast path declines positional arguments too
        params = click_params("comfyui-paths", argv)
    agree(fast, params)
