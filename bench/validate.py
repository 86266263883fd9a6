"""Benchmark: manifest validation time against manifest size (issue 16, item 12).

A generated manifest with 12 variant axes of two values each (4096 combinations, the most
`MAX_COMBINATIONS` allows) and N assets; each asset's source uses one axis, its dest two, and a
`when` filters on a third, so assets apply to different halves of the combinations (about 170
bytes per asset: 2000 assets are ~330 KB). Validation is timed in this process
(`parse_manifest`: YAML, field checks, every source/dest/revision expansion, dest collisions), and
`modelctl show` as a whole process for the largest size.

Prints, per size: bytes, best-of-R seconds, microseconds per asset and per KB, and the ratio of
the time to that of the smallest size divided by the ratio of sizes (1.0 = linear).

Measured on the 2-core development machine (shared): before (per-combination collision check)
100 / 1000 / 2000 assets took 0.79 / 11.4 / 34.9 s (x2.21 linear; `show` 37.5 s); after,
0.021 / 0.208 / 0.407 s (x0.99; `show` 1.9 s, most of it rich rendering 2000 table rows).

    python bench/validate.py [--sizes 100,1000,2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modelctl.manifest.validate import parse_manifest  # noqa: E402

AXES = [f"ax{i}" for i in range(12)]


def manifest(n: int) -> str:
    """A valid manifest of `n` assets over 12 two-valued axes (see the module docstring)."""
    out = ["schema: 1", "name: bench", "variants:"]
    out += [f"  {axis}: {{values: [v1, v2], default: v1}}" for axis in AXES]
    out.append("assets:")
    for i in range(n):
        a, b, c = AXES[i % 12], AXES[(i + 5) % 12], AXES[(i + 3) % 12]
        out += [
            f"  - id: asset-{i}",
            "    role: lora",
            f"    source: hf://org/repo-{i % 50}/lora-{i}-{{{a}}}.safetensors",
            f"    dest: loras/set-{i}/{{{a}}}-{{{b}}}.safetensors",
            f"    when: {{{c}: v1}}",
        ]
    return "\n".join(out) + "\n"


def best_of(data: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        parse_manifest(data)
        times.append(time.perf_counter() - start)
    return min(times)


def show_seconds(data: bytes) -> float:
    """Wall time of `python -m modelctl show FILE` (start-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_bytes(data)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "modelctl", "show", str(path), "--models-dir", tmp],
            cwd=REPO,
            capture_output=True,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"show failed: {proc.stderr.decode()[-500:]}")
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,2000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    print(
        f"{'assets':>7} {'bytes':>9} {'seconds':>9} {'us/asset':>9} {'us/KB':>8} {'vs linear':>9}"
    )
    base: tuple[int, float] | None = None
    for n in sizes:
        data = manifest(n).encode()
        seconds = best_of(data, args.repeat)
        base = base or (len(data), seconds)
        linear = (seconds / base[1]) / (len(data) / base[0])
        print(
            f"{n:>7} {len(data):>9} {seconds:>9.3f} {seconds / n * 1e6:>9.0f} "
            f"{seconds / (len(data) / 1024) * 1e6:>8.0f} {linear:>9.2f}"
        )
    largest = manifest(sizes[-1]).encode()
    print(f"modelctl show, {sizes[-1]} assets, whole process: {show_seconds(largest):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
