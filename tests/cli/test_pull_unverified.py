"""Files no hash vouches for (issue 16, item 2): never called "sha256 verified".

The real CLI in subprocesses, the real huggingface_hub, the loopback test hub behind a loopback
proxy that replaces every ETag and X-Linked-Etag with its own (tests/helpers/proxy.py), as caching
proxies do: the Hub's LFS sha256 never reaches the client, so only the size can be checked. What
the pull says, what the receipt records, what `verify` says, and what `--require-hash` and
`--locked` refuse.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelctl.store.layout import Layout
from tests.helpers.cli import Result, run_cli, run_main
from tests.helpers.hub import TestHub
from tests.helpers.proxy import TestProxy

REPO = "org/models"
DEST = "unet/model.gguf"
MANIFEST = (
    "schema: 1\nname: t\ndescription: size-only test\nassets:\n  - id: a\n    role: other\n"
    f"    source: hf://{REPO}/unet/model.gguf\n    dest: {DEST}\n"
)


@pytest.fixture
def proxy() -> Iterator[TestProxy]:
    with TestProxy(rewrite_etags=True) as p:
        yield p


def setup(hub: TestHub, tmp: Path) -> tuple[Path, bytes]:
    data = os.urandom(1_000_000)
    hub.add_file(REPO, "unet/model.gguf", data)
    man = tmp / "t.yaml"
    man.write_text(MANIFEST)
    return man, data


def run(hub: TestHub, tmp: Path, proxy: TestProxy | None, *args: str) -> Result:
    """A modelctl command against the hub, through `proxy` when given (never bypassed)."""
    via = {"HTTP_PROXY": proxy.url(), "NO_PROXY": "", "no_proxy": ""} if proxy else {}
    return run_cli(*args, "--models-dir", str(tmp / "models"), env=hub.env(tmp, **via))


def receipt(tmp: Path) -> dict:
    return json.loads(Layout(tmp / "models").receipt(DEST).read_text())


def test_size_only_is_said_recorded_and_verified_as_such(hub, tmp_path, proxy):
    man, data = setup(hub, tmp_path)
    r = run(hub, tmp_path, proxy, "pull", str(man), "--no-check")
    assert r.code == 0, r.err
    assert proxy.log, "the pull went through the proxy"
    assert "sha256 verified" not in r.out + r.err
    assert f"installed {DEST} (976.6 KiB, size only, no hash to check against)" in r.err
    assert f"{DEST}: size only, no hash to check against" in r.out  # the summary says it too
    placed = tmp_path / "models" / DEST
    assert placed.read_bytes() == data  # (the right bytes, as it happens: nothing proved it)
    assert receipt(tmp_path)["verified"] == "size"

    for mode in ([], ["--full"]):
        v = run_main("verify", *mode, "--models-dir", str(tmp_path / "models"))
        assert v.code == 0, v.err  # unchanged since install: not a problem, and not "verified"
        assert f"unverified {DEST}  (size only at install, no hash to check against" in v.out
        assert "1 of them checked by size only at install, no hash to check against" in v.out
    v = run_main("verify", "--full", "--json", "--models-dir", str(tmp_path / "models"))
    (file,) = json.loads(v.out)["files"]
    assert (file["state"], file["ok"]) == ("unverified", True)

    # --require-hash: refused, before any download, and the file stays as it is
    hub.clear_log()
    r = run(hub, tmp_path, proxy, "pull", str(man), "--no-check", "--require-hash")
    assert r.code == 3, r.err
    assert r.err.startswith("error: --require-hash: no sha256 to check against for ")
    assert r.err.count("error:") == 1 and "Traceback" not in r.err
    assert f"{DEST} (installed with a size check only)" in r.err
    assert hub.downloads("unet/model.gguf") == []
    assert placed.read_bytes() == data


def test_require_hash_refuses_before_the_first_byte(hub, tmp_path, proxy):
    man, _ = setup(hub, tmp_path)
    r = run(hub, tmp_path, proxy, "pull", str(man), "--no-check", "--require-hash", "--json")
    assert r.code == 3, r.err
    assert f"no sha256 to check against for {DEST}:" in r.err
    assert "modelctl lock" in r.err  # the fix: pin it
    assert hub.downloads("unet/model.gguf") == []
    assert not (tmp_path / "models" / DEST).exists()
    # without the proxy the Hub's sha256 arrives, and the same command verifies and places it
    r = run(hub, tmp_path, None, "pull", str(man), "--no-check", "--require-hash", "--json")
    assert r.code == 0, r.err
    done = [json.loads(line) for line in r.out.splitlines() if '"done"' in line]
    assert done and done[0]["verified"] == "sha256"
    assert receipt(tmp_path)["verified"] == "sha256"


def test_locked_checks_against_the_lock_and_refuses_bytes_that_differ(hub, tmp_path, proxy):
    """With a lock, the pin is the hash: through the same proxy a size-only file whose bytes match
    the pin becomes verified, and bytes that do not are refused (exit 3), the installed file kept."""
    man, data = setup(hub, tmp_path)
    hub.fault(REPO, "unet/model.gguf", corrupt=True)  # what the proxy passes on is wrong
    r = run(hub, tmp_path, proxy, "pull", str(man), "--no-check")
    assert r.code == 0, r.err  # size only: the flipped byte goes unnoticed, and the output says so
    assert "size only, no hash to check against" in r.err
    placed = tmp_path / "models" / DEST
    wrong = placed.read_bytes()
    assert wrong != data and len(wrong) == len(data)

    r = run_cli("lock", str(man), env=hub.env(tmp_path))  # the Hub's API: the real sha256
    assert r.code == 0, r.err
    r = run(hub, tmp_path, proxy, "pull", str(man), "--no-check", "--locked")
    assert r.code == 3, r.err  # the pin says the placed bytes are not the file: fetched again,
    assert "sha256 mismatch" in r.err  # still corrupt: refused, nothing replaced
    assert placed.read_bytes() == wrong

    hub.clear_faults()
    r = run(hub, tmp_path, proxy, "pull", str(man), "--no-check", "--locked")
    assert r.code == 0, r.err
    assert "sha256 verified" in r.err
    assert hashlib.sha256(placed.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert receipt(tmp_path)["verified"] == "sha256"
    v = run_main("verify", "--full", "--models-dir", str(tmp_path / "models"))
    assert v.code == 0 and v.out.strip() == "all 1 files intact (sha256)", v.out


def test_a_size_only_file_the_lock_vouches_for_becomes_verified(hub, tmp_path, proxy):
    man, _ = setup(hub, tmp_path)
    assert run(hub, tmp_path, proxy, "pull", str(man), "--no-check").code == 0
    assert receipt(tmp_path)["verified"] == "size"
    assert run_cli("lock", str(man), env=hub.env(tmp_path)).code == 0
    hub.clear_log()
    r = run(hub, tmp_path, proxy, "pull", str(man), "--no-check", "--locked")
    assert r.code == 0, r.err
    assert hub.downloads("unet/model.gguf") == []  # its recorded sha256 is the pin: present
    assert receipt(tmp_path)["verified"] == "sha256"
    assert "size only" not in r.out + r.err


def test_a_file_source_without_sha256_is_size_only_too(tmp_path):
    """`--allow-unverified` file:// (and https://) sources: the same words, the same receipt."""
    blob = tmp_path / "mirror" / "m.gguf"
    blob.parent.mkdir()
    blob.write_bytes(os.urandom(4096))
    man = tmp_path / "f.yaml"
    man.write_text(
        "schema: 1\nname: f\nassets:\n  - id: a\n    role: other\n"
        f"    source: file://{blob}\n    dest: unet/m.gguf\n"
    )
    models = ["--models-dir", str(tmp_path / "models"), "--no-check", "--allow-unverified"]
    r = run_main("pull", str(man), *models, "--require-hash")
    assert r.code == 3 and "--require-hash" in r.err, r.err
    assert not (tmp_path / "models" / "unet" / "m.gguf").exists()
    r = run_main("pull", str(man), *models)
    assert r.code == 0, r.err
    assert "unet/m.gguf: size only, no hash to check against" in r.out
    assert "sha256 verified" not in r.out + r.err
    assert (
        json.loads(Layout(tmp_path / "models").receipt("unet/m.gguf").read_text())["verified"]
        == "size"
    )
