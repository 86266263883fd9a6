"""Filesystem probe: mountinfo parsing from recorded text, and a real write / two-process lock probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelctl.machine import fs
from tests.machine.records import MOUNTINFO


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


def test_probe_dir_on_a_real_directory(tmp_path) -> None:
    report = fs.probe_dir(tmp_path)
    assert report.exists and report.writable and report.lock == "works"
    assert report.free_bytes and report.free_bytes > 0
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind
