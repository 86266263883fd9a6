"""`sources.hf`'s shortcuts around huggingface_hub, held against huggingface_hub as the oracle.

`quick_metadata` must either return exactly what `get_hf_file_metadata` returns (commit, etag, size)
or decline (None), so that huggingface_hub handles the case; `hub_token` must equal `get_token()`.
Each case runs in a fresh interpreter whose huggingface_hub talks to the loopback test hub; the
metadata comparisons share two (one per token: an interpreter start costs more than the calls, and
neither function keeps anything from one call to the next).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelctl.errors import BadInput
from modelctl.sources.hf import check_token
from tests.helpers.hub import TestHub

TOKEN = "hf_" + secrets.token_hex(16)

COMPARE = r"""
import json
from huggingface_hub import constants, get_hf_file_metadata
from modelctl.sources.hf import auth_headers, quick_metadata
headers = auth_headers(constants.ENDPOINT)
got = []
for url in URLS:
    quick = quick_metadata(url, headers, 10)
    try:
        m = get_hf_file_metadata(url, token=False, headers=headers)
        oracle = [m.commit_hash, m.etag, m.size]
    except Exception as exc:
        oracle = type(exc).__name__
    got.append({"quick": quick and [quick.commit_hash, quick.etag, quick.size], "oracle": oracle})
print(json.dumps(got))
"""


def compare_all(hub: TestHub, tmp_path: Path, urls: list[str], token: str | None) -> dict:
    """{url: {"quick": …, "oracle": …}} for every url, from one fresh interpreter."""
    r = hub.run_python(COMPARE.replace("URLS", repr(urls)), tmp_path, token=token)
    assert r.returncode == 0, r.stderr
    return dict(zip(urls, json.loads(r.stdout), strict=True))


@pytest.fixture(scope="module")
def files() -> Iterator[TestHub]:
    """One hub for the module: no test changes its content."""
    with TestHub() as hub:
        hub.add_token(TOKEN)
        hub.add_file("org/models", "unet/model.gguf", os.urandom(300_000))  # LFS: 302 to the CDN
        hub.add_file("org/models", "config.json", b'{"a": 1}')  # a small git file: 200
        hub.add_file("org/models", "sub dir/ünï côdé.safetensors", os.urandom(1000))
        hub.add_file("org/models", "model.gguf", os.urandom(2000), revision="refs/pr/1")
        hub.add_file("org/data", "x.safetensors", os.urandom(1000), repo_type="dataset")
        hub.add_file("org/gated", "model.safetensors", os.urandom(1000))
        hub.gate("org/gated", TOKEN)
        hub.add_file("org/new-name", "model.safetensors", os.urandom(1000))
        hub.rename("org/old-name", "org/new-name")
        yield hub


QUICK = [
    "org/models/resolve/main/unet/model.gguf",
    "org/models/resolve/main/config.json",
    "org/models/resolve/main/sub%20dir/%C3%BCn%C3%AF%20c%C3%B4d%C3%A9.safetensors",
    "org/models/resolve/refs%2Fpr%2F1/model.gguf",
    "datasets/org/data/resolve/main/x.safetensors",
]
ERRORS = [
    ("org/gated/resolve/main/model.safetensors", "GatedRepoError"),
    ("org/nope/resolve/main/model.safetensors", "RepositoryNotFoundError"),
    ("org/models/resolve/nope/config.json", "RevisionNotFoundError"),
    ("org/models/resolve/main/nope.json", "RemoteEntryNotFoundError"),
]
RENAMED = "org/old-name/resolve/main/model.safetensors"
UNREACHABLE = "http://127.0.0.1:9/org/models/resolve/main/config.json"


def gated_commit_url(hub: TestHub) -> str:
    return f"{hub.endpoint}/org/gated/resolve/{hub.commit('org/gated')}/model.safetensors"


@pytest.fixture(scope="module")
def compared(files: TestHub, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """{(url, token): comparison} for every case below: anonymous, then with TOKEN."""
    tmp = tmp_path_factory.mktemp("compare")
    anonymous = [f"{files.endpoint}/{p}" for p in [*QUICK, *(p for p, _ in ERRORS), RENAMED]]
    got = {
        (u, None): v for u, v in compare_all(files, tmp, [*anonymous, UNREACHABLE], None).items()
    }
    with_token = compare_all(files, tmp, [gated_commit_url(files)], TOKEN)
    return got | {(u, TOKEN): v for u, v in with_token.items()}


@pytest.mark.parametrize("path", QUICK)
def test_quick_metadata_equals_huggingface_hubs(files: TestHub, compared: dict, path: str) -> None:
    got = compared[(f"{files.endpoint}/{path}", None)]
    assert got["quick"] is not None
    assert got["quick"] == got["oracle"]


def test_quick_metadata_of_a_commit_and_with_a_token(files: TestHub, compared: dict) -> None:
    commit = files.commit("org/gated")
    got = compared[(gated_commit_url(files), TOKEN)]
    assert got["quick"] is not None and got["quick"][0] == commit
    assert got["quick"] == got["oracle"]


@pytest.mark.parametrize(("path", "oracle"), ERRORS)
def test_errors_are_left_to_huggingface_hub(
    files: TestHub, compared: dict, path: str, oracle: str
) -> None:
    got = compared[(f"{files.endpoint}/{path}", None)]
    assert got == {"quick": None, "oracle": oracle}


def test_a_renamed_repo_is_left_to_huggingface_hub(files: TestHub, compared: dict) -> None:
    got = compared[(f"{files.endpoint}/{RENAMED}", None)]
    assert got["quick"] is None
    assert got["oracle"][0] == files.commit("org/new-name")


def test_an_unreachable_endpoint_is_left_to_huggingface_hub(compared: dict) -> None:
    got = compared[(UNREACHABLE, None)]
    assert got["quick"] is None and isinstance(got["oracle"], str)


def test_resolve_of_a_plain_file_does_not_import_huggingface_hubs_http_stack(
    files: TestHub, tmp_path: Path
) -> None:
    code = r"""
import json, sys
from modelctl.manifest.model import ResolvedAsset
from modelctl.sources.hf import resolve
a = ResolvedAsset(id="m", role="other", source="hf://org/models/unet/model.gguf", dest="unet/m.gguf",
                  revision="main", sha256=None, size=None, expect={}, allow_pickle=False)
r = resolve(a)
print(json.dumps([r.commit, r.size, r.sha256, "huggingface_hub.file_download" in sys.modules]))
"""
    r = files.run_python(code, tmp_path)
    assert r.returncode == 0, r.stderr
    commit, size, sha, imported = json.loads(r.stdout)
    f = files.file("org/models", "unet/model.gguf")
    assert (commit, size, sha, imported) == (files.commit("org/models"), f.size, f.sha256, False)


TOKENS = r"""
import json
from huggingface_hub import get_token
from modelctl.sources.hf import hub_token
print(json.dumps([hub_token(), get_token()]))
"""


@pytest.mark.parametrize(
    ("env", "stored"),
    [
        ({"HF_TOKEN": TOKEN}, None),
        ({"HF_TOKEN": f"  {TOKEN}\r\n"}, None),
        ({"HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": TOKEN}, None),
        ({"HF_TOKEN": ""}, None),
        ({"HF_TOKEN": ""}, "hf_stored"),
        ({"HF_TOKEN": TOKEN}, "hf_stored"),
        ({"HF_TOKEN": "   "}, "hf_stored"),
    ],
)
def test_hub_token_equals_get_token(
    hub: TestHub, tmp_path: Path, env: dict[str, str], stored: str | None
) -> None:
    if stored:
        (tmp_path / "hf_home").mkdir(exist_ok=True)
        (tmp_path / "hf_home" / "token").write_text(stored + "\n")
    r = hub.run_python(TOKENS, tmp_path, **env)
    assert r.returncode == 0, r.stderr
    ours, oracle = json.loads(r.stdout)
    assert ours == oracle
    assert ours == (env.get("HF_TOKEN", "").strip() or env.get("HUGGING_FACE_HUB_TOKEN") or stored)


def test_hf_hub_offline_sends_no_request(files: TestHub, tmp_path: Path) -> None:
    code = r"""
from modelctl.manifest.model import ResolvedAsset
from modelctl.sources.hf import resolve
a = ResolvedAsset(id="m", role="other", source="hf://org/models/config.json", dest="x/c.json",
                  revision="main", sha256=None, size=None, expect={}, allow_pickle=False)
try:
    resolve(a)
except Exception as exc:
    print(type(exc).__name__, exc.message)
"""
    files.clear_log()
    r = files.run_python(code, tmp_path, HF_HUB_OFFLINE="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("SourceError HF_HUB_OFFLINE is set")
    assert files.requests() == []


def test_the_hubs_head_retries_the_statuses_a_download_retries(
    files: TestHub, tmp_path: Path
) -> None:
    """One set of retryable statuses (`transfer.retry`): 425 Too Early and 503 on the Hub's HEAD
    are waited out like on the CDN (our quick HEAD sees the first, huggingface_hub's the rest)."""
    code = r"""
import json
from modelctl.manifest.model import ResolvedAsset
from modelctl.sources.hf import resolve
a = ResolvedAsset(id="m", role="other", source="hf://org/models/config.json", dest="x/c.json",
                  revision="main", sha256=None, size=None, expect={}, allow_pickle=False)
print(json.dumps(resolve(a).commit))
"""
    files.fault("org/models", "config.json", where="resolve", statuses=[425, 425, 503])
    files.clear_log()
    r = files.run_python(code, tmp_path, MODELCTL_RETRY_MAX_DELAY="0.05")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == files.commit("org/models")
    heads = [e.status for e in files.requests("hub") if e.file == "config.json"]
    assert heads == [425, 425, 503, 200]


@pytest.mark.parametrize(
    "token", [TOKEN, "hf_" + "".join(chr(c) for c in range(0x21, 0x7F)), "x" * 500]
)
def test_check_token_passes_what_a_header_can_carry(token: str) -> None:
    assert check_token(token, "HF_TOKEN") == token
    assert check_token(None, "HF_TOKEN") is None and check_token("", "HF_TOKEN") is None


@pytest.mark.parametrize(
    ("token", "what"),
    [(f"{TOKEN}\u00e9", "not printable ASCII"), (f"hf_\u2019{TOKEN}", "not printable ASCII"),
     (f"{TOKEN[:8]} {TOKEN[8:]}", "a space"), (f"{TOKEN}\x7f", "not printable ASCII"),
     (f"{TOKEN}\x00", "not printable ASCII"), (f"{TOKEN[:8]}\t{TOKEN[8:]}", "a space")],
)  # fmt: skip
@pytest.mark.parametrize("where", ["HF_TOKEN", "the stored token (/h/token)"])
def test_check_token_refuses_what_no_header_can_carry(token: str, what: str, where: str) -> None:
    """http.client sends header values as Latin-1 and refuses control characters; a Bearer token
    is visible ASCII (RFC 6750 §2.1). One BadInput (exit 2) names where the token came from."""
    with pytest.raises(BadInput) as info:
        check_token(token, where)
    assert info.value.exit_code == 2
    assert info.value.message.startswith(f"{where} contains ") and what in info.value.message
    assert TOKEN[3:] not in info.value.message + (info.value.hint or "")
