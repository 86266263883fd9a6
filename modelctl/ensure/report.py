"""The one summary line (or JSON event) an ensure prints, and its error event. Stdlib only."""

from __future__ import annotations

import json
import sys

from modelctl.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import; annotations are strings anyway
    from typing import Any


def report_ok(json_output: bool, **summary: Any) -> None:
    """The one summary line of a successful ensure (plain text, or a JSON summary event)."""
    if json_output:
        event = {"event": "summary", "command": "ensure", "status": "ok", **summary}
        event["seconds"] = round(summary["seconds"], 3)
        sys.stdout.write(json.dumps(event) + "\n")
    else:
        n = summary["downloaded"]
        done = f"{n} downloaded" if n else "nothing to download"
        sys.stdout.write(
            f"ensure: {summary['assets']} assets present ({human_size(summary['total'])}) "
            f"for {' '.join(summary['specs'])} in {summary['root']}; {done} "
            f"[{summary['seconds']:.2f}s]\n"
        )
    sys.stdout.flush()


def report_error(exit_code: int, message: str) -> None:
    from modelctl.redact import redact

    event = {"event": "summary", "command": "ensure", "status": "error",
             "exit_code": exit_code, "error": redact(message)}  # fmt: skip
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()
