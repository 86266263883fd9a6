"""Run the CLI in a fresh interpreter and report which heavy modules it imported.

The container fast paths (`ensure`, `comfyui-paths`) promise to answer with the stdlib only; this
proves it from the outside, with the real entry point (`modelctl.cli.main.main`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import cli_env

HEAVY = (
    "huggingface_hub", "gguf", "numpy", "rich", "typer", "click", "pydantic", "yaml", "filelock",
    "safetensors",
)  # fmt: skip
PROBE = """
import json, sys
from modelctl.cli.main import main
code = main(sys.argv[1:])
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.stderr.write("PROBE " + json.dumps({{"code": code, "heavy": heavy}}) + "\\n")
"""


def probe(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[dict, str, str]:
    """Run `modelctl ARGS` in-process of a fresh interpreter and report which heavy modules loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        env=cli_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [x for x in proc.stderr.splitlines() if x.startswith("PROBE ")][-1]
    return json.loads(line[6:]), proc.stdout, proc.stderr
