"""`modelctl pull` of an hf:// source whose Hub endpoint (HF_ENDPOINT, a hostile server from
tests/helpers/hostile.py) answers the metadata HEAD with a redirect to what is no URL, or with
a loop: one `error:` line, exit 3, no secret (the redirect's signed query), never exit 70. The
real CLI in a subprocess, as huggingface_hub reads HF_ENDPOINT when first imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.hostile import HostileServer, Reply, Request

SECRET = "X-Amz-Signature=5ecre7" + "0" * 16
# what the Hub sends with the redirect of an LFS file (huggingface_hub's `HfFileMetadata`)
HUB_HEADERS = {"X-Repo-Commit": "a" * 40, "X-Linked-Size": "100",
               "X-Linked-Etag": '"' + "b" * 64 + '"', "Content-Length": "0"}  # fmt: skip


def pull(srv: HostileServer, tmp: Path) -> tuple[int, list[str], str]:
    man = tmp / "stack.yaml"
    man.write_text("schema: 1\nname: t\ndescription: hub redirects\nassets:\n  - id: a\n"
                   "    role: other\n    source: hf://org/repo/m.gguf\n    dest: unet/m.gguf\n")  # fmt: skip
    (tmp / "hf_home").mkdir()
    env = {"HF_ENDPOINT": srv.url(""), "HF_HOME": str(tmp / "hf_home"), "HF_TOKEN": "",
           "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0", "NO_PROXY": "127.0.0.1",
           "no_proxy": "127.0.0.1", "MODELCTL_RETRY_MAX_DELAY": "0"}  # fmt: skip
    r = run_cli("pull", str(man), "--models-dir", str(tmp / "models"), "--no-check", env=env,
                timeout=90)  # fmt: skip
    assert "5ecre7" not in r.out + r.err and "Traceback" not in r.err
    return r.code, [line for line in r.err.splitlines() if line.startswith("error:")], r.err


@pytest.mark.parametrize(
    ("location", "why"),
    [
        (f"https://cdn.example:99999/m.gguf?{SECRET}", "Port out of range"),
        (f"https://cdn.example:abc/m.gguf?{SECRET}", "Port could not be cast"),
        (f"https://[::1/m.gguf?{SECRET}", "Invalid IPv6 URL"),
    ],
)
def test_a_hub_redirect_to_what_is_no_url_is_exit_3(
    tmp_path: Path, location: str, why: str
) -> None:
    def redirect(req: Request, reply: Reply) -> None:
        reply.head(302, {"Location": location, **HUB_HEADERS})

    with HostileServer(redirect) as srv:
        code, errors, err = pull(srv, tmp_path)
    assert code == 3, err
    assert len(errors) == 1 and "redirected to" in errors[0] and why in errors[0], err


def test_a_hub_redirect_loop_is_exit_3(tmp_path: Path) -> None:
    """Same-origin redirects go to huggingface_hub (a renamed repo), which gives up with its
    client's TooManyRedirects."""

    def loop(req: Request, reply: Reply) -> None:
        reply.head(302, {"Location": f"/caf\u00e9/{req.index}?{SECRET}", **HUB_HEADERS})

    with HostileServer(loop) as srv:
        code, errors, err = pull(srv, tmp_path)
    assert code == 3, err
    assert len(errors) == 1 and "TooManyRedirects" in errors[0], err
