"""Pull progress for people and scripts: rich bars on a TTY, plain lines otherwise, JSON lines.

All three are `modelctl.pull.Reporter`s (built on the do-nothing `Silent`), fed from the
download threads (so each is thread-safe).
- TTY (stderr is a terminal): one bar per file plus a total, with speed and ETA (rich).
- plain: one line per state change on stderr (logs of a container stay readable, no bar spam).
- `--json`: one JSON object per state change on stdout (`{"event": ..., ...}`), never byte counts,
  ending with the `summary` event.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from modelctl.cli.output import console, human_size, json_text
from modelctl.pull import Reporter
from modelctl.pull.options import Silent

if TYPE_CHECKING:
    from rich.progress import TaskID


@contextmanager
def reporting(json_output: bool) -> Iterator[Reporter]:
    """The reporter for this run's output; bars are stopped however the run ends."""
    if json_output:
        yield JsonLines()
        return
    if not sys.stderr.isatty():
        yield PlainLines()
        return
    bars = RichBars()
    try:
        yield bars
    finally:
        bars.stop()


class JsonLines(Silent):
    def __init__(self) -> None:
        self._lock = threading.Lock()

    def event(self, name: str, **data: Any) -> None:
        line = json_text({"event": name, **data})
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


CHECK_WORDS = {
    "sha256": "sha256 verified",
    "git-blob-sha1": "git blob sha1 verified",
    "size": "size only, no hash to check against",
    "none": "not verified: no size or hash to check against",
}


def check_words(data: dict[str, Any]) -> str:
    """What was checked before a file was placed (the `done` event's `verified`), and no more."""
    return CHECK_WORDS.get(str(data.get("verified")), "no check recorded")


def describe(name: str, data: dict[str, Any]) -> str | None:
    """The plain-text line for one event (None: nothing to say)."""
    dest = data.get("dest", "")
    if name == "start":
        size = human_size(data.get("size")) if data.get("size") else "size unknown"
        resumed = data.get("resumed") or 0
        again = f", resuming at {human_size(resumed)}" if resumed else ""
        return f"downloading {dest} ({size}{again}) from {data.get('source', '')}"
    if name == "waiting":
        return f"waiting for another process that is pulling {dest}"
    if name == "done":
        return f"installed {dest} ({human_size(data.get('size'))}, {check_words(data)})"
    if name == "present":
        return f"present {dest}"
    if name == "retry":
        return f"retrying {dest} from zero: {data.get('reason')}"
    if name == "failed":
        return f"failed {dest}: {data.get('error')}"
    return None


class PlainLines(Silent):
    def __init__(self) -> None:
        self._lock = threading.Lock()

    def event(self, name: str, **data: Any) -> None:
        line = describe(name, data)
        if line:
            with self._lock:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()


class RichBars(Silent):
    """Per-file bars and a total bar on stderr; event lines are printed above the bars."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}", justify="left", markup=False),  # a dest: data
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console(stderr=True),
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.total: TaskID | None = None
        self._lock = threading.Lock()
        self._started = False

    def _ensure_started(self) -> None:
        if not self._started:
            self.progress.start()
            self._started = True

    def event(self, name: str, **data: Any) -> None:
        with self._lock:
            if name == "plan":
                total = sum(
                    (r.get("size") or 0) for r in data["items"] if r["action"] == "download"
                )
                if total:
                    self._ensure_started()
                    self.total = self.progress.add_task("total", total=total)
                return
            if name == "summary":
                self.stop()
                return
            dest = data.get("dest", "")
            if name == "start":
                self._ensure_started()
                resumed = data.get("resumed") or 0
                task = self.tasks.get(dest)
                if task is None:
                    task = self.progress.add_task(dest, total=data.get("size"), completed=resumed)
                    self.tasks[dest] = task
                    if self.total is not None and resumed:
                        self.progress.advance(self.total, resumed)
                return
            line = describe(name, data)
            if line and name != "done":
                self.progress.console.print(line, markup=False, highlight=False)

    def advance(self, dest: str, n: int) -> None:
        task = self.tasks.get(dest)
        if task is not None:
            self.progress.advance(task, n)
        if self.total is not None:
            self.progress.advance(self.total, n)

    def stop(self) -> None:
        if self._started:
            self.progress.stop()
            self._started = False
