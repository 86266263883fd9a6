"""Publishing: atomic, no clobber, replace only when asked."""

from __future__ import annotations

import pytest

from modelctl.store.install import DestinationExists, publish


def test_publish_places_and_removes_the_temp(tmp_path):
    tmp = tmp_path / "t.part"
    tmp.write_bytes(b"x" * 10)
    dest = tmp_path / "vae" / "a.safetensors"
    publish(tmp, dest)
    assert dest.read_bytes() == b"x" * 10 and not tmp.exists()


def test_publish_never_clobbers_an_existing_file(tmp_path):
    tmp = tmp_path / "t.part"
    tmp.write_bytes(b"new")
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"user's")
    with pytest.raises(DestinationExists):
        publish(tmp, dest)
    assert dest.read_bytes() == b"user's" and tmp.exists()
    publish(tmp, dest, replace=True)
    assert dest.read_bytes() == b"new"


def test_publish_refuses_a_symlink_at_dest(tmp_path):
    from modelctl.errors import CheckFailed

    tmp = tmp_path / "t.part"
    tmp.write_bytes(b"new")
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    (tmp_path / "a.bin").symlink_to(target)
    with pytest.raises(CheckFailed):
        publish(tmp, tmp_path / "a.bin", replace=True)
    assert target.read_bytes() == b"keep"
