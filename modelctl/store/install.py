"""Publishing a verified file: fsync, atomic no-clobber placement, directory fsync, receipt.

The order is the crash-safety argument (renamed without an fsync first, a file can be empty after
a power loss): the bytes are fsynced before the name appears, the name appears atomically (a reader
never sees a half-written file), and the directory entry is fsynced before the receipt claims the
file is installed. A receipt is written last, never over a wrong file; and before the rename an
intent record (`intents`: the receipt-to-be, with the stat identity of the file being renamed) is
written durably, so a crash, a kill or a failed receipt write in between leaves a file the next
`pull`, `ensure` or `verify` recognises and finishes (`intents.finish`), not one "in the way".

No clobber: a new file is published with `link(tmp, dest)` + `unlink(tmp)`, which fails with EEXIST
instead of replacing a file someone placed meanwhile. Replacing is explicit (`replace=True`: a file
modelctl installed earlier and now outdated, or `--force`) and uses `rename`, still atomic. When the
filesystem has no hard links, an exists-check + rename is the fallback (a small race, documented).
When the partial and the destination are on different filesystems (a models sub-folder that is a
mount or a symlink to another disk), the file is first copied to a temporary name in the
destination's folder, fsynced and renamed there (rename(2) cannot cross filesystems: EXDEV): never
copied into the final name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from modelctl.errors import CheckFailed, DiskFull, ModelctlError, from_os_error
from modelctl.store import intents, receipts
from modelctl.store.atomic import fsync_dir
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt

# `.<16 hex of the name>.<pid>.modelctl-tmp`: a cross-filesystem copy staged beside its destination
# (`publish`), of fixed length so that a basename near NAME_MAX can still be staged; `inventory`
# lists what matches (older versions' `.<name>.<pid>.modelctl-tmp` too) as a leftover for `status`
# and `gc`.
STAGING_RE = re.compile(r"^\..+\.\d+\.modelctl-tmp$")


class DestinationExists(Exception):
    """`dest` appeared while we downloaded (another process, or a user)."""


def fsync_file(path: Path) -> None:
    """Flush `path` to the disk; an I/O error there (the bytes may not be on the disk) is one
    error naming it."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise from_os_error(exc, "while flushing the download to the disk", path) from None


def publish(
    tmp: Path,
    dest: Path,
    replace: bool = False,
    before_place: Callable[[Path], None] | None = None,
) -> None:
    """Move the verified `tmp` to `dest` atomically; EEXIST -> DestinationExists unless `replace`.

    `tmp` must already be fsynced. On success `tmp` no longer exists. `before_place` is called
    with the file about to be renamed into place (`tmp`, or its staged copy on another
    filesystem), after which nothing but the rename happens to it (`install` writes its intent
    there). What the volume refuses (read-only, permission, a file where a folder should be, no
    space for a staged copy) is one error naming `dest` (`errors.from_os_error`); `tmp` is then
    still where it was.
    """
    try:
        _publish(tmp, dest, replace, before_place)
    except OSError as exc:
        raise from_os_error(exc, f"while placing {dest.name}", dest) from None


def _publish(
    tmp: Path, dest: Path, replace: bool, before_place: Callable[[Path], None] | None
) -> None:
    parent = dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or (dest.exists() and not dest.is_file()):
        raise CheckFailed(
            f"{dest} exists and is not a regular file",
            "move it away; modelctl never replaces symlinks or folders",
        )
    if not _same_fs(tmp, parent):
        _publish_copy(tmp, dest, replace, before_place)
    else:
        if before_place is not None:
            before_place(tmp)
        try:
            _place(tmp, dest, replace)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # a bind mount of the same device (a container's volume): st_dev agrees, but link(2)
            # and rename(2) refuse to cross mount points with EXDEV, so copy as for another disk
            _publish_copy(tmp, dest, replace, before_place)
    fsync_dir(parent)


def staging_name(dest: Path) -> str:
    """The staged copy's name beside `dest` (matches STAGING_RE; fixed length)."""
    digest = hashlib.sha256(os.fsencode(dest.name)).hexdigest()[:16]
    return f".{digest}.{os.getpid()}.modelctl-tmp"


def _publish_copy(
    tmp: Path, dest: Path, replace: bool, before_place: Callable[[Path], None] | None
) -> None:
    """Another filesystem: copy beside `dest` (fsynced), place that, then drop `tmp`."""
    staged = dest.parent / staging_name(dest)
    try:
        _copy_synced(tmp, staged)
        if before_place is not None:
            before_place(staged)
        _place(staged, dest, replace)
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
    tmp.unlink()


def _place(tmp: Path, dest: Path, replace: bool) -> None:
    if replace:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise DestinationExists(str(dest)) from None
    except OSError as exc:
        if exc.errno not in (
            errno.EPERM,
            errno.ENOTSUP,
            errno.EOPNOTSUPP,
            errno.EMLINK,
            errno.EXDEV,
            # tmpfs counts every hard link against `nr_inodes` (`shmem_link` reserves an inode:
            # torvalds/linux mm/shmem.c @ v6.6), so a full inode table refuses the link; the
            # rename below needs no inode
            errno.ENOSPC,
        ):
            raise
        if dest.exists():  # no hard links here: check-then-rename (small race, see module doc)
            raise DestinationExists(str(dest)) from None
        os.rename(tmp, dest)
        return
    tmp.unlink()


def _same_fs(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return True


def _copy_synced(src: Path, dst: Path) -> None:
    try:
        with open(src, "rb") as fin, open(dst, "xb") as fout:
            shutil.copyfileobj(fin, fout, 16 << 20)
            fout.flush()
            os.fsync(fout.fileno())
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            dst.unlink()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) and exc.filename is None:  # the bytes
            raise DiskFull(
                f"disk full while copying into {dst.parent} (needs {src.stat().st_size} bytes)",
                "free space on that filesystem and run the same command again",
            ) from None
        raise


def write_receipt(
    layout: Layout,
    relpath: str,
    *,
    source: str,
    sha256: str,
    commit: str | None = None,
    revision: str | None = None,
    selections: list[str] | None = None,
    verified: str | None = None,
) -> Receipt:
    """Record that `relpath` was installed (stat identity taken now, after the rename).

    When the volume refuses the receipt (disk full, read-only), the file is in place but not
    recorded: the error says so and how to settle it (without a receipt it reads as unmanaged).
    """
    try:
        return _write_receipt(layout, relpath, source=source, sha256=sha256, commit=commit,
                              revision=revision, selections=selections,
                              verified=verified)  # fmt: skip
    except OSError as exc:
        raise _refusal(exc, f"while writing the receipt of {relpath}", layout.receipt(relpath),
                       f"{relpath} is in place, but its receipt could not be written",
                       "after the fix, `modelctl verify --full` adopts it when its sha256 is "
                       "pinned, or pull it again with --force") from None  # fmt: skip


def _write_receipt(
    layout: Layout,
    relpath: str,
    *,
    source: str,
    sha256: str,
    commit: str | None,
    revision: str | None,
    selections: list[str] | None,
    verified: str | None,
) -> Receipt:
    receipt = Receipt.for_file(
        layout.dest(relpath),
        dest=relpath,
        source=source,
        sha256=sha256,
        commit=commit,
        revision=revision,
        selections=selections,
        verified=verified,
    )
    receipts.write(layout, receipt)
    return receipt


def install(layout: Layout, tmp: Path, draft: Receipt, replace: bool = False) -> Receipt:
    """Place the verified, fsynced `tmp` at `draft.dest` and record it; the receipt written.

    Intent (durable), rename (`publish`), receipt, intent removed. `draft` carries everything but
    the stat identity, which is taken from the file right before its rename. Raises
    DestinationExists (nothing placed, no intent left) like `publish`. When the receipt cannot be
    written after the rename the intent stays, and the next run finishes the install.
    """
    recorded: list[Receipt] = []

    def record_intent(path: Path) -> None:
        st = path.stat()
        receipt = dataclasses.replace(
            draft, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino
        )
        try:
            intents.write(layout, receipt, partial=tmp)
        except OSError as exc:
            raise _refusal(exc, f"while recording the install of {draft.dest}", layout.intents,
                           "nothing was placed", AGAIN) from None  # fmt: skip
        recorded.append(receipt)

    dest = layout.dest(draft.dest)
    try:
        publish(tmp, dest, replace=replace, before_place=record_intent)
    except BaseException:
        if recorded and not _holds(dest, recorded[-1]):
            intents.remove(layout, draft.dest)  # not placed: the intent describes nothing
        raise
    receipt = recorded[-1]  # the last file offered: a bind mount's EXDEV falls back to a copy
    try:
        receipts.write(layout, receipt)
    except OSError as exc:
        raise _refusal(exc, f"while writing the receipt of {draft.dest}",
                       layout.receipt(draft.dest), f"{draft.dest} is in place, but its receipt "
                       "could not be written", FINISHES) from None  # fmt: skip
    intents.remove(layout, draft.dest)
    return receipt


AGAIN = "after the fix, run the same command again: the download is kept"
FINISHES = "after the fix, the same command finishes this install without downloading"


def _refusal(exc: OSError, doing: str, path: Path, state: str, then: str) -> ModelctlError:
    """The volume's refusal (`errors.from_os_error`: disk full is exit 4, read-only exit 2, …),
    led by the state it leaves the install in, with what to do after the fix."""
    err = from_os_error(exc, doing, path)
    err.message = f"{state}: {err.message}"
    err.hint = f"{err.hint}\n{then}" if err.hint else then
    return err


def _holds(dest: Path, receipt: Receipt) -> bool:
    try:
        return receipt.matches(dest.lstat())
    except OSError:
        return False
