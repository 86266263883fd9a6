"""`modelctl pull` acceptance (issue 4), end to end: the real CLI in a subprocess, the real
huggingface_hub client against the loopback test hub (separate CDN origin, signed redirects,
Range, fault injection), real files, real concurrent processes. Offline: HF_ENDPOINT points at the
hub and HF_HOME is temporary in every run. A random HF_TOKEN is set in every run and must never
appear in any output, receipt or partial state.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelctl.store.layout import Layout
from tests.helpers import inotify
from tests.helpers.cli import Result, cli_env, run_cli
from tests.helpers.hub import TestHub
from tests.helpers.tmpfs import small_tmpfs

REPO = "org/models"
TOKEN = "hf_" + secrets.token_hex(16)
# for tests that prove a retry happens, not how long its wait is: every wait at most 50 ms
QUICK_RETRIES = {"MODELCTL_RETRY_MAX_DELAY": "0.05"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(tmp: Path, *assets: dict[str, str]) -> Path:
    lines = ["schema: 1", "name: t", "description: pull test", "assets:"]
    for i, a in enumerate(assets):
        lines.append(f"  - id: a{i}")
        lines.append(f"    role: {a.get('role', 'other')}")
        for key in ("source", "revision", "dest", "sha256", "allow_pickle"):
            if key in a:
                lines.append(f"    {key}: {a[key]}")
    path = tmp / "stack.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Puller:
    """Runs `modelctl pull` against one hub and models dir, checking every output for the token."""

    def __init__(self, hub: TestHub, tmp: Path) -> None:
        self.hub, self.tmp = hub, tmp
        self.models = tmp / "models"
        hub.add_token(TOKEN)
        self.outputs: list[str] = []

    def env(self, **extra: str) -> dict[str, str]:
        return self.hub.env(self.tmp, token=TOKEN, **extra)

    def args(self, man: Path, *extra: str) -> list[str]:
        """`pull MAN` into this models dir, without the compatibility check, plus `extra`."""
        return ["pull", str(man), "--models-dir", str(self.models), "--no-check", *extra]

    def command(self, man: Path, *extra: str) -> list[str]:
        """The same as a full command line, for a process the test starts and watches itself."""
        return [sys.executable, "-m", "modelctl", *self.args(man, *extra)]

    def pull(self, man: Path, *args: str, env: dict[str, str] | None = None) -> Result:
        r = run_cli(*self.args(man, *args), env=env or self.env(), timeout=120)
        self.outputs += [r.out, r.err]
        assert TOKEN not in r.out + r.err
        assert not re.search(r"X-Amz-Signature=(?!<redacted>)", r.out + r.err)
        return r

    def file(self, dest: str) -> Path:
        return self.models / dest

    def state_files(self) -> list[Path]:
        state = self.models / ".modelctl"
        return [p for p in state.rglob("*") if p.is_file()] if state.exists() else []

    def no_secrets_on_disk(self) -> None:
        for p in self.state_files():
            if p.suffix in (".json",):
                assert TOKEN not in p.read_text()


@pytest.fixture
def puller(hub: TestHub, tmp_path: Path) -> Iterator[Puller]:
    p = Puller(hub, tmp_path)
    yield p
    p.no_secrets_on_disk()


def add(hub: TestHub, path: str, size: int = 3_000_000, repo: str = REPO) -> bytes:
    data = os.urandom(size)
    hub.add_file(repo, path, data)
    return data


def hf_asset(path: str, dest: str, **extra: str) -> dict[str, str]:
    return {"source": f"hf://{REPO}/{path}", "dest": dest, **extra}


# --- the happy path and idempotence -----------------------------------------------------------


def test_first_pull_places_file_and_receipt_second_transfers_nothing(puller, hub, tmp_path):
    data = add(hub, "vae/ae.safetensors")
    man = manifest(tmp_path, hf_asset("vae/ae.safetensors", "vae/ae.safetensors", role="vae"))
    r = puller.pull(man)
    assert r.code == 0, r.err
    placed = puller.file("vae/ae.safetensors")
    assert sha(placed.read_bytes()) == sha(data)
    receipt = json.loads(Layout(puller.models).receipt("vae/ae.safetensors").read_text())
    assert receipt["sha256"] == sha(data)
    assert receipt["commit"] == hub.commit(REPO)
    assert receipt["size"] == len(data)
    assert receipt["inode"] == placed.stat().st_ino
    assert not list((puller.models / ".modelctl/partial").glob("*.part"))
    # the token reached the hub, never the CDN
    assert any(e.auth for e in hub.requests("hub"))
    assert not any(e.auth for e in hub.requests("cdn"))

    hub.clear_log()
    r = puller.pull(man)
    assert r.code == 0, r.err
    assert hub.gets("vae/ae.safetensors") == []
    assert hub.bytes_served("vae/ae.safetensors") == 0


def test_commit_pinned_installed_file_needs_no_request(puller, hub, tmp_path):
    add(hub, "unet/m.gguf")
    commit = hub.commit(REPO)
    man = manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf", revision=commit))
    assert puller.pull(man).code == 0
    hub.clear_log()
    r = puller.pull(man, "--json")
    assert r.code == 0, r.err
    assert hub.requests() == []
    events = [json.loads(line) for line in r.out.splitlines()]
    assert events[-1]["event"] == "summary"
    assert events[-1]["items"][0]["state"] == "present"


def test_dry_run_downloads_nothing_and_prints_the_verdict(puller, hub, tmp_path):
    add(hub, "vae/ae.safetensors")
    man = manifest(tmp_path, hf_asset("vae/ae.safetensors", "vae/ae.safetensors"))
    r = puller.pull(man, "--dry-run")
    assert r.code == 0, r.err
    assert "download" in r.out and "vae/ae.safetensors" in r.out and "free" in r.out
    assert hub.gets("vae/ae.safetensors") == []
    assert not puller.file("vae/ae.safetensors").exists()


def test_unmanaged_file_is_never_overwritten_without_force(puller, hub, tmp_path):
    data = add(hub, "vae/ae.safetensors")
    man = manifest(tmp_path, hf_asset("vae/ae.safetensors", "vae/ae.safetensors"))
    mine = puller.file("vae/ae.safetensors")
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own file")
    r = puller.pull(man)
    assert r.code == 1
    assert r.err.startswith("error: ") and "--force" in r.err
    assert mine.read_bytes() == b"my own file"
    r = puller.pull(man, "--force")
    assert r.code == 0, r.err
    assert sha(mine.read_bytes()) == sha(data)


# --- network faults -----------------------------------------------------------------------------


def test_connection_dropped_at_40_percent_resumes_in_the_same_run(puller, hub, tmp_path):
    data = add(hub, "unet/m.gguf")
    hub.fault(REPO, "unet/m.gguf", drop_after=0.4, times=1)
    man = manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf"))
    r = puller.pull(man, env=puller.env(**QUICK_RETRIES))
    assert r.code == 0, r.err
    assert sha(puller.file("unet/m.gguf").read_bytes()) == sha(data)
    ranges = [e.range for e in hub.gets("unet/m.gguf", origin="cdn") if e.range]
    assert ranges and ranges[0].startswith("bytes=")
    assert hub.bytes_served("unet/m.gguf") <= len(data) * 1.05


def test_server_ignoring_range_still_gives_the_right_file(puller, hub, tmp_path):
    data = add(hub, "unet/m.gguf")
    hub.fault(REPO, "unet/m.gguf", ignore_range=True, drop_after=0.5, times=1)
    man = manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf"))
    r = puller.pull(man, env=puller.env(**QUICK_RETRIES))
    assert r.code == 0, r.err
    assert sha(puller.file("unet/m.gguf").read_bytes()) == sha(data)


def test_segmented_download_with_drops_and_ignored_range(puller, hub, tmp_path):
    data = add(hub, "unet/big.gguf", size=9 << 20)
    man = manifest(tmp_path, hf_asset("unet/big.gguf", "unet/big.gguf"))
    hub.fault(REPO, "unet/big.gguf", drop_after=1 << 20, times=3)
    # a low threshold makes this small file segmented: 4 connections, 4 MiB pieces
    env = puller.env(MODELCTL_SEGMENT_THRESHOLD=str(1 << 20), **QUICK_RETRIES)
    r = puller.pull(man, "--connections", "4", env=env)
    assert r.code == 0, r.err
    assert sha(puller.file("unet/big.gguf").read_bytes()) == sha(data)
    assert len([e for e in hub.gets("unet/big.gguf", origin="cdn") if e.status == 206]) >= 3


def test_corrupted_bytes_fail_with_both_hashes_and_place_nothing(puller, hub, tmp_path):
    data = add(hub, "unet/m.gguf")
    hub.fault(REPO, "unet/m.gguf", corrupt=True)
    r = puller.pull(manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf")))
    assert r.code == 3
    assert r.err.count("error:") == 1
    assert sha(data) in r.err and "got " in r.err
    assert not puller.file("unet/m.gguf").exists()
    assert not Layout(puller.models).receipt("unet/m.gguf").exists()


@pytest.mark.parametrize("statuses", [[429], [503, 503]])
def test_429_and_503_are_retried_then_succeed(puller, hub, tmp_path, statuses):
    data = add(hub, "unet/m.gguf")
    # Retry-After: 0 takes the same path as any other value (honoured, then jitter) without
    # making the test sleep through it
    hub.fault(REPO, "unet/m.gguf", statuses=list(statuses), retry_after=0)
    r = puller.pull(manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf")))
    assert r.code == 0, r.err
    assert sha(puller.file("unet/m.gguf").read_bytes()) == sha(data)
    seen = [e.status for e in hub.gets("unet/m.gguf", origin="cdn")]
    assert seen[: len(statuses)] == statuses and seen[-1] == 200


def test_a_bad_retry_max_delay_is_bad_input_before_any_request(puller, hub, tmp_path):
    add(hub, "unet/m.gguf")
    hub.clear_log()
    man = manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf"))
    r = puller.pull(man, env=puller.env(MODELCTL_RETRY_MAX_DELAY="soon"))
    _one_error(r, 2, "MODELCTL_RETRY_MAX_DELAY", "`soon`")
    assert hub.requests() == []


def test_stalled_body_is_detected_and_resumed(puller, hub, tmp_path):
    data = add(hub, "unet/m.gguf")
    hub.fault(REPO, "unet/m.gguf", stall=30, stall_after=1_000_000, times=1)
    t0 = time.monotonic()
    r = puller.pull(
        manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf")), "--stall-timeout", "0.5"
    )
    assert r.code == 0, r.err
    assert time.monotonic() - t0 < 25
    assert sha(puller.file("unet/m.gguf").read_bytes()) == sha(data)
    assert any(e.range for e in hub.gets("unet/m.gguf", origin="cdn"))


# --- Hub errors ----------------------------------------------------------------------------------


def _one_error(r: Result, code: int, *words: str) -> None:
    assert r.code == code, (r.code, r.err)
    lines = r.err.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1, r.err
    assert all(line.startswith("  hint: ") for line in lines[errors[0] + 1 :]), r.err
    assert "Traceback" not in r.err
    for w in words:
        assert w in r.err, (w, r.err)


def test_gated_repo_without_token_mentions_hf_token_and_the_page(puller, hub, tmp_path):
    add(hub, "unet/m.gguf")
    hub.gate(REPO)
    man = manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf"))
    r = puller.pull(man, env=puller.env(HF_TOKEN=""))
    _one_error(r, 3, "HF_TOKEN", f"/{REPO}")
    r = puller.pull(man)  # a valid token that has not accepted the terms: 403
    _one_error(r, 3, "gated", "HF_TOKEN", f"/{REPO}")
    assert hub.gets("unet/m.gguf", origin="cdn") == []


@pytest.mark.parametrize(
    ("source", "revision", "words"),
    [
        ("hf://org/nothere/unet/m.gguf", "main", ["org/nothere", "not found"]),
        (f"hf://{REPO}/unet/m.gguf", "nobranch", ["nobranch", "not found"]),
        (f"hf://{REPO}/unet/missing.gguf", "main", ["unet/missing.gguf", "not found"]),
    ],
    ids=["repo", "revision", "file"],
)
def test_404_says_which_of_repo_revision_file_is_missing(puller, hub, tmp_path, source, revision,
                                                         words):  # fmt: skip
    add(hub, "unet/m.gguf")
    man = manifest(tmp_path, {"source": source, "revision": revision, "dest": "unet/m.gguf"})
    _one_error(puller.pull(man), 3, *words)


# --- process kill and resume ---------------------------------------------------------------------


def _written(models: Path) -> int:
    total = 0
    for state in (models / ".modelctl/partial").glob("*.json"):
        try:
            spans = json.loads(state.read_text())["written"]
        except (OSError, ValueError, KeyError):
            continue
        total = max(total, sum(e - s for s, e in spans))
    return total


# Why these sizes and rates: the state file is saved every 0.5 s (TransferOptions.save_interval),
# so the half after the kill must take well over that to be seen before the download ends (about
# 1.4 s here). With 4 connections the lone first stream keeps 1.5 times its 8 MiB margin
# (modelctl/transfer/segments.py Scheduler.grow, SOLO_PIECE), so only a file well above 12 MiB is
# split over several connections: 32 MiB, at the same rate per connection.
KILL_CASES = {"1": (8 << 20, 3_000_000), "4": (32 << 20, 3_000_000)}  # size, bytes/s per connection


@pytest.mark.parametrize("connections", ["1", "4"])
def test_sigkill_at_half_then_next_run_transfers_at_most_55_percent(puller, hub, tmp_path,
                                                                     connections):  # fmt: skip
    size, rate = KILL_CASES[connections]
    data = add(hub, "unet/m.gguf", size=size)
    man = manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf"))
    fault = hub.fault(REPO, "unet/m.gguf", rate=rate)
    env = cli_env(puller.env(MODELCTL_SEGMENT_THRESHOLD=str(1 << 20)))
    cmd = puller.command(man, "--connections", connections)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _written(puller.models) < size // 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    assert TOKEN.encode() not in out + err
    assert not puller.file("unet/m.gguf").exists()
    hub.wait_idle()  # the killed connections are logged before counting anew
    if connections != "1":  # the kill hit a download spread over several connections
        assert len(hub.gets("unet/m.gguf", origin="cdn")) > 1, hub.gets("unet/m.gguf")
    hub.clear_log()
    fault.rate = None
    hub.clear_faults()
    r = puller.pull(
        man, "--connections", connections, env=puller.env(MODELCTL_SEGMENT_THRESHOLD=str(1 << 20))
    )
    assert r.code == 0, r.err
    assert sha(puller.file("unet/m.gguf").read_bytes()) == sha(data)
    assert hub.bytes_served("unet/m.gguf") <= 0.55 * size


# --- concurrency ---------------------------------------------------------------------------------


def test_six_processes_fetch_every_file_exactly_once(puller, hub, tmp_path):
    files = {f"unet/m{i}.gguf": add(hub, f"unet/m{i}.gguf", size=2_000_000) for i in range(3)}
    for path in files:
        hub.fault(REPO, path, rate=4_000_000)  # slow enough that all six overlap
    man = manifest(tmp_path, *[hf_asset(p, p) for p in files])
    env = cli_env(puller.env())
    cmd = puller.command(man, "--jobs", "3")
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    for out, err, code in results:
        assert code == 0, err.decode()
        assert TOKEN.encode() not in out + err
    for path, data in files.items():
        assert sha(puller.file(path).read_bytes()) == sha(data)
        assert len(hub.gets(path, origin="cdn")) == 1, hub.gets(path, origin="cdn")
        assert hub.bytes_served(path) == len(data)


def test_lock_wait_timeout_exits_5(puller, hub, tmp_path):
    add(hub, "unet/m.gguf")
    man = manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf"))
    from filelock import FileLock

    lock_path = Layout(puller.models).lock("unet/m.gguf")
    lock_path.parent.mkdir(parents=True)
    with FileLock(str(lock_path)):
        r = puller.pull(man, "--lock-timeout", "0.5")
    _one_error(r, 5, "unet/m.gguf")


# --- disk space ----------------------------------------------------------------------------------


@pytest.fixture
def tiny_volume(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root and mount rights; skipped otherwise)."""
    with small_tmpfs(tmp_path, "4m") as mnt:
        yield mnt


def test_disk_too_small_exits_4_before_any_get(puller, hub, tmp_path, tiny_volume):
    add(hub, "unet/a.gguf", size=3_000_000)
    add(hub, "unet/b.gguf", size=3_000_000)
    man = manifest(tmp_path, hf_asset("unet/a.gguf", "unet/a.gguf"),
                   hf_asset("unet/b.gguf", "unet/b.gguf"))  # fmt: skip
    puller.models = tiny_volume / "models"
    r = puller.pull(man)
    _one_error(r, 4, "unet/a.gguf", "unet/b.gguf", "free", "short by")
    assert hub.gets("unet/a.gguf") == [] and hub.gets("unet/b.gguf") == []


# --- pickles -------------------------------------------------------------------------------------


def test_pickle_is_refused_unless_allowed_and_pinned(puller, hub, tmp_path):
    import pickle

    data = pickle.dumps({"weights": list(range(10))}, protocol=4)
    hub.add_file(REPO, "ckpt/model.ckpt", data)
    asset = hf_asset("ckpt/model.ckpt", "checkpoints/model.ckpt")
    r = puller.pull(manifest(tmp_path, asset))
    _one_error(r, 1, "pickle", "allow_pickle")
    assert not puller.file("checkpoints/model.ckpt").exists()
    r = puller.pull(manifest(tmp_path, {**asset, "allow_pickle": "true"}))
    _one_error(r, 1, "sha256")
    r = puller.pull(manifest(tmp_path, {**asset, "allow_pickle": "true", "sha256": sha(data)}))
    assert r.code == 0, r.err
    assert puller.file("checkpoints/model.ckpt").read_bytes() == data


def test_token_never_printed(puller, hub, tmp_path):
    """Every path that handles the token, plain and `--json`: a download (the token goes to the
    hub, not the CDN), a dry run, a gated repo the token may not read (403), a token the Hub
    rejects (401). Each run must have sent the token, and no output may hold it or its hex part."""
    add(hub, "unet/m.gguf")
    add(hub, "unet/g.gguf", repo="org/gated")
    hub.gate("org/gated")  # TOKEN is valid but has not accepted the terms
    ok = manifest(tmp_path, hf_asset("unet/m.gguf", "unet/m.gguf"))
    gated = tmp_path / "gated.yaml"
    gated.write_text(
        ok.read_text().replace(f"hf://{REPO}/unet/m.gguf", "hf://org/gated/unet/g.gguf")
    )
    bad = "hf_" + secrets.token_hex(16)  # unknown to the hub: 401 on every request
    runs = [
        ("dry run", ok, ["--dry-run"], puller.env(), 0),
        ("download", ok, [], puller.env(), 0),
        ("gated", gated, [], puller.env(), 3),
        ("rejected", ok, [], puller.env(HF_TOKEN=bad), 3),
    ]
    for name, man, args, env, code in runs:
        for json_flag in ([], ["--json"]):
            shutil.rmtree(puller.models, ignore_errors=True)  # each run downloads anew
            hub.clear_log()
            r = run_cli(*puller.args(man, *args, *json_flag), env=env, timeout=120)
            assert r.code == code, (name, json_flag, r.err)
            token = env["HF_TOKEN"]
            assert any(e.auth for e in hub.requests("hub")), (name, "the token was not sent")
            assert not any(e.auth for e in hub.requests("cdn")), name
            for text in (r.out, r.err):
                assert token not in text and token[3:] not in text, (name, json_flag)
            if json_flag:
                events = [json.loads(line) for line in r.out.splitlines()]  # real JSON lines
                assert code or "plan" in {e["event"] for e in events}, name
                assert token not in json.dumps(events)
            if code:
                assert r.err.startswith("error: ") and "Traceback" not in r.err, (name, r.err)
                assert "HF_TOKEN" in r.err, (name, r.err)  # the hint says which token to fix


INSTALLER = r"""
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from modelctl.store import locks, receipts
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt
from tests.helpers.inotify import OpenWatch

layout = Layout(Path({models!r}))
dest = "unet/m.gguf"
with locks.hold(layout.lock(dest), 30, "test"):
    path = layout.dest(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Path({data!r}).read_bytes())  # published, receipt not yet written
    with OpenWatch(layout.lock(dest)) as watch:
        print("published", flush=True)
        # hold on until the pull tries this lock (filelock opens the file to try)
        print("tried" if watch.wait(20) else "not tried", flush=True)
    receipts.write(layout, Receipt.for_file(path, dest=dest, source={source!r}, sha256={sha!r}))
"""


def test_a_file_published_by_another_process_is_not_unmanaged(puller, hub, tmp_path):
    """Between another process's rename and its receipt the file has no receipt: pull must look
    again under the destination's lock instead of calling it a file in the way. The other process
    holds the lock until the pull tries to take it (tests/helpers/inotify.py)."""
    if not inotify.AVAILABLE:
        pytest.skip("needs Linux inotify to see the pull reach the lock")
    data = os.urandom(256 << 10)
    hub.add_file(REPO, "unet/m.gguf", data)
    source = f"hf://{REPO}/unet/m.gguf"
    man = manifest(tmp_path, {"source": source, "dest": "unet/m.gguf"})
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    code = INSTALLER.format(repo=str(Path(__file__).resolve().parents[2]), models=str(puller.models),
                            data=str(blob), source=source, sha=sha(data))  # fmt: skip
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "published"
        r = puller.pull(man)
        tried = other.stdout.readline().strip()
    finally:
        other.wait(timeout=30)
    assert tried == "tried"  # the pull waited for the lock while the file had no receipt
    assert r.code == 0, r.err
    assert "in the way" not in r.err
    assert hub.downloads("unet/m.gguf") == []


def test_a_terminal_gets_progress_bars_with_speed_and_eta(puller, hub, tmp_path):
    """stderr on a terminal (a real pseudo-terminal): rich bars per file and for the total."""
    import pty

    data = add(hub, "unet/slow.gguf", size=3_000_000)
    hub.fault(REPO, "unet/slow.gguf", rate=3_000_000)  # ~1 s: several refreshes (10 a second)
    man = manifest(tmp_path, hf_asset("unet/slow.gguf", "unet/slow.gguf"))
    master, slave = pty.openpty()
    cmd = puller.command(man)
    proc = subprocess.Popen(cmd, env=cli_env(puller.env(COLUMNS="120")), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)  # fmt: skip
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    text = screen.decode(errors="replace")
    assert "unet/slow.gguf" in text and "total" in text
    assert "/s" in text  # transfer speed column
    assert "\x1b[" in text  # drawn and redrawn in place, not plain log lines
    assert "2.9/2.9 MiB" in text  # both bars end complete
    assert TOKEN not in text
    assert sha(puller.file("unet/slow.gguf").read_bytes()) == sha(data)
