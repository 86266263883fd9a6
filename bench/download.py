"""Download throughput: `modelctl pull` (sha256-verified) vs `curl -o` vs `hf_hub_download`.

Run from the repo root: `python bench/download.py [--size-mib 1024] [--capped-size-mib 1024]
[--rate-mbs 20] [--runs 3] [--dir DIR]`. The test hub (tests/helpers/hub.py) runs in its own
process so its CPU does not share our GIL; each client runs as its own process and is measured by
wall time, CPU time and peak RSS (`wait4` rusage). All of them fetch the same `/resolve/` URL of
the same file from the same hub process and follow its signed redirect to its CDN origin; each
writes into `--dir` (default: the system temp folder), the same filesystem for all.

Table 1: loopback, no cap; one warm-up round (page cache, .pyc files), then the median of
`--runs` rounds, each running every client once in turn. Table 2: the hub caps every connection
at `--rate-mbs` (a CDN's per-connection limit): curl and hf_hub_download use one connection,
modelctl opens more when its first stream is that slow (up to 8); one run each (the same file, already warm from table 1 when the sizes
match). Targets (issue 4): >= 0.8x curl and >= 1.5x hf_hub_download on table 1; >= 6x both on
table 2. This is a benchmark, not a test: nothing asserts on time.

`modelctl pull` makes the file durable before it publishes it (fsync, as the issue requires);
`curl -o` and `hf_hub_download` leave it in the page cache. So table 1 also shows
`curl -o + sync` and `hf_hub_download + sync` (then `sync FILE`): the same durability as ours.
On a disk slower than the network, durability costs the disk's write time whoever pays it;
`--dir /dev/shm` (tmpfs, where fsync is free) measures the transfer engines alone.
`curl | tee | sha256sum` is curl doing what `modelctl pull` does besides: hashing what it writes.
The line after table 1 gives the floor of every sha256-verified download: one sha256 pass over
the file (a single core; sha256 cannot be split).
"""

from __future__ import annotations

import argparse
import hashlib
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
CACHE = REPO / "bench" / ".cache"
EXTRA: list[str] = []  # extra `modelctl pull` arguments (--pull-args)
VERBOSE = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]  # each run's time on stderr

HUB_SCRIPT = r"""
import sys, json, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from tests.helpers.hub import TestHub
hub = TestHub().start()
hub.add_file("bench/repo", "model.gguf", Path({path!r}), sha256={sha!r})
rate = {rate!r}
if rate:
    hub.fault("bench/repo", "model.gguf", rate=rate)
print(json.dumps({{"endpoint": hub.endpoint}}), flush=True)
sys.stdin.read()
hub.stop()
"""

HF_SCRIPT = r"""
from huggingface_hub import hf_hub_download
hf_hub_download("bench/repo", "model.gguf", local_dir={out!r})
"""


def make_file(size: int) -> tuple[Path, str]:
    """A random (incompressible) file of `size` bytes, cached with its sha256."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"random-{size}.bin"
    meta = path.with_suffix(".sha256")
    if not (path.exists() and path.stat().st_size == size and meta.exists()):
        h = hashlib.sha256()
        with open(path, "wb") as fh:
            left = size
            while left:
                block = os.urandom(min(left, 1 << 20))  # small: children's peak RSS includes ours
                h.update(block)
                fh.write(block)
                left -= len(block)
        meta.write_text(h.hexdigest())
    return path, meta.read_text().strip()


def start_hub(path: Path, sha: str, rate: int | None) -> tuple[subprocess.Popen, str]:
    code = HUB_SCRIPT.format(repo=str(REPO), path=str(path), sha=sha, rate=rate)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    endpoint = json.loads(proc.stdout.readline())["endpoint"]
    return proc, endpoint


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run `cmd`; (seconds, peak RSS MiB, CPU seconds (user+sys) of that process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def clients(
    endpoint: str, work: Path, sha: str, durable_peer: bool
) -> dict[str, tuple[list[str], Path]]:
    url = f"{endpoint}/bench/repo/resolve/main/model.gguf"
    manifest = work / "bench.yaml"
    manifest.write_text(
        "schema: 1\nname: bench\ndescription: download benchmark\nassets:\n"
        "  - id: model\n    role: other\n    source: hf://bench/repo/model.gguf\n"
        f"    revision: main\n    dest: unet/model.gguf\n    sha256: {sha}\n"
    )
    ours = work / "models"
    synced = [
        "sh",
        "-c",
        'curl -sS -L -o "$1" "$2" && sync "$1"',
        "curl",
        str(work / "curl.bin"),
        url,
    ]
    hf_synced = [
        "sh",
        "-c",
        '"$1" -c "$2" && sync "$3"',
        "hf",
        sys.executable,
        HF_SCRIPT.format(out=str(work / "hf")),
        str(work / "hf" / "model.gguf"),
    ]
    hasher = "openssl dgst -sha256" if shutil.which("openssl") else "sha256sum"  # SHA-NI: openssl
    hashed = ["sh", "-c", f'curl -sS -L "$2" | tee "$1" | {hasher}', "curl",
              str(work / "curl.bin"), url]  # fmt: skip
    peers = (
        {
            "curl -o + sync": (synced, work / "curl.bin"),
            "hf_hub_download + sync": (hf_synced, work / "hf" / "model.gguf"),
            f"curl \\| tee \\| {hasher}": (hashed, work / "curl.bin"),
        }
        if durable_peer
        else {}
    )  # fmt: skip
    return {
        "modelctl pull": (
            [sys.executable, "-m", "modelctl", "pull", str(manifest), "--models-dir", str(ours),
             "--no-check", "--min-free", "0", *EXTRA],
            ours / "unet" / "model.gguf",
        ),
        "curl -o": (["curl", "-sS", "-L", "-o", str(work / "curl.bin"), url], work / "curl.bin"),
        "hf_hub_download": (
            [sys.executable, "-c", HF_SCRIPT.format(out=str(work / "hf"))],
            work / "hf" / "model.gguf",
        ),
        **peers,
    }  # fmt: skip


def table(
    size: int, rate: int | None, runs: int, warm: bool, where: str | None
) -> dict[str, tuple[float, float, float, float]]:
    path, sha = make_file(size)
    hub, endpoint = start_hub(path, sha, rate)
    work = Path(tempfile.mkdtemp(prefix="modelctl-bench-", dir=where))
    env = dict(os.environ)
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(work / "hf_home"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        NO_PROXY="127.0.0.1",
    )
    env.pop("HF_TOKEN", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure installed code (.pyc cached), not compiling
    runners = clients(endpoint, work, sha, rate is None)
    times: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    rss: dict[str, float] = dict.fromkeys(runners, 0.0)
    try:
        # rounds, each client once per round: a machine that speeds up or slows down over the
        # run (shared VMs do) shifts every client alike instead of the one that ran then
        for run in range(0 if warm else 1, runs + 1):  # round 0 warms the caches
            for name, (cmd, out) in runners.items():
                for leftover in (work / "models", work / "hf", work / "curl.bin"):
                    if leftover.is_dir():
                        shutil.rmtree(leftover)
                    elif leftover.exists():
                        leftover.unlink()
                seconds, peak, used = timed(cmd, env)
                if out.stat().st_size != size:
                    raise SystemExit(f"{name}: wrong size {out.stat().st_size}")
                if VERBOSE:
                    print(f"  round {run}: {name}: {seconds:.2f} s", file=sys.stderr)
                if run == 0:
                    continue
                times[name].append(seconds)
                cpu[name].append(used)
                rss[name] = max(rss[name], peak)
        results = {
            name: (statistics.median(times[name]), rss[name], statistics.median(cpu[name]),
                   min(times[name]))
            for name in runners
        }  # fmt: skip
    finally:
        assert hub.stdin is not None
        hub.stdin.close()
        hub.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return results


def show(title: str, size: int, results: dict[str, tuple[float, float, float, float]]) -> None:
    """Median and best run per client; speed-up = the client's time / modelctl's (> 1: faster)."""
    ours, our_best = results["modelctl pull"][0], results["modelctl pull"][3]
    print(f"\n{title}")
    print("| client | MB/s (median) | seconds | best s | CPU s | peak RSS MiB "
          "| modelctl speed-up (median) | (best) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, (seconds, rss, cpu, best) in results.items():
        mbs = size / seconds / 1e6
        print(f"| {name} | {mbs:,.0f} | {seconds:.2f} | {best:.2f} | {cpu:.2f} | {rss:.0f} "
              f"| {seconds / ours:.2f}x | {best / our_best:.2f}x |")  # fmt: skip


def sha256_floor(size: int) -> float:
    """Seconds for one sha256 pass over the benchmark file, from memory, on one core.

    A verified download cannot finish sooner (sha256 is sequential): on loopback, where curl
    moves more than a core hashes, this, not the network, bounds `modelctl pull`.
    """
    path, _ = make_file(size)
    code = (
        "import hashlib, sys, time\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "best = float('inf')\n"
        "for _ in range(3):\n"
        "    t = time.perf_counter(); hashlib.sha256(data).digest()\n"
        "    best = min(best, time.perf_counter() - t)\n"
        "print(best)\n"
    )  # in a child: a 1 GiB buffer here would count in every later child's peak RSS
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    return float(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--capped-size-mib", type=int, default=1024)
    ap.add_argument("--rate-mbs", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-capped", action="store_true")
    ap.add_argument("--skip-loopback", action="store_true")
    ap.add_argument("--dir", default=None, help="where the clients write (default: temp folder)")
    ap.add_argument("--pull-args", default="", help="extra arguments for modelctl pull")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run's time")
    args = ap.parse_args()
    EXTRA.extend(args.pull_args.split())
    where = args.dir or tempfile.gettempdir()
    fs = subprocess.run(["df", "--output=fstype", where], capture_output=True, text=True)
    fstype = fs.stdout.split()[-1] if fs.returncode == 0 else "?"
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, curl: {shutil.which('curl')},"
          f" writing to {where} ({fstype}), load {os.getloadavg()[0]:.2f}")  # fmt: skip
    if not args.skip_loopback:
        size = args.size_mib << 20
        show(f"1) loopback, {args.size_mib} MiB, median of {args.runs}", size,
             table(size, None, args.runs, True, args.dir))  # fmt: skip
        floor = sha256_floor(size)
        print(f"\nfloor for any sha256-verified download of this file here: one sha256 pass "
              f"from memory = {floor:.2f} s ({size / floor / 1e6:,.0f} MB/s, hashlib, one core)")  # fmt: skip
    if not args.skip_capped:
        size = args.capped_size_mib << 20
        rate = int(args.rate_mbs * 1e6)
        show(
            f"2) {args.rate_mbs:.0f} MB/s per connection, {args.capped_size_mib} MiB, one run",
            size,
            table(size, rate, 1, False, args.dir),
        )


if __name__ == "__main__":
    main()
