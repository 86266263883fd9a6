"""The models dir's filesystem: type and mount options, free space, writability, and working locks.

Locks are probed the way they are used: `filelock.FileLock` (fcntl.flock on POSIX) held by this
process while a second, real process tries to take the same lock; it must be refused while held
and granted once released. That catches a lock that is silently a no-op (e.g. flock patched out,
some FUSE/SMB mounts) or that raises (Lustre ENOSYS, NFS ENOLCK). One host cannot see whether a
network filesystem shares locks *between hosts*, so NFS mounts with `nolock` / `local_lock=…`
are reported from their mount options (read from /proc/self/mountinfo).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "fuse.sshfs", "9p", "ceph")
NFS_LOCAL_LOCK_OPTIONS = ("nolock", "local_lock=all", "local_lock=flock")
LOCK_PROBE_TIMEOUT_S = 30.0

# The second process of the lock probe: one attempt per line on stdin, one verdict per line out.
_CHILD = r"""
import sys
from filelock import FileLock, Timeout
lock = FileLock(sys.argv[1], timeout=0)
for _ in sys.stdin:
    try:
        lock.acquire()
    except Timeout:
        verdict = "blocked"
    except OSError as exc:
        verdict = "error " + type(exc).__name__ + ": " + str(exc)
    else:
        lock.release()
        verdict = "acquired"
    print(verdict, flush=True)
"""


@dataclass(frozen=True)
class Mount:
    """The mount a path lives on (from /proc/self/mountinfo)."""

    point: str
    fstype: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class FsReport:
    """What doctor learns about the models dir."""

    path: Path
    probed: Path  # the dir actually probed: `path`, or its nearest existing parent
    exists: bool
    mount: Mount | None
    free_bytes: int | None
    writable: bool
    write_error: str | None = None
    lock: str = "untested"  # works | no-op | error: … | untested

    @property
    def network(self) -> bool:
        return bool(self.mount and self.mount.fstype.startswith(NETWORK_FS))

    @property
    def host_local_locks(self) -> bool:
        """NFS mounted so that locks are local to this host (nolock / local_lock=…)."""
        if not self.mount or not self.mount.fstype.startswith("nfs"):
            return False
        return any(o in NFS_LOCAL_LOCK_OPTIONS for o in self.mount.options)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts from /proc/self/mountinfo text (proc(5)): mount point is field 5, then after ` - `
    the fstype, source and super options; per-mount options are field 6."""
    mounts = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 6 or not rest:
            continue
        options = fields[5].split(",") + (rest[2].split(",") if len(rest) > 2 else [])
        mounts.append(Mount(_unescape(fields[4]), rest[0], tuple(options)))
    return mounts


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (`\\040`)."""
    for code in ("040", "011", "012", "134"):
        text = text.replace("\\" + code, chr(int(code, 8)))
    return text


def mount_of(path: Path, mountinfo: str | None = None) -> Mount | None:
    """The mount holding `path`: the longest mount point that is a parent of it."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text("utf-8", errors="replace")
        except OSError:
            return None
    best: Mount | None = None
    target = str(path)
    for mount in parse_mountinfo(mountinfo):
        point = mount.point.rstrip("/") or "/"
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.point.rstrip("/") or "/")):
            best = mount
    return best


def nearest_existing(path: Path) -> Path:
    """`path` or its closest existing parent (a models dir may not exist before the first
    install)."""
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe


def probe_dir(path: Path, mountinfo: str | None = None) -> FsReport:
    """Probe the models dir (or, if it does not exist yet, the parent it would be created in)."""
    path = path.absolute()
    probed = nearest_existing(path)
    mount = mount_of(probed.resolve(), mountinfo)
    try:
        free: int | None = shutil.disk_usage(probed).free
    except OSError:
        free = None
    writable, error = check_writable(probed)
    lock = lock_works(probed) if writable else "untested"
    return FsReport(path, probed, path.exists(), mount, free, writable, error, lock)


def check_writable(directory: Path) -> tuple[bool, str | None]:
    """Create, write, fsync and delete a uniquely named file in `directory`."""
    try:
        fd, name = tempfile.mkstemp(prefix=".modelctl-doctor-", suffix=".probe", dir=directory)
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc.strerror or exc}"
    try:
        os.write(fd, b"modelctl doctor write probe\n")
        os.fsync(fd)
        return True, None
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc.strerror or exc}"
    finally:
        os.close(fd)
        Path(name).unlink(missing_ok=True)


def lock_works(directory: Path, timeout: float = LOCK_PROBE_TIMEOUT_S) -> str:
    """Two-process lock probe in `directory`: `works`, `no-op`, or `error: …`."""
    from filelock import FileLock

    fd, name = tempfile.mkstemp(prefix=".modelctl-doctor-", suffix=".lock", dir=directory)
    os.close(fd)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = FileLock(name, timeout=0)
        try:
            lock.acquire()
        except OSError as exc:
            return f"error: {type(exc).__name__}: {exc}"
        try:
            while_held = _ask_child(child, timeout)
        finally:
            lock.release()
        after_release = _ask_child(child, timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"error: the second process did not answer ({type(exc).__name__})"
    finally:
        _stop(child)
        Path(name).unlink(missing_ok=True)
    if while_held.startswith("error") or after_release.startswith("error"):
        return "error: " + (while_held if while_held.startswith("error") else after_release)[6:]
    if while_held == "acquired":
        return "no-op"
    if after_release != "acquired":
        return f"error: lock still refused after release ({after_release})"
    return "works"


def _ask_child(child: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert child.stdin and child.stdout  # lock_works opens both as PIPEs
    child.stdin.write("try\n")
    child.stdin.flush()
    with selectors.DefaultSelector() as sel:
        sel.register(child.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise subprocess.TimeoutExpired("lock probe", timeout)
    line = child.stdout.readline().strip()
    if not line:
        err = (child.stderr.read() if child.stderr else "").strip().splitlines()
        return "error " + (err[-1] if err else "the probe process exited")
    return line


def _stop(child: subprocess.Popen[str]) -> None:
    try:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        child.kill()
        child.wait()
