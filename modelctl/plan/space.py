"""Will it fit? Bytes still needed per filesystem, against free space minus a safety margin.

Checked before the first byte moves (huggingface_hub only warns: `_check_disk_space` in
src/huggingface_hub/file_download.py @ v2.4.0). Downloads land in
`<models>/.modelctl/partial/`, so each file needs `size - bytes its partial already holds` there; a
destination folder on another filesystem (a mount or symlink under the models dir) also needs a full
copy of the file on its own filesystem, since publishing there is copy-to-temp + rename. Files of
unknown size count as 0 and are listed, so the verdict says what it could not count.

The margin keeps the volume usable for everything else: `--min-free` takes bytes (`500M`, `2GiB`)
or a percentage of the filesystem (`5%`); the default is the smaller of 1 GiB and 2 %, so a small
test volume is not refused for want of a gigabyte of headroom.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelctl.errors import BadInput, DiskFull
from modelctl.units import GIB, human_size

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 10**6, "mb": 10**6,
          "mib": 1 << 20, "g": 10**9, "gb": 10**9, "gib": GIB, "t": 10**12, "tb": 10**12,
          "tib": 1 << 40}  # fmt: skip
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


@dataclass(frozen=True)
class Need:
    """One file's claim on one filesystem."""

    label: str
    size: int | None
    held: int = 0

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

    @property
    def needed(self) -> int:
        return sum(n.bytes for n in self.needs)

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
            "ok": self.shortfall == 0,
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


def plan_space(claims: list[tuple[Path, Need]], min_free: str | None = None) -> list[FsVerdict]:
    """Group `(where it is written, need)` by filesystem and compare with free space."""
    out: dict[int, FsVerdict] = {}
    for where, need in claims:
        base = existing(where)
        dev = base.stat().st_dev
        if dev not in out:
            st = os.statvfs(base)
            total = st.f_blocks * st.f_frsize
            out[dev] = FsVerdict(
                dev, base, st.f_bavail * st.f_frsize, total, margin_for(total, min_free)
            )
        out[dev].needs.append(need)
    return list(out.values())


def check(verdicts: list[FsVerdict]) -> None:
    """Raise DiskFull naming each file's size, the free space and the shortfall."""
    bad = [v for v in verdicts if v.shortfall]
    if not bad:
        return
    v = bad[0]
    files = ", ".join(f"{n.label} {human_size(n.bytes)}" for n in v.needs if n.bytes)
    raise DiskFull(
        f"not enough space on {v.path}: need {human_size(v.needed)} ({files}) + "
        f"{human_size(v.margin)} margin, free {human_size(v.free)}, "
        f"short by {human_size(v.shortfall)}",
        "free space, use a larger volume (--models-dir), or lower the margin with --min-free",
    )


def same_fs(a: Path, b: Path) -> bool:
    return existing(a).stat().st_dev == existing(b).stat().st_dev
