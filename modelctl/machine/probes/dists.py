"""Report installed distributions as JSON: run by `modelctl doctor` in the Python that runs ComfyUI.

Stdlib only and import-free for the packages it inspects: reading metadata cannot crash on a broken
torch or CUDA install. Usage: python dists.py '["torch", "nunchaku"]'
"""

from __future__ import annotations  # the target Python may predate `X | None` at run time

import importlib.machinery
import importlib.metadata
import json
import os
import platform
import sys
from typing import Any

NATIVE = (".so", ".pyd")


def describe(name: str) -> dict[str, Any] | None:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    # Tagged suffixes only (`.cpython-312-x86_64-linux-gnu.so`, `.abi3.so`, `.cp312-win_amd64.pyd`):
    # the plain `.so` in EXTENSION_SUFFIXES would accept a module built for any Python.
    own_abi = tuple(s for s in importlib.machinery.EXTENSION_SUFFIXES if s.count(".") >= 2)
    extensions = []
    for file in dist.files or []:
        path = str(file)
        if path.endswith(NATIVE) and not path.startswith(".."):
            extensions.append(
                {
                    "path": path,
                    "exists": os.path.exists(str(dist.locate_file(file))),
                    "abi_ok": path.endswith(own_abi) or path.rsplit("/", 1)[-1].count(".") == 1,
                }
            )
    wheel = dist.read_text("WHEEL") or ""
    return {
        "name": (dist.metadata.get_all("Name") or [None])[0] or name,
        "version": dist.version,
        "wheel_tags": [
            line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")
        ],
        "extensions": extensions[:200],
        "location": str(dist.locate_file("")),
    }


def main() -> None:
    names = json.loads(sys.argv[1]) if len(sys.argv) > 1 else []
    info = sys.version_info
    report = {
        "python": {
            "executable": sys.executable,
            "version": platform.python_version(),
            "cp_tag": f"cp{info.major}{info.minor}",
            "platform": sys.platform,
        },
        "dists": {name: describe(name) for name in names},
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
