"""Benchmark: `modelctl ensure` with nothing to do, as a whole process, against a bare interpreter.

This is the cost every container start pays. The stack is six installed assets (sparse multi-GiB
files with receipts, as a pull leaves them), so the numbers reflect stat-only checking, not reading.
Compared side by side in one run, interleaved, same interpreter:

  * `python -c pass`                       the floor: interpreter start alone
  * `modelctl` (console-script entry)      `from modelctl.cli.main import main; main()`
  * `python -m modelctl ensure`            the same through runpy
  * `modelctl comfyui-paths --write`       the hook's second step
  * the whole `docker/entrypoint-hook.sh`  both steps under `sh`, then `exec true`
  * slow path (cache removed each run)     what ensure costs without the fast path (reference)

Prints median / p90 wall time, peak RSS (GNU time), the ratio to the bare interpreter, the
targets (<= 0.25 s and <= 8x bare) and a `-X importtime` breakdown of the fast path.

    python bench/ensure.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modelctl.units import GIB  # noqa: E402
from tests.helpers.probe import HEAVY  # noqa: E402
from tests.helpers.stack import fake_stack  # noqa: E402

SIZES = [int(11.5 * GIB), int(7.6 * GIB), 320 << 20, int(4.9 * GIB), int(1.2 * GIB), 160 << 20]
TARGET_S = 0.25
TARGET_RATIO = 8.0


def timed(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, int]:
    """Wall seconds and exit code of one run of `cmd`."""
    start = time.perf_counter()
    code = subprocess.call(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start, code


def peak_rss_kib(cmd: list[str], env: dict[str, str], cwd: str) -> int | None:
    """Peak RSS of `cmd` through GNU time.

    Not from our own wait4: a child forked from this (larger) interpreter inherits its high-water
    mark across exec, which would report this process's size instead of the child's.
    """
    gnu_time = "/usr/bin/time" if os.path.exists("/usr/bin/time") else shutil.which("time")
    if gnu_time is None:
        return None
    proc = subprocess.run([gnu_time, "-f", "RSS=%M", *cmd], env=env, cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip
    lines = [x for x in proc.stderr.splitlines() if x.startswith("RSS=")]
    return int(lines[-1][4:]) if lines else None


def importtime(cmd: list[str], env: dict[str, str], cwd: str) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) of top-level imports, from `python -X importtime`."""
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env, cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:") :].split("|")
        rows.append((int(self_us), int(cum_us), name.rstrip()[1:]))  # keep the nesting indent
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modelctl-bench-ensure-") as tmp:
        root = Path(tmp)
        models, manifests = root / "models", root / "manifests"
        fake_stack(models, manifests, name="stack", n=6, size=SIZES)
        env = dict(os.environ)
        env.update(
            PYTHONPATH=str(REPO),
            MODELCTL_MODELS_DIR=str(models),
            MODELCTL_MANIFESTS=str(manifests),
            MODELCTL_ENSURE="stack",
            HF_HUB_OFFLINE="1",
            HF_HOME=str(root / "hf_home"),
            MODELCTL_BIN=f"{sys.executable} -m modelctl",
            MODELCTL_COMFYUI_PATHS=str(root / "hook-paths.yaml"),
        )
        py = sys.executable
        cache = models / ".modelctl" / "ensure-cache.json"
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "modelctl ensure (entry point)": [
                py, "-c", "import sys; from modelctl.cli.main import main; sys.exit(main())",
                "ensure",
            ],
            "python -m modelctl ensure": [py, "-m", "modelctl", "ensure"],
            "modelctl comfyui-paths --write": [
                py, "-m", "modelctl", "comfyui-paths", "--write", str(root / "paths.yaml"),
            ],
            "entrypoint hook (sh, cmd `true`)": [
                "sh", str(REPO / "docker" / "entrypoint-hook.sh"), "true",
            ],
        }  # fmt: skip
        slow = [py, "-m", "modelctl", "ensure"]

        # prime: the first run is the slow path; it writes the cache; warm the page cache/pyc too
        first = subprocess.run(slow, env=env, cwd=tmp, capture_output=True, text=True)
        if first.returncode != 0:
            sys.stderr.write(first.stderr)
            return 1
        print(first.stdout.strip())
        for cmd in cases.values():
            timed(cmd, env, tmp)

        results: dict[str, list[float]] = {name: [] for name in cases}
        results["slow path (no cache)"] = []
        for i in range(args.runs):
            for name, cmd in cases.items():
                wall, code = timed(cmd, env, tmp)
                assert code == 0, f"{name} exited {code}"
                results[name].append(wall)
            if i < max(5, args.runs // 3):
                cache.unlink()
                wall, code = timed(slow, env, tmp)
                assert code == 0, f"slow path exited {code}"
                results["slow path (no cache)"].append(wall)
        rss = {name: peak_rss_kib(cmd, env, tmp) for name, cmd in cases.items()}
        cache.unlink()
        rss["slow path (no cache)"] = peak_rss_kib(slow, env, tmp)

        bare = statistics.median(results["python -c pass"])
        print(f"\nno-op ensure of a 6-asset stack ({sum(SIZES) / GIB:.1f} GiB, sparse), "
              f"{args.runs} interleaved runs, {py} {sys.version.split()[0]}")  # fmt: skip
        print(f"{'case':34} {'median s':>9} {'p90 s':>7} {'x bare':>7} {'peak RSS MiB':>13}")
        for name, rows in results.items():
            walls = sorted(rows)
            med = statistics.median(walls)
            p90 = walls[min(len(walls) - 1, int(0.9 * len(walls)))]
            mib = f"{rss[name] / 1024:.1f}" if rss[name] else "n/a"
            print(f"{name:34} {med:9.3f} {p90:7.3f} {med / bare:7.1f} {mib:>13}")

        fast = statistics.median(results["modelctl ensure (entry point)"])
        ok = fast <= TARGET_S and fast / bare <= TARGET_RATIO
        print(f"\ntarget: <= {TARGET_S} s and <= {TARGET_RATIO:.0f}x bare -> "
              f"{fast:.3f} s, {fast / bare:.1f}x: {'PASS' if ok else 'FAIL'}")  # fmt: skip

        rows = importtime(cases["python -m modelctl ensure"], env, tmp)
        base = {name for _, _, name in importtime(cases["python -c pass"], env, tmp)}
        ours = [r for r in rows if r[2].strip() not in base]
        print(
            "\nfast path imports beyond a bare interpreter (-X importtime, top level, cumulative):"
        )
        top = [r for r in ours if not r[2].startswith(" ")]
        for _self_us, cum_us, name in sorted(top, key=lambda r: -r[1])[:15]:
            print(f"  {cum_us / 1000:7.1f} ms  {name}")
        print(f"  {sum(r[0] for r in ours) / 1000:7.1f} ms  total ({len(ours)} modules)")
        heavy = sorted({r[2].strip().split(".")[0] for r in rows} & set(HEAVY))
        print(f"heavy modules imported: {heavy or 'none'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
