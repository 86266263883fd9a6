"""`store.atomic.write_text`: the old content or the new one, never a leftover temporary file."""

from __future__ import annotations

import os
import stat

import pytest

from modelctl.store.atomic import write_text


def test_replaces_the_content_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "stack.lock.yaml"
    path.write_text("old\n")
    write_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["stack.lock.yaml"]


def test_mode_is_applied_whatever_the_umask(tmp_path):
    path = tmp_path / "extra_model_paths.yaml"
    old = os.umask(0o077)
    try:
        write_text(path, "x\n", mode=0o664, durable=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


def test_a_failed_rename_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()  # a folder: the rename over it fails
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        write_text(target, "new\n")
    assert sorted(os.listdir(tmp_path)) == ["taken"]
    assert (target / "inside").read_text() == "kept"
