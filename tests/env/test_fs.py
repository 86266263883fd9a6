"""Filesystem probe: mountinfo parsing from recorded text, and real write / two-process lock probes."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from modelctl.env import checks, fs

MOUNTINFO = """\
22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
30 22 0:25 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw
41 22 0:40 / /mnt/models rw,relatime shared:20 - nfs4 nas:/export/models rw,vers=4.2,local_lock=none,addr=10.0.0.2
42 22 0:41 / /mnt/legacy rw,relatime shared:21 - nfs nas:/old rw,vers=3,nolock,addr=10.0.0.2
43 22 0:42 / /mnt/my\\040models rw,relatime shared:22 - xfs /dev/sdb1 rw
44 41 0:43 / /mnt/models/cache rw,relatime shared:23 - tmpfs tmpfs rw
"""


def test_parse_mountinfo() -> None:
    mounts = {m.point: m for m in fs.parse_mountinfo(MOUNTINFO)}
    assert mounts["/"].fstype == "ext4"
    assert mounts["/mnt/my models"].fstype == "xfs"
    assert "local_lock=none" in mounts["/mnt/models"].options
    assert "relatime" in mounts["/mnt/models"].options


@pytest.mark.parametrize(
    ("path", "point", "fstype"),
    [
        ("/home/user/models", "/", "ext4"),
        ("/mnt/models/diffusion_models", "/mnt/models", "nfs4"),
        ("/mnt/models/cache/x", "/mnt/models/cache", "tmpfs"),
        ("/mnt/modelsX", "/", "ext4"),
        ("/mnt/my models/vae", "/mnt/my models", "xfs"),
    ],
)
def test_mount_of_is_the_longest_parent(path: str, point: str, fstype: str) -> None:
    mount = fs.mount_of(Path(path), MOUNTINFO)
    assert (mount.point, mount.fstype) == (point, fstype)


def _report(mount_point: str, lock: str = "works") -> fs.FsReport:
    mount = fs.mount_of(Path(mount_point), MOUNTINFO)
    return fs.FsReport(Path(mount_point), Path(mount_point), True, mount, 10**12, True, None, lock)


def test_nfs_with_nolock_warns_even_when_local_locks_work() -> None:
    report = _report("/mnt/legacy")
    assert report.network and report.host_local_locks
    row = checks._lock_check(report)
    assert row.status == "warn" and "nolock" in row.summary and "this host only" in row.summary


def test_nfs_with_real_locking_is_ok() -> None:
    report = _report("/mnt/models")
    assert report.network and not report.host_local_locks
    assert checks._lock_check(report).status == "ok"


def test_probe_dir_on_a_real_directory(tmp_path) -> None:
    report = fs.probe_dir(tmp_path)
    assert report.exists and report.writable and report.lock == "works"
    assert report.free_bytes and report.free_bytes > 0
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


def test_missing_models_dir_probes_its_parent(tmp_path) -> None:
    report = fs.probe_dir(tmp_path / "a" / "models")
    assert not report.exists and report.probed == tmp_path and report.writable
    row = checks.fs_checks(report)[0]
    assert "does not exist yet" in row.summary


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_dir(tmp_path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        report = fs.probe_dir(ro)
    finally:
        ro.chmod(0o755)
    assert not report.writable and report.lock == "untested"
    rows = checks.fs_checks(report)
    assert rows[1].status == "fail" and "PermissionError" in rows[1].summary


def _sitecustomize(directory: Path, body: str) -> Path:
    directory.mkdir()
    (directory / "sitecustomize.py").write_text("import errno, fcntl\n" + body, "utf-8")
    return directory


def test_lock_that_is_a_no_op_in_both_processes(tmp_path, monkeypatch) -> None:
    """NFS `nolock`-style locking simulated the one way a single machine can: flock patched to a
    no-op in this process and, through sitecustomize, in the probe's second process."""
    patch = _sitecustomize(tmp_path / "patch", "fcntl.flock = lambda fd, op: None\n")
    monkeypatch.setenv("PYTHONPATH", str(patch))
    monkeypatch.setattr(fcntl, "flock", lambda fd, op: None)
    models = tmp_path / "models"
    models.mkdir()
    assert fs.lock_works(models) == "no-op"
    report = fs.FsReport(models, models, True, None, 1, True, None, "no-op")
    row = checks._lock_check(report)
    assert row.status == "warn" and "no-op" in row.summary


def test_lock_that_raises(tmp_path, monkeypatch) -> None:
    def enolck(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", enolck)
    models = tmp_path / "models"
    models.mkdir()
    verdict = fs.lock_works(models)
    assert verdict.startswith("error:") and "No locks available" in verdict
    row = checks._lock_check(fs.FsReport(models, models, True, None, 1, True, None, verdict))
    assert row.status == "warn" and "fail here" in row.summary


def test_space_check() -> None:
    report = fs.FsReport(Path("/m"), Path("/m"), True, None, 10 * 1024**3, True, None, "works")
    assert checks._space_check(report, 5 * 1024**3, 0).status == "ok"
    short = checks._space_check(report, 20 * 1024**3, 0)
    assert short.status == "fail" and "20.0 GiB" in short.summary
    assert checks._space_check(report, 1, 2).status == "warn"


def test_models_dir_under_a_file_is_not_writable(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    report = fs.probe_dir(blocker / "models")
    assert report.probed == blocker and not report.writable
    assert checks.fs_checks(report)[1].status == "fail"
