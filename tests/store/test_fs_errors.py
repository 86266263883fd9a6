"""The volume's refusals at each place the store writes, on real filesystems (tests/helpers/volumes):
one `ModelctlError` naming the path, the cause and the fix, never a bare OSError, whatever the CLI's
plan phase checked before (a volume can turn read-only or full between the plan and the write).

Also the translation table itself (`errors.from_os_error`, a pure function of an OSError) and the
bounded names derived from a destination (`store.names.fit_name`).
"""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

from modelctl.errors import DiskFull, VolumeError, from_os_error
from modelctl.store import locks
from modelctl.store.atomic import write_text
from modelctl.store.install import publish, write_receipt
from modelctl.store.layout import Layout
from modelctl.store.names import NAME_MAX, fit_name
from modelctl.store.partials import PartialState, claim
from modelctl.store.verify import targets_for_receipts, verify
from modelctl.transfer.fetch import TransferOptions, fetch
from modelctl.transfer.remote import RemoteFile
from tests.helpers.volumes import fill_bytes, fill_inodes, read_only, read_only_bind, tmpfs

# --- the translation table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "exit_code", "hint"),
    [
        (errno.EROFS, VolumeError, 2, "read-write"),
        (errno.EACCES, VolumeError, 2, "chown"),
        (errno.EPERM, VolumeError, 2, "chattr -i"),
        (errno.ENAMETOOLONG, VolumeError, 2, "at most 255 bytes"),
        (errno.EMFILE, VolumeError, 2, "ulimit -n"),
        (errno.ENFILE, VolumeError, 2, "ulimit -n"),
        (errno.EFBIG, VolumeError, 2, "FAT32"),
        (errno.EIO, VolumeError, 2, "dmesg"),
        (errno.ESTALE, VolumeError, 2, "NFS"),
        (errno.ENOSPC, DiskFull, 4, "free space"),
        (errno.EDQUOT, DiskFull, 4, "quota"),
    ],
)
def test_each_errno_has_its_exit_code_and_a_fix(tmp_path, code, kind, exit_code, hint):
    name = "x" * 300 if code == errno.ENAMETOOLONG else "x.gguf"
    path = tmp_path / "models" / "unet" / name
    err = from_os_error(OSError(code, os.strerror(code), str(path)), "while placing x.gguf")
    assert type(err) is kind and err.exit_code == exit_code
    assert err.message.startswith(f"{path}: {os.strerror(code)}")
    assert err.message.endswith(" (while placing x.gguf)") and "\n" not in err.message
    assert err.hint is not None and hint in err.hint


def test_a_path_too_long_with_short_names_is_told_apart_from_a_long_name(tmp_path):
    path = "/".join(["d" * 200] * 25)
    err = from_os_error(OSError(errno.ENAMETOOLONG, "File name too long", path), "doing")
    assert err.hint is not None and "shorter --models-dir" in err.hint


def test_a_rename_names_its_destination_not_the_temporary_source(tmp_path):
    exc = OSError(errno.EACCES, "Permission denied", "/m/.modelctl/partial/k.part", None,
                  "/m/unet/x.gguf")  # fmt: skip
    assert from_os_error(exc, "while placing x.gguf").message.startswith("/m/unet/x.gguf: ")


@pytest.mark.parametrize("code", [errno.ENOTDIR, errno.EEXIST, errno.ENOENT])
def test_a_file_where_a_folder_should_be_is_named(tmp_path, code):
    (tmp_path / "unet").write_bytes(b"x")
    err = from_os_error(OSError(code, os.strerror(code), str(tmp_path / "unet" / "sub")), "doing")
    assert err.message == f"{tmp_path / 'unet'} is a file, not a folder (doing)"
    assert err.exit_code == 2


def test_inode_exhaustion_is_told_apart_from_a_full_disk(tmp_path):
    with tmpfs(tmp_path, nr_inodes=32) as mnt:
        fill_inodes(mnt)
        exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(mnt / "x"))
        err = from_os_error(exc, "while creating x")
        assert isinstance(err, DiskFull)
        assert (
            err.message
            == f"{mnt / 'x'}: no free inodes on {mnt} (all 32 in use) (while creating x)"
        )
        assert err.hint is not None and "nr_inodes" in err.hint


# --- each write site of the store ----------------------------------------------------------------


def test_a_lock_on_a_read_only_volume_is_a_volume_error(tmp_path):
    with tmpfs(tmp_path) as mnt:
        layout = Layout(mnt / "models")
        path = layout.lock("unet/a.gguf")
        with locks.hold(path, 1, "test"):
            pass  # created while writable, as a lock file of an earlier run
        with read_only(mnt):
            for take in (
                lambda: locks.hold(path, 1, "test").__enter__(),
                lambda: locks.try_hold(path),
            ):
                with pytest.raises(VolumeError) as err:
                    take()
                assert err.value.errno == errno.EROFS
                assert err.value.message == f"{path}: Read-only file system (while taking the lock)"


def test_claiming_a_partial_without_a_free_inode_is_disk_full(tmp_path):
    with tmpfs(tmp_path, nr_inodes=64) as mnt:
        layout = Layout(mnt / "models")
        layout.partials.mkdir(parents=True)
        fill_inodes(mnt)
        with pytest.raises(DiskFull) as err:
            claim(layout, PartialState("k" * 64, "test", 10))
        assert "no free inodes" in err.value.message and str(layout.partials) in err.value.message
        assert list(layout.partials.iterdir()) == []


def test_fetch_into_a_partial_on_a_volume_turned_read_only_is_a_volume_error(tmp_path):
    """The plan phase saw a writable volume; by the time the transfer opens the partial it is not."""
    src = tmp_path / "mirror.gguf"
    src.write_bytes(os.urandom(10_000))
    with tmpfs(tmp_path) as mnt:
        layout = Layout(mnt / "models")
        part = claim(layout, PartialState("k" * 64, "test", 10_000))
        remote = RemoteFile(source=f"file://{src}", url=f"file://{src}", display=str(src),
                            size=10_000)  # fmt: skip
        with read_only(mnt), pytest.raises(VolumeError) as err:
            fetch(remote, part, TransferOptions())
        assert err.value.message.startswith(f"{part.data}: Read-only file system")
        assert "while writing the partial download" in err.value.message


def test_publishing_into_a_read_only_folder_names_the_destination_and_keeps_the_download(tmp_path):
    with tmpfs(tmp_path) as mnt:
        tmp = mnt / "t.part"
        tmp.write_bytes(b"verified")
        dest = mnt / "models" / "unet" / "a.gguf"
        dest.parent.mkdir(parents=True)
        with read_only_bind(dest.parent), pytest.raises(VolumeError) as err:
            publish(tmp, dest)
        assert err.value.message.startswith(f"{dest}: Read-only file system (while placing a.gguf)")
        assert tmp.read_bytes() == b"verified" and not dest.exists()


def test_publishing_with_no_inode_left_falls_back_to_a_rename(tmp_path):
    """tmpfs counts a hard link as an inode: the no-clobber link fails with ENOSPC, a rename
    needs none."""
    with tmpfs(tmp_path, nr_inodes=64) as mnt:
        tmp = mnt / "t.part"
        tmp.write_bytes(b"verified")
        dest = mnt / "unet" / "a.gguf"
        dest.parent.mkdir()
        fill_inodes(mnt)
        publish(tmp, dest)
        assert dest.read_bytes() == b"verified" and not tmp.exists()


def test_a_receipt_on_a_full_disk_says_the_file_is_placed_but_not_recorded(tmp_path):
    with tmpfs(tmp_path, size="256k") as mnt:
        layout = Layout(mnt / "models")
        path = layout.dest("unet/a.gguf")
        path.parent.mkdir(parents=True)
        path.write_bytes(b"verified")
        layout.receipts.joinpath("unet").mkdir(parents=True)
        fill_bytes(mnt)
        with pytest.raises(DiskFull) as err:
            write_receipt(layout, "unet/a.gguf", source="file:///x", sha256="0" * 64)
        assert err.value.message.startswith(
            f"unet/a.gguf is in place, but its receipt could not be written: "
            f"{layout.receipt('unet/a.gguf')}: No space left"
        )
        assert err.value.hint is not None and "verify --full` adopts it" in err.value.hint
        assert [p.name for p in layout.receipts.joinpath("unet").iterdir()] == []  # no temp left
        assert path.read_bytes() == b"verified"


def test_verify_on_a_read_only_volume_keeps_its_verdicts_and_changes_nothing(tmp_path):
    with tmpfs(tmp_path) as mnt:
        layout = Layout(mnt / "models")
        path = layout.dest("unet/a.gguf")
        path.parent.mkdir(parents=True)
        path.write_bytes(b"verified")
        write_receipt(layout, "unet/a.gguf", source="file:///x",
                      sha256=hashlib.sha256(b"verified").hexdigest())  # fmt: skip
        before = layout.receipt("unet/a.gguf").read_bytes()
        with read_only(mnt):
            for mode in ("full", "quick", "fast"):
                (v,) = verify(layout, targets_for_receipts(layout), mode=mode)
                assert v.state == "ok", (mode, v)
                if mode != "fast":
                    assert "the receipt was not updated" in v.detail and "Read-only" in v.detail
        assert layout.receipt("unet/a.gguf").read_bytes() == before


# --- names derived from a destination -----------------------------------------------------------


def test_fit_name_keeps_short_names_and_bounds_long_ones():
    assert fit_name("unet__a.gguf", ".lock") == "unet__a.gguf.lock"
    for stem in ("x" * 300, "é" * 200, "a/" * 140):
        name = fit_name(stem, ".lock")
        assert len(name.encode()) <= NAME_MAX and name.endswith(".lock")
        name.encode("utf-8")  # never half a character
    # two long names that share their first 255 bytes still get two names
    assert fit_name("x" * 300 + "a", ".lock") != fit_name("x" * 300 + "b", ".lock")
    assert fit_name("x" * 300, ".lock") == fit_name("x" * 300, ".lock")  # stable across runs


def test_the_lock_and_temporary_names_of_a_255_byte_destination_fit(tmp_path):
    name = "y" * 250 + ".gguf"
    layout = Layout(tmp_path)
    lock = layout.lock(f"diffusion_models/{name}")
    assert len(lock.name.encode()) <= NAME_MAX
    with locks.hold(lock, 1, "test"):
        pass
    write_text(tmp_path / name, "x\n")  # its `.<name>.<pid>.tmp` is cut to fit
    assert (tmp_path / name).read_text() == "x\n"
