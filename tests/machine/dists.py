"""Real installed distributions in a temporary site dir: `*.dist-info` with METADATA, WHEEL and
RECORD, plus the package files, exactly what pip leaves behind — for the package probes, which run
in a child Python with that dir on its path. Also a ComfyUI checkout's files (`comfy_tree`), for
the ComfyUI install probe."""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

EXT_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so


def site_env(site: Path) -> dict[str, str]:
    """This environment with `site` as the only extra import path of a child Python."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(site)
    env.pop("PYTHONHOME", None)
    return env


def make_dist(
    site: Path,
    name: str,
    version: str,
    files: dict[str, str] | None = None,
    summary: str = "",
    wheel_tags: tuple[str, ...] = ("py3-none-any",),
) -> Path:
    """Install distribution `name` `version` with `files` ({relative path: text}) into `site`."""
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n", "utf-8"
    )
    tags = "".join(f"Tag: {t}\n" for t in wheel_tags)
    (info / "WHEEL").write_text(f"Wheel-Version: 1.0\nGenerator: test\n{tags}", "utf-8")
    records = []
    for rel, text in (files or {}).items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        records.append(f"{rel},,")
    records += [f"{info.name}/{f},," for f in ("METADATA", "WHEEL", "RECORD")]
    (info / "RECORD").write_text("\n".join(records) + "\n", "utf-8")
    return info


def unrelated_nunchaku(site: Path, version: str = "0.16.1") -> Path:
    """The PyPI project that is also called `nunchaku`: pure Python, no compiled extension."""
    return make_dist(
        site,
        "nunchaku",
        version,
        {"nunchaku/__init__.py": "", "nunchaku/core.py": "def run(): pass\n"},
        summary="An unrelated package that happens to share the name",
    )


def svdquant_nunchaku(
    site: Path, version: str = "1.0.1+torch2.8", cp_tag: str | None = None, suffix: str = EXT_SUFFIX
) -> Path:
    """The SVDQuant engine's wheel layout: `nunchaku/_C<suffix>` plus Python modules."""
    import sys

    cp = cp_tag or f"cp{sys.version_info.major}{sys.version_info.minor}"
    return make_dist(
        site,
        "nunchaku",
        version,
        {
            "nunchaku/__init__.py": "",
            f"nunchaku/_C{suffix}": "not really a shared object\n",
            "nunchaku/utils.py": "",
        },
        summary="Nunchaku: 4-bit diffusion inference",
        wheel_tags=(f"{cp}-{cp}-linux_x86_64",),
    )


def fake_torch(
    site: Path,
    version: str = "2.9.0",
    cuda: str | None = "12.8",
    body: str = "",
    available: bool = False,
) -> Path:
    """A `torch` distribution whose package imports and answers like torch (version, CUDA build,
    CUDA usable or not); `body` runs first, e.g. to make the import crash."""
    init = (
        f"{body}\n"
        f"__version__ = {version!r}\n"
        "class version:\n"
        f"    cuda = {cuda!r}\n"
        "class cuda:\n"
        "    @staticmethod\n"
        "    def is_available():\n"
        f"        return {available!r}\n"
    )
    return make_dist(site, "torch", version, {"torch/__init__.py": init})


def comfy_tree(root: Path, version: str = "0.3.60", plugin: str | None = "1.0.2") -> Path:
    root.mkdir(parents=True)
    (root / "comfyui_version.py").write_text(f'__version__ = "{version}"\n')
    (root / "custom_nodes").mkdir()
    if plugin:
        node = root / "custom_nodes" / "ComfyUI-nunchaku"
        node.mkdir()
        (node / "pyproject.toml").write_text(
            f'[project]\nname = "comfyui-nunchaku"\nversion = "{plugin}"\nrequires-python = ">=3.10"\n'
        )
    return root
