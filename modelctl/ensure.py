"""`modelctl ensure`: make stacks present at container start; return at once when they already are.

Two paths share this module:

* **Fast path** (`fast_main`, stdlib only: json, os, sys, time). A container restart with every file
  in place must cost about one interpreter start, so it cannot parse YAML manifests (PyYAML alone
  costs more than the whole budget) nor import huggingface_hub, rich or typer. Instead the slow
  path, after a successful ensure, records in `<models>/.modelctl/ensure-cache.json` what the SPECs
  resolved to: each asset's dest plus the facts that decide "outdated" (source, pinned sha256,
  pinned commit), and the stat stamps (mtime_ns, size, inode) of every manifest file and manifest
  folder the resolution read. The fast path re-stats those, reads each asset's receipt and stats
  its file (receipt identity = size + mtime_ns + inode, see `store/receipts.py`), and returns 0
  when all hold. Anything unexpected (no cache, other options, a changed manifest, a file gone, a
  parse error) returns None and the caller runs the full command: the cache can make ensure
  faster, never wrong.
* **Slow path** (`run`): resolve the SPECs, plan, and when something is missing run the
  compatibility check on the whole stacks and pull only the missing files, all inside one
  `--timeout` deadline; `--offline` never touches the network and lists what is missing. Heavy
  imports happen inside the functions.

The cache key includes the working directory (a SPEC may be a relative manifest path) and the
manifest search folders (`$MODELCTL_MANIFESTS`, `--manifests`); concurrent writers replace the file
atomically, so the worst a race does is drop an entry, which costs one slow run.
"""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import; annotations are strings anyway
    from typing import Any

CACHE_NAME = "ensure-cache.json"
CACHE_SCHEMA = 1
MAX_ENTRIES = 32
STATE_DIR = ".modelctl"  # = modelctl.store.layout.STATE_DIR (not imported: it pulls in pathlib)
DEFAULT_MODELS_DIR = "./shared/models"  # = modelctl.store.layout.DEFAULT_MODELS_DIR
TRUE_VALUES = ("1", "true", "yes", "on")

_FLAGS = {"--offline": "offline", "--json": "json", "--locked": "locked"}
_VALUED = {"--timeout": "timeout", "--models-dir": "models_dir", "--manifests": "manifests",
           "--jobs": "jobs", "--lock-timeout": "lock_timeout", "--gpu-sm": "gpu_sm"}  # fmt: skip


# ----------------------------------------------------------------------------- environment


def env_specs() -> list[str]:
    """SPECs from `$MODELCTL_ENSURE` (separated by white space)."""
    return os.environ.get("MODELCTL_ENSURE", "").split()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def env_offline() -> bool:
    """`$MODELCTL_OFFLINE` or huggingface_hub's own `$HF_HUB_OFFLINE`."""
    return env_flag("MODELCTL_OFFLINE") or env_flag("HF_HUB_OFFLINE")


def models_root(option: str | None) -> str:
    """The models dir as `store.layout.models_dir` computes it, without importing pathlib."""
    value = option or os.environ.get("MODELCTL_MODELS_DIR") or DEFAULT_MODELS_DIR
    return os.path.abspath(os.path.expanduser(value))


def cache_path(root: str) -> str:
    return os.path.join(root, STATE_DIR, CACHE_NAME)


def cache_key(
    specs: list[str], manifests: str | None, locked: bool = False, gpu_sm: str | None = None
) -> str:
    """What decides how SPECs resolve: cwd (relative paths), the SPECs, the manifest folders,
    `--locked` (a cache entry written without it proves nothing about the lock) and the target
    GPU (`precision=auto`)."""
    extra = os.environ.get("MODELCTL_MANIFESTS") or ""
    sm = gpu_sm or os.environ.get("MODELCTL_GPU_SM") or ""
    return json.dumps(
        [os.getcwd(), list(specs), extra, manifests or ""] + ([True, sm] if locked or sm else [])
    )


def stamp(path: str) -> list[int] | None:
    """A file's or folder's stat stamp; None when it does not exist (its appearing must count)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def parse_seconds(value: str | None, option: str) -> float | None:
    """A positive number of seconds (from an option or its environment variable), or None."""
    if value is None or not value.strip():
        return None
    if not _positive(value):
        from modelctl.errors import BadInput

        raise BadInput(
            f"{option} must be a positive number of seconds, got `{value}`",
            f"e.g. {option} 600 (also $MODELCTL_TIMEOUT)",
        )
    return float(value)


# ----------------------------------------------------------------------------- fast path


def parse_fast_args(args: list[str]) -> dict[str, Any] | None:
    """The options the ensure fast path understands; None for anything else (help, typos, `--`)."""
    opts = parse_options(args, _FLAGS, _VALUED)
    if opts is None:
        return None
    timeout = opts["timeout"] if opts["timeout"] is not None else os.environ.get("MODELCTL_TIMEOUT")
    if timeout is not None and timeout.strip() and not _positive(timeout):
        return None  # the full command reports it
    if opts["jobs"] is not None and not (opts["jobs"].isdigit() and int(opts["jobs"]) >= 1):
        return None
    if opts["lock_timeout"] is not None and not _number(opts["lock_timeout"]):
        return None
    opts["specs"] = opts.pop("args") or env_specs()
    return opts if opts["specs"] else None


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _positive(value: str) -> bool:
    try:
        seconds = float(value)
    except ValueError:
        return False
    return 0 < seconds < float("inf")


def fast_main(args: list[str]) -> int | None:
    """Answer `ensure …` / `comfyui-paths …` without the full CLI when possible; None: run it.

    These two run at every container start, where the full CLI's start-up (Typer, and through it
    pydantic) costs over a second. Never raises: any surprise means "not sure", and the full
    command decides (and reports errors with their exit codes).
    """
    if args[:1] == ["ensure"]:
        return fast_ensure(args[1:])
    if args[:1] == ["comfyui-paths"]:
        return fast_comfyui_paths(args[1:])
    return None


def fast_comfyui_paths(args: list[str]) -> int | None:
    """`comfyui-paths [--write PATH] [--json] [--models-dir D]` with the stdlib only."""
    try:
        opts = parse_options(args, {"--json": "json"}, {"--write": "write", "--models-dir": "dir"})
        if opts is None or opts.pop("args"):
            return None
        from modelctl.store import comfyui_paths

        text = comfyui_paths.report(models_root(opts["dir"]), opts["write"], opts["json"])
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    except Exception:
        return None


def parse_options(
    args: list[str], flags: dict[str, str], valued: dict[str, str]
) -> dict[str, Any] | None:
    """Click-compatible parsing of the given options (`--x v`, `--x=v`); None for anything else."""
    opts: dict[str, Any] = {"args": []}
    opts.update({name: False for name in flags.values()})
    opts.update({name: None for name in valued.values()})
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg in flags:
            opts[flags[arg]] = True
        elif name in valued:
            if not eq:
                i += 1
                if i >= len(args):
                    return None
                value = args[i]
            opts[valued[name]] = value
        elif arg.startswith("-"):
            return None
        else:
            opts["args"].append(arg)
        i += 1
    return opts


def fast_ensure(args: list[str]) -> int | None:
    """Exit code 0 when every asset of the SPECs is installed and intact; None: run the full app."""
    try:
        opts = parse_fast_args(args)
        if opts is None:
            return None
        started = time.monotonic()
        root = models_root(opts["models_dir"])
        key = cache_key(opts["specs"], opts["manifests"], opts["locked"], opts["gpu_sm"])
        entry = cached_entry(root, key)
        if entry is None:
            return None
        total = intact_bytes(root, entry["assets"])
        if total is None:
            return None
        report_ok(
            opts["json"],
            specs=entry["specs"],
            root=root,
            assets=len(entry["assets"]),
            total=total,
            downloaded=0,
            seconds=time.monotonic() - started,
            fast=True,
        )
        return 0
    except Exception:
        return None


def read_cache(root: str) -> dict[str, Any]:
    try:
        with open(cache_path(root), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {"schema": CACHE_SCHEMA, "entries": []}
    if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA:
        return {"schema": CACHE_SCHEMA, "entries": []}
    return data


def cached_entry(root: str, key: str) -> dict[str, Any] | None:
    """The cache entry for `key` when every manifest file and folder it read is unchanged."""
    for entry in read_cache(root).get("entries", []):
        if entry.get("key") == key:
            if all(stamp(path) == recorded for path, recorded in entry["watch"]):
                return entry
            return None
    return None


def intact_bytes(root: str, assets: list[dict[str, Any]]) -> int | None:
    """Total size when every asset's receipt matches its file and the manifest's pins; else None."""
    total = 0
    receipts = os.path.join(root, STATE_DIR, "receipts")
    for asset in assets:
        try:
            with open(os.path.join(receipts, asset["dest"] + ".json"), encoding="utf-8") as fh:
                receipt = json.load(fh)
            st = os.stat(os.path.join(root, asset["dest"]))
        except (OSError, ValueError):
            return None
        same_file = (
            st.st_size == receipt.get("size")
            and st.st_mtime_ns == receipt.get("mtime_ns")
            and st.st_ino == receipt.get("inode")
        )
        if not same_file or receipt.get("source") != asset["source"]:
            return None
        if asset.get("sha256") and receipt.get("sha256") != asset["sha256"]:
            return None
        if asset.get("commit") and receipt.get("commit") != asset["commit"]:
            return None
        total += st.st_size
    return total


def report_ok(json_output: bool, **summary: Any) -> None:
    """The one summary line of a successful ensure (plain text, or a JSON summary event)."""
    if json_output:
        event = {"event": "summary", "command": "ensure", "status": "ok", **summary}
        event["seconds"] = round(summary["seconds"], 3)
        sys.stdout.write(json.dumps(event) + "\n")
    else:
        n = summary["downloaded"]
        done = f"{n} downloaded" if n else "nothing to download"
        sys.stdout.write(
            f"ensure: {summary['assets']} assets present ({human_size(summary['total'])}) "
            f"for {' '.join(summary['specs'])} in {summary['root']}; {done} "
            f"[{summary['seconds']:.2f}s]\n"
        )
    sys.stdout.flush()


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


# ----------------------------------------------------------------------------- cache writing


def write_cache(root: str, key: str, entry: dict[str, Any]) -> None:
    """Add or replace `key`'s entry (newest first, at most MAX_ENTRIES), atomically. Best effort."""
    data = read_cache(root)
    entries = [e for e in data.get("entries", []) if e.get("key") != key]
    entries.insert(0, {"key": key, **entry})
    data = {"schema": CACHE_SCHEMA, "entries": entries[:MAX_ENTRIES]}
    path = cache_path(root)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    except OSError:
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(tmp)


# ----------------------------------------------------------------------------- slow path


def run(
    specs: list[str],
    *,
    models_dir: str | None = None,
    manifests: str | None = None,
    offline: bool = False,
    timeout: float | None = None,
    json_output: bool = False,
    jobs: int | None = None,
    lock_timeout: float | None = None,
    reporter: Any = None,
    locked: bool = False,
    gpu_sm: int | None = None,
) -> int:
    """Resolve, plan, pull what is missing (unless offline), record the fast-path cache.

    Raises `ModelctlError` subclasses (the CLI maps them to exit codes). `timeout` bounds the whole
    run: it is handed to the pull as a deadline, and a watchdog ends the process with exit 5 a
    little after it in case something does not honour it (partials stay resumable: the transfer
    layer survives SIGKILL by design, so it survives this too).
    """
    from modelctl.errors import ModelctlError

    started = time.monotonic()
    offline = offline or env_offline()
    if offline:
        # huggingface_hub reads this at import time and then refuses every request itself.
        os.environ["HF_HUB_OFFLINE"] = "1"
    deadline = started + timeout if timeout else None
    cancel = start_watchdog(timeout, deadline, json_output)
    try:
        return _run(specs, models_dir, manifests, offline, deadline, json_output, jobs,
                    lock_timeout, started, reporter, locked, gpu_sm)  # fmt: skip
    except ModelctlError as exc:
        if json_output:  # scripts get a final summary either way; the error line goes to stderr
            report_error(exc.exit_code, exc.message)
        raise
    finally:
        cancel()


def report_error(exit_code: int, message: str) -> None:
    from modelctl.redact import redact

    event = {"event": "summary", "command": "ensure", "status": "error",
             "exit_code": exit_code, "error": redact(message)}  # fmt: skip
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def start_watchdog(timeout: float | None, deadline: float | None, json_output: bool) -> Any:
    """End the process with exit 5 shortly after `deadline`; returns the function that disarms it.

    The pull honours the deadline itself and stops cleanly; this is the backstop for what cannot be
    interrupted (a DNS lookup, a blocked read in a library). `os._exit` leaves partial files and
    releases flocks with the process, exactly like the SIGKILL the transfer layer is built for.
    """
    if deadline is None or timeout is None:
        return lambda: None
    import threading

    # the transfer checks the deadline between 1 MiB reads; give that a moment on slow links
    grace = min(30.0, max(2.0, 0.1 * timeout))

    def fire() -> None:
        if json_output:
            report_error(5, f"--timeout {timeout:g}s reached; stopped")
        sys.stderr.write(
            f"error: --timeout {timeout:g}s reached; stopped\n"
            "  hint: partial downloads are kept; run the same command again to resume\n"
        )
        sys.stderr.flush()
        os._exit(5)

    timer = threading.Timer(max(0.0, deadline - time.monotonic()) + grace, fire)
    timer.daemon = True
    timer.start()
    return timer.cancel


def _run(
    specs: list[str],
    models_dir: str | None,
    manifests: str | None,
    offline: bool,
    deadline: float | None,
    json_output: bool,
    jobs: int | None,
    lock_timeout: float | None,
    started: float,
    reporter: Any,
    locked: bool = False,
    gpu_sm: int | None = None,
) -> int:
    from modelctl.errors import BadInput
    from modelctl.plan.selections import pinned_selections
    from modelctl.store.layout import Layout
    from modelctl.store.layout import models_dir as find_models_dir

    if not specs:
        raise BadInput(
            "no SPEC to ensure",
            "pass SPECs (`modelctl ensure z-image-turbo:quant=Q8_0`) or set MODELCTL_ENSURE",
        )
    key = cache_key(specs, manifests, locked, str(gpu_sm) if gpu_sm is not None else None)
    # Stamp what resolution reads *before* reading it: a manifest edited meanwhile then fails the
    # stamp check next time instead of being trusted with the old content.
    watched = [[path, stamp(path)] for path in watch_paths(specs, manifests)]
    selections = pinned_selections(specs, manifests, gpu_sm, locked)
    layout = Layout(find_models_dir(models_dir))
    items = unique_items(selections, layout)
    pending = [i for i in items if i.state != "installed"]
    if offline:
        from modelctl.sources.resolve import is_network

        remote = [i for i in pending if is_network(i.asset)]
        if remote:
            raise_offline(remote)
    downloaded = 0
    if pending:
        result = pull(selections, pending, layout, deadline, offline, reporter, jobs, lock_timeout,
                      gpu_sm)  # fmt: skip
        downloaded = sum(1 for r in result.items if r.state == "downloaded")
        items = unique_items(selections, layout)
        left = [i for i in items if i.state != "installed"]
        if left:
            raise_not_installed(left)
    root = str(layout.root)
    assets = [asset_facts(i.asset) for i in items]
    specs_out = [s.spec for s in selections]
    write_cache(root, key, {"written": time.time(), "specs": specs_out, "watch": watched,
                            "assets": assets})  # fmt: skip
    total = sum(i.path.stat().st_size for i in items)
    report_ok(
        json_output,
        specs=specs_out,
        root=root,
        assets=len(items),
        total=total,
        downloaded=downloaded,
        seconds=time.monotonic() - started,
        fast=False,
    )
    return 0


def watch_paths(specs: list[str], manifests: str | None) -> list[str]:
    """Every file and folder whose change could change what `specs` resolve to."""
    from modelctl.manifest.catalog import entries, is_path_spec, search_dirs
    from modelctl.manifest.select import split_spec

    paths: list[str] = []
    dirs = search_dirs(manifests)
    catalog = None
    for spec in specs:
        name, _ = split_spec(spec)
        if is_path_spec(name):
            files = [os.path.abspath(os.path.expanduser(name))]
        else:
            paths.extend(os.path.abspath(d) for d in dirs)
            catalog = catalog if catalog is not None else entries(dirs)
            files = [os.path.abspath(catalog[name].path)] if name in catalog else []
        for file in files:
            stem, ext = os.path.splitext(file)
            paths.extend([file, f"{stem}.lock{ext}"])
    return list(dict.fromkeys(paths))


def unique_items(selections: list[Any], layout: Any) -> list[Any]:
    """Plan items of every selection, one per destination (two stacks may share a VAE)."""
    from modelctl.plan.resolve import plan

    seen: dict[str, Any] = {}
    for selection in selections:
        for item in plan(selection, layout):
            seen.setdefault(item.asset.dest, item)
    return list(seen.values())


def asset_facts(asset: Any) -> dict[str, Any]:
    """What the fast path compares with a receipt (the same rules as `plan.resolve._outdated`)."""
    from modelctl.manifest.uris import HEX40_RE

    pinned = asset.revision if asset.revision and HEX40_RE.fullmatch(asset.revision) else None
    return {"dest": asset.dest, "source": asset.source, "sha256": asset.sha256, "commit": pinned}


def describe(items: list[Any]) -> str:
    return ", ".join(f"{i.asset.id} -> {i.asset.dest} ({i.state})" for i in items)


def raise_offline(pending: list[Any]) -> None:
    from modelctl.errors import CheckFailed

    raise CheckFailed(
        f"offline, and {len(pending)} asset(s) are not installed: {describe(pending)}",
        "run `modelctl ensure` once with network access (unset MODELCTL_OFFLINE/HF_HUB_OFFLINE, "
        "drop --offline), or copy the files in and run `modelctl pull` with a file:// mirror",
    )


def raise_not_installed(left: list[Any]) -> None:
    from modelctl.errors import CheckFailed

    raise CheckFailed(
        f"{len(left)} asset(s) are still not installed after the pull: {describe(left)}",
        "run `modelctl status` and `modelctl verify` to see why",
    )


def pull(
    selections: list[Any],
    pending: list[Any],
    layout: Any,
    deadline: float | None,
    offline: bool,
    reporter: Any,
    jobs: int | None,
    lock_timeout: float | None,
    gpu_sm: int | None = None,
) -> Any:
    """Check the whole stacks, then hand only what is not installed to the pull library.

    Ensure means "make present", never "update": an installed file that tracks a branch is left
    alone (no metadata request, no upgrade in passing; `modelctl pull` does that). So the pull gets
    selections trimmed to the pending assets, and the compatibility check, which needs every part
    of a stack, runs here on the full selections instead of as the pull's preflight (once, not
    twice). The pull checks disk space, then downloads under per-file locks on the volume, so
    concurrent ensures fetch each file once. Offline, only local (file://) sources are copied.
    """
    from dataclasses import replace

    from modelctl.compat.check import post_verify, preflight
    from modelctl.errors import TimedOut
    from modelctl.pull import PullOptions, pull_selections

    preflight(selections, layout, gpu_sm)
    wanted = {i.asset.dest for i in pending}
    trimmed = [replace(s, assets=tuple(a for a in s.assets if a.dest in wanted))
               for s in selections]  # fmt: skip
    options = PullOptions(offline=offline, post_verify=post_verify)
    if reporter is not None:
        options.reporter = PullEvents(reporter)
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimedOut("--timeout reached before the download started", "raise --timeout")
        options.timeout = left
    if jobs:
        options.jobs = jobs
    if lock_timeout is not None:
        options.lock_timeout = lock_timeout
    return pull_selections([s for s in trimmed if s.assets], layout, options)


class PullEvents:
    """Passes pull events to the CLI's reporter; the pull's own `summary` becomes `pull_summary`
    so that the last JSON line of an ensure is always ensure's summary."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def event(self, name: str, **data: Any) -> None:
        self.inner.event("pull_summary" if name == "summary" else name, **data)

    def advance(self, dest: str, n: int) -> None:
        self.inner.advance(dest, n)
