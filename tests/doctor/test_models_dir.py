"""Doctor's models-dir rows over real probes: writability, two-process lock probes (a lock that is a
no-op, one that raises), NFS mount options, and free space."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from modelctl.doctor import models_dir
from modelctl.machine import fs
from tests.machine.records import MOUNTINFO


def _report(mount_point: str, lock: str = "works") -> fs.FsReport:
    mount = fs.mount_of(Path(mount_point), MOUNTINFO)
    return fs.FsReport(Path(mount_point), Path(mount_point), True, mount, 10**12, True, None, lock)


def test_nfs_with_nolock_warns_even_when_local_locks_work() -> None:
    report = _report("/mnt/legacy")
    assert report.network and report.host_local_locks
    row = models_dir._lock_check(report)
    assert row.status == "warn" and "nolock" in row.summary and "this host only" in row.summary


def test_nfs_with_real_locking_is_ok() -> None:
    report = _report("/mnt/models")
    assert report.network and not report.host_local_locks
    assert models_dir._lock_check(report).status == "ok"


def test_missing_models_dir_probes_its_parent(tmp_path) -> None:
    report = fs.probe_dir(tmp_path / "a" / "models")
    assert not report.exists and report.probed == tmp_path and report.writable
    row = models_dir.fs_checks(report)[0]
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
    rows = models_dir.fs_checks(report)
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
    row = models_dir._lock_check(report)
    assert row.status == "warn" and "no-op" in row.summary


def test_lock_that_raises(tmp_path, monkeypatch) -> None:
    def enolck(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", enolck)
    models = tmp_path / "models"
    models.mkdir()
    verdict = fs.lock_works(models)
    assert verdict.startswith("error:") and "No locks available" in verdict
    row = models_dir._lock_check(fs.FsReport(models, models, True, None, 1, True, None, verdict))
    assert row.status == "warn" and "fail here" in row.summary


def test_space_check() -> None:
    report = fs.FsReport(Path("/m"), Path("/m"), True, None, 10 * 1024**3, True, None, "works")
    assert models_dir._space_check(report, 5 * 1024**3, 0).status == "ok"
    short = models_dir._space_check(report, 20 * 1024**3, 0)
    assert short.status == "fail" and "20.0 GiB" in short.summary
    assert models_dir._space_check(report, 1, 2).status == "warn"


def test_models_dir_under_a_file_is_not_writable(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    report = fs.probe_dir(blocker / "models")
    assert report.probed == blocker and not report.writable
    assert models_dir.fs_checks(report)[1].status == "fail"
