"""Doctor's models-dir checks: filesystem and free space, writability, whether file locks work
(and only on this host, for NFS), and room for the selected stacks. Pure functions of
`machine.fs.FsReport`."""

from __future__ import annotations

from modelctl.doctor.model import Check, gib
from modelctl.machine.fs import FsReport


def fs_checks(fs: FsReport, needed: int | None = None, unknown: int = 0) -> list[Check]:
    mount = f"{fs.mount.fstype} mounted at {fs.mount.point}" if fs.mount else "filesystem unknown"
    where = str(fs.path) if fs.exists else f"{fs.path} (does not exist yet; created in {fs.probed})"
    free = gib(fs.free_bytes) if fs.free_bytes is not None else "? GiB"
    checks = [Check("models_dir", "ok", f"models dir {where}: {mount}, {free} free")]
    if not fs.writable:
        checks.append(
            Check(
                "models_dir.writable",
                "fail",
                f"cannot write in {fs.probed}: {fs.write_error}",
                "fix the folder's owner/permissions (containers: run as the volume's "
                "owner) or choose another --models-dir",
            )
        )
        return checks
    checks.append(Check("models_dir.writable", "ok", f"{fs.probed} is writable"))
    checks.append(_lock_check(fs))
    if needed is not None:
        checks.append(_space_check(fs, needed, unknown))
    return checks


def _lock_check(fs: FsReport) -> Check:
    if fs.lock == "works":
        if fs.host_local_locks:
            opts = ",".join(o for o in fs.mount.options if "lock" in o) if fs.mount else ""
            return Check(
                "models_dir.locks",
                "warn",
                f"file locks work between processes of this host only (NFS {opts})",
                "do not install into this folder from several hosts at once, or remount "
                "without nolock/local_lock",
            )
        return Check("models_dir.locks", "ok", "file locks work (two-process probe)")
    if fs.lock == "no-op":
        return Check(
            "models_dir.locks",
            "warn",
            "file locks are a no-op here: a second process took a held lock"
            + (f" ({fs.mount.fstype})" if fs.mount else ""),
            "avoid concurrent installs into this folder (downloads stay correct, "
            "but may be fetched twice); on NFS remount with locking",
        )
    if fs.lock == "untested":
        return Check("models_dir.locks", "skip", "file locks not tested")
    return Check(
        "models_dir.locks",
        "warn",
        f"file locks fail here: {fs.lock[len('error: ') :]}",
        "avoid concurrent installs into this folder; on NFS/Lustre enable locking",
    )


def _space_check(fs: FsReport, needed: int, unknown: int) -> Check:
    tail = f" (+{unknown} asset(s) of unknown size)" if unknown else ""
    if fs.free_bytes is not None and needed > fs.free_bytes:
        return Check(
            "models_dir.space",
            "fail",
            f"the selected stacks need {gib(needed)}{tail}, only {gib(fs.free_bytes)} free",
            "free space, or choose another --models-dir",
        )
    status = "warn" if unknown else "ok"
    if unknown and not needed:
        return Check(
            "models_dir.space",
            status,
            f"the size of {unknown} asset(s) to download is unknown; "
            f"{gib(fs.free_bytes or 0)} free",
            "pin `size:` in the manifest (modelctl lock) to check space exactly",
        )
    return Check(
        "models_dir.space",
        status,
        f"the selected stacks need {gib(needed)} more{tail}; {gib(fs.free_bytes or 0)} free",
        "pin `size:` in the manifest (modelctl lock) to check space exactly" if unknown else None,
    )
