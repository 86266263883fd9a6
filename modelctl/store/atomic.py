"""Replacing a small text file so that a reader (or a crash) sees the old content or the new one.

Lock files, generated manifests, ComfyUI's `extra_model_paths.yaml`, receipts and `ensure`'s cache
are all written the same way: to `.<name>.<pid>.tmp` beside the target (same filesystem, so the
rename is atomic; the leading dot and `.tmp` are what `gc` and `status` recognise as leftovers),
then renamed over it. For a long `<name>` the temporary name is cut to fit NAME_MAX
(`names.fit_name`): a target the filesystem takes never fails for want of a temporary name.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from modelctl.store.names import NAME_MAX, fit_name


def write_text(
    path: str | os.PathLike[str], text: str, *, mode: int | None = None, durable: bool = True
) -> None:
    """Atomically replace `path` with `text` (UTF-8).

    `durable`: fsync before the rename, for files people keep (a power cut must not leave an empty
    lock file); modelctl's own rebuildable state skips it. `mode`: the new file's permissions
    (default 0o644 before the umask). Raises OSError; the temporary file never outlives a failure.
    """
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, "." + fit_name(name, f".{os.getpid()}.tmp", NAME_MAX - 1))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644 if mode is None else mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)  # the umask may have narrowed it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename in it survives a crash (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
