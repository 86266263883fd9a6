"""`verify`, `status`, `lock`, `rm`, `gc` as users run them: the real CLI. Commands on the models
dir alone run in-process (`run_main`); `lock` asks the test hub, in a subprocess (`run_cli`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from modelctl.store import receipts
from modelctl.store.layout import Layout
from modelctl.store.partials import PartialState, claim
from modelctl.transfer.ranges import Ranges
from tests.helpers.cli import run_cli, run_main
from tests.helpers.hub import TestHub
from tests.helpers.limits import run_cli_limited
from tests.store.installed import DEMO_MANIFEST, flip_byte, install, install_demo


def _setup(tmp_path: Path) -> tuple[Layout, Path, dict[str, str]]:
    layout = Layout(tmp_path / "models")
    manifest = tmp_path / "demo.yaml"
    manifest.write_text(DEMO_MANIFEST)
    env = {"MODELCTL_MODELS_DIR": str(layout.root), "MODELCTL_MANIFESTS": str(tmp_path)}
    return layout, manifest, env


def test_verify_fast_and_full(tmp_path: Path) -> None:
    layout, _, env = _setup(tmp_path)
    install_demo(layout)
    ok = run_main("verify", env=env)
    assert ok.code == 0 and "all 3 files intact" in ok.out, ok.err
    flip_byte(layout.dest("unet/model-Q4.gguf"), 100)
    assert run_main("verify", "demo", env=env).code == 0  # stat unchanged: fast mode cannot see it
    full = run_main("verify", "demo", "--full", "--json", env=env)
    assert full.code == 1, full.err
    verdicts = {f["dest"]: f["state"] for f in json.loads(full.out)["files"]}
    assert verdicts == {
        "unet/model-Q4.gguf": "corrupt",
        "vae/vae.safetensors": "ok",
        "configs/demo.json": "ok",
    }
    with open(layout.dest("vae/vae.safetensors"), "r+b") as fh:
        fh.truncate(10)
    fast = run_main("verify", env=env)
    assert fast.code == 1 and "modified" in fast.out and "vae/vae.safetensors" in fast.out
    bad = run_main("verify", "--full", "--quick", env=env)
    assert bad.code == 2 and bad.err.startswith("error: ") and "Traceback" not in bad.err


def test_status_lists_unmanaged_partials_and_disk(tmp_path: Path) -> None:
    layout, _, env = _setup(tmp_path)
    install_demo(layout)
    user = layout.dest("checkpoints/mine.safetensors")
    user.parent.mkdir(parents=True)
    user.write_bytes(b"u" * 1234)
    part = claim(
        layout, PartialState(key="f" * 64, source="hf://acme/demo/model-Q8.gguf", size=9000)
    )
    part.data.write_bytes(b"p" * 4000)
    part.save(Ranges([[0, 4000]]))
    res = run_main("status", "demo:quant=Q8", "--json", env=env)
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["unmanaged"] == [{"path": "checkpoints/mine.safetensors", "size": 1234}]
    states = {a["id"]: (a["state"], a["partial_bytes"]) for a in data["selections"][0]["assets"]}
    assert states == {"diffusion": ("partial", 4000), "vae": ("installed", None),
                      "cfg": ("installed", None)}  # fmt: skip
    assert data["managed"]["files"] == 3 and data["disk"]["free"] > 0
    assert data["folders"]["checkpoints"] == 1234 and data["folders"]["diffusion_models"] > 0
    human = run_main("status", env=env)
    assert human.code == 0 and "checkpoints/mine.safetensors" in human.out
    # neither rm nor gc ever touches the unmanaged file
    assert run_main("rm", "demo", env=env).code == 0
    assert run_main("gc", "--older-than", "0", env=env).code == 0
    assert user.read_bytes() == b"u" * 1234


def test_rm_keeps_shared_modified_and_unmanaged(tmp_path: Path) -> None:
    layout, _, env = _setup(tmp_path)
    install_demo(layout, "Q4")
    install_demo(layout, "Q8")  # vae + config now shared by both selections
    dry = run_main("rm", "demo:quant=Q8", "--dry-run", "--json", env=env)
    assert dry.code == 0 and layout.dest("unet/model-Q8.gguf").exists()
    res = run_main("rm", "demo:quant=Q8", "--json", env=env)
    assert res.code == 0, res.err
    actions = {f["dest"]: f["action"] for f in json.loads(res.out)["files"]}
    assert actions == {"unet/model-Q8.gguf": "removed", "vae/vae.safetensors": "kept-shared",
                       "configs/demo.json": "kept-shared"}  # fmt: skip
    assert not layout.dest("unet/model-Q8.gguf").exists()
    assert receipts.read(layout, "unet/model-Q8.gguf") is None
    assert receipts.read(layout, "vae/vae.safetensors").selections == ["demo:quant=Q4"]  # type: ignore[union-attr]
    # now vae is only Q4's; a modified file needs --force; an unreceipted one is never removed
    os.utime(layout.dest("vae/vae.safetensors"), ns=(1, 1))
    receipts.remove(layout, "configs/demo.json")
    res = run_main("rm", "demo", env=env)
    assert res.code == 0 and "kept-modified" in res.out and "kept-unmanaged" in res.out
    assert (
        layout.dest("vae/vae.safetensors").exists()
        and not layout.dest("unet/model-Q4.gguf").exists()
    )
    assert run_main("rm", "demo", "--force", env=env).code == 0
    assert not layout.dest("vae/vae.safetensors").exists()
    assert layout.dest("configs/demo.json").exists()  # unmanaged even with --force


def test_gc_cli_reports_and_frees(tmp_path: Path) -> None:
    layout, _, env = _setup(tmp_path)
    install(layout, "vae/gone.safetensors", b"g")
    layout.dest("vae/gone.safetensors").unlink()
    part = claim(layout, PartialState(key="e" * 64, source="hf://acme/demo/x.gguf", size=100))
    part.data.write_bytes(b"x" * 50)
    part.save(Ranges([[0, 50]]))
    kept = run_main("gc", "--json", env=env)  # default age: the fresh partial stays
    data = json.loads(kept.out)
    assert kept.code == 0 and [r["kind"] for r in data["removed"]] == ["receipt"]
    assert part.data.exists()
    res = run_main("gc", "--older-than", "0", env=env)
    assert res.code == 0 and "removed partial" in res.out and not part.data.exists()
    bad = run_main("gc", "--older-than", "soon", env=env)
    assert bad.code == 2 and bad.err.startswith("error: --older-than")


def _hub_demo(hub: TestHub, files: dict[str, bytes]) -> None:
    for dest, data in files.items():
        name = {"unet/model-Q4.gguf": "model-Q4.gguf", "unet/model-Q8.gguf": "model-Q8.gguf",
                "vae/vae.safetensors": "vae.safetensors", "configs/demo.json": "config.json"}[dest]  # fmt: skip
        hub.add_file("acme/demo", name, data)


def test_lock_pins_from_hub_metadata_and_check(hub: TestHub, tmp_path: Path) -> None:
    layout, manifest, env = _setup(tmp_path)
    files = {**install_demo(layout, "Q4"), **install_demo(layout, "Q8")}
    _hub_demo(hub, files)
    env.update(hub.env(tmp_path))
    res = run_cli("lock", str(manifest), env=env)
    assert res.code == 0, res.err
    lock = yaml.safe_load((tmp_path / "demo.lock.yaml").read_text())
    commit = hub.commit("acme/demo")
    pins = {a["source"]: a for a in lock["assets"]}
    assert len(pins) == 4  # every variant combination
    q8 = pins["hf://acme/demo/model-Q8.gguf"]
    assert q8["commit"] == commit and q8["revision"] == "main"
    assert q8["sha256"] == hub.file("acme/demo", "model-Q8.gguf").sha256
    assert q8["size"] == len(files["unet/model-Q8.gguf"])
    cfg = pins["hf://acme/demo/config.json"]  # small git file: fetched, checked, hashed
    assert cfg["sha256"] == hub.file("acme/demo", "config.json").sha256 and cfg["revision"] is None
    assert not hub.requests("cdn")  # no LFS byte was downloaded
    # verify uses the lock's pins; a moved `main` does not change what the lock means
    assert run_main("verify", "demo", env=env).code == 0
    hub.add_file("acme/demo", "vae.safetensors", b"new upstream vae")
    assert run_main("lock", str(manifest), "--check", env=env).code == 0
    # a changed manifest disagrees with its lock: exit 1
    manifest.write_text(DEMO_MANIFEST.replace("dest: vae/vae.safetensors",
                                              "dest: vae/vae.safetensors\n    size: 5"))  # fmt: skip
    check = run_main("lock", str(manifest), "--check", env=env)
    assert check.code == 1 and "vae" in check.out
    # locking one selection refreshes only its entries
    manifest.write_text(DEMO_MANIFEST)
    res = run_cli("lock", f"{manifest}:quant=Q8", "--json", env=env)
    assert res.code == 0, res.err
    after = yaml.safe_load((tmp_path / "demo.lock.yaml").read_text())
    pins = {a["source"]: a for a in after["assets"]}
    assert len(pins) == 4 and pins["hf://acme/demo/vae.safetensors"]["commit"] == hub.commit(
        "acme/demo"
    )
    assert pins["hf://acme/demo/model-Q4.gguf"]["commit"] == commit


def test_lock_errors(hub: TestHub, tmp_path: Path) -> None:
    _, manifest, env = _setup(tmp_path)
    env.update(hub.env(tmp_path))
    layout = Layout(tmp_path / "models")
    _hub_demo(hub, install_demo(layout, "Q4"))
    hub.gate("acme/demo")
    res = run_cli("lock", f"{manifest}:quant=Q4", env=env)
    # gated repos still list metadata; the small config file needs access -> source error
    assert res.code == 3 and res.err.startswith("error: acme/demo is gated"), res.err
    assert f"hint: accept the conditions at {hub.endpoint}/acme/demo" in res.err
    missing = tmp_path / "m.yaml"
    missing.write_text(
        DEMO_MANIFEST.replace("name: demo", "name: m").replace("acme/demo", "acme/none")
    )
    res = run_cli("lock", str(missing), env=env)
    assert res.code == 3 and "acme/none" in res.err
    https = tmp_path / "h.yaml"
    https.write_text(
        "schema: 1\nname: h\ndescription: d\nassets:\n  - id: a\n    role: vae\n"
        "    source: https://example.com/a.safetensors\n    dest: vae/a.safetensors\n"
    )
    res = run_cli("lock", str(https), env=env)
    assert res.code == 2 and "sha256" in res.err
    assert not (tmp_path / "h.lock.yaml").exists()


def test_lock_retries_the_hub_like_a_download(hub: TestHub, tmp_path: Path) -> None:
    """lock's Hub calls ask the one retry policy: a 503 and a 425 on the small file it hashes are
    waited out, as a download would (quickly: the wait's length is not the point here)."""
    layout, manifest, env = _setup(tmp_path)
    _hub_demo(hub, install_demo(layout, "Q4"))
    env.update(hub.env(tmp_path, MODELCTL_RETRY_MAX_DELAY="0.05"))
    hub.fault("acme/demo", "config.json", where="resolve", statuses=[503, 425])
    res = run_cli("lock", f"{manifest}:quant=Q4", env=env)
    assert res.code == 0, res.err
    served = [e.status for e in hub.requests("hub") if e.file == "config.json"]
    assert served[:2] == [503, 425] and served[-1] == 200


def test_lock_skips_precision_auto_and_resolves_it_when_chosen(
    hub: TestHub, tmp_path: Path
) -> None:
    for precision in ("int4", "fp4"):
        hub.add_file("acme/svdq", f"svdq-{precision}_r32-m.safetensors", precision.encode() * 100)
    manifest = tmp_path / "svdq.yaml"
    manifest.write_text(
        "schema: 1\nname: svdq\n"
        "variants:\n  precision: {values: [auto, int4, fp4], default: auto}\n"
        "assets:\n  - id: dit\n    role: diffusion_model\n"
        "    source: hf://acme/svdq/svdq-{precision}_r32-m.safetensors\n"
        "    dest: diffusion_models/svdq-{precision}_r32-m.safetensors\n"
    )
    env = hub.env(tmp_path)
    res = run_cli("lock", str(manifest), env=env)
    assert res.code == 0, res.err
    pins = yaml.safe_load((tmp_path / "svdq.lock.yaml").read_text())["assets"]
    assert sorted(a["source"].rsplit("/", 1)[1] for a in pins) == [
        "svdq-fp4_r32-m.safetensors",
        "svdq-int4_r32-m.safetensors",
    ]
    chosen = run_cli("lock", f"{manifest}:precision=auto", env={**env, "MODELCTL_GPU_SM": "86"})
    assert chosen.code == 0, chosen.err
    assert "svdq-int4_r32-m.safetensors" in chosen.out


def test_status_reads_lock_files_and_receipts_bounded(tmp_path: Path) -> None:
    """Issue 16, item 15: a lock file or receipt that is a FIFO, /dev/zero or a huge sparse file
    is refused (the lock) or treated as unreadable (a receipt: that file shows as unrecorded),
    unread, as is a receipt nested 10^5 deep (RecursionError: exit 70). The child's address
    space is capped, and a FIFO read would block past the timeout."""
    layout, manifest, env = _setup(tmp_path)
    install_demo(layout)
    receipt = layout.receipt("vae/vae.safetensors")
    receipt.unlink()
    os.mkfifo(receipt)
    lock = manifest.with_name("demo.lock.yaml")
    for make, expected in [
        (lambda: os.mkfifo(lock), "it is a FIFO (named pipe), not a regular file"),
        (lambda: lock.symlink_to("/dev/zero"), "it is a character device, not a regular file"),
        (lambda: os.truncate(lock.open("wb").name, 3 << 30), "is 3221225472 bytes, over the 16"),
    ]:
        lock.unlink(missing_ok=True)
        make()
        r = run_cli_limited("status", "demo", env=env)
        assert r.code == 2, r.err
        (line,) = [x for x in r.err.splitlines() if x.startswith("error:")]
        assert str(lock) in line and expected in line
    lock.unlink()
    deep = layout.receipt("configs/demo.json")  # JSON nested 10^5 deep: RecursionError (exit 70)
    deep.write_text("[" * 100_000 + "]" * 100_000)
    r = run_cli_limited("status", "demo", "--json", env=env)
    assert r.code == 0, r.err
    states = {a["dest"]: a["state"] for a in json.loads(r.out)["selections"][0]["assets"]}
    assert states["unet/model-Q4.gguf"] == "installed"
    assert states["vae/vae.safetensors"] != "installed"  # its receipt (a FIFO) cannot be read
    assert states["configs/demo.json"] != "installed"  # nor can a receipt nested too deeply


def test_status_refuses_lock_sizes_no_file_has(tmp_path: Path) -> None:
    """Issue 16, item 10, in lock files: a 5000-digit size made PyYAML's int() raise ValueError
    (exit 70); a 310-digit one was taken as a pin. Both are one error naming the lock file."""
    _, manifest, env = _setup(tmp_path)
    lock = manifest.with_name("demo.lock.yaml")
    for digits, expected in [(5000, "holds a number of more digits than"), (310, "size must be")]:
        lock.write_text(
            "lock: 1\nmanifest: demo\nassets:\n"
            f'  - source: "hf://acme/demo/vae.safetensors"\n    sha256: "{"a" * 64}"\n'
            f"    size: {'9' * digits}\n"
        )
        r = run_main("status", "demo", env=env)
        assert r.code == 2, r.err
        (line,) = [x for x in r.err.splitlines() if x.startswith("error:")]
        assert line.startswith(f"error: {lock}") and expected in line, line
