"""Will it fit? Bytes still needed per filesystem, against free space minus a safety margin.

Checked before the first byte moves (huggingface_hub only warns: `_check_disk_space` in
src/huggingface_hub/file_download.py @ v2.4.0). Downloads land in
`<models>/.modelctl/partial/`, so each file needs `size - bytes its partial already holds` there; a
destination folder on another filesystem (a mount or symlink under the models dir) also needs a full
copy of the file on its own filesystem, since publishing there is copy-to-temp + rename. Files of
unknown size count as 0 and are listed, so the verdict says what it could not count.

Inodes count too: a volume of many small files (or a tmpfs with `nr_inodes=`) can have free
bytes and no free inodes, and then every create fails with ENOSPC. Each download needs about
`INODES_PER_FILE` on the partials' filesystem (and 2 more where a copy is staged), plus one per
folder still to be created; a filesystem that reports no inode limit (`f_files` 0, e.g. btrfs)
is not checked.

The margin keeps the volume usable for everything else: `--min-free` takes bytes (`500M`, `2GiB`)
or a percentage of the filesystem (`5%`); the default is the smaller of 1 GiB and 2 %, so a small
test volume is not refused for want of a gigabyte of headroom.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelctl.errors import BadInput, DiskFull
from modelctl.units import GIB, human_size

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 10**6, "mb": 10**6,
          "mib": 1 << 20, "g": 10**9, "gb": 10**9, "gib": GIB, "t": 10**12, "tb": 10**12,
          "tib": 1 << 40}  # fmt: skip
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


# the partial's data and state, the state's temporary copy, the receipt and its temporary copy, a
# lock: what one download creates on the partials' filesystem (folders and older locks aside)
INODES_PER_FILE = 6


@dataclass(frozen=True)
class Need:
    """One file's claim on one filesystem."""

    label: str
    size: int | None
    held: int = 0
    inodes: int = INODES_PER_FILE

    @property
    def bytes(self) -> int:
        return max(0, (self.size or 0) - self.held)


@dataclass
class FsVerdict:
    device: int
    path: Path
    free: int
    total: int
    margin: int
    needs: list[Need] = field(default_factory=list)
    inodes_free: int | None = None  # None: the filesystem reports no inode limit
    new_folders: int = 0  # folders the downloads create here (an inode each)

    @property
    def needed(self) -> int:
        return sum(n.bytes for n in self.needs)

    @property
    def inodes_needed(self) -> int:
        return sum(n.inodes for n in self.needs) + self.new_folders

    @property
    def inodes_short(self) -> int:
        if self.inodes_free is None:
            return 0
        return max(0, self.inodes_needed - self.inodes_free)

    @property
    def ok(self) -> bool:
        return self.shortfall == 0 and self.inodes_short == 0

    @property
    def shortfall(self) -> int:
        return max(0, self.needed + self.margin - self.free)

    @property
    def unknown(self) -> list[str]:
        return [n.label for n in self.needs if n.size is None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "free": self.free,
            "needed": self.needed,
            "margin": self.margin,
            "shortfall": self.shortfall,
            "inodes_free": self.inodes_free,
            "inodes_needed": self.inodes_needed,
            "ok": self.ok,
            "unknown_sizes": self.unknown,
            "files": [{"file": n.label, "size": n.size, "held": n.held} for n in self.needs],
        }


def parse_min_free(value: str | None) -> tuple[int | None, float | None]:
    """`--min-free` -> (bytes, fraction); (None, None) is the default rule."""
    if value is None or value == "":
        return None, None
    text = value.strip()
    if text.endswith("%"):
        try:
            pct = float(text[:-1])
        except ValueError:
            pct = -1
        if not 0 <= pct < 100:
            raise BadInput(f"--min-free {value}: not a percentage", "write e.g. 2% or 5%")
        return None, pct / 100
    m = _SIZE_RE.match(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise BadInput(f"--min-free {value}: not a size", "write e.g. 500M, 2GiB or 5%")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()]), None


def margin_for(total: int, min_free: str | None) -> int:
    size, fraction = parse_min_free(min_free)
    if size is not None:
        return size
    if fraction is not None:
        return int(total * fraction)
    return min(GIB, int(total * 0.02))


def existing(path: Path) -> Path:
    """`path` or its nearest existing ancestor (what statvfs can ask about)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def plan_space(
    claims: list[tuple[Path, Need]], min_free: str | None = None, folders: Iterable[Path] = ()
) -> list[FsVerdict]:
    """Group `(where it is written, need)` by filesystem and compare with free space; `folders`
    the downloads write in, those that do not exist yet counted as an inode each."""
    out: dict[int, FsVerdict] = {}
    for where, need in claims:
        base = existing(where)
        dev = base.stat().st_dev
        if dev not in out:
            st = os.statvfs(base)
            total = st.f_blocks * st.f_frsize
            out[dev] = FsVerdict(
                dev, base, st.f_bavail * st.f_frsize, total, margin_for(total, min_free),
                inodes_free=st.f_favail if st.f_files > 0 else None,
            )  # fmt: skip
        out[dev].needs.append(need)
    for folder in _missing(folders):
        verdict = out.get(existing(folder).stat().st_dev)
        if verdict is not None:
            verdict.new_folders += 1
    return list(out.values())


def _missing(folders: Iterable[Path]) -> set[Path]:
    """Every folder of `folders`, and every ancestor of one, that does not exist yet."""
    out: set[Path] = set()
    for folder in folders:
        path = folder.absolute()
        while path not in out and not path.exists() and path != path.parent:
            out.add(path)
            path = path.parent
    return out


def check(verdicts: list[FsVerdict]) -> None:
    """Raise DiskFull naming each file's size, the free space and the shortfall (of bytes, or of
    inodes)."""
    bad = [v for v in verdicts if v.shortfall]
    if not bad:
        _check_inodes(verdicts)
        return
    v = bad[0]
    files = ", ".join(f"{n.label} {human_size(n.bytes)}" for n in v.needs if n.bytes)
    raise DiskFull(
        f"not enough space on {v.path}: need {human_size(v.needed)} ({files}) + "
        f"{human_size(v.margin)} margin, free {human_size(v.free)}, "
        f"short by {human_size(v.shortfall)}",
        "free space, use a larger volume (--models-dir), or lower the margin with --min-free",
    )


def _check_inodes(verdicts: list[FsVerdict]) -> None:
    short = [v for v in verdicts if v.inodes_short]
    if short:
        v = short[0]
        raise DiskFull(
            f"not enough free inodes on {v.path}: {len(v.needs)} download(s) need about "
            f"{v.inodes_needed}, {v.inodes_free} free",
            "delete files there, or use a filesystem with more inodes (tmpfs `nr_inodes=`, ext4 "
            "`mkfs.ext4 -N`)",
        )


def same_fs(a: Path, b: Path) -> bool:
    return existing(a).stat().st_dev == existing(b).stat().st_dev
