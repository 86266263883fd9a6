"""Filesystem failures on the models volume (issue 16, item 11), end to end on real filesystems.

The models live on a real tmpfs (tests/helpers/volumes.py): remounted read-only, mounted with a
tiny `nr_inodes=`, filled to the last block; permission denied comes from mechanisms that bind
root too (a read-only bind mount, `chattr +i`, a child without CAP_DAC_OVERRIDE); the open-file
limit is a real RLIMIT_NOFILE in the child. Sources are `file://` mirrors with a pinned sha256,
so no network is involved. Every failure must be exactly one `error:` line naming the path and
the cause, a hint with the fix, the documented exit code (4 for space and inodes, 1 for something
in the way at a destination, 2 for the rest of the volume's refusals), and nothing lost: no file
under a final name that is not the verified file, no user file changed.

Output-only cases run in-process (`run_main`); what depends on the process (capabilities, rlimits,
another process holding a lock) runs the CLI as a child.
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelctl.store.layout import Layout
from tests.helpers import inotify
from tests.helpers.cli import REPO_ROOT, Result, cli_env, run_main
from tests.helpers.volumes import (
    fill_bytes,
    fill_inodes,
    immutable,
    owned_by_nobody,
    read_only,
    read_only_bind,
    tmpfs,
    tmpfs_at,
    without_dac,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Stack:
    """A one-asset manifest whose `file://` mirror holds `data`."""

    manifest: Path
    dest: str
    data: bytes


@dataclass
class World:
    tmp: Path
    models: Path
    env: dict[str, str]

    def stack(self, name: str, dest: str, size: int = 40_000) -> Stack:
        data = os.urandom(size)
        mirror = self.tmp / "mirror" / f"{name}.gguf"
        mirror.parent.mkdir(exist_ok=True)
        mirror.write_bytes(data)
        path = self.tmp / f"{name}.yaml"
        path.write_text(
            f"schema: 1\nname: {name}\ndescription: fs errors\nassets:\n"
            f"  - id: {name}\n    role: other\n    source: file://{mirror}\n"
            f"    dest: {dest}\n    sha256: {sha(data)}\n"
        )
        return Stack(path, dest, data)

    def args(self, command: str, *rest: str) -> list[str]:
        extra = ["--no-check"] if command == "pull" else []
        return [command, *rest, *extra, "--models-dir", str(self.models)]

    def run(self, command: str, *rest: str) -> Result:
        return run_main(*self.args(command, *rest), env=self.env)

    def child(
        self,
        command: str,
        *rest: str,
        prefix: list[str] | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> Result:
        proc = subprocess.run(
            [*(prefix or []), sys.executable, "-m", "modelctl", *self.args(command, *rest)],
            env=cli_env(self.env),
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=preexec,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def receipt(self, dest: str) -> Path:
        return Layout(self.models).receipt(dest)

    def partial_files(self) -> list[str]:
        folder = self.models / ".modelctl" / "partial"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Models on a 16 MiB tmpfs; offline (file:// sources need no network)."""
    (tmp_path / "hf_home").mkdir()
    env = {"HF_HOME": str(tmp_path / "hf_home"), "HF_ENDPOINT": "http://127.0.0.1:9",
           "HF_HUB_OFFLINE": "1"}  # fmt: skip
    with tmpfs(tmp_path) as mnt:
        yield World(tmp_path, mnt / "models", env)


def one_error(r: Result, code: int, *words: str) -> str:
    """Exactly one `error:` line and no traceback, the exit code, and each of `words` in stderr."""
    lines = [line for line in r.err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    assert r.code == code, r.err
    assert "  hint: " in r.err, r.err
    for word in words:
        assert word in r.err, (word, r.err)
    return lines[0]


def installed(world: World, stack: Stack) -> None:
    """`stack`'s file is placed, intact, with its receipt."""
    assert (world.models / stack.dest).read_bytes() == stack.data
    assert world.receipt(stack.dest).is_file()


def nothing_placed(world: World, stack: Stack) -> None:
    assert not (world.models / stack.dest).exists()
    assert not world.receipt(stack.dest).exists()
    assert [p for p in world.partial_files() if p.endswith(".part")] == []


# --- a read-only models volume ------------------------------------------------------------------


@pytest.fixture
def read_only_world(world: World) -> Iterator[tuple[World, Stack, Stack]]:
    """`a` installed, `b` not, then the whole volume remounted read-only."""
    a = world.stack("a", "unet/a.gguf")
    b = world.stack("b", "unet/b.gguf")
    assert world.run("pull", str(a.manifest)).code == 0
    with read_only(world.models.parent):
        yield world, a, b


@pytest.mark.parametrize("command", ["pull", "ensure"])
def test_read_only_volume_pull_and_ensure_exit_2_before_any_write(read_only_world, command):
    world, a, b = read_only_world
    r = world.run(command, str(b.manifest))
    line = one_error(r, 2, "Read-only file system", "mount the models volume read-write")
    assert str(world.models) in line
    nothing_placed(world, b)
    installed(world, a)


def test_read_only_volume_rm_exits_2_and_keeps_the_file(read_only_world):
    world, a, _ = read_only_world
    receipt = world.receipt(a.dest).read_bytes()
    r = world.run("rm", str(a.manifest))
    one_error(r, 2, "Read-only file system", str(world.models / ".modelctl"))
    installed(world, a)
    assert world.receipt(a.dest).read_bytes() == receipt


@pytest.mark.parametrize("mode", ["--full", "--quick"])
def test_read_only_volume_verify_reads_every_byte_and_says_the_receipt_was_not_updated(
    read_only_world, mode
):
    """verify only writes to re-stamp a receipt or store a fingerprint; read-only, it still checks
    every file and says what it could not record."""
    world, a, _ = read_only_world
    receipt = world.receipt(a.dest).read_bytes()
    for args in ([mode], [mode, str(a.manifest)]):
        r = world.run("verify", *args)
        assert r.code == 0, r.err
        assert "all 1 files intact" in r.out
        assert "the receipt was not updated" in r.out and "Read-only file system" in r.out
    assert world.receipt(a.dest).read_bytes() == receipt
    installed(world, a)


def test_read_only_volume_gc_dry_run_lists_stale_partials_and_gc_refuses(world):
    """A dry run removes nothing, so it needs no lock file; the real gc says why it cannot."""
    partial = world.models / ".modelctl" / "partial" / f"{'a' * 64}.1-x.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"leftover")
    os.utime(partial, (0, 0))  # long stale
    with read_only(world.models.parent):
        r = world.run("gc", "--dry-run")
        assert r.code == 0, r.err
        assert f"would remove partial {partial}" in r.out and "would free 8 B" in r.out
        one_error(world.run("gc"), 2, "Read-only file system", "mount the models volume read-write")
    assert partial.read_bytes() == b"leftover"


@pytest.mark.parametrize(
    "command",
    [["verify"], ["status"], ["show", "a.yaml"], ["pull", "a.yaml"], ["ensure", "a.yaml"], ["gc"]],
)
def test_read_only_volume_reads_work(read_only_world, command):
    """status, show, a fast verify, a pull or ensure with nothing to fetch, a gc with nothing to
    collect: none of them needs to write."""
    world, a, _ = read_only_world
    rest = [str(world.tmp / c) if c.endswith(".yaml") else c for c in command[1:]]
    r = world.run(command[0], *rest)
    assert r.code == 0, r.err
    assert "error" not in r.err
    if command[0] == "show":
        assert "installed" in r.out, r.out
    if command[0] == "status":
        assert "managed: 1 files" in r.out, r.out
    installed(world, a)


def test_read_only_state_folder_while_the_models_are_writable(world):
    """Only `.modelctl/` read-only (a bind mount): named as the read-only mount."""
    a = world.stack("a", "unet/a.gguf")
    state = world.models / ".modelctl"
    state.mkdir(parents=True)
    with read_only_bind(state):
        r = world.run("pull", str(a.manifest))
        one_error(r, 2, f"{state}: Read-only file system", f"{state} is mounted read-only")
    nothing_placed(world, a)


# --- permission denied ---------------------------------------------------------------------------


def test_permission_denied_on_the_destination_folder_exits_2_before_the_download(world):
    prefix = without_dac()
    a = world.stack("a", "unet/a.gguf")
    owned_by_nobody(world.models / "unet")
    r = world.child("pull", str(a.manifest), prefix=prefix)
    one_error(r, 2, f"{world.models / 'unet'}: Permission denied", "uid 0", "chown")
    nothing_placed(world, a)


def test_permission_denied_on_a_lock_file_of_another_uid(world):
    """Two containers with different uids on one volume: the other's lock file is not ours."""
    prefix = without_dac()
    a = world.stack("a", "unet/a.gguf")
    lock = Layout(world.models).lock("unet/a.gguf")
    lock.parent.mkdir(parents=True)
    lock.touch()
    os.chown(lock, 65534, 65534)
    r = world.child("pull", str(a.manifest), "--lock-timeout", "30", prefix=prefix)
    one_error(r, 2, f"{lock}: Permission denied", "every uid that runs modelctl")
    nothing_placed(world, a)


def test_a_partial_left_by_another_uid_is_started_over_not_fatal(world):
    """Another container (another uid) left a partial of the same file: it cannot be resumed by
    this user, so it is dropped like an incompatible one and the download starts over."""
    prefix = without_dac()
    a = world.stack("a", "unet/a.gguf")
    folder = world.models / ".modelctl" / "partial"
    folder.mkdir(parents=True)
    key = sha(a.data)
    (folder / f"{key}.99-abcd.part").write_bytes(a.data[:1000])
    (folder / f"{key}.99-abcd.json").write_text(
        f'{{"key": "{key}", "source": "file://x", "size": {len(a.data)}, "sha256": "{key}", '
        '"written": [[0, 1000]]}'
    )
    for leftover in folder.iterdir():
        os.chown(leftover, 65534, 65534)
    r = world.child("pull", str(a.manifest), prefix=prefix)
    assert r.code == 0, r.err
    installed(world, a)
    assert world.partial_files() == []


def test_an_immutable_destination_folder_exits_2_with_chattr_in_the_hint(tmp_path):
    """`chattr +i` binds root too (ext4: the tests' own disk, not the tmpfs)."""
    (tmp_path / "hf_home").mkdir()
    env = {"HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    world = World(tmp_path, tmp_path / "models", env)
    a = world.stack("a", "unet/a.gguf")
    folder = world.models / "unet"
    folder.mkdir(parents=True)
    with immutable(folder):
        r = world.run("pull", str(a.manifest))
        one_error(r, 2, f"{folder}: Operation not permitted", "chattr -i")
    nothing_placed(world, a)


def test_an_immutable_installed_file_makes_rm_exit_2_and_keeps_file_and_receipt(tmp_path):
    (tmp_path / "hf_home").mkdir()
    env = {"HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    world = World(tmp_path, tmp_path / "models", env)
    a = world.stack("a", "unet/a.gguf")
    assert world.run("pull", str(a.manifest)).code == 0
    with immutable(world.models / a.dest):
        r = world.run("rm", str(a.manifest))
        one_error(r, 2, "Operation not permitted", "while removing unet/a.gguf")
    installed(world, a)


# --- the models dir is not a folder -------------------------------------------------------------

COMMANDS = [["pull", "a.yaml"], ["ensure", "a.yaml"], ["status"], ["show", "a.yaml"], ["verify"],
            ["verify", "--full", "a.yaml"], ["rm", "a.yaml"], ["gc"]]  # fmt: skip


def _command(world: World, command: list[str]) -> Result:
    rest = [str(world.tmp / c) if c.endswith(".yaml") else c for c in command[1:]]
    return world.run(command[0], *rest)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_a_models_dir_that_is_a_file_is_refused_by_every_command(world, command):
    """Not "0 files" or "missing": every answer read from a file would be wrong."""
    world.stack("a", "unet/a.gguf")
    world.models.parent.joinpath("models").write_bytes(b"a user's file")
    r = _command(world, command)
    one_error(r, 2, f"models dir {world.models} is not a folder", "--models-dir")
    assert world.models.read_bytes() == b"a user's file"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_a_file_where_modelctls_state_folder_belongs_is_refused_by_every_command(world, command):
    """`.modelctl` a file: "0 files managed" would be wrong, and nothing may replace the file."""
    world.stack("a", "unet/a.gguf")
    world.models.mkdir(parents=True, exist_ok=True)
    state = world.models / ".modelctl"
    state.write_bytes(b"a user's file")
    r = _command(world, command)
    one_error(r, 2, f"{state} is not a folder", "move it away")
    assert state.read_bytes() == b"a user's file"


@pytest.mark.parametrize("command", [["pull", "a.yaml"], ["status"], ["rm", "a.yaml"]])
def test_a_models_dir_that_is_a_dangling_symlink_names_its_target(world, command):
    """A symlink to a volume that is not mounted."""
    world.stack("a", "unet/a.gguf")
    gone = world.tmp / "not-mounted"
    world.models.symlink_to(gone)
    r = _command(world, command)
    one_error(r, 2, f"{world.models} is a symlink to {gone}, which does not exist", "mount")
    assert not gone.exists()


def test_a_models_dir_below_a_file_names_the_file(world):
    world.stack("a", "unet/a.gguf")
    blocker = world.models.parent / "blocker"
    blocker.write_bytes(b"keep")
    world.models = blocker / "models"
    for command in (["pull", "a.yaml"], ["status"]):
        one_error(_command(world, command), 2, f"{blocker} is a file, not a folder")
    assert blocker.read_bytes() == b"keep"


# --- in the way at a destination ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "fifo", "symlink"])
@pytest.mark.parametrize("force", [False, True])
def test_a_folder_fifo_or_symlink_at_the_destination_is_refused_before_the_download(
    world, kind, force
):
    """Even with --force: modelctl never replaces those, so it must not fetch first (nor open a
    FIFO, which would block)."""
    a = world.stack("a", "unet/a.gguf")
    dest = world.models / a.dest
    dest.parent.mkdir(parents=True)
    elsewhere = world.tmp / "elsewhere.gguf"
    elsewhere.write_bytes(b"a user's model")
    {"folder": dest.mkdir, "fifo": lambda: os.mkfifo(dest),
     "symlink": lambda: dest.symlink_to(elsewhere)}[kind]()  # fmt: skip
    what = {"folder": "a folder", "fifo": "a FIFO (named pipe)",
            "symlink": f"a symlink (to {elsewhere})"}[kind]  # fmt: skip
    r = world.run("pull", str(a.manifest), *(["--force"] if force else []))
    one_error(r, 1, f"{dest} is {what}, not a file", "move it away")
    assert dest.is_symlink() if kind == "symlink" else dest.exists()
    assert elsewhere.read_bytes() == b"a user's model"
    assert world.partial_files() == []


@pytest.mark.parametrize("command", ["check", "inspect"])
def test_a_fifo_at_a_destination_does_not_hang_the_header_readers(world, command):
    """`check` and `inspect` read headers through `formats.source.FileSource`: opening a FIFO
    waited for a writer forever; now it is refused at once (a child, so a hang fails the test
    by its timeout instead of hanging the run)."""
    a = world.stack("a", "unet/a.gguf")
    fifo = world.models / a.dest
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    rest = (
        [str(a.manifest), "--models-dir", str(world.models)] if command == "check" else [str(fifo)]
    )
    proc = subprocess.run([sys.executable, "-m", "modelctl", command, *rest], env=cli_env(world.env),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    one_error(Result(proc.returncode, proc.stdout, proc.stderr), 2,
              f"{fifo} is not a regular file")  # fmt: skip


def test_a_parent_component_that_is_a_file_exits_2_and_keeps_the_file(world):
    a = world.stack("a", "unet/sub/a.gguf")
    world.models.mkdir()
    (world.models / "unet").write_bytes(b"a user's file named unet")
    r = world.run("pull", str(a.manifest))
    one_error(r, 2, f"{world.models / 'unet'} is a file, not a folder", "move it away")
    assert (world.models / "unet").read_bytes() == b"a user's file named unet"
    assert world.partial_files() == []


# --- inodes ------------------------------------------------------------------------------------------


def test_no_free_inodes_exits_4_before_the_download(tmp_path):
    (tmp_path / "hf_home").mkdir()
    env = {"HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    with tmpfs(tmp_path, nr_inodes=64) as mnt:
        world = World(tmp_path, mnt / "models", env)
        a = world.stack("a", "unet/a.gguf")
        world.models.mkdir()
        fill_inodes(mnt)
        r = world.run("pull", str(a.manifest))
        one_error(r, 4, f"not enough free inodes on {mnt}", "nr_inodes")
        r = world.run("pull", str(a.manifest), "--dry-run")
        assert r.code == 4 and "SHORT of inodes" in r.out, r.out + r.err
        nothing_placed(world, a)


HOLDER = r"""
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from modelctl.store import locks
from tests.helpers.inotify import OpenWatch
from tests.helpers.volumes import fill_inodes

lock = Path({lock!r})
with locks.hold(lock, 30, "test"):
    with OpenWatch(lock) as watch:
        print("held", flush=True)
        if not watch.wait(30):
            sys.exit("the pull never tried the lock")
    fill_inodes(Path({fill!r}))  # while the pull waits: past its plan phase, before any create
"""


def test_inodes_exhausted_during_the_download_exits_4_and_the_next_run_completes(tmp_path):
    """Another process takes the last inodes after the plan phase: the pull waits on the partial's
    lock (held by that process), then finds no inode for its partial's files."""
    if not inotify.AVAILABLE:
        pytest.skip("needs Linux inotify to see the pull reach the lock")
    (tmp_path / "hf_home").mkdir()
    env = {"HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    with tmpfs(tmp_path, nr_inodes=200) as mnt:
        world = World(tmp_path, mnt / "models", env)
        a = world.stack("a", "unet/a.gguf")
        lock = world.models / ".modelctl" / "partial" / f"{sha(a.data)}.lock"
        filler = mnt / "filler"
        filler.mkdir()
        code = HOLDER.format(repo=str(REPO_ROOT), lock=str(lock), fill=str(filler))
        holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            r = world.child("pull", str(a.manifest), "--lock-timeout", "30")
        finally:
            assert holder.wait(timeout=60) == 0
        one_error(r, 4, "no free inodes on", str(mnt), "nr_inodes")
        assert not (world.models / a.dest).exists()
        for path in filler.iterdir():  # the other process's files go away
            path.unlink()
        r = world.run("pull", str(a.manifest))
        assert r.code == 0, r.err
        installed(world, a)


# --- disk full while writing the receipt ----------------------------------------------------------


def test_disk_full_while_writing_the_receipt_exits_4_and_says_how_to_settle_it(world):
    """The receipts folder on its own full tmpfs: the verified file is placed, its receipt cannot
    be written. The error says so; once there is room, the same command finishes the install from
    its intent record, without downloading."""
    a = world.stack("a", "unet/a.gguf")
    receipts = world.models / ".modelctl" / "receipts"
    receipts.mkdir(parents=True)
    with tmpfs_at(receipts, "64k"):
        filler = fill_bytes(receipts)
        r = world.run("pull", str(a.manifest))
        one_error(r, 4, "unet/a.gguf is in place, but its receipt could not be written",
                  "finishes this install without downloading")  # fmt: skip
        assert (world.models / a.dest).read_bytes() == a.data  # the verified file, complete
        filler.unlink()
        r = world.run("pull", str(a.manifest))
        assert r.code == 0 and "downloading" not in r.err, r.out + r.err
        installed(world, a)


# --- long names ---------------------------------------------------------------------------------------


def _long(n: int) -> str:
    return "x" * (n - len(".gguf")) + ".gguf"


def test_a_250_byte_destination_name_is_pulled_verified_and_removed(world):
    """Its lock name (`unet__<name>.lock`), its receipt's temporary name and its staging name
    would pass 255 bytes: they are cut to fit (`store.names.fit_name`)."""
    a = world.stack("a", f"unet/{_long(250)}")
    r = world.run("pull", str(a.manifest))
    assert r.code == 0, r.err
    installed(world, a)
    locks = world.models / ".modelctl" / "locks"
    assert all(len(p.name.encode()) <= 255 for p in locks.iterdir())
    assert world.run("verify", "--full", str(a.manifest)).code == 0
    assert world.run("status", str(a.manifest)).code == 0
    r = world.run("rm", str(a.manifest))
    assert r.code == 0, r.err
    assert not (world.models / a.dest).exists()


@pytest.mark.parametrize("n", [251, 255])
def test_a_name_up_to_name_max_installs_with_its_fixed_length_receipt(world, n):
    """A basename of up to 255 bytes: its receipt, lock and staged names are of fixed length."""
    a = world.stack("a", f"unet/{_long(n)}")
    r = world.run("pull", str(a.manifest))
    assert r.code == 0, r.err
    installed(world, a)


@pytest.mark.parametrize("where", ["file", "folder"])
def test_a_name_longer_than_name_max_is_refused_before_the_download(world, where):
    name = _long(256)
    a = world.stack("a", f"unet/{name}" if where == "file" else f"unet/{name}/a.gguf")
    r = world.run("pull", str(a.manifest))
    line = one_error(r, 2, "is 256 bytes", "takes at most 255", "rename the asset's dest")
    assert len(line) < 300  # the long name is shortened in the message
    nothing_placed(world, a)


def test_a_path_longer_than_path_max_is_refused_before_the_download(world):
    """Every name fits NAME_MAX, the whole path does not fit Linux's PATH_MAX (4096 bytes)."""
    deep = world.models.parent.joinpath(*["m" * 250] * 16)
    deep.mkdir(parents=True)
    world.models = deep
    a = world.stack("a", f"unet/{_long(250)}")
    r = world.run("pull", str(a.manifest))
    one_error(r, 2, "the path is", "Linux takes at most 4095", "shorter --models-dir")
    assert [files for _, _, files in os.walk(deep) if files] == []  # (too long to stat by name)


# --- open files ------------------------------------------------------------------------------------


def _nofile(soft: int, hard: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_too_few_open_files_exits_2_with_the_limit_in_the_hint(world):
    """A hard RLIMIT_NOFILE of 7 in the child: whichever open runs out, one error and exit 2."""
    stacks = [world.stack(n, f"unet/{n}.gguf") for n in ("a", "b", "c")]
    r = world.child("pull", *(str(s.manifest) for s in stacks), preexec=_nofile(7, 7))
    one_error(r, 2, "Too many open files", "ulimit -n")
    for s in stacks:  # each file is either not there or the verified one
        path = world.models / s.dest
        assert not path.exists() or path.read_bytes() == s.data


def test_a_low_soft_open_file_limit_is_raised_to_the_hard_one(world):
    stacks = [world.stack(n, f"unet/{n}.gguf") for n in ("a", "b", "c")]
    r = world.child("pull", *(str(s.manifest) for s in stacks), preexec=_nofile(7, 4096))
    assert r.code == 0, r.err
    for s in stacks:
        installed(world, s)
