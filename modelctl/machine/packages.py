"""Python packages of the interpreter that runs the stack: distributions, and does torch import.

Everything is asked of the *target* Python in child processes (`--python`, default: this one), for
two reasons: ComfyUI often runs in another venv or container image than modelctl, and a broken
torch / CUDA install may crash or hang on import — in a child that is one `fail` line, not a dead
doctor. Distribution metadata is read without importing anything (`probes/dists.py`); torch is
imported separately (`probes/torch_import.py`) under a timeout.

Also here: telling the Nunchaku SVDQuant engine from the unrelated PyPI package called `nunchaku`,
and reading the `+torchX.Y` tag its wheels carry. The rules come from `compat/data/gpu_rules.yaml`.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from modelctl.compat.gpu_rules import rules
from modelctl.redact import redact

DIST_TIMEOUT_S = 60.0
TORCH_TIMEOUT_S = 180.0
TORCH_MARKER = "MODELCTL-TORCH-PROBE:"


@dataclass(frozen=True)
class Dist:
    """One installed distribution, as its metadata describes it."""

    name: str
    version: str
    wheel_tags: tuple[str, ...] = ()
    extensions: tuple[dict[str, Any], ...] = ()
    location: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dist:
        return cls(
            name=data["name"],
            version=data["version"],
            wheel_tags=tuple(data.get("wheel_tags") or ()),
            extensions=tuple(data.get("extensions") or ()),
            location=data.get("location"),
        )

    @property
    def public_version(self) -> str:
        """The version without its local tag: `1.0.1+torch2.8` -> `1.0.1`."""
        return self.version.split("+", 1)[0]

    @property
    def local_tag(self) -> str | None:
        """The local version label (`torch2.8`, `cu13.0torch2.10`), or None."""
        return self.version.split("+", 1)[1] if "+" in self.version else None


@dataclass(frozen=True)
class PythonEnv:
    """The target interpreter and the distributions asked about (None: not installed)."""

    executable: str
    version: str
    cp_tag: str
    platform: str
    dists: dict[str, Dist | None] = field(default_factory=dict)


@dataclass(frozen=True)
class TorchImport:
    """What `import torch` in the target Python reported, or why it failed."""

    ok: bool
    version: str | None = None
    cuda: str | None = None
    cuda_available: bool | None = None
    error: str | None = None


def _script(name: str) -> str:
    return str(resources.files("modelctl.machine.probes").joinpath(name))


def probe_dists(
    python: str,
    names: list[str],
    env: dict[str, str] | None = None,
    timeout: float = DIST_TIMEOUT_S,
) -> PythonEnv:
    """Ask `python` about itself and the distributions `names` (nothing is imported there)."""
    from modelctl.errors import BadInput

    try:
        proc = subprocess.run(
            [python, _script("dists.py"), json.dumps(sorted(set(names)))],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BadInput(
            f"cannot run the Python interpreter {python}: {exc}",
            "pass --python with the interpreter that runs ComfyUI",
        ) from None
    if proc.returncode != 0:
        raise BadInput(
            f"the Python interpreter {python} failed: {_last_line(proc.stderr)}",
            "pass --python with the interpreter that runs ComfyUI (Python >= 3.8)",
        )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    py = data["python"]
    return PythonEnv(
        executable=py["executable"],
        version=py["version"],
        cp_tag=py["cp_tag"],
        platform=py["platform"],
        dists={k: Dist.from_json(v) if v else None for k, v in data["dists"].items()},
    )


def probe_torch(
    python: str, env: dict[str, str] | None = None, timeout: float = TORCH_TIMEOUT_S
) -> TorchImport:
    """Import torch in a child `python` and report version, CUDA build and CUDA availability."""
    try:
        proc = subprocess.run(
            [python, _script("torch_import.py")],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return TorchImport(False, error=f"`import torch` did not finish within {timeout:.0f} s")
    except OSError as exc:
        return TorchImport(False, error=f"cannot run {python}: {exc}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(TORCH_MARKER):
            data = json.loads(line[len(TORCH_MARKER) :])
            return TorchImport(
                True,
                version=data.get("version"),
                cuda=data.get("cuda"),
                cuda_available=data.get("cuda_available"),
                error=data.get("cuda_error"),
            )
    if proc.returncode < 0:
        return TorchImport(False, error=f"`import torch` was killed by signal {-proc.returncode}")
    return TorchImport(False, error=f"`import torch` failed: {_last_line(proc.stderr)}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return redact(lines[-1]) if lines else "(no message)"


def major_minor(version: str | None) -> str | None:
    """`2.9.0+cu128` -> `2.9`."""
    if not version:
        return None
    match = re.match(r"^(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else None


@dataclass(frozen=True)
class NunchakuIdentity:
    """What the installed `nunchaku` distribution is."""

    engine: bool  # has the compiled SVDQuant extension nunchaku._C
    version_ok: bool  # >= the engine's first 1.x release
    torch_tag: str | None  # `2.8` from `+torch2.8`
    extension: dict[str, Any] | None


def identify_nunchaku(dist: Dist) -> NunchakuIdentity:
    """Engine or namesake? Decided by the compiled `nunchaku._C` extension, the one thing the
    SVDQuant wheels always ship and the unrelated PyPI project never has."""
    from packaging.version import InvalidVersion, Version

    spec = rules()["nunchaku_distribution"]
    prefix = spec["extension"] + "."
    extension = next((e for e in dist.extensions if e["path"].startswith(prefix)), None)
    try:
        version_ok = Version(dist.public_version) >= Version(spec["engine_min_version"])
    except InvalidVersion:
        version_ok = False
    tag = re.search(spec["torch_tag_pattern"], dist.local_tag or "")
    return NunchakuIdentity(
        engine=extension is not None,
        version_ok=version_ok,
        torch_tag=tag.group(1) if tag else None,
        extension=extension,
    )
