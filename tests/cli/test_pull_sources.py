"""`modelctl pull` of `https://` and `file://` sources (modelctl/sources/https.py, file.py), end to
end: the real CLI in a subprocess, the test hub over https (trustme certificates, `tls_hub`) as
the server, real mirror files on disk. Both kinds must pin a sha256 (the manifest's pin is their
only proof of identity); a wrong one, a missing file or a 404 exits 3 and places nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from modelctl.store.layout import Layout
from tests.helpers.cli import Result, run_cli
from tests.helpers.hub import TestHub
from tests.helpers.tmpfs import small_tmpfs

TOKEN = "hf_" + secrets.token_hex(16)
REPO = "org/files"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(folder: Path, **asset: Any) -> Path:
    """A one-asset manifest (`id: a`, `role: other`) with the given fields."""
    lines = ["schema: 1", "name: t", "description: sources test", "assets:",
             "  - id: a", "    role: other"]  # fmt: skip
    lines += [f"    {key}: {value}" for key, value in asset.items()]
    path = folder / "stack.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def pull(tmp: Path, man: Path, env: dict[str, str], *extra: str) -> Result:
    r = run_cli("pull", str(man), "--models-dir", str(tmp / "models"), "--no-check", *extra,
                env=env)  # fmt: skip
    assert TOKEN not in r.out + r.err
    # a signed URL is a credential too: its signature never prints
    assert not re.search(r"X-Amz-Signature=(?!<redacted>)", r.out + r.err)
    return r


def events(r: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in r.out.splitlines()]


def receipt(tmp: Path, dest: str) -> dict[str, Any]:
    return json.loads(Layout(tmp / "models").receipt(dest).read_text())


def leftovers(tmp: Path) -> list[str]:
    """Every file under the models dir except receipts and lock files: what a pull left behind
    besides the files it placed (partials, their states, staged copies)."""
    models = tmp / "models"
    if not models.exists():
        return []
    return sorted(
        str(p.relative_to(models))
        for p in models.rglob("*")
        if p.is_file() and not p.name.endswith(".lock") and "receipts" not in p.parts
    )


def nothing_placed(tmp: Path, dest: str) -> None:
    assert not (tmp / "models" / dest).exists()
    assert not Layout(tmp / "models").receipt(dest).exists()
    assert leftovers(tmp) == []  # no partial, no partial state, no staged copy


# --- https:// -------------------------------------------------------------------------------------


@pytest.fixture
def https_env(tls_hub: TestHub, ca: Any, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment: HF_ENDPOINT is the https test hub, which knows TOKEN."""
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    tls_hub.add_token(TOKEN)
    return tls_hub.env(tmp_path, token=TOKEN, SSL_CERT_FILE=str(tmp_path / "ca.pem"))


def test_https_source_is_placed_with_a_receipt_and_a_second_pull_sends_no_request(
    tls_hub: TestHub, https_env: dict[str, str], tmp_path: Path
) -> None:
    data = os.urandom(3_000_000)
    tls_hub.add_file(REPO, "unet/m.gguf", data)  # LFS: the hub answers 302 to its CDN
    url = f"{tls_hub.endpoint}/{REPO}/resolve/main/unet/m.gguf"
    man = manifest(tmp_path, source=url, dest="unet/m.gguf", sha256=sha(data))
    r = pull(tmp_path, man, https_env, "--json")
    assert r.code == 0, r.err
    placed = tmp_path / "models" / "unet" / "m.gguf"
    assert sha(placed.read_bytes()) == sha(data)
    rec = receipt(tmp_path, "unet/m.gguf")
    assert (rec["source"], rec["sha256"], rec["size"]) == (url, sha(data), len(data))
    assert rec["inode"] == placed.stat().st_ino
    assert leftovers(tmp_path) == ["unet/m.gguf"]
    done = [e for e in events(r) if e["event"] == "done"]
    assert [(e["dest"], e["sha256"], e["fetched"]) for e in done] == [
        ("unet/m.gguf", sha(data), len(data))
    ]
    # the URL is on HF_ENDPOINT over https: the token went to the hub, never to the CDN
    assert tls_hub.requests("hub") and all(e.auth for e in tls_hub.requests("hub"))
    assert tls_hub.gets("unet/m.gguf", origin="cdn")
    assert not any(e.auth for e in tls_hub.requests("cdn"))

    tls_hub.clear_log()
    r = pull(tmp_path, man, https_env, "--json")
    assert r.code == 0, r.err
    assert tls_hub.requests() == []  # pinned sha256 + matching receipt: not even a HEAD
    summary = events(r)[-1]
    assert summary["event"] == "summary" and summary["fetched_bytes"] == 0
    assert [i["state"] for i in summary["items"]] == ["present"]


def test_https_source_on_another_host_gets_no_token(
    tls_hub: TestHub, https_env: dict[str, str], tmp_path: Path
) -> None:
    """A presigned URL (the CDN's) is not HF_ENDPOINT: no Authorization header, and the signature
    in its query string never reaches the output."""
    data = os.urandom(1_000_000)
    tls_hub.add_file(REPO, "vae/ae.safetensors", data)
    url = tls_hub.cdn_url(tls_hub.file(REPO, "vae/ae.safetensors"))
    man = manifest(tmp_path, source=f'"{url}"', dest="vae/ae.safetensors", sha256=sha(data))
    r = pull(tmp_path, man, https_env, "--json")
    assert r.code == 0, r.err
    assert (tmp_path / "models" / "vae" / "ae.safetensors").read_bytes() == data
    assert tls_hub.requests() and not any(e.auth for e in tls_hub.requests())
    starts = [e for e in events(r) if e["event"] == "start"]
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    assert [e["source"] for e in starts] == [url.replace(signature, "<redacted>")]


def test_https_sha256_mismatch_exits_3_and_places_nothing(
    tls_hub: TestHub, https_env: dict[str, str], tmp_path: Path
) -> None:
    data = os.urandom(2_000_000)
    tls_hub.add_file(REPO, "unet/m.gguf", data)
    url = f"{tls_hub.endpoint}/{REPO}/resolve/main/unet/m.gguf"
    wrong = sha(b"another file")
    man = manifest(tmp_path, source=url, dest="unet/m.gguf", sha256=wrong)
    r = pull(tmp_path, man, https_env)
    assert r.code == 3, r.err
    assert r.err.count("error: ") == 1 and "Traceback" not in r.err
    assert f"expected {wrong}, got {sha(data)}" in r.err
    assert "nothing was placed at unet/m.gguf" in r.err
    nothing_placed(tmp_path, "unet/m.gguf")


def test_https_404_exits_3_before_any_download(
    tls_hub: TestHub, https_env: dict[str, str], tmp_path: Path
) -> None:
    tls_hub.add_file(REPO, "unet/m.gguf", b"x" * 1000)
    url = f"{tls_hub.endpoint}/{REPO}/resolve/main/unet/gone.gguf"
    man = manifest(tmp_path, source=url, dest="unet/m.gguf", sha256=sha(b"x"))
    r = pull(tmp_path, man, https_env)
    assert r.code == 3, r.err
    lines = r.err.strip().splitlines()
    assert lines[0] == f"error: {url}: HTTP 404"
    assert lines[1:] == ["  hint: the URL names no file; check it in the manifest"]
    assert [e.method for e in tls_hub.requests()] == ["HEAD"]
    nothing_placed(tmp_path, "unet/m.gguf")


def test_https_source_without_sha256_is_refused_unless_allowed(
    tls_hub: TestHub, https_env: dict[str, str], tmp_path: Path
) -> None:
    data = os.urandom(100_000)
    tls_hub.add_file(REPO, "unet/m.gguf", data)
    url = f"{tls_hub.endpoint}/{REPO}/resolve/main/unet/m.gguf"
    man = manifest(tmp_path, source=url, dest="unet/m.gguf")
    r = pull(tmp_path, man, https_env)
    assert r.code == 2, r.err
    assert "has no sha256 to verify it against" in r.err and "--allow-unverified" in r.err
    assert tls_hub.requests() == []
    r = pull(tmp_path, man, https_env, "--allow-unverified")
    assert r.code == 0, r.err
    assert (tmp_path / "models" / "unet" / "m.gguf").read_bytes() == data


# --- file:// --------------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No network at all: file:// sources need none (HF_HUB_OFFLINE would not stop a copy)."""
    (tmp_path / "hf_home").mkdir()
    return {"HF_HOME": str(tmp_path / "hf_home"), "HF_ENDPOINT": "http://127.0.0.1:9",
            "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "1"}  # fmt: skip


def mirror(tmp: Path, rel: str = "mirror/m.gguf", size: int = 2_000_000) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("form", ["absolute", "relative"])
def test_file_source_is_copied_with_a_receipt_and_a_second_pull_reads_nothing(
    env: dict[str, str], tmp_path: Path, form: str
) -> None:
    src, data = mirror(tmp_path, "mirror dir/m.gguf")  # a space: the URI is percent-encoded
    source = "file://" + quote(str(src)) if form == "absolute" else "file://mirror%20dir/m.gguf"
    man = manifest(tmp_path, source=source, dest="unet/m.gguf", sha256=sha(data))  # relative
    r = pull(tmp_path, man, env, "--json")  # paths are read from the manifest's folder
    assert r.code == 0, r.err
    placed = tmp_path / "models" / "unet" / "m.gguf"
    assert placed.read_bytes() == data
    assert src.read_bytes() == data and src.stat().st_ino != placed.stat().st_ino  # a copy
    rec = receipt(tmp_path, "unet/m.gguf")
    assert (rec["source"], rec["sha256"], rec["size"]) == (source, sha(data), len(data))
    assert rec["inode"] == placed.stat().st_ino
    assert leftovers(tmp_path) == ["unet/m.gguf"]
    assert events(r)[-1]["fetched_bytes"] == len(data)

    src.unlink()  # the second pull must not even look at the mirror
    r = pull(tmp_path, man, env, "--json")
    assert r.code == 0, r.err
    summary = events(r)[-1]
    assert summary["fetched_bytes"] == 0
    assert [i["state"] for i in summary["items"]] == ["present"]
    assert placed.read_bytes() == data


def test_file_sha256_mismatch_exits_3_and_places_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    src, data = mirror(tmp_path)
    wrong = sha(data[:-1])  # a truncated copy's hash, say
    man = manifest(tmp_path, source=f"file://{src}", dest="unet/m.gguf", sha256=wrong)
    r = pull(tmp_path, man, env)
    assert r.code == 3, r.err
    assert r.err.count("error: ") == 1 and "Traceback" not in r.err
    assert f"sha256 mismatch: expected {wrong}, got {sha(data)}" in r.err
    nothing_placed(tmp_path, "unet/m.gguf")
    assert src.read_bytes() == data


def test_missing_file_source_exits_3_naming_the_path(env: dict[str, str], tmp_path: Path) -> None:
    gone = tmp_path / "mirror" / "gone.gguf"
    man = manifest(tmp_path, source=f"file://{gone}", dest="unet/m.gguf", sha256=sha(b"x"))
    r = pull(tmp_path, man, env)
    assert r.code == 3, r.err
    lines = r.err.strip().splitlines()
    assert lines[0] == f"error: file://{gone}: No such file or directory ({gone})"
    assert lines[1:] == ["  hint: check the file:// path and the mirror mount"]
    nothing_placed(tmp_path, "unet/m.gguf")


@pytest.mark.parametrize("problem", ["folder", "size"])
def test_a_folder_or_a_file_of_another_size_exits_3(
    env: dict[str, str], tmp_path: Path, problem: str
) -> None:
    src, data = mirror(tmp_path)
    pins: dict[str, Any] = {"sha256": sha(data)}
    if problem == "size":
        pins["size"] = len(data) + 1
    target = src.parent if problem == "folder" else src
    man = manifest(tmp_path, source=f"file://{target}", dest="unet/m.gguf", **pins)
    r = pull(tmp_path, man, env)
    assert r.code == 3, r.err
    assert ("is not a file" if problem == "folder" else f"has {len(data)} bytes") in r.err
    nothing_placed(tmp_path, "unet/m.gguf")


def test_file_source_without_sha256_is_refused_unless_allowed(
    env: dict[str, str], tmp_path: Path
) -> None:
    src, data = mirror(tmp_path, size=1000)
    man = manifest(tmp_path, source=f"file://{src}", dest="unet/m.gguf")
    r = pull(tmp_path, man, env)
    assert r.code == 2 and "has no sha256 to verify it against" in r.err, r.err
    assert not (tmp_path / "models" / "unet" / "m.gguf").exists()
    r = pull(tmp_path, man, env, "--allow-unverified")
    assert r.code == 0, r.err
    assert (tmp_path / "models" / "unet" / "m.gguf").read_bytes() == data


def test_a_destination_folder_on_another_filesystem_gets_a_staged_copy(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`models/tiny` is a mount (a tmpfs) while the partials live on the models' disk: publishing
    copies beside the destination and renames there (store/install.py), never into the final
    name, and leaves no staged copy behind."""
    src, data = mirror(tmp_path)
    man = manifest(tmp_path, source=f"file://{src}", dest="tiny/m.gguf", sha256=sha(data))
    (tmp_path / "models").mkdir()
    with small_tmpfs(tmp_path / "models", "8m") as mnt:
        r = pull(tmp_path, man, env)
        assert r.code == 0, r.err
        placed = mnt / "m.gguf"
        assert placed.read_bytes() == data
        assert placed.stat().st_dev != (tmp_path / "models").stat().st_dev
        assert os.listdir(mnt) == ["m.gguf"]  # nothing staged left beside it
        assert receipt(tmp_path, "tiny/m.gguf")["inode"] == placed.stat().st_ino
        assert leftovers(tmp_path) == ["tiny/m.gguf"]
