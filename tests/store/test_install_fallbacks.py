"""`store.install.publish` where a hard link or a same-filesystem rename is impossible, provoked
for real (no patched `os.link`):

* another filesystem (a tmpfs mounted here): the partial is copied to a staged name beside the
  destination, fsynced and renamed there;
* `os.link` refused with EMLINK (the file is at the filesystem's hard-link limit: 65000 on ext4)
  or EPERM (Linux's `fs.protected_hardlinks` refuses a link to a file the caller may not write,
  as vfat or SMB refuse every link): exists-check + rename;
* a bind mount of the same filesystem (same `st_dev`, yet link and rename fail with EXDEV).

Each must place the right bytes, never leave a half-written file under the final name, and never
replace a file that is already there (unless asked). Mounting needs root: skipped otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelctl.errors import DiskFull
from modelctl.store.install import STAGING_RE, DestinationExists, publish
from tests.helpers.tmpfs import small_tmpfs

NOBODY = 65534


def partial(folder: Path, data: bytes) -> Path:
    """A verified partial as `pull` leaves it before publishing (fsynced bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "k.1-ab.part"
    tmp.write_bytes(data)
    return tmp


def staged(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if STAGING_RE.match(n)] if folder.exists() else []


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path, "8m") as mnt:
        yield mnt


# --- another filesystem -------------------------------------------------------------------------


def test_across_filesystems_the_copy_is_staged_beside_the_destination(tmp_path, other_fs):
    data = os.urandom(3 << 20)
    tmp = partial(tmp_path / "partial", data)
    dest = other_fs / "vae" / "ae.safetensors"
    assert tmp.stat().st_dev != other_fs.stat().st_dev
    publish(tmp, dest)
    assert dest.read_bytes() == data
    assert not tmp.exists()
    assert os.listdir(dest.parent) == ["ae.safetensors"]  # the staged copy was renamed, not left


def test_across_filesystems_an_existing_file_is_kept(tmp_path, other_fs):
    data = os.urandom(1 << 20)
    tmp = partial(tmp_path / "partial", data)
    dest = other_fs / "vae" / "ae.safetensors"
    dest.parent.mkdir()
    dest.write_bytes(b"the user's own file")
    with pytest.raises(DestinationExists):
        publish(tmp, dest)
    assert dest.read_bytes() == b"the user's own file"
    assert staged(dest.parent) == [] and tmp.read_bytes() == data  # the partial is kept
    publish(tmp, dest, replace=True)  # asked to (`--force`, or an outdated installed file)
    assert dest.read_bytes() == data
    assert os.listdir(dest.parent) == ["ae.safetensors"] and not tmp.exists()


@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_across_filesystems_a_full_disk_leaves_nothing_half_written(tmp_path, existing):
    """The copy runs out of space half-way: DiskFull, the staged copy removed, and the final name
    either absent or still the old file, whole; the partial stays for the next run."""
    data = os.urandom(3 << 20)
    tmp = partial(tmp_path / "partial", data)
    with small_tmpfs(tmp_path, "2m") as mnt:
        dest = mnt / "unet" / "m.gguf"
        if existing:
            dest.parent.mkdir()
            dest.write_bytes(b"an outdated model")
        with pytest.raises(DiskFull) as err:
            publish(tmp, dest, replace=existing)
        assert "disk full while copying into" in err.value.message and err.value.hint
        assert staged(dest.parent) == []
        if existing:
            assert dest.read_bytes() == b"an outdated model"
        else:
            assert not dest.exists()
        assert tmp.read_bytes() == data


# --- no hard link here --------------------------------------------------------------------------


def exhaust_links(path: Path, scratch: Path, most: int = 70_000) -> None:
    """Give `path` as many hard links as its filesystem allows, so the next `link` is EMLINK."""
    limit = os.pathconf(path, "PC_LINK_MAX")
    if limit > most:
        pytest.skip(f"the hard-link limit here is {limit}: too many links to make")
    scratch.mkdir()
    for i in range(limit):
        try:
            os.link(path, scratch / str(i))
        except OSError as exc:
            if exc.errno == errno.EMLINK:
                return
            raise
    pytest.skip(f"{limit} links and no EMLINK: this filesystem has no small link limit")


def test_at_the_hard_link_limit_the_partial_is_renamed_without_clobbering(tmp_path):
    data = os.urandom(1 << 20)
    tmp = partial(tmp_path / "partial", data)
    scratch = tmp_path / "links"
    try:
        exhaust_links(tmp, scratch)
        dest = tmp_path / "models" / "loras" / "style.safetensors"
        dest.parent.mkdir(parents=True)
        dest.write_bytes(b"the user's own file")
        with pytest.raises(DestinationExists):  # exists-check, not a blind rename
            publish(tmp, dest)
        assert dest.read_bytes() == b"the user's own file" and tmp.exists()
        dest.unlink()
        publish(tmp, dest)
        assert dest.read_bytes() == data and not tmp.exists()
        assert os.listdir(dest.parent) == ["style.safetensors"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def as_nobody(workdir: Path, tmp: str, dest: str) -> tuple[str, int | None]:
    """Publish `tmp` to `dest` (relative to `workdir`) in a forked child running as nobody.

    Returns ("placed" | "exists" | "<exception>", the errno of a first plain link attempt)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        result = "error"
        try:
            os.close(read)
            os.chdir(workdir)  # relative paths: pytest's 0700 folders above need not be opened
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                os.link(tmp, "probe")
                link_errno = 0
            except OSError as exc:
                link_errno = exc.errno or 0
            try:
                publish(Path(tmp), Path(dest))
                result = "placed"
            except DestinationExists:
                result = "exists"
            except BaseException as exc:
                result = repr(exc)
            os.write(write, f"{result}\n{link_errno}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        text = fh.read()
    os.waitpid(pid, 0)
    result, _, code = text.partition("\n")
    return result, int(code) if code else None


def test_where_a_link_is_refused_with_eperm_the_partial_is_renamed(tmp_path):
    """vfat, SMB and many FUSE filesystems refuse every hard link with EPERM; Linux does the same
    for a file the caller may not write when `fs.protected_hardlinks` is 1, which is how EPERM is
    provoked here: a partial owned by root, published by an unprivileged process."""
    if os.geteuid() != 0:
        pytest.skip("needs root to publish as another user")
    knob = Path("/proc/sys/fs/protected_hardlinks")
    if not knob.exists() or knob.read_text().strip() != "1":
        pytest.skip("fs.protected_hardlinks is not 1 here")
    work = tmp_path / "work"
    data = os.urandom(256 << 10)
    tmp = partial(work / "partial", data)
    tmp.chmod(0o644)  # nobody may read it, not write it
    (work / "models" / "vae").mkdir(parents=True)
    for folder in (work / "partial", work / "models", work / "models" / "vae"):
        folder.chmod(0o777)
    (work / "models" / "vae" / "mine.safetensors").write_bytes(b"the user's own file")

    result, link_errno = as_nobody(work, "partial/k.1-ab.part", "models/vae/mine.safetensors")
    if link_errno != errno.EPERM:
        pytest.skip(f"a link as nobody did not fail with EPERM here (errno {link_errno})")
    assert result == "exists"  # no clobbering through the fallback either
    assert (work / "models" / "vae" / "mine.safetensors").read_bytes() == b"the user's own file"

    result, _ = as_nobody(work, "partial/k.1-ab.part", "models/vae/ae.safetensors")
    assert result == "placed"
    assert (work / "models" / "vae" / "ae.safetensors").read_bytes() == data
    assert not tmp.exists()
    assert sorted(os.listdir(work / "models" / "vae")) == ["ae.safetensors", "mine.safetensors"]


# --- a bind mount of the same filesystem ----------------------------------------------------------


@contextlib.contextmanager
def bind_mount(source: Path, target: Path) -> Iterator[Path]:
    source.mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root")
    r = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True,
                       text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {r.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.mark.parametrize("replace", [False, True], ids=["new", "replacing"])
def test_a_bind_mounted_destination_folder_is_published_by_a_copy(tmp_path, replace):
    """A container's volume of the same disk: st_dev agrees, link(2)/rename(2) say EXDEV."""
    data = os.urandom(1 << 20)
    models = tmp_path / "models"
    tmp = partial(models / ".modelctl" / "partial", data)
    with bind_mount(tmp_path / "elsewhere", models / "loras") as loras:
        assert tmp.stat().st_dev == loras.stat().st_dev  # same filesystem, another mount
        dest = loras / "style.safetensors"
        if replace:
            dest.write_bytes(b"an outdated lora")
        publish(tmp, dest, replace=replace)
        assert dest.read_bytes() == data and not tmp.exists()
        assert os.listdir(loras) == ["style.safetensors"]
