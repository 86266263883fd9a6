"""Partial downloads: where unfinished bytes wait, and how a later run finds and resumes them.

Layout, all under `<models>/.modelctl/partial/` (same filesystem as the models, so publishing is a
rename, never a copy — rename(2) fails with EXDEV across filesystems):

    <key>.lock               filelock, held by whoever is writing a partial of this key right now
    <key>.<token>.part       the bytes, written at their final offsets (may be sparse)
    <key>.<token>.json       state: which byte ranges of .part are written, expected size and
                             sha256, source, commit, the server's validator (ETag or Last-Modified)

`key` is the expected sha256 (64 hex) when known — the same content resumes whatever the source —
else `u-` + sha256(source@commit)[:40]. `token` (`<pid>-<random>`) makes every live partial
unique to one process (a no-op lock then costs bandwidth, not a shared file): a later run *claims*
a leftover by renaming it to its own token while holding `<key>.lock`; the rename succeeds for
exactly one process. A partial is never truncated in place: starting over unlinks it and creates
a new file.

`gc` may delete `<key>.*` when it can take `<key>.lock` without waiting (nobody is writing), and the
files are older than its age limit. The state file is written after the bytes it describes (a
SIGKILL loses at most the ranges since the last save, never claims bytes that are not there), and
the sha256 of the result is checked before anything is published, so a damaged partial costs a
download, not a bad file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from modelctl.datafiles import read_bounded
from modelctl.errors import from_os_error
from modelctl.store.layout import Layout
from modelctl.transfer.ranges import Ranges

STATE_SCHEMA = 1
MAX_STATE_BYTES = 16 << 20  # a state file lists the written ranges: a few hundred bytes


def partial_key(sha256: str | None, source: str, commit: str | None) -> str:
    """The key of a download: its expected sha256, else a digest of source and commit."""
    if sha256:
        return sha256.lower()
    digest = hashlib.sha256(f"{source}@{commit or ''}".encode()).hexdigest()
    return "u-" + digest[:40]


@dataclass
class PartialState:
    key: str
    source: str
    size: int | None = None
    sha256: str | None = None
    commit: str | None = None
    validator: str | None = None
    written: list[list[int]] = field(default_factory=list)
    updated_at: float = 0.0
    schema: int = STATE_SCHEMA


@dataclass
class Partial:
    """One claimed partial file: its paths and its state (the owner holds `<key>.lock`).

    It is the `modelctl.transfer.target.Target` that `transfer.fetch` writes into.
    """

    directory: Path
    key: str
    token: str
    state: PartialState

    @property
    def volume(self) -> Path:
        """The models dir (`<models>/.modelctl/partial/` is two levels below it)."""
        return self.directory.parent.parent

    @property
    def data(self) -> Path:
        return self.directory / f"{self.key}.{self.token}.part"

    @property
    def state_path(self) -> Path:
        return self.directory / f"{self.key}.{self.token}.json"

    def save(self, written: Ranges, validator: str | None = None) -> None:
        """Atomically record `written` (call only after those bytes were written)."""
        self.state.written = written.spans()
        if validator is not None:
            self.state.validator = validator
        self.state.updated_at = time.time()
        text = json.dumps(self.state.__dict__)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.state_path)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not self.state_path.exists():
                raise
            # disk full: rewrite in place, in the blocks the state already has (a torn write
            # only costs the resume, never a wrong file: the sha256 is checked before publishing)
            with open(self.state_path, "r+", encoding="utf-8") as fh:
                fh.truncate(0)
                fh.write(text)

    def reset(self) -> None:
        """Start over: drop the bytes (unlink, never truncate in place) under a new token."""
        self.discard()
        self.token = new_token()
        self.state.written, self.state.validator = [], None
        self.save(Ranges())

    def discard(self) -> None:
        for path in (self.data, self.state_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def new_token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def lock_path(layout: Layout, key: str) -> Path:
    return layout.partials / f"{key}.lock"


def leftovers(layout: Layout, key: str) -> list[tuple[Path, PartialState | None]]:
    """Every `<key>.*.part` with its state (None when the state is missing or unreadable)."""
    out = []
    for path in sorted(layout.partials.glob(f"{key}.*.part")):
        out.append((path, read_state(path.with_suffix(".json"))))
    return out


def read_state(path: Path) -> PartialState | None:
    try:
        data = json.loads(read_bounded(path, MAX_STATE_BYTES))
        data.pop("schema", None)
        return PartialState(**data)
    # AttributeError: JSON not an object; RecursionError: JSON nested 10^5 deep
    except (OSError, ValueError, TypeError, AttributeError, RecursionError):
        return None


def claim(layout: Layout, state: PartialState) -> Partial:
    """Take over the best leftover of `state.key` (or start empty); the caller holds the key lock.

    A leftover is kept only when it describes the same download (size, sha256 and, without a
    sha256, the same source and commit) and this user may write it; the others are deleted. The
    volume's refusal (read-only, no inode left for the state file, …) is one error naming the
    path (`errors.from_os_error`).
    """
    try:
        return _claim(layout, state)
    except OSError as exc:
        raise from_os_error(
            exc, f"while starting the partial download of {state.source}", layout.partials
        ) from None


def _claim(layout: Layout, state: PartialState) -> Partial:
    layout.partials.mkdir(parents=True, exist_ok=True)
    mine = Partial(layout.partials, state.key, new_token(), state)
    best: tuple[int, Path, PartialState] | None = None
    for path, old in leftovers(layout, state.key):
        # a leftover this user may not write (another container's uid) cannot be resumed here:
        # dropped like an incompatible one, instead of failing every later run on its EACCES
        if old is not None and _compatible(old, state) and os.access(path, os.R_OK | os.W_OK):
            have = Ranges(old.written).total()
            if best is None or have > best[0]:
                if best is not None:
                    _remove(best[1])
                best = (have, path, old)
                continue
        _remove(path)
    if best is None:
        mine.save(
            Ranges()
        )  # the state exists from the start, so it can be rewritten on a full disk
    else:
        _, path, old = best
        try:
            os.rename(path, mine.data)
        except FileNotFoundError:  # another process claimed it first (lock not effective)
            mine.save(Ranges())
            return mine
        with contextlib.suppress(FileNotFoundError):
            path.with_suffix(".json").unlink()
        state.written, state.validator = old.written, old.validator
        mine.save(Ranges(old.written))
    return mine


def _compatible(old: PartialState, new: PartialState) -> bool:
    if old.size != new.size or old.sha256 != new.sha256:
        return False
    return bool(new.sha256) or (old.source == new.source and old.commit == new.commit)


def _remove(part: Path) -> None:
    for path in (part, part.with_suffix(".json")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def held_bytes(layout: Layout, key: str) -> int:
    """Bytes already written in leftovers of `key` (what a resume would not fetch again)."""
    best = 0
    for _, state in leftovers(layout, key):
        if state is not None:
            best = max(best, Ranges(state.written).total())
    return best
