"""`read_bounded`: regular files only, never more than limit + 1 bytes read (issue 16, item 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelctl.datafiles import FileTooLarge, NotRegularFile, read_bounded


def test_reads_a_file_up_to_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, 100) == b"x" * 100
    with pytest.raises(FileTooLarge) as info:
        read_bounded(path, 99)
    assert (info.value.size, info.value.limit) == (100, 99)


def test_a_huge_sparse_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge"
    with open(path, "wb") as fh:
        fh.truncate(3 << 30)  # 3 GiB, sparse: no disk used, but read_bytes would allocate it all
    with pytest.raises(FileTooLarge, match="3221225472 bytes, over the 1024-byte limit"):
        read_bounded(path, 1024)


def test_devices_and_folders_are_refused(tmp_path: Path) -> None:
    """(FIFOs, which could block the test itself, are tested through a child with a timeout:
    tests/manifest/test_catalog.py, tests/cli/test_from_workflow.py.)"""
    with pytest.raises(NotRegularFile, match="character device"):
        read_bounded("/dev/zero", 1024)
    with pytest.raises(IsADirectoryError):
        read_bounded(tmp_path, 1024)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "absent", 1024)


def test_a_file_larger_than_its_stat_size_is_still_bounded() -> None:
    """/proc files report size 0 and have content: the read itself stops at limit + 1 bytes."""
    assert b"Name:" in read_bounded("/proc/self/status", 1 << 20)
    with pytest.raises(FileTooLarge) as info:
        read_bounded("/proc/self/status", 10)
    assert info.value.size == 11  # limit + 1: that much was read, no more
