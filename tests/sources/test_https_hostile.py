"""`modelctl pull` of an `https://` source (sources/https.py) whose server is hostile
(tests/helpers/hostile.py over TLS, certificates from trustme): the real CLI in a subprocess.

Each ends with exit 3 and exactly one `error:` line naming the cause, no traceback, no secret
(the source URL and the redirects carry a signed query string), nothing placed, and the partial
kept: a later pull against a sound server at the same URL resumes it. The subprocess timeout is
a guard for the bounded time, not a measurement. The environment only shortens waits
(MODELCTL_RETRY_MAX_DELAY=0) and the speed rule's window (MODELCTL_LOW_SPEED_TIME).
"""

from __future__ import annotations

import hashlib
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import Result, run_cli
from tests.helpers.hostile import Answer, HostileServer, Reply, Request, serve

MiB = 1 << 20
DATA = os.urandom(8 * MiB)
SHA = hashlib.sha256(DATA).hexdigest()
SECRET = "X-Amz-Signature=5ecre7" + "0" * 16
GUARD = 90  # seconds: far beyond what any of these takes


@pytest.fixture
def tls(ca: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture
def env(ca: Any, tmp_path: Path) -> dict[str, str]:
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    (tmp_path / "hf_home").mkdir()
    return {
        "SSL_CERT_FILE": str(tmp_path / "ca.pem"),
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_ENDPOINT": "https://hub.invalid",  # not this server: no token goes anywhere
        "HF_HUB_OFFLINE": "0",
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
        "MODELCTL_RETRY_MAX_DELAY": "0",
        "MODELCTL_LOW_SPEED_TIME": "0.3",
    }


@pytest.fixture
def server(tls: ssl.SSLContext) -> Iterator[HostileServer]:
    with HostileServer(serve(DATA), tls=tls) as srv:
        yield srv


def pull(srv: HostileServer, tmp: Path, env: dict[str, str]) -> Result:
    man = tmp / "stack.yaml"
    man.write_text(
        "schema: 1\nname: t\ndescription: hostile https\nassets:\n  - id: a\n    role: other\n"
        f"    source: {srv.url()}?{SECRET}\n    dest: unet/m.gguf\n    sha256: {SHA}\n"
    )
    r = run_cli("pull", str(man), "--models-dir", str(tmp / "models"), "--no-check", env=env,
                timeout=GUARD)  # fmt: skip
    assert "5ecre7" not in r.out + r.err
    assert "Traceback" not in r.err
    return r


def partials(tmp: Path) -> list[Path]:
    return sorted((tmp / "models" / ".modelctl" / "partial").glob("*.part"))


def failed(r: Result, tmp: Path, *words: str) -> str:
    """Exit 3, one `error:` line with `words`, nothing placed; the error line."""
    assert r.code == 3, r.err
    errors = [line for line in r.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.err
    for word in words:
        assert word in errors[0], errors[0]
    assert not (tmp / "models" / "unet" / "m.gguf").exists()
    return errors[0]


def resumes_from(srv: HostileServer, tmp: Path, env: dict[str, str], held: int) -> None:
    """A sound server at the same URL: the kept partial is resumed from `held` and placed."""
    assert [p.stat().st_size for p in partials(tmp)] == [held]
    srv.answer = serve(DATA)
    first = len(srv.log)
    r = pull(srv, tmp, env)
    assert r.code == 0, r.err
    assert hashlib.sha256((tmp / "models" / "unet" / "m.gguf").read_bytes()).hexdigest() == SHA
    assert [q.range for q in srv.gets()[-1:]] == [f"bytes={held}-"]
    assert srv.log[first].method == "HEAD" or srv.log[first].range == f"bytes={held}-"
    assert partials(tmp) == []


def head_then(answer: Answer) -> Answer:
    """A HEAD as a sound server answers it (the size for the plan), GETs by `answer`."""

    def both(req: Request, reply: Reply) -> None:
        if req.method == "HEAD":
            reply.head(200, {"Content-Length": str(len(DATA))})
            return
        answer(req, reply)

    return both


def test_a_server_dropping_every_answer_after_1_mib_fails_and_the_partial_resumes(
    server: HostileServer, tmp_path: Path, env: dict[str, str]
) -> None:
    def cut(req: Request, reply: Reply) -> None:
        reply.head(200, {"Content-Length": str(len(DATA))})  # Range ignored
        reply.body(DATA[:MiB])
        reply.close()

    server.answer = head_then(cut)
    r = pull(server, tmp_path, env)
    failed(r, tmp_path, "giving up after 6 retries without progress", "connection closed")
    assert "partial download is kept" in r.err
    assert len(server.gets()) == 7
    resumes_from(server, tmp_path, env, MiB)


def test_a_trickling_server_fails_by_the_speed_rule_and_the_partial_resumes(
    server: HostileServer, tmp_path: Path, env: dict[str, str]
) -> None:
    def trickle(req: Request, reply: Reply) -> None:
        start = req.range_start() or 0
        extra = {"Content-Range": f"bytes {start}-{len(DATA) - 1}/{len(DATA)}"} if start else {}
        reply.head(206 if start else 200, {"Content-Length": str(len(DATA) - start), **extra})
        reply.body(DATA[start : start + 200], rate=40)  # then nothing more: a stall
        reply.stopping.wait(60)

    server.answer = head_then(trickle)
    r = pull(server, tmp_path, env)
    line = failed(r, tmp_path, "too slow: slower than 1024 bytes/s")
    assert "MODELCTL_LOW_SPEED_LIMIT=0" in r.err, line
    [part] = partials(tmp_path)
    held = part.stat().st_size
    assert 0 < held < 2000 and part.read_bytes() == DATA[:held]  # at their offsets
    assert held <= sum(q.sent for q in server.gets())
    resumes_from(server, tmp_path, env, held)


def test_a_206_from_byte_0_to_every_resume_fails_and_keeps_the_partial(
    server: HostileServer, tmp_path: Path, env: dict[str, str]
) -> None:
    def from_zero(req: Request, reply: Reply) -> None:
        size = str(len(DATA))
        if req.range is None:
            reply.head(200, {"Content-Length": size, "ETag": '"v1"'})
            reply.body(DATA[:MiB])
            reply.close()
        reply.head(206, {"Content-Range": f"bytes 0-{len(DATA) - 1}/{size}", "ETag": '"v1"',
                         "Content-Length": size})  # fmt: skip
        reply.body(bytes(MiB))

    server.answer = head_then(from_zero)
    r = pull(server, tmp_path, env)
    failed(r, tmp_path, "asked for bytes from 1048576, the server sent bytes from 0")
    assert "does not resume downloads correctly" in r.err
    resumes_from(server, tmp_path, env, MiB)


def test_a_server_that_416s_every_get_fails_at_once(
    server: HostileServer, tmp_path: Path, env: dict[str, str]
) -> None:
    server.answer = head_then(lambda req, reply: reply.head(416, {"Content-Length": "0"}))
    r = pull(server, tmp_path, env)
    failed(r, tmp_path, "HTTP 416 while downloading")
    assert len(server.gets()) == 1


@pytest.mark.parametrize(
    "location",
    [
        f"https://127.0.0.1:99999/m.gguf?{SECRET}",
        f"https://127.0.0.1:abc/m.gguf?{SECRET}",
        f"https://[::1/m.gguf?{SECRET}",
        f"https://\u00e9\u00e9\x07.example/m.gguf?{SECRET}",
    ],
)
def test_a_redirect_to_what_is_no_url_is_one_error_line_exit_3(
    server: HostileServer, tmp_path: Path, env: dict[str, str], location: str
) -> None:
    server.answer = lambda req, reply: reply.head(302, {"Location": location,
                                                        "Content-Length": "0"})  # fmt: skip
    r = pull(server, tmp_path, env)
    failed(r, tmp_path, "redirected to", "not a valid URL")
    assert len(server.gets()) == 1  # not retried


def test_a_redirect_loop_is_one_error_line_exit_3(
    server: HostileServer, tmp_path: Path, env: dict[str, str]
) -> None:
    server.answer = lambda req, reply: reply.head(
        302, {"Location": f"/m.gguf?n={req.index}&{SECRET}", "Content-Length": "0"}
    )
    r = pull(server, tmp_path, env)
    failed(r, tmp_path, "more than 10 redirects")


def test_running_out_of_file_descriptors_is_the_process_limit_not_a_failing_source(
    server: HostileServer, tmp_path: Path, env: dict[str, str]
) -> None:
    """A hard RLIMIT_NOFILE so low that some open fails: a data file, the partial, or the socket.
    Whichever it is, the cause is this process's limit: one exit-2 error with the `ulimit -n`
    hint, never exit 3 (a script would retry the source) after retrying the connection."""
    import resource
    import subprocess
    import sys

    from tests.helpers.cli import cli_env

    man = tmp_path / "stack.yaml"
    man.write_text(
        "schema: 1\nname: t\ndescription: d\nassets:\n  - id: a\n    role: other\n"
        f"    source: {server.url()}\n    dest: unet/m.gguf\n    sha256: {SHA}\n"
    )
    causes = []
    for limit in range(5, 10):
        models = tmp_path / f"models-{limit}"
        r = subprocess.run(
            [sys.executable, "-m", "modelctl", "pull", str(man), "--models-dir", str(models),
             "--no-check"],
            env=cli_env(env), capture_output=True, text=True, timeout=GUARD,
            preexec_fn=lambda n=limit: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)),
        )  # fmt: skip
        assert "Traceback" not in r.stderr
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        if r.returncode == 0:
            assert errors == [], r.stderr
            continue
        assert r.returncode == 2 and len(errors) == 1, r.stderr
        assert "Too many open files" in errors[0] and "ulimit -n" in r.stderr, r.stderr
        causes.append(errors[0])
    assert any("while connecting" in cause for cause in causes), causes
