"""The test hub speaks the Hub protocol: proven with the real huggingface_hub client (in a
subprocess, so HF_ENDPOINT/HF_HOME are set before import) and with raw stdlib HTTP for ranges
and faults."""

from __future__ import annotations

import hashlib
import http.client
import json
import struct
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers.hub import TestHub, git_blob_sha1

REPO = "acme/tiny"


def _safetensors_bytes() -> bytes:
    header = json.dumps(
        {
            "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "__metadata__": {"a": "b"},
        }
    ).encode()
    return struct.pack("<Q", len(header)) + header + bytes(16)


def _run(hub: TestHub, tmp_path: Path, code: str, token: str | None = None) -> dict:
    proc = hub.run_python(code, tmp_path, token=token)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, headers=headers or {})
        resp = conn.getresponse()
        try:
            body = resp.read()
        except http.client.IncompleteRead as e:
            body = e.partial
        return resp.status, dict(resp.headers), body
    finally:
        conn.close()


def test_hf_hub_download_follows_redirect_and_drops_auth(hub: TestHub, tmp_path: Path) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB, LFS by suffix
    hub.add_file(REPO, "model.safetensors", big)
    hub.add_file(REPO, "config.json", b'{"a": 1}')
    hub.make_private(REPO, token="hf_good")
    commit = hub.commit(REPO)
    out = _run(
        hub,
        tmp_path,
        """
import json, hashlib, huggingface_hub as h
p = h.hf_hub_download("acme/tiny", "model.safetensors", local_dir="out")
c = h.hf_hub_download("acme/tiny", "config.json", local_dir="out")
m = h.get_hf_file_metadata(h.hf_hub_url("acme/tiny", "model.safetensors"))
print(json.dumps({"sha": hashlib.sha256(open(p, "rb").read()).hexdigest(),
                  "cfg": open(c).read(), "etag": m.etag, "commit": m.commit_hash, "size": m.size}))
""",
        token="hf_good",
    )
    assert out["sha"] == hashlib.sha256(big).hexdigest() == out["etag"]
    assert out["cfg"] == '{"a": 1}'
    assert out["commit"] == commit and out["size"] == len(big)
    cdn = hub.gets("model.safetensors", origin="cdn")
    assert cdn and all(not e.auth for e in cdn)  # token never leaves the hub origin
    assert all(e.auth for e in hub.requests("hub") if e.file)
    assert hub.bytes_served("model.safetensors") == len(big)
    small = hub.file(REPO, "config.json")
    assert small.etag == git_blob_sha1(b'{"a": 1}') and not small.lfs


def test_metadata_api(hub: TestHub, tmp_path: Path) -> None:
    data = _safetensors_bytes()
    hub.add_file(REPO, "unet/model.safetensors", data)
    hub.add_file(REPO, "README.md", b"# hi\n")
    hub.tag(REPO, "v1")
    hub.add_file(REPO, "extra.gguf", b"GGUF" + bytes(60))
    hub.tree_page_size = 2  # force pagination
    out = _run(
        hub,
        tmp_path,
        """
import json
from huggingface_hub import HfApi
api = HfApi()
info = api.model_info("acme/tiny", files_metadata=True)
v1 = api.model_info("acme/tiny", revision="v1")
tree = list(api.list_repo_tree("acme/tiny", recursive=True, revision=info.sha))
sub = list(api.list_repo_tree("acme/tiny", path_in_repo="unet"))
paths = api.get_paths_info("acme/tiny", ["unet/model.safetensors", "README.md", "nope"],
                           revision=info.sha)
meta = api.parse_safetensors_file_metadata("acme/tiny", "unet/model.safetensors")
def f(x):
    return {"path": x.path, "size": getattr(x, "size", None),
            "sha256": x.lfs.sha256 if getattr(x, "lfs", None) else None}
print(json.dumps({
  "sha": info.sha, "v1": v1.sha, "siblings": {s.rfilename: [s.size, s.lfs.sha256 if s.lfs else None,
  s.blob_id] for s in info.siblings}, "tree": [f(x) for x in tree], "sub": [f(x) for x in sub],
  "paths": [f(x) for x in paths], "tensors": list(meta.tensors), "meta": meta.metadata}))
""",
    )
    sha = hashlib.sha256(data).hexdigest()
    assert out["sha"] == hub.commit(REPO) and out["v1"] == hub.commit(REPO, "v1") != out["sha"]
    assert out["siblings"]["unet/model.safetensors"][:2] == [len(data), sha]
    assert out["siblings"]["README.md"] == [5, None, git_blob_sha1(b"# hi\n")]
    assert {x["path"] for x in out["tree"]} == {
        "README.md",
        "extra.gguf",
        "unet",
        "unet/model.safetensors",
    }
    assert [x["path"] for x in out["sub"]] == ["unet/model.safetensors"]
    assert [x["path"] for x in out["paths"]] == ["unet/model.safetensors", "README.md"]
    assert out["paths"][0]["sha256"] == sha
    assert out["tensors"] == ["w"] and out["meta"] == {"a": "b"}
    ranged = [e for e in hub.gets("unet/model.safetensors", origin="cdn") if e.range]
    assert ranged and all(e.status == 206 for e in ranged)


def test_errors_map_to_hf_exceptions(hub: TestHub, tmp_path: Path) -> None:
    hub.add_file("acme/gated", "m.safetensors", b"x" * 10)
    hub.gate("acme/gated", token="hf_ok")
    hub.add_token("hf_other")
    hub.add_file(REPO, "a.txt", b"a")
    code = """
import json, huggingface_hub as h
from huggingface_hub import errors as E
def kind(fn):
    try:
        fn()
        return "ok"
    except E.GatedRepoError:
        return "gated"
    except E.RepositoryNotFoundError:
        return "repo"
    except E.RevisionNotFoundError:
        return "rev"
    except E.RemoteEntryNotFoundError:
        return "entry"
    except E.HfHubHTTPError as e:
        return f"http{e.response.status_code}"
md = lambda r, f, **k: (lambda: h.get_hf_file_metadata(h.hf_hub_url(r, f, **k)))
print(json.dumps({
  "gated": kind(md("acme/gated", "m.safetensors")),
  "missing_repo": kind(md("acme/missing", "a.txt")),
  "rev": kind(md("acme/tiny", "a.txt", revision="nope")),
  "entry": kind(md("acme/tiny", "b.txt")),
  "dl_gated": kind(lambda: h.hf_hub_download("acme/gated", "m.safetensors", local_dir="o")),
  "info_gated": kind(lambda: h.HfApi().model_info("acme/gated")),
}))
"""
    anon = _run(hub, tmp_path, code)
    assert anon == {
        "gated": "gated",
        "missing_repo": "repo",
        "rev": "rev",
        "entry": "entry",
        "dl_gated": "gated",
        "info_gated": "ok",
    }
    other = _run(hub, tmp_path, code, token="hf_other")
    assert other["gated"] == "gated" and other["missing_repo"] == "repo"
    statuses = {(e.path, e.status) for e in hub.requests("hub")}
    assert ("/acme/gated/resolve/main/m.safetensors", 403) in statuses  # token without access
    assert ("/acme/missing/resolve/main/a.txt", 404) in statuses  # with a token: 404
    assert ("/acme/missing/resolve/main/a.txt", 401) in statuses  # anonymous: 401
    ok = _run(hub, tmp_path, code, token="hf_ok")
    assert ok["gated"] == "ok" and ok["dl_gated"] == "ok"


def test_whoami_and_invalid_token(hub: TestHub) -> None:
    hub.add_token("hf_me", user="me")
    status, _, body = _request(
        f"{hub.endpoint}/api/whoami-v2", headers={"Authorization": "Bearer hf_me"}
    )
    assert status == 200 and json.loads(body)["name"] == "me"
    status, _, _ = _request(f"{hub.endpoint}/api/whoami-v2", headers={"Authorization": "Bearer x"})
    assert status == 401
    status, _, body = _request(f"{hub.endpoint}/api/agent-harnesses")
    assert status == 200 and json.loads(body) == {"standardEnvVars": [], "harnesses": {}}


def _cdn_url(hub: TestHub, path: str) -> str:
    status, headers, _ = _request(f"{hub.endpoint}/{REPO}/resolve/main/{path}", "HEAD")
    assert status == 302
    assert not any(k.lower().startswith("x-xet") for k in headers)
    return headers["Location"]


def test_ranges_on_cdn_and_hub(hub: TestHub, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    hub.add_file(REPO, "w.bin", src)  # LFS, served from disk
    hub.add_file(REPO, "small.txt", data[:1000])  # non-LFS: hub answers directly
    url = _cdn_url(hub, "w.bin")
    etag = hashlib.sha256(data).hexdigest()
    for rng, start, end in (("bytes=100-", 100, len(data) - 1), ("bytes=5-9", 5, 9)):
        status, headers, body = _request(url, headers={"Range": rng})
        assert status == 206 and body == data[start : end + 1]
        assert headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    status, _, body = _request(url, headers={"Range": "bytes=-10"})
    assert status == 206 and body == data[-10:]
    status, headers, _ = _request(url, headers={"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    status, _, body = _request(url, headers={"Range": "bytes=10-", "If-Range": '"other"'})
    assert status == 200 and body == data
    status, _, body = _request(url, headers={"Range": "bytes=10-", "If-Range": f'"{etag}"'})
    assert status == 206 and body == data[10:]
    small = f"{hub.endpoint}/{REPO}/resolve/main/small.txt"
    status, headers, body = _request(small, headers={"Range": "bytes=990-"})
    assert status == 206 and body == data[990:1000] and "X-Repo-Commit" in headers
    # a tampered or expired signature is refused by the CDN
    assert _request(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))[0] == 403
    hub.revoke_urls()
    assert _request(url)[0] == 403


def test_faults(hub: TestHub) -> None:
    data = bytes(range(256)) * 100
    hub.add_file(REPO, "f.bin", data)
    url = _cdn_url(hub, "f.bin")

    hub.fault(REPO, "f.bin", drop_after=1000, times=1)
    status, _, body = _request(url)
    assert status == 200 and len(body) == 1000  # dropped
    assert _request(url)[2] == data  # only the first request
    hub.fault(REPO, "f.bin", drop_after=0.5)
    assert len(_request(url)[2]) == len(data) // 2

    hub.fault(REPO, "f.bin", corrupt=True)
    body = _request(url)[2]
    assert len(body) == len(data) and body != data
    hub.fault(REPO, "f.bin", ignore_range=True)
    status, _, body = _request(url, headers={"Range": "bytes=100-"})
    assert status == 200 and body == data
    hub.fault(REPO, "f.bin", range_start=0)
    status, headers, body = _request(url, headers={"Range": "bytes=100-"})
    assert status == 206 and headers["Content-Range"].startswith("bytes 0-") and body == data

    hub.fault(REPO, "f.bin", statuses=[429, 503])
    status, headers, _ = _request(url)
    assert status == 429 and headers["Retry-After"] == "1"
    assert _request(url)[0] == 503
    assert _request(url)[2] == data

    hub.fault(REPO, "f.bin", stall=0.3, stall_after=10)
    t0 = time.monotonic()
    assert _request(url)[2] == data
    assert time.monotonic() - t0 >= 0.3

    hub.fault(REPO, "f.bin", rate=100_000)
    t0 = time.monotonic()
    assert _request(url)[2] == data
    assert time.monotonic() - t0 >= 0.15  # 25.6 kB at 100 kB/s (loose lower bound)
    hub.clear_faults()
    served = [e.sent for e in hub.gets("f.bin", origin="cdn")]
    assert served[0] == 1000 and sum(served) == hub.bytes_served("f.bin")


def test_hf_client_resumes_after_drop_and_retries_429(hub: TestHub, tmp_path: Path) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB
    hub.add_file(REPO, "m.safetensors", data)
    hub.fault(REPO, "m.safetensors", drop_after=300_000, times=1)
    hub.add_file(REPO, "c.json", b"{}")
    hub.fault(REPO, "c.json", where="resolve", statuses=[429])
    out = _run(
        hub,
        tmp_path,
        """
import json, hashlib, huggingface_hub as h
p = h.hf_hub_download("acme/tiny", "m.safetensors", local_dir="o")
c = h.hf_hub_download("acme/tiny", "c.json", local_dir="o")
print(json.dumps({"sha": hashlib.sha256(open(p, "rb").read()).hexdigest(), "c": open(c).read()}))
""",
    )
    assert out == {"sha": hashlib.sha256(data).hexdigest(), "c": "{}"}
    cdn = hub.gets("m.safetensors", origin="cdn")
    # huggingface_hub resumes in 10 MiB steps, so a drop this early makes it start over
    assert cdn[0].sent == 300_000 and len(cdn) == 2 and cdn[1].sent == len(data)
    assert any(e.status == 429 for e in hub.requests("hub") if e.file == "c.json")


def test_sparse_big_file_streams_from_disk(hub: TestHub, tmp_path: Path) -> None:
    big = tmp_path / "big.gguf"
    with open(big, "wb") as fh:
        fh.truncate(300 * 1024 * 1024)  # sparse: no memory, little disk
    hub.add_file(REPO, "big.gguf", big, sha256="0" * 64)  # skip hashing 300 MiB
    url = _cdn_url(hub, "big.gguf")
    status, headers, body = _request(url, headers={"Range": "bytes=314572700-"})
    assert status == 206 and body == bytes(100)
    assert headers["Content-Range"] == "bytes 314572700-314572799/314572800"


@pytest.mark.parametrize("repo_type", ["dataset"])
def test_dataset_repos(hub: TestHub, tmp_path: Path, repo_type: str) -> None:
    hub.add_file("acme/ds", "d.txt", b"hello", repo_type=repo_type)
    status, headers, body = _request(f"{hub.endpoint}/datasets/acme/ds/resolve/main/d.txt")
    assert status == 200 and body == b"hello"
    assert headers["X-Repo-Commit"] == hub.commit("acme/ds", repo_type=repo_type)
    assert _request(f"{hub.endpoint}/acme/ds/resolve/main/d.txt")[0] == 401  # not a model repo


def test_stop_is_prompt_during_stall(tmp_path: Path) -> None:
    hub = TestHub().start()
    hub.add_file(REPO, "s.bin", b"x" * 1000)
    hub.fault(REPO, "s.bin", stall=30, stall_after=10)
    parts = urlsplit(_cdn_url(hub, "s.bin"))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        resp = conn.getresponse()
        assert resp.read(10) == b"x" * 10  # all it sends before the stall: the hub is stalling
        t0 = time.monotonic()
        hub.stop()
        with pytest.raises(http.client.IncompleteRead):
            resp.read()  # cut off by stop(), long before the client's 10 s timeout
        assert time.monotonic() - t0 < 5
    finally:
        conn.close()
