"""The CLI entry on random command lines, environments and folders: never exit 70, never a
traceback, and every error exit says why in one `error:` line.

The commands, options and environment variables come from the program itself (the click command
Typer builds, the names in modelctl's source: tests/helpers/fuzz.py), so what is added later is
fuzzed too. Runs are in-process (`run_main`) where they can be; a run that would use
huggingface_hub beyond its constants, or an `ensure` whose `--timeout` watchdog may end the
process, runs as a fresh `python -m modelctl` instead. Nothing reaches beyond loopback: the Hub is a
port that refuses connections, and an audit hook stops any other connection or name lookup.

The example counts are CI-sized and derandomized (the same examples on every run). For a longer
campaign: `MODELCTL_FUZZ_EXAMPLES=5000 MODELCTL_FUZZ_RANDOM=1 python -m pytest
tests/cli/test_fuzz_entry.py` (random examples, `MODELCTL_FUZZ_EXAMPLES` per test); add
`MODELCTL_FUZZ_KNOWN=1` to also draw the inputs that still fail elsewhere (`fuzz.known`).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from modelctl.cli.app import COMMANDS
from modelctl.ensure.config import ENSURE_ENV
from tests.helpers import fuzz
from tests.helpers.cli import NeedsSubprocess, run_main

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN = int(os.environ.get("MODELCTL_FUZZ_EXAMPLES", "0"))


def examples(ci: int) -> settings:
    """`ci` derandomized examples, or the campaign's count of random ones."""
    return settings(
        max_examples=CAMPAIGN or ci,
        deadline=None,
        derandomize=not os.environ.get("MODELCTL_FUZZ_RANDOM"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


TABLE = fuzz.command_table()


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with fuzz.closed_port() as p:
        yield p


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def sandbox(
    scratch: Path, spec: fuzz.SandboxSpec, port: int
) -> tuple[Path, tempfile.TemporaryDirectory[str]]:
    """A fresh sandbox three folders deep (so `..` and `../..` stay in the scratch folder)."""
    holder = tempfile.TemporaryDirectory(dir=scratch)
    root = Path(holder.name) / "a" / "b" / "root"
    root.mkdir(parents=True)
    fuzz.materialize(spec, root, port)
    return root, holder


def in_a_process(argv: list[str], env: dict[str, str]) -> bool:
    """An `ensure` with a timeout: its watchdog ends the process when the deadline passes."""
    timed = any(t == "--timeout" or t.startswith("--timeout=") for t in argv)
    return argv[:1] == ["ensure"] and (timed or "MODELCTL_TIMEOUT" in env)


def run(argv: list[str], env: dict[str, str], root: Path, port: int) -> tuple[str, fuzz.Outcome]:
    full = fuzz.base_env(root, port)
    full.update({k: fuzz.substitute(v, root, port) for k, v in env.items()})
    args = [fuzz.substitute(a, root, port) for a in argv]
    if not in_a_process(args, full):
        try:
            with fuzz.no_network():
                r = run_main(*args, env=full, cwd=root)
            return "in-process", fuzz.Outcome(r.code, r.out, r.err)
        except NeedsSubprocess:
            pass
    return "subprocess", fuzz.run_guarded(args, full, root)


def check(argv: list[str], env: dict[str, str], where: str, outcome: fuzz.Outcome) -> None:
    if currently_in_test_context():  # `pytest --hypothesis-show-statistics` counts them
        event(f"{where}, exit {outcome.code}")
    found = fuzz.problems(outcome.code, outcome.out, outcome.err)
    assert not found, (
        f"{', '.join(found)} ({where})\nargv={argv!r}\nenv={env!r}\n"
        f"stdout:\n{outcome.out[-3000:]}\nstderr:\n{outcome.err[-3000:]}"
    )


# ---------------------------------------------------------------------------- what is fuzzed


def test_every_command_of_the_app_is_fuzzed() -> None:
    assert set(TABLE) == set(COMMANDS)
    assert all(
        p.kind in ("flag", "int", "float", "path", "choice", "text")
        for params in TABLE.values()
        for p in params
    )


def test_every_variable_modelctl_reads_is_fuzzed() -> None:
    """The environment variable names in modelctl's source, against the fuzzer's table."""
    names = set()
    for path in (REPO / "modelctl").rglob("*.py"):
        names |= set(
            re.findall(r"(?<![\w.])((?:MODELCTL|HF|HUGGING_FACE)_[A-Z_]+)\b", path.read_text())
        )
    assert ENSURE_ENV in names
    assert names <= set(fuzz.ENV_VARS) | set(fuzz.NOT_DRAWN), names - set(fuzz.ENV_VARS)


# ---------------------------------------------------------------------------- the entry


@examples(200)
@given(argv=fuzz.argvs(TABLE), env=fuzz.environments(), spec=fuzz.sandboxes())
def test_random_command_lines_never_crash(
    argv: list[str], env: dict[str, str], spec: fuzz.SandboxSpec, scratch: Path, port: int
) -> None:
    root, holder = sandbox(scratch, spec, port)
    with holder:
        where, outcome = run(argv, env, root, port)
        check(argv, env, where, outcome)


ensure_argv = fuzz.argvs({k: v for k, v in TABLE.items() if k in ("ensure", "comfyui-paths")})
# ensure's own options, drawn for an ensure of the installed stack
ensure_options = st.lists(
    st.sampled_from([p for p in TABLE["ensure"] if p.opts]).flatmap(fuzz.option_tokens),
    max_size=3,
).map(lambda groups: [t for g in groups for t in g])
ensure_specs = st.lists(
    st.sampled_from(
        [
            "fuzz-a",
            "fuzz-a:quant=Q4_K_M",
            "fuzz-a:quant=Q8_0",
            "manifests/fuzz-a.yaml",
            "fuzz-b",
            "nope",
        ]
    ),
    min_size=1,
    max_size=2,
)


def installed(scratch: Path, port: int) -> tuple[Path, tempfile.TemporaryDirectory[str]]:
    """A sandbox where `ensure fuzz-a` has run: the file, its receipt and the fast-path cache."""
    root, holder = sandbox(scratch, fuzz.installed_sandbox(), port)
    first = run_main("ensure", "fuzz-a", env=fuzz.base_env(root, port), cwd=root)
    assert first.code == 0, first.err
    assert (root / "models" / ".modelctl" / "ensure-cache.json").is_file()
    return root, holder


@examples(80)
@given(changes=fuzz.mutations, specs=ensure_specs, options=ensure_options, env=fuzz.environments())
def test_ensure_after_an_ensure_and_a_changed_volume(
    changes: list,
    specs: list[str],
    options: list[str],
    env: dict[str, str],
    scratch: Path,
    port: int,
) -> None:
    """The fast path reads what an earlier ensure left, which anything may have changed since:
    it answers 0 only when the full command would too (run here as `ensure OPTIONS -- SPECS`,
    which the fast parser declines), else hands over without printing; either way the entry
    keeps the exit-code and one-error-line rules."""
    from modelctl.ensure import fast_main
    from tests.helpers.cli import _environment, cli_env

    root, holder = installed(scratch, port)
    with holder:
        full = fuzz.base_env(root, port)
        full.update({k: fuzz.substitute(v, root, port) for k, v in env.items()})
        args = ["ensure", *[fuzz.substitute(a, root, port) for a in options], *specs]
        check(args, env, *run(args, env, root, port))  # before the changes: the cache entry
        fuzz.mutate(root, changes)
        here, out = os.getcwd(), io.StringIO()
        with _environment(cli_env(full)), fuzz.no_network():
            try:
                os.chdir(root)
                with redirect_stdout(out):
                    fast = fast_main(args)
            finally:
                os.chdir(here)
        assert fast in (None, 0), fast
        event("the fast path answered" if fast == 0 else "the fast path handed over")
        assert (out.getvalue() == "") == (fast is None), out.getvalue()
        where, outcome = run(args, env, root, port)
        check(args, env, where, outcome)
        if fast == 0:
            slow = ["ensure", *options, "--", *specs]
            where, outcome = run(slow, env, root, port)
            assert outcome.code == 0, (slow, env, outcome)


@examples(10)
@given(changes=fuzz.mutations, argv=ensure_argv, env=fuzz.environments())
def test_ensure_as_a_fresh_process(
    changes: list, argv: list[str], env: dict[str, str], scratch: Path, port: int
) -> None:
    """`python -m modelctl ensure|comfyui-paths …` as a container starts it: the fast path, then
    the full command, in a process of its own (the `--timeout` watchdog included)."""
    root, holder = installed(scratch, port)
    with holder:
        fuzz.mutate(root, changes)
        full = fuzz.base_env(root, port)
        full.update({k: fuzz.substitute(v, root, port) for k, v in env.items()})
        args = [fuzz.substitute(a, root, port) for a in argv]
        check(argv, env, "subprocess", fuzz.run_guarded(args, full, root))


# ---------------------------------------------------------------------------- cases it found


def test_no_command_prints_the_help_and_one_error_line() -> None:
    """`modelctl` alone: click >= 8.2 raises NoArgsIsHelpError, whose message typer leaves
    empty after printing its help; that was an `error:` line with nothing after it."""
    r = run_main()
    assert r.code == 2
    assert "Commands" in r.out
    assert r.err.splitlines()[0] == "error: no command given"
    assert not fuzz.problems(r.code, r.out, r.err)


NO_SUCH_HOME = "~nobody-here-0/x"


@pytest.mark.parametrize(
    "argv",
    [
        ["check", NO_SUCH_HOME],
        ["check", "~0"],
        ["show", NO_SUCH_HOME],
        ["status", "--models-dir", NO_SUCH_HOME],
        ["list", "--manifests", NO_SUCH_HOME],
        ["from-workflow", NO_SUCH_HOME],
        ["from-workflow", "workflow.json", "-o", NO_SUCH_HOME],
        ["lock", "fuzz-a", "--output", NO_SUCH_HOME],
        ["doctor", "--offline", "--comfyui", NO_SUCH_HOME],
        ["pull", "--allow-unverified", f"file://{NO_SUCH_HOME}.gguf"],
        ["ensure", NO_SUCH_HOME + ".yaml", "--offline"],
    ],
)
def test_a_home_of_no_such_user_is_a_path_as_written(
    argv: list[str], scratch: Path, port: int
) -> None:
    """`~user` for a user with no home: pathlib's expanduser raised RuntimeError (exit 70); the
    path now stays as written, as a shell leaves it (and as the ensure fast path read it)."""
    spec = fuzz.SandboxSpec(models="empty", manifests=(("fuzz-a.yaml", fuzz.STACK.encode()),))
    root, holder = sandbox(scratch, spec, port)
    with holder:
        where, outcome = run(argv, {}, root, port)
        check(argv, {}, where, outcome)


def test_no_pathlib_expanduser_is_left() -> None:
    """The class of the case above: every `~` goes through os.path.expanduser."""
    calls = [
        f"{path.relative_to(REPO)}:{n}"
        for path in (REPO / "modelctl").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"(?<!os\.path)\.expanduser\(", line)
    ]
    assert not calls


def seconds_options() -> list[tuple[str, str, bool]]:
    """(command, option, zero allowed) for every option of the app that takes seconds."""
    import click
    import typer.main

    from modelctl.cli.app import build_app
    from modelctl.cli.options import Seconds

    group = typer.main.get_command(build_app())
    assert isinstance(group, click.Group)
    return [
        (name, p.opts[0], p.type.zero_ok)
        for name, command in sorted(group.commands.items())
        for p in command.params
        if isinstance(p.type, Seconds)
    ]


def test_every_timeout_option_takes_seconds() -> None:
    found = {(c, o) for c, o, _ in seconds_options()}
    assert found >= {("pull", "--timeout"), ("pull", "--lock-timeout"), ("rm", "--lock-timeout"),
                     ("pull", "--stall-timeout"), ("ensure", "--lock-timeout")}  # fmt: skip


@pytest.mark.parametrize(("command", "option", "zero_ok"), seconds_options())
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1e300", "1e10", "soon", "0"])
def test_seconds_options_refuse_what_no_wait_can_be(
    command: str, option: str, zero_ok: bool, value: str, scratch: Path, port: int
) -> None:
    """click's FLOAT took nan (never times out), negatives (a negative lock timeout waited
    forever), inf and 1e300 (past every timer): now exit 2 naming the option; 0 is "do not
    wait" where waiting is optional. The fast parser declines the same values."""
    from modelctl.ensure.config import parse_fast_args

    root, holder = sandbox(scratch, fuzz.SandboxSpec(models="empty"), port)
    with holder:
        argv = [command, "nope", option, value]
        where, outcome = run(argv, {}, root, port)
        check(argv, {}, where, outcome)
        refused = f"error: Invalid value for '{option}'"
        assert outcome.err.startswith(refused) != (value == "0" and zero_ok), outcome.err
    if command == "ensure":
        assert (parse_fast_args(["x", option, value]) is None) != (value == "0" and zero_ok)


@pytest.mark.parametrize("how", ["option", "variable"])
def test_an_ensure_timeout_past_the_watchdogs_timer_is_bad_input(
    how: str, scratch: Path, port: int
) -> None:
    """`ensure --timeout 5e16` armed a threading.Timer past `threading.TIMEOUT_MAX`: its thread
    died with an OverflowError traceback on stderr. A fresh process, where that thread prints."""
    root, holder = sandbox(scratch, fuzz.SandboxSpec(models="empty"), port)
    with holder:
        env = fuzz.base_env(root, port)
        args = ["ensure", "nope"]
        if how == "option":
            args += ["--timeout", "5e16"]
        else:
            env["MODELCTL_TIMEOUT"] = "5e16"
        outcome = fuzz.run_guarded(args, env, root)
    assert outcome.code == 2, outcome.err
    assert outcome.err.startswith("error: --timeout must be a positive number of seconds")
    assert not fuzz.problems(outcome.code, outcome.out, outcome.err)


def test_list_with_two_broken_manifests_says_so_in_one_error_line(scratch: Path, port: int) -> None:
    """Each manifest `list` cannot read was an `error:` line of its own; now each is a warning
    and one error line ends the run."""
    broken = (("junk.yaml", b""), ("x.yml", b"[1, 2]"), ("fuzz-a.yaml", fuzz.STACK.encode()))
    root, holder = sandbox(scratch, fuzz.SandboxSpec(models="empty", manifests=broken), port)
    with holder:
        r = run_main("list", env=fuzz.base_env(root, port), cwd=root)
    assert r.code == 2
    assert "fuzz-a" in r.out
    labels = [line.split(":")[0] for line in r.err.splitlines() if not line.startswith("  ")]
    assert labels == ["warning", "warning", "error"], r.err
    assert r.err.splitlines()[-2].startswith("error: 2 manifest(s) could not be read: ")
    assert not fuzz.problems(r.code, r.out, r.err)


@pytest.mark.parametrize("where", ["afile", "afile/under-a-file", "link-dangling"])
@pytest.mark.parametrize("command", ["pull", "ensure", "status", "verify", "gc", "rm", "show"])
def test_a_models_dir_that_is_not_a_folder_is_bad_input(
    command: str, where: str, scratch: Path, port: int
) -> None:
    """A models dir that is a file, or lies under one: each command failed at its first mkdir
    (NotADirectoryError, exit 70); now exit 2 before anything is read or written."""
    spec = fuzz.SandboxSpec(models="empty", manifests=(("fuzz-a.yaml", fuzz.STACK.encode()),))
    root, holder = sandbox(scratch, spec, port)
    with holder:
        argv = [command, *([] if command in ("status", "verify", "gc") else ["fuzz-a"])]
        env = {"MODELCTL_MODELS_DIR": str(root / where)}
        where_run, outcome = run(argv, env, root, port)
        check(argv, env, where_run, outcome)
    first = outcome.err.splitlines()[0]
    assert outcome.code == 2, outcome.err
    assert "not a folder" in first or "which does not exist" in first, outcome.err


@pytest.mark.parametrize(
    "cache",
    [
        {"schema": 1, "entries": 5},
        {"schema": 1, "entries": [5, None, "x"]},
        {"schema": 1, "entries": {"k": {}}},
        {"schema": 1, "entries": [{"key": 1}]},
        {"schema": 1, "entries": [{"key": "k", "watch": 5, "assets": [], "specs": []}]},
        {"schema": 1, "entries": [{"key": "k", "watch": [], "assets": [7], "specs": []}]},
    ],
)
def test_a_damaged_ensure_cache_costs_one_slow_run(cache: dict, scratch: Path, port: int) -> None:
    """`ensure` rewrites the cache after installing: an `entries` that is not a list of entries
    was a TypeError there, exit 70 with the files already in place. Now such parts are dropped
    when the cache is read, by the fast path and the slow path alike."""
    import json

    root, holder = installed(scratch, port)
    with holder:
        state = root / "models" / ".modelctl" / "ensure-cache.json"
        state.write_text(json.dumps(cache))
        (root / "models" / fuzz.INSTALLED).unlink()
        env = fuzz.base_env(root, port)
        r = run_main("ensure", "fuzz-a", env=env, cwd=root)
        assert r.code == 0, r.err
        again = run_main("ensure", "fuzz-a", "--json", env=env, cwd=root)
        assert again.code == 0 and json.loads(again.out)["fast"], again.err  # the new cache
        assert len(json.loads(state.read_text())["entries"]) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["show", "fuzz-a"],
        ["status", "fuzz-a"],
        ["check", "fuzz-a"],
        ["pull", "fuzz-a", "--dry-run"],
        ["ensure", "fuzz-a"],
    ],
)
def test_manifest_text_is_shown_as_text(argv: list[str], scratch: Path, port: int) -> None:
    """A description `[/bold]` was rich markup to `list` and `show` (MarkupError, exit 70), and
    an ESC in it reached the terminal; now every manifest text, path and header field a table
    shows goes through `cli.output.shown` (control characters and markup escaped)."""
    import json

    text = fuzz.MANIFEST_TEMPLATE.format(
        description=json.dumps("[/bold] \x1b[31mred [link=file:///x]y"),
        tag="-[/]",
        name="fuzz-a",
        role="text_encoder",
        folder="text_encoders",
        source=f"file://{fuzz.ROOT}/mirror/a.gguf",
        extra=f"    sha256: {fuzz.SHA}\n",
    )
    spec = fuzz.SandboxSpec(models="empty", manifests=(("fuzz-a.yaml", text.encode()),))
    root, holder = sandbox(scratch, spec, port)
    with holder:
        where, outcome = run(argv, {}, root, port)
        check(argv, {}, where, outcome)
    assert outcome.code == 0, outcome.err
    assert "\x1b" not in outcome.out
    if argv[0] in ("list", "show"):
        assert "[/bold] \\x1b[31mred [link=file:///x]y" in outcome.out


@pytest.mark.parametrize("encoding", ["utf-8:strict", "ascii:strict"])
def test_output_a_strict_stdout_cannot_encode_is_escaped(
    encoding: str, scratch: Path, port: int
) -> None:
    """A models dir whose name is not UTF-8 (`m\\xff`, a lone surrogate once decoded): every
    `--json` printed it raw, and a strict stdout (en_US.UTF-8; C.UTF-8 is lenient) raised
    UnicodeEncodeError, exit 70, half the document out. An ASCII stdout refused `✓` the same
    way. Fresh processes: the stream is the process's own."""
    import json

    root, holder = sandbox(scratch, fuzz.SandboxSpec(models="missing"), port)
    with holder:
        models = root / os.fsdecode(b"m\xff")
        models.mkdir()
        env = {**fuzz.base_env(root, port), "MODELCTL_MODELS_DIR": str(models)}
        env["PYTHONIOENCODING"] = encoding
        for argv in (["status", "--json"], ["comfyui-paths", "--json"], ["show", "z-image-turbo",
                     "--json"], ["verify"], ["check", "model.gguf"], ["list"]):  # fmt: skip
            outcome = fuzz.run_guarded(argv, env, root)
            check(argv, {}, "subprocess", outcome)
            if argv[-1] == "--json":
                assert json.loads(outcome.out)["models_dir"] == str(models), outcome.out
