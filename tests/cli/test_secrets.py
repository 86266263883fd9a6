"""No secret reaches the output of any command (issue 16, cases 5 and 7).

Secrets here: signed query strings of every common form (AWS SigV4, GCS V4, Azure SAS, CloudFront,
Civitai `token=`, percent-encoded names, fragments), the HF_TOKEN value (also as a Civitai
`token=`), proxy passwords, and a hostile server's error text. They are checked in the human and
the `--json` output of `show`, `status`, `from-workflow`, `pull`, `ensure`, `doctor`, on stdout and
stderr, with white space removed (rich wraps long table cells over several lines). Output-only
cases run in-process (`run_main`); anything that talks HTTP runs the CLI in a subprocess against
a real loopback server.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.compat.fixtures import build
from tests.helpers.cli import Result, run_cli, run_main
from tests.helpers.hub import TestHub
from tests.helpers.trap import ConnectionTrap
from tests.workflow.builders import UI, model, write_json

MARK = "Zq9" + secrets.token_hex(6)  # every secret value below starts with it
TOKEN = f"hf_{MARK}0123456789abcdef"
SIGNED = {  # signed / credentialed download links, as people paste them
    "aws": f"https://bucket.s3.amazonaws.com/m/a.safetensors?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={MARK}a%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T0"
    f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={MARK}{'b' * 64}",
    "gcs": f"https://storage.googleapis.com/bk/o.safetensors?X-Goog-Algorithm=GOOG4-RSA-SHA256"
    f"&X-Goog-Credential={MARK}c%40p.iam.gserviceaccount.com%2F20240101%2Fauto%2Fstorage"
    f"&X-Goog-Date=20240101T0&X-Goog-Expires=600&X-Goog-SignedHeaders=host"
    f"&X-Goog-Signature={MARK}{'d' * 128}",
    "azure": f"https://acct.blob.core.windows.net/c/b.safetensors?sv=2022-11-02&se=2030-01-01"
    f"&sr=b&sp=r&sig={MARK}e%2Bx%3D",
    "cloudfront": f"https://d111.cloudfront.net/m.safetensors?Expires=1&Signature={MARK}f"
    f"&Key-Pair-Id={MARK}g",
    "civitai": f"https://civitai.com/api/download/models/1?type=Model&format=SafeTensor"
    f"&token={TOKEN}",
    "encoded": f"https://x.example/m.safetensors?x%2Damz%2Dsignature={MARK}h&api_key={MARK}i",
}


def no_secret(r: Result) -> None:
    """Nothing secret in the output, also across wrapped lines; never a traceback."""
    text = r.out + r.err
    flat = "".join(text.split())
    assert MARK not in flat and TOKEN not in text, text
    assert "Traceback" not in text


def one_error(r: Result) -> str:
    lines = [line for line in r.err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, r.err
    return lines[0]


def signed_manifest(tmp: Path) -> Path:
    lines = ["schema: 1", "name: signed", "description: signed sources", "assets:"]
    for i, (kind, url) in enumerate(SIGNED.items()):
        lines += [f"  - id: {kind}", "    role: lora", f'    source: "{url}"',
                  f"    dest: loras/m{i}.safetensors", f"    sha256: {'a' * 64}"]  # fmt: skip
    path = tmp / "signed.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- show, status (in-process: they read files only)


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["human", "json"])
def test_show_prints_signed_sources_redacted(tmp_path: Path, json_flag: list[str]) -> None:
    man = signed_manifest(tmp_path)
    r = run_main("show", str(man), "--models-dir", str(tmp_path / "m"), *json_flag,
                 env={"HF_TOKEN": TOKEN, "COLUMNS": "80"})  # fmt: skip
    assert r.code == 0, r.err
    no_secret(r)
    if json_flag:
        sources = {a["id"]: a["source"] for a in json.loads(r.out)["assets"]}
        assert sources["civitai"] == (
            "https://civitai.com/api/download/models/1?type=Model&format=SafeTensor"
            "&token=<redacted>"
        )
        assert "X-Goog-Signature=<redacted>" in sources["gcs"]
        assert sources["azure"].endswith("&sp=r&sig=<redacted>")


def test_status_prints_the_source_of_a_signed_partial_redacted(tmp_path: Path) -> None:
    """A pull of a signed URL that cannot connect leaves its partial; status lists it."""
    man = signed_manifest(tmp_path)
    models = str(tmp_path / "m")
    with ConnectionTrap() as trap:
        r = run_cli("pull", str(man), "--models-dir", models, "--no-check", "-j", "1",
                    env={**trap.env(), "HF_TOKEN": TOKEN, "MODELCTL_RETRY_MAX_DELAY": "0.01",
                         "HF_HOME": str(tmp_path / "hf")})  # fmt: skip
    assert r.code == 3, r.err
    no_secret(r)
    for flag in ([], ["--json"]):
        r = run_main("status", str(man), "--models-dir", models, *flag, env={"HF_TOKEN": TOKEN})
        assert r.code == 0, r.err
        no_secret(r)
    partials = json.loads(r.out)["partials"]
    assert partials and all("<redacted>" in p["source"] for p in partials), partials


@pytest.mark.parametrize("command", ["pull", "ensure"])
def test_json_events_and_error_objects_of_a_failed_signed_download(
    tmp_path: Path, command: str
) -> None:
    """`--json` lines (plan, start, failed, summary; ensure's error object) parse and hold no
    signature; the one `error:` line on stderr neither."""
    man = signed_manifest(tmp_path)
    no_check = ["--no-check"] if command == "pull" else []  # the check would stop first
    with ConnectionTrap() as trap:
        r = run_cli(command, str(man), "--models-dir", str(tmp_path / "m"), "--json", *no_check,
                    env={**trap.env(), "HF_TOKEN": TOKEN, "MODELCTL_RETRY_MAX_DELAY": "0.01",
                         "HF_HOME": str(tmp_path / "hf")})  # fmt: skip
    assert r.code == 3, r.err
    no_secret(r)
    one_error(r)
    events = [json.loads(line) for line in r.out.splitlines()]
    assert events and any("<redacted>" in json.dumps(e) for e in events)


# --- from-workflow: credentials never reach the manifest


def signed_workflow(tmp: Path) -> Path:
    ui = UI()
    for i, url in enumerate(SIGNED.values()):
        name = f"m{i}.safetensors"
        ui.node("LoraLoaderModelOnly", [name, 1.0], [model(name, "loras", url)])
    return write_json(tmp / "signed.json", ui.doc)


def test_from_workflow_strips_signed_query_strings_from_the_manifest(tmp_path: Path) -> None:
    out = tmp_path / "stack.yaml"
    r = run_main("from-workflow", str(signed_workflow(tmp_path)), "-o", str(out))
    assert r.code == 0, r.err
    no_secret(r)
    text = out.read_text()
    assert MARK not in text
    for name in ("X-Goog-Signature", "X-Goog-Credential", "X-Amz-Signature", "X-Amz-Credential",
                 "X-Amz-Date", "sig=", "se=", "Signature=", "Key-Pair-Id", "token=", "api_key",
                 "x%2Damz%2Dsignature"):  # fmt: skip
        assert name not in text, name
    # what does not sign anything stays, exactly as written
    assert '"https://civitai.com/api/download/models/1?type=Model&format=SafeTensor"' in text
    assert '"https://storage.googleapis.com/bk/o.safetensors"' in text
    warnings = [line for line in r.err.splitlines() if "removed a signed query string" in line]
    assert len(warnings) == len(SIGNED), r.err
    assert all(w.endswith("supply credentials through the environment") for w in warnings)
    assert any("X-Goog-Signature" in w and "X-Goog-Credential" in w for w in warnings)
    shown = run_main("show", str(out), "--json", "--models-dir", str(tmp_path / "m"))
    assert shown.code == 0, shown.err  # still a manifest that loads


def test_from_workflow_to_stdout_and_json_hold_no_credential(tmp_path: Path) -> None:
    path = signed_workflow(tmp_path)
    printed = run_main("from-workflow", str(path), env={"HF_TOKEN": TOKEN})
    assert printed.code == 0, printed.err
    no_secret(printed)
    assert "X-Goog-Signature" not in printed.out and "<redacted>" not in printed.out
    data = run_main("from-workflow", str(path), "--json")
    assert data.code == 0, data.err
    no_secret(data)
    doc = json.loads(data.out)
    assert "X-Goog-Signature" not in doc["manifest"]
    assert all("removed a signed query string" in w for w in doc["warnings"])


# --- errors that quote a URL that does not parse


class _Hostile(BaseHTTPRequestHandler):
    """A Hub that answers every resolve with a redirect whose Location holds a space (and a
    signature), and every whoami with an error message that quotes a signature."""

    def do_HEAD(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        if self.path.startswith("/api/whoami"):
            self.send_response(403)
            self.send_header("X-Error-Message", f"denied: the request sig={MARK} is stale")
        else:
            self.send_response(302)
            self.send_header(
                "Location",
                f"http://127.0.0.1:1/a b.gguf?Expires=1&Signature={MARK}&X-Amz-Signature={MARK}",
            )
            self.send_header("X-Repo-Commit", "a" * 40)
            self.send_header("X-Linked-Size", "100")
            self.send_header("X-Linked-Etag", f'"{"b" * 64}"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def hostile_env(tmp: Path, endpoint: str) -> dict[str, str]:
    return {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp / "hf"), "HF_TOKEN": TOKEN,
            "NO_PROXY": "127.0.0.1", "MODELCTL_RETRY_MAX_DELAY": "0.01"}  # fmt: skip


@pytest.mark.parametrize(
    "flags", [["--no-check"], ["--no-check", "--json"], []], ids=["plain", "json", "check"]
)
def test_a_location_with_a_space_never_prints_its_signature(
    tmp_path: Path, hostile: str, flags: list[str]
) -> None:
    man = tmp_path / "stack.yaml"
    man.write_text(
        "schema: 1\nname: t\ndescription: d\nassets:\n  - id: a\n    role: other\n"
        "    source: hf://org/models/unet/a.gguf\n    dest: unet/a.gguf\n"
    )
    r = run_cli("pull", str(man), "--models-dir", str(tmp_path / "m"), *flags,
                env=hostile_env(tmp_path, hostile))  # fmt: skip
    assert r.code == 3, r.err
    no_secret(r)
    one_error(r)


def test_doctor_never_prints_a_signature_from_the_hubs_error(tmp_path: Path, hostile: str) -> None:
    for flag in ([], ["--json"]):
        r = run_cli("doctor", *flag, env=hostile_env(tmp_path, hostile))
        no_secret(r)
        assert "<redacted>" in r.out


def test_doctor_offline_never_prints_endpoint_or_proxy_credentials(tmp_path: Path) -> None:
    env = {
        "HF_ENDPOINT": f"https://user:{MARK}pw@hub.example/?token={MARK}",
        "HF_TOKEN": TOKEN,
        "HTTPS_PROXY": f"http://me:{MARK}@proxy.example:3128",
        "HF_HOME": str(tmp_path / "hf"),
    }
    for flag in ([], ["--json"]):
        no_secret(run_main("doctor", "--offline", *flag, env=env))


# --- HF_TOKEN that an HTTP header cannot carry (case 7)


@pytest.mark.parametrize(
    "token",
    [f"hf_{MARK}\u00e9x", f"hf_{MARK}\u2019x", f"hf_{MARK}\U0001f511", f"hf_{MARK} x",
     f"hf_{MARK}\tx", f"hf_{MARK}\u00a0x"],
    ids=["latin-1", "quote", "emoji", "space", "tab", "nbsp"],
)  # fmt: skip
@pytest.mark.parametrize(
    "args",
    [["pull", "--no-check"], ["pull"], ["inspect", "hf://org/models/a.gguf"],
     ["check", "hf://org/models/a.gguf"], ["lock"], ["ensure"]],
    ids=["pull-no-check", "pull", "inspect", "check", "lock", "ensure"],
)  # fmt: skip
def test_a_token_an_http_header_cannot_carry_is_exit_2_naming_hf_token(
    tmp_path: Path, token: str, args: list[str]
) -> None:
    man = tmp_path / "stack.yaml"
    man.write_text(
        "schema: 1\nname: t\ndescription: d\nassets:\n  - id: a\n    role: other\n"
        "    source: hf://org/models/a.gguf\n    dest: unet/a.gguf\n"
    )
    if args[0] in ("pull", "ensure"):
        args = [args[0], str(man), "--models-dir", str(tmp_path / "m"), *args[1:]]
    elif args[0] == "lock":
        args = ["lock", str(man)]
    with ConnectionTrap() as trap:
        r = run_cli(*args, env={**trap.env(), "HF_TOKEN": token, "HF_HOME": str(tmp_path / "h")})
        assert trap.connections == []  # refused before any request
    assert r.code == 2, r.err
    line = one_error(r)
    assert line.startswith("error: HF_TOKEN contains ") and "HTTP header" in line
    assert MARK not in r.out + r.err and "Traceback" not in r.err


@pytest.mark.parametrize("command", ["pull", "lock"])
def test_a_stored_token_an_http_header_cannot_carry_is_exit_2(tmp_path: Path, command: str) -> None:
    """The login file (`$HF_HOME/token`) is read when HF_TOKEN is not set; it is named instead."""
    man = tmp_path / "stack.yaml"
    man.write_text(
        "schema: 1\nname: t\ndescription: d\nassets:\n  - id: a\n    role: other\n"
        "    source: hf://org/models/a.gguf\n    dest: unet/a.gguf\n"
    )
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "token").write_text(f"hf_{MARK}\u2019x\n")
    args = [str(man), "--models-dir", str(tmp_path / "m")] if command == "pull" else [str(man)]
    with ConnectionTrap() as trap:
        r = run_cli(
            command, *args, env={**trap.env(), "HF_TOKEN": "", "HF_HOME": str(tmp_path / "h")}
        )
        assert trap.connections == []
    assert r.code == 2, r.err
    assert one_error(r).startswith(f"error: the stored token ({tmp_path / 'h' / 'token'}) contains")
    assert MARK not in r.out + r.err and "Traceback" not in r.err


def test_a_token_with_a_trailing_newline_is_sent_without_it(hub: TestHub, tmp_path: Path) -> None:
    """`echo hf_… > file; HF_TOKEN=$(cat file)` keeps no newline, but `HF_TOKEN="$(cat file)
    "` or a token file read by a tool does: line ends and surrounding white space are dropped, as
    huggingface_hub drops them, and the private file downloads."""
    hub.create_repo("org/private", private=True, tokens=(TOKEN,))
    hub.add_file("org/private", "vae/ae.safetensors", build(tmp_path, "ae.safetensors"))
    man = tmp_path / "stack.yaml"
    man.write_text(
        "schema: 1\nname: t\ndescription: d\nassets:\n  - id: a\n    role: vae\n"
        "    source: hf://org/private/vae/ae.safetensors\n    dest: vae/ae.safetensors\n"
    )
    r = run_cli("pull", str(man), "--models-dir", str(tmp_path / "m"), "--no-check",
                env=hub.env(tmp_path, token=f" {TOKEN}\r\n"))  # fmt: skip
    assert r.code == 0, r.err
    no_secret(r)
    assert (tmp_path / "m" / "vae" / "ae.safetensors").is_file()
    assert hub.requests("hub") and all(e.auth for e in hub.requests("hub"))
