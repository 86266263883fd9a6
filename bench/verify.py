"""Verify throughput: `verify --full` (parallel sha256 + xxh3) vs `sha256sum` vs one-thread hashlib,
and the fast (stat-only) verify of 200 sparse multi-GB files.

Run from the repo root: `python bench/verify.py [--files 4] [--size-mib 512] [--runs 3]
[--sparse 200]`. Every contender runs in its own process on the same hot page cache and is measured
by wall time and peak RSS (`wait4` rusage); the Python contenders also report their own hashing
time (without interpreter start-up). Targets (issue 6): full verify >= 1.6x single-threaded hashlib
on a 2-core machine; fast verify of 200 files < 50 ms in-process. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache" / "verify"

HASHLIB_SCRIPT = r"""
import hashlib, json, sys, time
t = time.perf_counter()
buf = bytearray(4 << 20); view = memoryview(buf)
for path in sys.argv[1:]:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
print(json.dumps({"inner": time.perf_counter() - t}))
"""

VERIFY_SCRIPT = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
from modelctl.store.layout import Layout
from modelctl.store.verify import targets_for_receipts, verify
layout = Layout(__import__("pathlib").Path({root!r}))
t = time.perf_counter()
verdicts = verify(layout, targets_for_receipts(layout), {mode!r})
inner = time.perf_counter() - t
assert all(v.ok for v in verdicts), [v for v in verdicts if not v.ok]
print(json.dumps({{"inner": inner}}))
"""

FAST_SCRIPT = r"""
import json, os, statistics, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from modelctl.store.layout import Layout
from modelctl.store.verify import targets_for_receipts, verify
layout = Layout(Path({root!r}))
verify(layout, targets_for_receipts(layout), "fast")  # imports and first touch
times, floor = [], []
for _ in range(20):
    t = time.perf_counter()
    verdicts = verify(layout, targets_for_receipts(layout), "fast")
    times.append(time.perf_counter() - t)
    t = time.perf_counter()
    for v in verdicts:
        os.stat(layout.dest(v.dest))
    floor.append(time.perf_counter() - t)
assert len(verdicts) == {n} and all(v.ok for v in verdicts)
print(json.dumps({{"median": statistics.median(times), "floor": statistics.median(floor)}}))
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS MiB of this process alone, the JSON the command printed or {})."""
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        out = proc.stdout.read()  # type: ignore[union-attr]
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{cmd[0]} failed: {err.read().decode()[-2000:]}")
    try:
        data = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        data = {}
    return wall, usage.ru_maxrss / 1024, data


MAKE_SCRIPT = r"""
import os, sys
size = int(sys.argv[1])
block = os.urandom(64 << 20)
for i, path in enumerate(sys.argv[2:]):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path) and os.path.getsize(path) == size:
        continue
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            fh.write(bytes([i]) + chunk[1:])  # distinct per file
            left -= len(chunk)
"""


def make_files(count: int, size: int) -> list[Path]:
    """`count` random files of `size` bytes, cached between runs; made in a child process so
    this process's peak RSS (inherited by every contender it starts) stays small."""
    paths = [CACHE / f"models/unet/random-{i}-{size}.bin" for i in range(count)]
    subprocess.run([sys.executable, "-c", MAKE_SCRIPT, str(size), *map(str, paths)], check=True)
    return paths


def write_receipts(root: Path, paths: list[Path], sha: dict[Path, str] | None) -> None:
    sys.path.insert(0, str(REPO))
    from modelctl.store import receipts
    from modelctl.store.layout import Layout
    from modelctl.store.receipts import Receipt

    layout = Layout(root)
    for p in paths:
        dest = p.relative_to(root).as_posix()
        old = receipts.read(layout, dest)
        if old is not None and old.matches(p.stat()) and (sha is None or old.sha256 == sha[p]):
            continue
        digest = sha[p] if sha else "0" * 64
        receipts.write(layout, Receipt.for_file(p, dest=dest, source=f"file://{p}", sha256=digest))


def sha_of(paths: list[Path]) -> dict[Path, str]:
    out = subprocess.run(
        ["sha256sum", *map(str, paths)], capture_output=True, text=True, check=True
    )
    return {Path(line.split("  ", 1)[1]): line.split()[0] for line in out.stdout.splitlines()}


def full_table(count: int, size: int, runs: int) -> None:
    paths = make_files(count, size)
    root = CACHE / "models"
    sha = sha_of(paths)  # also warms the page cache
    write_receipts(root, paths, sha)
    py = sys.executable
    contenders = {
        "sha256sum": [["sha256sum", *map(str, paths)]],
        "hashlib 1 thread": [[py, "-c", HASHLIB_SCRIPT, *map(str, paths)]],
        "modelctl verify --full": [
            [py, "-c", VERIFY_SCRIPT.format(repo=str(REPO), root=str(root), mode="full")]
        ],
        "modelctl verify --quick": [
            [py, "-c", VERIFY_SCRIPT.format(repo=str(REPO), root=str(root), mode="quick")]
        ],
    }
    results: dict[str, list[tuple[float, float, dict]]] = {k: [] for k in contenders}
    for _ in range(runs):  # interleaved, so drift hits every contender alike
        for name, (cmd,) in contenders.items():
            results[name].append(timed(cmd))
    total_mb = count * size / 1e6
    print(f"\nfull verify: {count} x {size >> 20} MiB, hot cache, {len(os.sched_getaffinity(0))} cores, "
          f"median of {runs}")  # fmt: skip
    print(f"{'contender':<26}{'seconds':>9}{'MB/s':>9}{'peak RSS MiB':>14}")
    med: dict[str, float] = {}
    for name, rows in results.items():
        inner = [r[2].get("inner", r[0]) for r in rows]
        med[name] = statistics.median(inner)
        rss = max(r[1] for r in rows)
        print(f"{name:<26}{med[name]:>9.3f}{total_mb / med[name]:>9.0f}{rss:>14.0f}")
    full = med["modelctl verify --full"]
    print(f"ratio full verify vs hashlib 1 thread: {med['hashlib 1 thread'] / full:.2f}x "
          f"(target >= 1.6x)")  # fmt: skip
    print(f"ratio full verify vs sha256sum:        {med['sha256sum'] / full:.2f}x")
    print(f"ratio quick vs full verify:            {full / med['modelctl verify --quick']:.2f}x")


def fast_table(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="modelctl-bench-") as tmp:
        root = Path(tmp) / "models"
        paths = []
        for i in range(n):
            p = root / ("diffusion_models", "text_encoders", "vae", "loras")[i % 4] / f"m{i}.gguf"
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(p, "wb") as fh:
                fh.truncate((2 + i % 7) << 30)  # sparse, 2-8 GiB each
            paths.append(p)
        write_receipts(root, paths, None)
        total = sum(p.stat().st_size for p in paths)
        _, rss, data = timed(
            [sys.executable, "-c", FAST_SCRIPT.format(repo=str(REPO), root=str(root), n=n)]
        )
        pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        cli_env = {**os.environ, "PYTHONPATH": pythonpath, "MODELCTL_MODELS_DIR": str(root)}
        cli = [timed([sys.executable, "-m", "modelctl", "verify"], cli_env)[0] for _ in range(3)]
        print(f"\nfast verify: {n} sparse files, {total / 2**40:.2f} TiB apparent")
        print(f"in-process median:  {data['median'] * 1000:.1f} ms (target < 50 ms); "
              f"bare os.stat loop {data['floor'] * 1000:.1f} ms; peak RSS {rss:.0f} MiB")  # fmt: skip
        print(f"`modelctl verify` CLI wall (with interpreter start): "
              f"{statistics.median(cli) * 1000:.0f} ms")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sparse", type=int, default=200)
    ap.add_argument("--clean", action="store_true", help="delete the cached random files after")
    args = ap.parse_args()
    fast_table(args.sparse)
    full_table(args.files, args.size_mib << 20, args.runs)
    if args.clean:
        shutil.rmtree(CACHE, ignore_errors=True)


if __name__ == "__main__":
    main()
