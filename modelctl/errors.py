"""The error hierarchy, mapped to the documented exit codes in exactly one place.

Every failure a user can cause or meet is one of these. The CLI catches `ModelctlError` and prints
`error: <message>` plus optional hint lines; anything else is a bug. Each class's `exit_code` is the
contract documented in README.md ("Exit codes"):

    0 success · 1 a check found a problem · 2 bad input · 3 a source failed
    4 not enough disk space · 5 timed out (lock wait or --timeout)
"""

from __future__ import annotations

import errno
import os
import stat


class ModelctlError(Exception):
    """Base of every error modelctl reports to the user.

    `message` is one line naming the cause; `hint` is an optional fix (one or more lines).
    """

    exit_code: int = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class CheckFailed(ModelctlError):
    """A check found a problem: incompatible stack, corrupt / modified / missing file."""

    exit_code = 1


class BadInput(ModelctlError):
    """Usage error, invalid manifest, malformed or unsupported model file."""

    exit_code = 2


class VolumeError(BadInput):
    """The models volume refused a write or a read: read-only, permission, a file where a folder
    should be, a name too long, an I/O error (see `from_os_error`). `errno` is the OS's code."""

    def __init__(self, message: str, hint: str | None = None, code: int | None = None) -> None:
        super().__init__(message, hint)
        self.errno = code


class ManifestError(BadInput):
    """An invalid manifest; the message starts with `file:line:`."""


class FormatError(BadInput):
    """A malformed or hostile model file; the message names the byte offset."""


class SourceError(ModelctlError):
    """A source failed: network, HTTP 4xx/5xx, gated repo, checksum mismatch of downloaded bytes."""

    exit_code = 3


class DiskFull(ModelctlError):
    """Not enough disk space, before or during a transfer."""

    exit_code = 4


class TimedOut(ModelctlError):
    """Waited too long for another process's lock, or `--timeout` was reached."""

    exit_code = 5


def from_os_error(
    exc: OSError, doing: str, path: str | os.PathLike[str] | None = None
) -> ModelctlError:
    """`exc`, met while `doing` something on the models volume, as one error: the path, the cause,
    and the fix. The one place an `OSError` of the volume becomes an exit code.

    ENOSPC and EDQUOT are `DiskFull` (exit 4), inode exhaustion included (ENOSPC too: the message
    says which one ran out). Everything else the volume can refuse is the user's volume or paths,
    `VolumeError` (exit 2): EROFS, EACCES, EPERM, ENOTDIR / EEXIST (a file where a folder should
    be), ENAMETOOLONG, ELOOP, EFBIG, EMFILE, and EIO / ESTALE (a failing disk or network mount:
    the fix is on the volume, and a script that retries exit 3, "a source failed", would retry
    a dying disk). The path named is the syscall's, except where it named none (a write to an
    open file) or two (a rename or link: the source is modelctl's own temporary file, the
    destination is what the user must fix): then `path`, else the destination. `doing` is e.g.
    "while placing unet/x.gguf".
    """
    named = exc.filename
    if named is None or exc.filename2 is not None:
        named = path if path is not None else exc.filename2
    where = os.fsdecode(named) if isinstance(named, str | bytes | os.PathLike) else "?"
    code = exc.errno
    cause = exc.strerror or os.strerror(code or 0)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return _no_room(where, code, cause, doing)
    blocker = _in_the_way(where) if code in _IN_THE_WAY else None
    if blocker is not None:
        return VolumeError(f"{blocker} ({doing})", _MOVE_IT, code)
    subject = f"{where}: " if where != "?" else ""  # EMFILE from socket(2) names no path
    return VolumeError(f"{subject}{cause} ({doing})", _volume_hint(code, where), code)


# what a file (a FIFO, a dangling symlink) where a folder should be makes a syscall answer
_IN_THE_WAY = (errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.ELOOP, errno.EISDIR)
_MOVE_IT = (
    "move it away or fix the link, or choose another --models-dir (or the asset's dest in the "
    "manifest)"
)


def _no_room(where: str, code: int, cause: str, doing: str) -> DiskFull:
    mount = mount_point(where)
    try:
        st = os.statvfs(nearest_existing(where))
    except OSError:
        st = None
    if code == errno.ENOSPC and st is not None and st.f_files > 0 and st.f_favail == 0:
        return DiskFull(
            f"{where}: no free inodes on {mount} (all {st.f_files} in use) ({doing})",
            "delete files there, or use a filesystem with more inodes (tmpfs `nr_inodes=`, ext4 "
            "`mkfs.ext4 -N`); partial downloads are kept and resume",
        )
    if code == errno.EDQUOT:
        return DiskFull(
            f"{where}: {cause}: your disk quota on {mount} is used up ({doing})",
            "free space within the quota, or ask for a larger one; partial downloads resume",
        )
    return DiskFull(
        f"{where}: {cause} on {mount} ({doing})",
        f"free space on {mount} and run the same command again; partial downloads resume",
    )


def _volume_hint(code: int | None, where: str) -> str:
    folder = where if os.path.isdir(where) else os.path.dirname(where) or where
    if code == errno.EROFS:
        return (
            f"{mount_point(where)} is mounted read-only: mount the models volume read-write (no "
            "`:ro` on a container's volume), or point --models-dir / MODELCTL_MODELS_DIR at a "
            "writable folder"
        )
    if code == errno.EACCES:
        what = f"in {where}" if os.path.isdir(where) else where
        return (
            f"modelctl runs as uid {os.geteuid()}, which may not write {what}: give it write "
            "access (chown / chmod; every uid that runs modelctl on this volume needs it), or "
            "run modelctl as the owner"
        )
    if code == errno.EPERM:
        return (
            "the file or its folder refuses changes (immutable or append-only: see `lsattr`, "
            "clear it with `chattr -i`), or the filesystem does not allow this operation"
        )
    if code == errno.ENOENT:
        return (
            "a file or folder vanished while modelctl used it (another process, or `modelctl "
            "gc`): run the same command again"
        )
    if code in _IN_THE_WAY:  # a folder where a file should be, a symlink loop, …
        return _MOVE_IT
    if code == errno.ENAMETOOLONG:
        longest = max((len(os.fsencode(part)) for part in where.split("/")), default=0)
        if longest <= name_max(folder):  # each name fits: the whole path is past PATH_MAX
            return "the path is too long: use a shorter --models-dir, or a shorter dest"
        return (
            f"names there must be at most {name_max(folder)} bytes: rename the asset's dest in "
            "the manifest"
        )
    if code in (errno.EMFILE, errno.ENFILE):
        return (
            "raise the open-file limit (`ulimit -n`; a container's `--ulimit nofile=`), or "
            "lower --jobs and --connections"
        )
    if code == errno.EFBIG:
        return (
            "the file is larger than this filesystem (FAT32: 4 GiB) or `ulimit -f` allows: use "
            "another filesystem for the models, or raise the limit"
        )
    return (
        f"the disk or network filesystem holding {folder} failed: check it (dmesg, the NFS / "
        "FUSE mount), then run the same command again; partial downloads resume"
    )


def _in_the_way(path: str) -> str | None:
    """What stands where `path` needs a folder: the first component (from the root down) that is
    a file, a FIFO, a dangling symlink, … ; None when every existing component is a folder."""
    chain = [os.path.abspath(path)]
    while os.path.dirname(chain[-1]) != chain[-1]:
        chain.append(os.path.dirname(chain[-1]))
    for part in reversed(chain):
        try:
            st = os.lstat(part)
        except OSError:
            return None  # absent (or unreadable): nothing stands in the way from here down
        if stat.S_ISLNK(st.st_mode):
            try:
                st = os.stat(part)
            except FileNotFoundError:
                return f"{part} is a symlink to {os.readlink(part)}, which does not exist"
            except OSError as exc:
                return f"{part} is a symlink that cannot be followed ({exc.strerror})"
        if not stat.S_ISDIR(st.st_mode):
            return f"{part} is {file_kind(st.st_mode)}, not a folder"
    return None


def file_kind(mode: int) -> str:
    """What a stat `mode` is, for a message: "a file", "a folder", "a FIFO (named pipe)", …"""
    kinds = ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symlink"),
             (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))  # fmt: skip
    return next((what for test, what in kinds if test(mode)), "not a regular file")


def nearest_existing(path: str) -> str:
    """`path` or its nearest ancestor that exists (what `statvfs` and `pathconf` can ask about)."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def mount_point(path: str) -> str:
    """The mount point holding `path`: the longest one in /proc/self/mounts above it (a bind
    mount of a sub-folder included, which `st_dev` cannot tell apart), else `path` itself."""
    import re  # not at the top: the no-op `ensure` path imports this module, and never `re`

    path = os.path.realpath(nearest_existing(path))
    best = ""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 2:
                    continue
                # octal escapes for space, tab, newline, backslash: proc_pid_mounts(5)
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) > len(best):
                    best = point
    except OSError:
        pass
    return best or path


def name_max(folder: str) -> int:
    """The longest file name, in bytes, that the filesystem of `folder` takes (255 on Linux's
    ext4, xfs, btrfs and tmpfs: `NAME_MAX`, torvalds/linux include/uapi/linux/limits.h @ v6.6)."""
    try:
        return os.pathconf(nearest_existing(folder), "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def printable(text: str) -> str:
    """`text` with control characters escaped, so a hostile value cannot break the one-line rule."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)
