"""`pull` and `ensure` never overwrite a file whose content is not the one modelctl installed for
the stacks at hand, unless `pull --force` asks (issue 16, item 4).

Two manifests want one destination from different sources: `a` installs it, `b` must not replace
it (that would break `a`). A file the user changed after install is the user's. A file only
touched or copied back (same bytes) is still the installed one: re-stamped, not refused. The real
CLI against the loopback test hub; runs that never reach the Hub run in-process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelctl.store.layout import Layout
from tests.helpers.cli import Result, run_cli, run_main
from tests.helpers.hub import TestHub

DEST = "vae/vae.safetensors"


def manifest(path: Path, name: str, repo: str, file: str = "vae.safetensors") -> Path:
    path.write_text(
        f"schema: 1\nname: {name}\ndescription: overwrite test\nassets:\n  - id: vae\n"
        f"    role: other\n    source: hf://{repo}/{file}\n    dest: {DEST}\n"
    )
    return path


@dataclass
class Two:
    hub: TestHub
    tmp: Path
    a: Path
    b: Path
    data_a: bytes
    data_b: bytes

    @property
    def models(self) -> Path:
        return self.tmp / "models"

    @property
    def file(self) -> Path:
        return self.models / DEST

    def env(self) -> dict[str, str]:
        return self.hub.env(self.tmp, MODELCTL_MODELS_DIR=str(self.models))

    def pull(self, man: Path, *args: str) -> Result:
        return run_cli("pull", str(man), "--no-check", *args, env=self.env())

    def ensure(self, man: Path, *args: str) -> Result:
        return run_cli("ensure", str(man), *args, env=self.env())

    def receipt(self) -> dict:
        return json.loads(Layout(self.models).receipt(DEST).read_text())

    def holds(self, data: bytes) -> bool:
        return hashlib.sha256(self.file.read_bytes()).digest() == hashlib.sha256(data).digest()


@pytest.fixture
def two(hub: TestHub, tmp_path: Path) -> Two:
    data_a, data_b = os.urandom(300_000), os.urandom(300_000)
    hub.add_file("org/x", "vae.safetensors", data_a)
    hub.add_file("org/y", "vae.safetensors", data_b)
    a = manifest(tmp_path / "a.yaml", "a", "org/x")
    b = manifest(tmp_path / "b.yaml", "b", "org/y")
    return Two(hub, tmp_path, a, b, data_a, data_b)


def user_rewrites(path: Path) -> bytes:
    """What a user's tool does: new bytes of the same size written over the file (in place)."""
    mine = os.urandom(path.stat().st_size)
    path.write_bytes(mine)
    return mine


def one_error(r: Result, code: int, *words: str) -> None:
    errors = [line for line in r.err.splitlines() if line.startswith("error:")]
    assert r.code == code and len(errors) == 1, r.err
    assert "Traceback" not in r.err
    for word in words:
        assert word in r.err, (word, r.err)


# --- pull ----------------------------------------------------------------------------------------


def test_pull_never_overwrites_a_file_the_user_changed_and_force_does(two, hub):
    assert two.pull(two.a).code == 0
    before = two.receipt()
    mine = user_rewrites(two.file)
    hub.clear_log()
    r = two.pull(two.a)
    one_error(r, 1, DEST, "changed since modelctl installed it", "--force")
    assert two.file.read_bytes() == mine and two.receipt() == before  # nothing lost
    assert hub.downloads("vae.safetensors") == []
    r = two.pull(two.a, "--force")
    assert r.code == 0, r.err
    assert two.holds(two.data_a)


def test_pull_never_overwrites_another_stacks_file_and_force_does(two, hub):
    assert two.pull(two.a).code == 0
    hub.clear_log()
    r = two.pull(two.b)
    one_error(r, 1, DEST, "installed for a", "--force")
    assert two.holds(two.data_a) and two.receipt()["selections"] == ["a"]
    assert hub.downloads("vae.safetensors") == []
    r = two.pull(two.b, "--force")
    assert r.code == 0, r.err
    assert two.holds(two.data_b)
    assert two.receipt()["selections"] == ["b"]  # a's claim went with a's file
    status = json.loads(run_main("status", str(two.a), "--json", env=two.env()).out)
    assert status["selections"][0]["assets"][0]["state"] == "outdated"  # a sees what happened


def test_a_touched_or_copied_back_file_is_re_stamped_not_refused(two, hub):
    assert two.pull(two.a).code == 0
    os.utime(two.file, ns=(1, 1))  # a touch: the stat changed, the bytes did not
    copy = two.file.with_name("copy")
    shutil.copy2(two.file, copy)
    os.replace(copy, two.file)  # and a copy back: a new inode
    hub.clear_log()
    r = two.pull(two.a)
    assert r.code == 0, r.err
    assert hub.downloads("vae.safetensors") == []
    st = two.file.stat()
    assert (two.receipt()["inode"], two.receipt()["mtime_ns"]) == (st.st_ino, st.st_mtime_ns)


def test_a_file_that_moved_upstream_is_updated_by_pull(two, hub):
    """Not a file in the way: the installed, intact file of this very stack whose branch moved
    (pull's job is to update it; the no-clobber publish used to refuse it as "appeared")."""
    assert two.pull(two.a).code == 0
    newer = os.urandom(300_000)
    hub.add_file("org/x", "vae.safetensors", newer)
    r = two.pull(two.a)
    assert r.code == 0, r.err
    assert two.holds(newer)


def test_a_user_file_with_exactly_the_wanted_bytes_is_adopted_not_downloaded(two, hub):
    """Copied in by hand (or left by an older modelctl without its receipt): the Hub's sha256
    proves it is the file; replacing it would write the same bytes."""
    two.file.parent.mkdir(parents=True)
    two.file.write_bytes(two.data_a)
    r = two.pull(two.a)
    assert r.code == 0, r.err
    assert hub.downloads("vae.safetensors") == []
    assert two.receipt()["verified"] == "sha256" and two.receipt()["selections"] == ["a"]


# --- ensure --------------------------------------------------------------------------------------


def test_ensure_never_overwrites_another_stacks_file_nor_a_changed_one(two, hub):
    assert two.ensure(two.a).code == 0
    hub.clear_log()
    r = run_main("ensure", str(two.b), env=two.env())  # refused before any request
    one_error(r, 1, "in the way, which ensure never overwrites", DEST, "installed for a",
              "modelctl pull --force")  # fmt: skip
    assert two.holds(two.data_a)
    mine = user_rewrites(two.file)
    r = run_main("ensure", str(two.a), env=two.env())
    one_error(r, 1, DEST, "changed since modelctl installed it")
    assert two.file.read_bytes() == mine
    r = run_main("ensure", str(two.a), "--offline", env=two.env())
    one_error(r, 1, DEST, "changed since modelctl installed it")  # offline says the same
    assert hub.requests() == []
    assert two.pull(two.a, "--force").code == 0  # what the hint says, on purpose
    assert two.holds(two.data_a)
    assert run_main("ensure", str(two.a), env=two.env()).code == 0


def test_ensure_still_installs_an_update_of_its_own_stack(two, hub):
    """The stack's own manifest now asks for another file at the destination: its file, not
    another stack's, so ensure installs what the manifest says (and keeps no stale receipt)."""
    assert two.ensure(two.a).code == 0
    other = os.urandom(200_000)
    hub.add_file("org/x", "vae-v2.safetensors", other)
    manifest(two.a, "a", "org/x", "vae-v2.safetensors")
    r = two.ensure(two.a)
    assert r.code == 0, r.err
    assert two.holds(other)
    assert two.receipt()["source"] == "hf://org/x/vae-v2.safetensors"


def test_a_file_written_during_a_forced_download_is_not_replaced(two, hub):
    """`--force` replaces the file it looked at, not one the user wrote meanwhile: the partial
    appearing (inotify) is the moment; the download is slowed so it cannot end first."""
    from tests.helpers import inotify

    if not inotify.AVAILABLE:
        pytest.skip("needs Linux inotify")
    import subprocess
    import sys

    from tests.helpers.cli import cli_env

    assert two.pull(two.a).code == 0
    hub.fault("org/y", "vae.safetensors", rate=200_000)  # 1.5 s
    partial = two.models / ".modelctl" / "partial"
    cmd = [sys.executable, "-m", "modelctl", "pull", str(two.b), "--no-check", "--force"]
    with inotify.FolderWatch(partial, inotify.IN_CREATE) as watch:
        proc = subprocess.Popen(cmd, env=cli_env(two.env()), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert watch.wait_for(lambda n, _m: n.endswith(".part"), 60)
        mine = user_rewrites(two.file)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "changed while it was being downloaded; nothing was replaced" in err
    assert two.file.read_bytes() == mine


def test_two_stacks_racing_for_one_destination_never_overwrite_each_other(two, hub):
    """`a` and `b` both find the destination empty; `a` installs it while `b` waits on its lock,
    then `b` finds `a`'s file and refuses instead of replacing it."""
    from tests.helpers import inotify

    if not inotify.AVAILABLE:
        pytest.skip("needs Linux inotify")
    import subprocess
    import sys

    from tests.helpers.cli import cli_env

    hub.fault("org/x", "vae.safetensors", rate=300_000)  # ~1 s: b starts while a downloads
    partial = two.models / ".modelctl" / "partial"
    partial.mkdir(parents=True)
    env = cli_env(two.env())

    def start(man: Path) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "modelctl", "pull", str(man), "--no-check"]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip

    with inotify.FolderWatch(partial, inotify.IN_CREATE) as watch:
        a = start(two.a)
        assert watch.wait_for(lambda n, _m: n.endswith(".part"), 60)
        b = start(two.b)
        _, err_b = b.communicate(timeout=120)
        _, err_a = a.communicate(timeout=120)
    assert a.returncode == 0, err_a
    assert b.returncode == 1 and "installed for a" in err_b, err_b
    assert two.holds(two.data_a) and two.receipt()["selections"] == ["a"]
