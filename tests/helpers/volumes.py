"""Real filesystem failures for tests: read-only mounts, full inode tables, permissions that apply
to root, immutable files, a low open-file limit.

We run as root, and root ignores permission bits, so "permission denied" comes from mechanisms
that still bind root: a read-only mount (`mount -o remount,ro`, or a read-only bind mount of one
folder), `chattr +i` (ext4), and a child without CAP_DAC_OVERRIDE (`setpriv --bounding-set`: the
child keeps uid 0, so it can still start the interpreter under /root, but a folder owned by
another uid with mode 0755 refuses it). Every helper skips the test with the reason when the
machine cannot do it.
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

NOBODY = 65534
# a child of root without the capabilities that bypass permission bits (capabilities(7))
WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts, chattr, capabilities)")


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


@contextlib.contextmanager
def tmpfs(parent: Path, size: str = "16m", nr_inodes: int | None = None) -> Iterator[Path]:
    """A real tmpfs of `size` (and at most `nr_inodes` inodes) at `parent/vol`."""
    mnt = parent / "vol"
    mnt.mkdir()
    with tmpfs_at(mnt, size, nr_inodes):
        yield mnt


@contextlib.contextmanager
def tmpfs_at(folder: Path, size: str, nr_inodes: int | None = None) -> Iterator[None]:
    """A real tmpfs mounted on the existing `folder` for the block (what was there is hidden)."""
    _root()
    opts = f"size={size}" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
    r = _run("mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(folder))
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield
    finally:
        _run("umount", "-l", str(folder))


@contextlib.contextmanager
def read_only(mnt: Path) -> Iterator[None]:
    """Remount the tmpfs at `mnt` read-only for the block (back to read-write after)."""
    r = _run("mount", "-o", "remount,ro", str(mnt))
    if r.returncode != 0:
        pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
    try:
        yield
    finally:
        _run("mount", "-o", "remount,rw", str(mnt))


@contextlib.contextmanager
def read_only_bind(folder: Path) -> Iterator[None]:
    """Make one folder read-only (a read-only bind mount of it onto itself), its parent not."""
    _root()
    r = _run("mount", "--bind", str(folder), str(folder))
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {r.stderr.strip()}")
    try:
        r = _run("mount", "-o", "remount,bind,ro", str(folder))
        if r.returncode != 0:
            pytest.skip(f"cannot remount a bind mount read-only: {r.stderr.strip()}")
        yield
    finally:
        _run("umount", "-l", str(folder))


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`chattr +i path` for the block (ext4 and others; skipped where unsupported)."""
    _root()
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    r = _run("chattr", "+i", str(path))
    if r.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {r.stderr.strip()}")
    try:
        yield
    finally:
        _run("chattr", "-i", str(path))


def without_dac() -> list[str]:
    """The command prefix that runs a child without CAP_DAC_OVERRIDE (see module doc)."""
    _root()
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    r = _run(*WITHOUT_DAC, "true")
    if r.returncode != 0:
        pytest.skip(f"cannot drop capabilities here: {r.stderr.strip()}")
    return list(WITHOUT_DAC)


def owned_by_nobody(folder: Path) -> Path:
    """`folder` (created) owned by uid 65534, mode 0755: closed to a child `without_dac`."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, NOBODY, NOBODY)
    folder.chmod(0o755)
    return folder


def fill_inodes(folder: Path) -> list[Path]:
    """Create empty files in `folder` until the filesystem has no inode left; the files."""
    made: list[Path] = []
    while True:
        path = folder / f"filler-{len(made)}"
        try:
            path.touch(exist_ok=False)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            return made
        made.append(path)
        if len(made) > 100_000:
            raise AssertionError(f"{folder} has no inode limit")


def fill_bytes(folder: Path) -> Path:
    """One file that takes every free block of `folder`'s filesystem."""
    path = folder / "filler.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for size in (1 << 20, 4096, 1):  # big writes, then the last blocks
            block = b"\0" * size
            try:
                while True:
                    os.write(fd, block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return path
