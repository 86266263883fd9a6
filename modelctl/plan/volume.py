"""Can the planned files be written where they go? Checked before the first byte moves.

Every write on the models volume turns the OS's refusal into one error (`errors.from_os_error`),
so nothing here is needed for correctness; it is here so that a pull that cannot finish says so
before a 20 GB download instead of after it:

* names: every component of a destination, and of the receipt modelctl keeps for it, must fit
  the filesystem's NAME_MAX (`pathconf(PC_NAME_MAX)`, 255 bytes on ext4, xfs, btrfs, tmpfs), and
  the whole paths Linux's PATH_MAX (4096 bytes). Lock, staging and temporary names derived from
  a destination are cut to fit (`store.names.fit_name`); partial names are the sha256 key plus a
  token (under 100 bytes).
* what is in the way: a destination that is a folder, a FIFO, a socket, a device or a symlink
  (modelctl never replaces those, `--force` or not), or a destination folder whose path runs
  through a file.
* writable: the folders a download writes (`.modelctl/` and each destination's folder, or the
  nearest ancestor that exists) on a read-only mount, or not writable for this user.

Disk space and inodes are `plan.space`.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from modelctl.errors import BadInput, CheckFailed, file_kind, from_os_error, name_max
from modelctl.store.layout import Layout

# PATH_MAX of Linux (torvalds/linux include/uapi/linux/limits.h @ v6.6): the longest path a
# syscall takes, counting its NUL
_PATH_MAX = 4096


def check_destinations(layout: Layout, dests: list[str]) -> None:
    """Raise for the first destination whose name is too long (exit 2), whose folder is a file
    (exit 2) or that is itself not a file (exit 1, as any file in the way); reads only. Pass the
    destinations that are not installed (an installed one may be a user's symlink to its file)."""
    for dest in dests:
        _check_names(layout, dest)
        _check_in_the_way(layout, dest)


def check_writable(layout: Layout, dests: list[str]) -> None:
    """Raise `VolumeError` (exit 2) for the first folder a download of `dests` would write in
    but may not: a read-only mount (EROFS) or no write permission for this user (EACCES)."""
    folders: dict[Path, str] = {}
    for dest in dests:
        for folder in (layout.locks, layout.partials, layout.receipt(dest).parent,
                       layout.dest(dest).parent):  # fmt: skip
            folders.setdefault(folder, dest)
    for folder, dest in folders.items():
        base = _nearest_existing(folder)
        if os.access(base, os.W_OK | os.X_OK):
            continue
        code = _why_not_writable(base)
        if code is not None:
            raise from_os_error(
                OSError(code, os.strerror(code), str(base)), f"needed to pull {dest}"
            )


def _check_names(layout: Layout, dest: str) -> None:
    dest_dir = layout.dest(dest).parent
    limit = name_max(str(dest_dir))
    for part in dest.split("/"):
        size = len(os.fsencode(part))
        if size > limit:
            raise BadInput(
                f"{_short_path(dest)}: the name `{_short(part)}` is {size} bytes; the "
                f"filesystem of {layout.root} takes at most {limit}",
                f"rename the asset's dest in the manifest (at most {limit} bytes per folder or "
                "file name)",
            )
    for path in (layout.dest(dest), layout.receipt(dest)):
        size = len(os.fsencode(str(path)))
        if size >= _PATH_MAX:  # the kernel takes a path of at most PATH_MAX bytes, NUL included
            raise BadInput(
                f"{_short_path(str(path))}: the path is {size} bytes; Linux takes at most "
                f"{_PATH_MAX - 1}",
                "use a shorter --models-dir, or a shorter dest in the manifest",
            )
    receipt = layout.receipt(dest)
    room = name_max(str(layout.receipts))
    for part in receipt.relative_to(layout.receipts).parts:
        size = len(os.fsencode(part))
        if size > room:
            extra = size - len(os.fsencode(receipt.name.removesuffix(".json")))
            raise BadInput(
                f"{_short_path(dest)}: its receipt `{_short(part)}` would be {size} bytes; the "
                f"filesystem of {layout.root} takes at most {room}",
                f"rename the asset's dest in the manifest (a file name of at most {room - extra} "
                "bytes)",
            )


def _check_in_the_way(layout: Layout, dest: str) -> None:
    path = layout.dest(dest)
    try:
        st = path.lstat()
    except FileNotFoundError:
        st = None
    except OSError as exc:  # ENOTDIR: a folder of the path is a file; ELOOP, ENAMETOOLONG, …
        raise from_os_error(exc, f"on the path of {dest}", path) from None
    if st is None:
        _check_folders(dest, path.parent)
        return
    if stat.S_ISREG(st.st_mode):
        return
    what = _kind(path, st.st_mode)
    raise CheckFailed(
        f"{path} is {what}, not a file: modelctl never replaces it",
        "move it away (not even --force replaces folders, symlinks or special files), or change "
        "the asset's dest in the manifest",
    )


def _check_folders(dest: str, folder: Path) -> None:
    """The destination's folders: the deepest that exists must be a folder (or a link to one)."""
    probe = folder
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    if probe.is_dir():
        return
    code = errno.ENOENT if probe.is_symlink() else errno.ENOTDIR  # a dangling link, or a file
    raise from_os_error(OSError(code, os.strerror(code), str(probe)), f"on the path of {dest}")


def _kind(path: Path, mode: int) -> str:
    if stat.S_ISLNK(mode):
        return f"a symlink (to {os.readlink(path)})"
    return file_kind(mode)


def _short(name: str) -> str:
    """A long name cut in the middle for a message (its start and its extension stay)."""
    return name if len(name) <= 48 else f"{name[:32]}…{name[-12:]}"


def _short_path(dest: str) -> str:
    return "/".join(_short(part) for part in dest.split("/"))


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _why_not_writable(folder: Path) -> int | None:
    """The errno a create in `folder` meets (access(2) only says no: EROFS, EACCES and the EPERM
    of an immutable folder need different fixes). Only asked after `os.access` said no, so the
    create fails and leaves nothing; None if it unexpectedly succeeds (removed again at once)."""
    probe = folder / f".modelctl-probe.{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return exc.errno if exc.errno is not None else errno.EACCES
    os.close(fd)
    os.unlink(probe)
    return None
