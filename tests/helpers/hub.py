"""A loopback stand-in for the Hugging Face Hub, for tests and benchmarks.

Why hand-written: huggingface_hub ships no test server, and tests must never reach the internet.
This speaks the subset of the Hub protocol that huggingface_hub 2.4.0 uses (read from its
src/huggingface_hub/file_download.py, hf_api.py and utils/_http.py @ v2.4.0):

* ``HEAD``/``GET /[datasets/]{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``,
  ``X-Linked-Etag`` (sha256 for LFS files, git blob sha1 for small files) and ``X-Linked-Size``;
  LFS files answer ``302`` to a *separate* CDN origin (second port) with a signed, expiring query
  string that the CDN checks (so clients must drop ``Authorization`` when they follow it).
* Errors carry ``X-Error-Code`` exactly as the Hub does (``RepoNotFound`` 401 anonymous / 404 with
  a token, ``GatedRepo`` 401/403, ``RevisionNotFound`` 404, ``EntryNotFound`` 404 + commit).
* ``/api/{models,datasets}/{repo}[/revision/{rev}]`` (``?blobs=true``), ``.../tree/{rev}[/{path}]``
  (paginated with ``Link: rel="next"``), ``POST .../paths-info/{rev}``, ``/api/whoami-v2`` and
  ``/api/agent-harnesses``. No ``X-Xet-*`` header and no ``xetHash`` field is ever sent, so the
  client stays on plain HTTP.
* Byte ranges (``bytes=N-``, ``bytes=N-M``, ``bytes=-S``), ``416``, ``If-Range``.
* Fault injection keyed by content (like git-lfs's test server): drop after N bytes, corrupt bytes,
  ignore Range, a status sequence (429 with Retry-After, 5xx), stall, per-connection rate cap and a
  wrong Content-Range start. Every wait is bounded and ends when the hub stops.

Files added from a :class:`~pathlib.Path` are streamed from disk (``os.sendfile`` when no fault
applies), so sparse multi-GiB files cost neither memory nor much time.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
LFS_SUFFIXES = (
    ".safetensors", ".gguf", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".pkl", ".model", ".h5",
    ".msgpack", ".npz", ".zip", ".tar", ".gz",
)  # fmt: skip
LFS_MIN_SIZE = 10 * 1024 * 1024  # the Hub refuses non-LFS files above 10 MiB
MAX_STALL_S = 60.0  # no injected stall may last longer than this
CHUNK = 1 << 20
FIXED_DATE = "2024-01-01T00:00:00.000Z"
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


# --------------------------------------------------------------------------------------- model


@dataclass
class HubFile:
    """One file of one commit. ``data`` is bytes, or a Path streamed from disk."""

    path: str
    data: bytes | Path
    lfs: bool
    _sha256: str | None = None
    _git_sha1: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) if isinstance(self.data, bytes) else self.data.stat().st_size

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = _hash_source(self.data, hashlib.sha256()).hexdigest()
        return self._sha256

    @property
    def pointer(self) -> bytes:
        """The git-lfs pointer file the git tree really holds for an LFS file."""
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
            f"size {self.size}\n"
        ).encode()

    @property
    def git_sha1(self) -> str:
        """Git blob id: of the pointer for LFS files, of the content otherwise."""
        if self._git_sha1 is None:
            if self.lfs:
                self._git_sha1 = git_blob_sha1(self.pointer)
            else:
                h = hashlib.sha1(b"blob %d\0" % self.size)
                self._git_sha1 = _hash_source(self.data, h).hexdigest()
        return self._git_sha1

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_sha1

    def tree_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "file",
            "oid": self.git_sha1,
            "size": self.size,
            "path": self.path,
        }
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": len(self.pointer)}
        return entry

    def sibling(self, blobs: bool) -> dict[str, Any]:
        if not blobs:
            return {"rfilename": self.path}
        entry: dict[str, Any] = {"rfilename": self.path, "size": self.size, "blobId": self.git_sha1}
        if self.lfs:
            entry["lfs"] = {
                "sha256": self.sha256,
                "size": self.size,
                "pointerSize": len(self.pointer),
            }
        return entry


@dataclass
class Repo:
    repo_id: str
    repo_type: str = "model"
    private: bool = False
    gated: bool = False
    tokens: set[str] = field(default_factory=set)  # tokens allowed past private/gated
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)  # commit -> tree

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


@dataclass
class Fault:
    """What to do wrong when serving one content (all optional; see TestHub.fault)."""

    where: str = "body"  # "body": the GET serving bytes (CDN or hub); "resolve": hub HEAD/GET
    times: int | None = None  # apply only to the first K matching requests (None: always)
    statuses: list[int] = field(default_factory=list)  # consumed one per request first
    retry_after: int | None = 1
    drop_after: int | float | None = None  # close after N bytes (int) or that fraction (float)
    corrupt: bool = False  # flip one byte at corrupt_at (same size, wrong bytes)
    corrupt_at: int | None = None  # absolute offset; default: the middle of the file
    ignore_range: bool = False  # answer 200 with the full body to Range requests
    range_start: int | None = None  # serve a 206 from this start instead of the one asked for
    stall: float = 0.0  # seconds to stall (bounded by MAX_STALL_S and by hub.stop())
    stall_after: int = 0  # bytes of body sent before the stall
    rate: int | None = None  # bytes/s per connection (token bucket)
    hits: int = 0  # matching requests seen so far

    def _take(self) -> tuple[int | None, bool]:
        """Count one request: return (status to answer instead, whether byte faults apply)."""
        if self.statuses:
            return self.statuses.pop(0), False
        self.hits += 1
        return None, self.times is None or self.hits <= self.times


@dataclass
class LogEntry:
    method: str
    origin: str  # "hub" or "cdn"
    path: str  # URL path, without the query string
    file: str | None  # repo file path served (resolve and CDN requests)
    range: str | None
    status: int
    sent: int  # bytes of body sent
    auth: bool  # an Authorization header arrived


# --------------------------------------------------------------------------------------- hub


class TestHub:
    """Start with ``with TestHub() as hub:`` (or ``hub.start()``/``hub.stop()``).

    Typical use::

        hub.add_file("org/repo", "model.safetensors", Path(...) or b"...")
        env = hub.env(tmp_path)          # HF_ENDPOINT, temporary HF_HOME, ...
        hub.fault("org/repo", "model.safetensors", drop_after=0.5, times=1)
        hub.bytes_served("model.safetensors"), hub.gets("model.safetensors", origin="cdn")
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self, url_ttl: float = 3600.0, tree_page_size: int = 1000, tls: Any = None
    ) -> None:
        """`tls`: an `ssl.SSLContext` with a server certificate for 127.0.0.1 (https hub and CDN)."""
        self.tls = tls
        self.url_ttl = url_ttl
        self.tree_page_size = tree_page_size
        self.repos: dict[tuple[str, str], Repo] = {}
        self.tokens: dict[str, str] = {}  # valid token -> user name
        self.renamed: dict[tuple[str, str], str] = {}  # (type, old id) -> new id
        self.faults: dict[str, Fault] = {}  # content sha256 -> fault
        self.log: list[LogEntry] = []
        self._secret = secrets.token_bytes(32)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []

    # ---- lifecycle

    def start(self) -> TestHub:
        self._stopping.clear()
        hub_srv = _Server(("127.0.0.1", 0), _HubHandler, self, "hub")
        cdn_srv = _Server(("127.0.0.1", 0), _CdnHandler, self, "cdn")
        self._servers = [hub_srv, cdn_srv]
        if self.tls is not None:
            for srv in self._servers:
                srv.socket = self.tls.wrap_socket(srv.socket, server_side=True)
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
            t.daemon = True
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
            srv.close_connections()
        for t in self._threads:
            t.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> TestHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn_endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._servers[1].server_address[1]}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    # ---- repository content

    def create_repo(
        self,
        repo_id: str,
        repo_type: str = "model",
        *,
        private: bool = False,
        gated: bool = False,
        tokens: tuple[str, ...] = (),
    ) -> Repo:
        with self._lock:
            repo = self.repos.get((repo_type, repo_id))
            if repo is None:
                repo = Repo(repo_id, repo_type)
                self.repos[(repo_type, repo_id)] = repo
            repo.private = repo.private or private
            repo.gated = repo.gated or gated
            for token in tokens:
                self.add_token(token)
                repo.tokens.add(token)
            return repo

    def add_file(
        self,
        repo_id: str,
        path: str,
        data: bytes | str | Path,
        revision: str = "main",
        lfs: bool | None = None,
        *,
        repo_type: str = "model",
        sha256: str | None = None,
    ) -> str:
        """Commit one file onto branch ``revision`` and return the new 40-hex commit.

        ``lfs=None`` follows the Hub's defaults (weights suffixes and files over 10 MiB are LFS).
        ``sha256`` skips hashing a big Path (or makes the hub lie about the content, on purpose).
        A new branch starts from ``main`` when main exists.
        """
        if isinstance(data, str):
            data = data.encode()
        size = len(data) if isinstance(data, bytes) else Path(data).stat().st_size
        if lfs is None:
            lfs = path.endswith(LFS_SUFFIXES) or size > LFS_MIN_SIZE
        f = HubFile(path=path, data=data, lfs=lfs, _sha256=sha256)
        return self._commit(repo_id, repo_type, revision, f"add {path} {f.etag}", {path: f})

    def remove_file(
        self, repo_id: str, path: str, revision: str = "main", *, repo_type: str = "model"
    ) -> str:
        return self._commit(repo_id, repo_type, revision, f"rm {path}", {path: None})

    def tag(
        self, repo_id: str, tag: str, revision: str = "main", *, repo_type: str = "model"
    ) -> str:
        with self._lock:
            repo = self.repos[(repo_type, repo_id)]
            commit = repo.resolve(revision)
            if commit is None:
                raise KeyError(revision)
            repo.refs[tag] = commit
            return commit

    def commit(self, repo_id: str, revision: str = "main", *, repo_type: str = "model") -> str:
        """The 40-hex commit that ``revision`` (branch, tag or commit) points at."""
        commit = self.repos[(repo_type, repo_id)].resolve(revision)
        if commit is None:
            raise KeyError(revision)
        return commit

    def file(
        self, repo_id: str, path: str, revision: str = "main", *, repo_type: str = "model"
    ) -> HubFile:
        repo = self.repos[(repo_type, repo_id)]
        return repo.commits[repo.resolve(revision) or ""][path]

    def _commit(
        self,
        repo_id: str,
        repo_type: str,
        branch: str,
        change: str,
        files: dict[str, HubFile | None],
    ) -> str:
        with self._lock:
            repo = self.create_repo(repo_id, repo_type)
            parent = repo.refs.get(branch) or repo.refs.get("main")
            tree = dict(repo.commits[parent]) if parent else {}
            for p, f in files.items():
                if f is None:
                    tree.pop(p, None)
                else:
                    tree[p] = f
            seed = f"{repo_type}:{repo_id}:{parent}:{branch}:{change}"
            commit = hashlib.sha1(seed.encode()).hexdigest()
            repo.commits[commit] = tree
            repo.refs[branch] = commit
            return commit

    # ---- access control

    def rename(self, old: str, new: str, *, repo_type: str = "model") -> None:
        """Answer `old`'s resolve URLs with a relative 307 to `new`'s, as the Hub does after a rename."""
        with self._lock:
            self.renamed[(repo_type, old)] = new

    def add_token(self, token: str, user: str = "tester") -> None:
        self.tokens[token] = user

    def gate(self, repo_id: str, token: str | None = None, *, repo_type: str = "model") -> None:
        """Make a repo gated; ``token`` (if given) has accepted the terms."""
        self.create_repo(repo_id, repo_type, gated=True, tokens=(token,) if token else ())

    def make_private(
        self, repo_id: str, token: str | None = None, *, repo_type: str = "model"
    ) -> None:
        self.create_repo(repo_id, repo_type, private=True, tokens=(token,) if token else ())

    # ---- faults and log

    def fault(
        self,
        repo_id: str,
        path: str,
        revision: str = "main",
        *,
        repo_type: str = "model",
        **kwargs: Any,
    ) -> Fault:
        """Inject a fault for this file's content (any repo/path with the same bytes)."""
        sha = self.file(repo_id, path, revision, repo_type=repo_type).sha256
        fault = Fault(**kwargs)
        with self._lock:
            self.faults[sha] = fault
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def gets(self, path: str, origin: str | None = None) -> list[LogEntry]:
        """GET requests for repo file ``path`` (both origins unless ``origin`` is given)."""
        with self._lock:
            return [
                e
                for e in self.log
                if e.method == "GET" and e.file == path and origin in (None, e.origin)
            ]

    def bytes_served(self, path: str) -> int:
        """Body bytes sent for repo file ``path`` over all requests and both origins."""
        with self._lock:
            return sum(e.sent for e in self.log if e.file == path)

    def downloads(self, path: str, origin: str | None = None) -> list[LogEntry]:
        """GETs that fetch content, leaving out header probes (closed ranges of at most 1 MiB,
        which is how `inspect` / `check` read headers remotely)."""
        return [e for e in self.gets(path, origin) if not _is_header_probe(e.range)]

    def bytes_downloaded(self, path: str) -> int:
        """Body bytes sent for ``path`` by content downloads (header probes left out)."""
        return sum(e.sent for e in self.downloads(path))

    def requests(self, origin: str | None = None) -> list[LogEntry]:
        with self._lock:
            return [e for e in self.log if origin in (None, e.origin)]

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Return once no connection is open on either origin, so every request is in the log.

        For after the clients are gone (a killed process): a request cut off by the client is
        logged when its handler sees the closed socket, a moment later. A live client's idle
        keep-alive connection would keep this waiting until `timeout` (then AssertionError).
        """
        deadline = time.monotonic() + timeout
        while any(srv.open_connections() for srv in self._servers):
            if time.monotonic() > deadline:
                raise AssertionError(f"the test hub still has open connections after {timeout}s")
            time.sleep(0.01)

    # ---- client side helpers

    def env(self, tmp_path: Path, token: str | None = None, **extra: str) -> dict[str, str]:
        """Environment overrides that point huggingface_hub (in a subprocess) at this hub, and
        cap modelctl's retry waits (`MODELCTL_RETRY_MAX_DELAY`): the faults here make it retry,
        and a test proves that it retries, not that it sleeps through real backoff."""
        hf_home = Path(tmp_path) / "hf_home"
        hf_home.mkdir(parents=True, exist_ok=True)
        env = {
            "HF_ENDPOINT": self.endpoint,
            "HF_HOME": str(hf_home),
            "HF_TOKEN": token or "",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_SYMLINKS_WARNING": "1",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_ETAG_TIMEOUT": "10",
            "HF_HUB_DOWNLOAD_TIMEOUT": "10",
            "DO_NOT_TRACK": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "MODELCTL_RETRY_MAX_DELAY": "0.1",
        }
        env.update(extra)
        return env

    def run_python(
        self,
        code: str,
        tmp_path: Path,
        token: str | None = None,
        timeout: float = 120,
        **extra: str,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``code`` in a fresh interpreter whose huggingface_hub talks to this hub."""
        env = dict(os.environ)
        for k in (
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
            "HF_TOKEN_PATH",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
        ):
            env.pop(k, None)
        env.update(self.env(tmp_path, token, **extra))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    # ---- signing (CDN)

    def _sign(self, sha: str, file: str, expires: int) -> str:
        msg = f"{sha}\n{file}\n{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def cdn_url(self, f: HubFile) -> str:
        expires = int(time.time() + self.url_ttl)
        sig = self._sign(f.sha256, f.path, expires)
        name = quote(f.path.rsplit("/", 1)[-1])
        return (
            f"{self.cdn_endpoint}/repos/{f.sha256[:2]}/{f.sha256}"
            f"?response-content-disposition=attachment%3B+filename%3D%22{name}%22"
            f"&x-file={quote(f.path, safe='')}&Expires={expires}&X-Amz-Signature={sig}"
        )

    def revoke_urls(self) -> None:
        """Invalidate every signed CDN URL handed out so far (like expiry)."""
        self._secret = secrets.token_bytes(32)

    def _content(self, sha: str) -> HubFile | None:
        with self._lock:
            for repo in self.repos.values():
                for tree in repo.commits.values():
                    for f in tree.values():
                        if f._sha256 == sha or (f.lfs and f.sha256 == sha):
                            return f
        return None

    def _fault_for(self, sha: str, where: str) -> Fault | None:
        with self._lock:
            fault = self.faults.get(sha)
            return fault if fault is not None and fault.where == where else None


def git_blob_sha1(data: bytes) -> str:
    """Git's blob id: sha1 over ``blob <len>\\0`` + content (what the Hub calls oid/blobId)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _hash_source(data: bytes | Path, h: Any) -> Any:
    if isinstance(data, bytes):
        h.update(data)
        return h
    with open(data, "rb") as fh:
        while chunk := fh.read(CHUNK * 8):
            h.update(chunk)
    return h


# --------------------------------------------------------------------------------------- http


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], handler: type, hub: TestHub, origin: str) -> None:
        self.hub = hub
        self.origin = origin
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that hang up mid-body are expected here; keep test output clean

    def open_connections(self) -> int:
        with self._conns_lock:
            return len(self._conns)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections so handler threads end promptly."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Abort(Exception):
    """Stop serving this request and close the connection (fault or hub stopping)."""


class _BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TestHub/1.0"
    timeout = 30  # idle keep-alive connections do not keep threads forever
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    @property
    def hub(self) -> TestHub:
        return self.server.hub

    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def _route(self, body: bytes = b"") -> None:
        try:
            self._dispatch(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _dispatch(self, body: bytes) -> None:
        raise NotImplementedError

    def _record(self, file: str | None, status: int, sent: int) -> None:
        entry = LogEntry(
            method=self.command,
            origin=self.server.origin,
            path=urlsplit(self.path).path,
            file=file,
            range=self.headers.get("Range"),
            status=status,
            sent=sent,
            auth=self.headers.get("Authorization") is not None,
        )
        with self.hub._lock:
            self.hub.log.append(entry)

    def _drain_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send_json(
        self, obj: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(obj).encode()
        self._send_bytes(body, status, {"Content-Type": "application/json", **(headers or {})})

    def _send_bytes(
        self, body: bytes, status: int, headers: dict[str, str], file: str | None = None,
        counted: bool = True,
    ) -> None:  # fmt: skip
        """Answer with `body`; `counted=False` logs it as 0 bytes sent (an error, not content)."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._record(file, status, len(body) if counted and self.command != "HEAD" else 0)

    def _error(
        self, status: int, code: str | None, message: str, commit: str | None = None,
        file: str | None = None,
    ) -> None:  # fmt: skip
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        if commit:
            headers["X-Repo-Commit"] = commit
        headers["Content-Type"] = "application/json"
        body = json.dumps({"error": message}).encode()
        self._send_bytes(body, status, headers, file, counted=False)

    def _injected(self, status: int, fault: Fault, file: str) -> None:
        headers: dict[str, str] = {}
        if status in (429, 503) and fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        headers["Content-Type"] = "application/json"
        body = json.dumps({"error": f"injected {status}"}).encode()
        self._send_bytes(body, status, headers, file, counted=False)

    # ---- body serving with ranges and faults

    def _serve_content(
        self, f: HubFile, etag: str, extra: dict[str, str], fault: Fault | None
    ) -> None:
        """Answer a HEAD/GET for ``f`` honouring Range/If-Range, applying ``fault``."""
        size = f.size
        status_override, byte_faults = (None, False)
        if fault is not None and self.command == "GET":
            with self.hub._lock:
                status_override, byte_faults = fault._take()
        if status_override is not None:
            return self._injected(status_override, fault, f.path)  # type: ignore[arg-type]
        active = fault if byte_faults else None
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range.strip().strip('"') != etag:
            rng = None
        if active is not None and active.ignore_range:
            rng = None
        if rng is not None:
            parsed = _parse_range(rng, size)
            if parsed == "unsatisfiable":
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._record(f.path, 416, 0)
                return
            if parsed is not None:
                start, end = parsed
                status = 206
                if active is not None and active.range_start is not None:
                    start = max(0, min(active.range_start, end))
        length = max(0, end - start + 1)
        self.send_response(status)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        for k, v in extra.items():
            self.send_header(k, v)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            self._record(f.path, status, 0)
            return
        sent = 0
        try:
            sent = self._write_body(f, start, length, active)
        except (_Abort, OSError):
            self.close_connection = True
            sent = getattr(self, "_sent", sent)
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        self._record(f.path, status, sent)

    def _write_body(self, f: HubFile, start: int, length: int, fault: Fault | None) -> int:
        self._sent = 0
        limit = length
        if fault is not None and fault.drop_after is not None:
            d = fault.drop_after
            limit = min(length, int(length * d) if isinstance(d, float) else int(d))
        corrupt_at = None
        if fault is not None and fault.corrupt:
            corrupt_at = fault.corrupt_at if fault.corrupt_at is not None else f.size // 2
        stall_at = fault.stall_after if fault is not None and fault.stall > 0 else None
        rate = fault.rate if fault is not None else None
        plain = fault is None and isinstance(f.data, Path)
        if plain:
            return self._sendfile(f.data, start, length)  # type: ignore[arg-type]
        bucket = _Bucket(rate, self.hub._stopping) if rate else None
        pos = start
        step = min(CHUNK, max(1024, rate // 20)) if rate else CHUNK
        with _open_source(f.data) as src:
            while self._sent < limit:
                if self.hub._stopping.is_set():
                    raise _Abort
                if stall_at is not None and self._sent >= stall_at:
                    stall_at = None
                    self.hub._stopping.wait(min(fault.stall, MAX_STALL_S))  # type: ignore[union-attr]
                    continue
                n = min(step, limit - self._sent)
                if stall_at is not None and self._sent < stall_at:
                    n = min(n, stall_at - self._sent)
                chunk = bytearray(src(pos, n))
                if not chunk:
                    break
                if corrupt_at is not None and pos <= corrupt_at < pos + len(chunk):
                    chunk[corrupt_at - pos] ^= 0xFF
                if bucket is not None:
                    bucket.take(len(chunk))
                self.wfile.write(chunk)
                self._sent += len(chunk)
                pos += len(chunk)
        if self._sent < length:
            raise _Abort  # drop: the client sees fewer bytes than Content-Length
        return self._sent

    def _sendfile(self, path: Path, start: int, length: int) -> int:
        self.wfile.flush()
        with open(path, "rb") as fh:
            while self._sent < length:
                if self.hub._stopping.is_set():
                    raise _Abort
                n = self.connection.sendfile(
                    fh, start + self._sent, min(length - self._sent, 64 * CHUNK)
                )
                if n == 0:
                    break
                self._sent += n
        return self._sent


class _Bucket:
    """Token bucket: at most ``rate`` bytes per second, bursting one tenth of a second."""

    def __init__(self, rate: int, stopping: threading.Event) -> None:
        self.rate = rate
        self.tokens = 0.0
        self.last = time.monotonic()
        self.stopping = stopping

    def take(self, n: int) -> None:
        capacity = max(self.rate / 10, n)
        while True:
            now = time.monotonic()
            self.tokens = min(capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= n:
                self.tokens -= n
                return
            if self.stopping.wait((n - self.tokens) / self.rate):
                raise _Abort


@contextlib.contextmanager
def _open_source(data: bytes | Path) -> Iterator[Any]:
    if isinstance(data, bytes):
        view = memoryview(data)
        yield lambda pos, n: view[pos : pos + n]
        return
    with open(data, "rb") as fh:
        yield lambda pos, n: os.pread(fh.fileno(), n, pos)


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """``(start, end)`` inclusive, ``"unsatisfiable"`` (416), or None to ignore the header."""
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None  # multi-range or malformed: serve the whole file, as servers may
    if not m.group(1):
        suffix = int(m.group(2))
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, min(end, size - 1)


class _HubHandler(_BaseHandler):
    def do_POST(self) -> None:
        self._route(self._drain_body())

    def _dispatch(self, body: bytes) -> None:
        url = urlsplit(self.path)
        raw = [s for s in url.path.split("/") if s]
        query = parse_qs(url.query)
        if raw[:2] == ["api", "agent-harnesses"]:
            return self._send_json({"standardEnvVars": [], "harnesses": {}})
        if raw[:2] == ["api", "whoami-v2"]:
            return self._whoami()
        token, bad = self._token()
        if bad:
            return self._error(401, None, "Invalid credentials in Authorization header")
        if len(raw) >= 3 and raw[0] == "api" and raw[1] in ("models", "datasets"):
            return self._api(raw[1][:-1], raw[2:], query, body, token)
        repo_type = "model"
        if raw and raw[0] in ("datasets", "models"):
            repo_type, raw = raw[0][:-1], raw[1:]
        if "resolve" in raw[1:3] and self.command in ("GET", "HEAD"):
            i = raw.index("resolve", 1)
            if len(raw) >= i + 3:
                repo_id = "/".join(unquote(s) for s in raw[:i])
                rev = unquote(raw[i + 1])
                path = "/".join(unquote(s) for s in raw[i + 2 :])
                moved = self.hub.renamed.get((repo_type, repo_id))
                if moved is not None:
                    return self._moved(
                        self.path.replace(
                            "/" + "/".join(raw[: i + 1]) + "/", f"/{moved}/resolve/", 1
                        )
                    )
                return self._resolve(repo_type, repo_id, rev, path, token)
        return self._error(404, None, "Not Found")

    def _moved(self, location: str) -> None:
        self.send_response(307)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self._record(None, 307, 0)

    def _token(self) -> tuple[str | None, bool]:
        auth = self.headers.get("Authorization") or ""
        if not auth.lower().startswith("bearer "):
            return None, False
        token = auth[7:].strip()
        return token, token not in self.hub.tokens

    def _whoami(self) -> None:
        token, bad = self._token()
        if token is None or bad:
            return self._error(401, None, "Invalid credentials in Authorization header")
        user = self.hub.tokens[token]
        return self._send_json(
            {
                "type": "user",
                "name": user,
                "fullname": user,
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "test", "role": "read"},
                },
            }
        )

    def _repo(self, repo_type: str, repo_id: str, token: str | None, files: bool) -> Repo | None:
        """The repo if this request may see it; otherwise answer the Hub's error and None."""
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and token not in repo.tokens):
            status = 404 if token else 401
            self._error(status, "RepoNotFound", "Repository not found")
            return None
        if files and repo.gated and token not in repo.tokens:
            status = 403 if token else 401
            self._error(status, "GatedRepo", f"Access to model {repo_id} is restricted.")
            return None
        return repo

    def _resolve(
        self, repo_type: str, repo_id: str, rev: str, path: str, token: str | None
    ) -> None:
        repo = self._repo(repo_type, repo_id, token, files=True)
        if repo is None:
            return
        commit = repo.resolve(rev)
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        f = repo.commits[commit].get(path)
        if f is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist", commit=commit)
        fault = self.hub._fault_for(f.sha256, "resolve") if self.hub.faults else None
        if fault is not None:
            with self.hub._lock:
                status, _ = fault._take()
            if status is not None:
                return self._injected(status, fault, f.path)
        base = {
            "X-Repo-Commit": commit,
            "X-Linked-Etag": f'"{f.etag}"',
            "X-Linked-Size": str(f.size),
        }
        if f.lfs:
            self.send_response(302)
            for k, v in base.items():
                self.send_header(k, v)
            self.send_header("ETag", f'"{f.git_sha1}"')
            self.send_header("Location", self.hub.cdn_url(f))
            self.send_header("Content-Length", "0")
            self.end_headers()
            self._record(f.path, 302, 0)
            return
        body_fault = self.hub._fault_for(f.sha256, "body") if self.hub.faults else None
        self._serve_content(f, f.git_sha1, base, body_fault)

    # ---- metadata API

    def _api(
        self, repo_type: str, segs: list[str], query: dict[str, list[str]], body: bytes,
        token: str | None,
    ) -> None:  # fmt: skip
        segs = [unquote(s) for s in segs]
        n = 2 if len(segs) >= 2 and (repo_type, "/".join(segs[:2])) in self.hub.repos else 1
        if n == 1 and len(segs) >= 2 and segs[1] not in ("revision", "tree", "paths-info"):
            n = 2
        repo_id, rest = "/".join(segs[:n]), segs[n:]
        repo = self._repo(repo_type, repo_id, token, files=False)
        if repo is None:
            return
        kind = rest[0] if rest else "info"
        if kind == "info" or (kind == "revision" and len(rest) >= 2):
            rev = "/".join(rest[1:]) if kind == "revision" else "main"
            return self._info(repo, rev, query.get("blobs", ["false"])[0].lower() == "true")
        if kind == "tree" and len(rest) >= 2:
            return self._tree(repo, rest[1], "/".join(rest[2:]), query)
        if kind == "paths-info" and len(rest) >= 2 and self.command == "POST":
            form = parse_qs(body.decode())
            return self._paths_info(repo, "/".join(rest[1:]), form.get("paths", []))
        return self._error(404, None, "Not Found")

    def _commit_or_error(self, repo: Repo, rev: str) -> str | None:
        commit = repo.resolve(rev)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return commit

    def _info(self, repo: Repo, rev: str, blobs: bool) -> None:
        commit = self._commit_or_error(repo, rev)
        if commit is None:
            return
        tree = repo.commits[commit]
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit,
            "lastModified": FIXED_DATE,
            "createdAt": FIXED_DATE,
            "private": repo.private,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "siblings": [tree[p].sibling(blobs) for p in sorted(tree)],
        }
        self._send_json(info)

    def _entries(self, tree: dict[str, HubFile]) -> dict[str, dict[str, Any]]:
        """Every file and directory entry of a tree, keyed by path."""
        out: dict[str, dict[str, Any]] = {}
        for p in sorted(tree):
            parts = p.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in out:
                    oid = hashlib.sha1(f"tree:{d}".encode()).hexdigest()
                    out[d] = {"type": "directory", "oid": oid, "size": 0, "path": d}
            out[p] = tree[p].tree_entry()
        return out

    def _tree(self, repo: Repo, rev: str, path: str, query: dict[str, list[str]]) -> None:
        commit = self._commit_or_error(repo, rev)
        if commit is None:
            return
        entries = self._entries(repo.commits[commit])
        if path and (path not in entries or entries[path]["type"] != "directory"):
            return self._error(404, "EntryNotFound", f"{path} does not exist", commit=commit)
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = f"{path}/" if path else ""
        listed = [
            e
            for p, e in entries.items()
            if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])
        ]
        cursor = int(query.get("cursor", ["0"])[0])
        page = listed[cursor : cursor + self.hub.tree_page_size]
        headers = {}
        if cursor + self.hub.tree_page_size < len(listed):
            nxt = cursor + self.hub.tree_page_size
            qs = f"recursive={str(recursive).lower()}&expand=false&cursor={nxt}"
            url = f"{self.hub.endpoint}{urlsplit(self.path).path}?{qs}"
            headers["Link"] = f'<{url}>; rel="next"'
        self._send_json(page, headers=headers)

    def _paths_info(self, repo: Repo, rev: str, paths: list[str]) -> None:
        commit = self._commit_or_error(repo, rev)
        if commit is None:
            return
        entries = self._entries(repo.commits[commit])
        self._send_json([entries[p] for p in paths if p in entries])


class _CdnHandler(_BaseHandler):
    """The storage origin: serves content by sha256 only to correctly signed, unexpired URLs."""

    def _dispatch(self, body: bytes) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        sha = url.path.rsplit("/", 1)[-1]
        file = query.get("x-file", "")
        try:
            expires = int(query.get("Expires", "0"))
        except ValueError:
            expires = 0
        good = hmac.compare_digest(
            query.get("X-Amz-Signature", ""), self.hub._sign(sha, file, expires)
        )
        if not good or expires < time.time():
            body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            self._send_bytes(body, 403, {"Content-Type": "application/xml"}, file or None)
            return
        f = self.hub._content(sha)
        if f is None:
            self._send_bytes(b"<Error><Code>NoSuchKey</Code></Error>", 404, {})
            return
        fault = self.hub._fault_for(sha, "body") if self.hub.faults else None
        served = HubFile(path=file or f.path, data=f.data, lfs=True, _sha256=f.sha256)
        self._serve_content(served, sha, {}, fault)


HEADER_PROBE_MAX = 1 << 20


def _is_header_probe(range_header: str | None) -> bool:
    match = re.fullmatch(r"bytes=(\d+)-(\d+)", range_header or "")
    return bool(match) and int(match.group(2)) - int(match.group(1)) < HEADER_PROBE_MAX
