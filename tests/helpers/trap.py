"""A loopback listener that counts every connection made to it and answers none.

For "offline means no socket": point HF_ENDPOINT and every proxy variable at it, and any request
a command sends (direct, or through a proxy, for any host) lands here first. Each connection is
accepted, its first bytes are kept (to say what was sent) and it is closed, so a client that does
connect fails at once instead of waiting.
"""

from __future__ import annotations

import socket
import threading


class ConnectionTrap:
    __test__ = False

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._lock = threading.Lock()
        self._seen: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def env(self) -> dict[str, str]:
        """Variables that send every connection of a child process here (no proxy bypass)."""
        env = {"HF_ENDPOINT": self.url, "NO_PROXY": "", "no_proxy": ""}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            env[name] = env[name.lower()] = self.url
        return env

    @property
    def connections(self) -> list[bytes]:
        """The first bytes received on each connection so far."""
        with self._lock:
            return list(self._seen)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1.0)
                try:
                    first = conn.recv(4096)
                except OSError:
                    first = b""
            with self._lock:
                self._seen.append(first)

    def __enter__(self) -> ConnectionTrap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
