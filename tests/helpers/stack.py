"""An installed stack without a download: files placed and receipts written through the store API.

Used where a test (or the ensure benchmark) needs "everything already installed" and the bytes do
not matter: files can be sparse, so a multi-GiB stack costs no disk and no time. Receipts are
written with `modelctl.store.install.write_receipt`, exactly as a pull leaves them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from modelctl.store.install import write_receipt
from modelctl.store.layout import Layout

DESTS = (
    "diffusion_models/{name}-{quant}.gguf",
    "text_encoders/{name}-te.safetensors",
    "vae/{name}-vae.safetensors",
    "loras/{name}-lora.safetensors",
    "unet/{name}-extra.gguf",
    "clip/{name}-clip.safetensors",
)
ROLES = ("diffusion_model", "text_encoder", "vae", "lora", "diffusion_model", "text_encoder")


def source(stack: str, dest: str) -> str:
    return f"hf://fake-org/{stack}/{dest}"


def write_manifest(path: Path, name: str, assets: list[tuple[str, str, str]]) -> Path:
    """A manifest v1 with one `quant` axis; `assets` are (id, role, dest), sourced from a Hub repo
    named after the stack (never contacted: the files are installed by `fake_stack`)."""
    lines = [
        "schema: 1",
        f"name: {name}",
        "description: a test stack",
        "variants:",
        "  quant: {values: [Q4_K_M, Q8_0], default: Q4_K_M}",
        "assets:",
    ]
    for asset_id, role, dest in assets:
        lines += [
            f"  - id: {asset_id}",
            f"    role: {role}",
            f"    source: {source(name, dest)}",
            "    revision: main",
            f"    dest: {dest}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def fake_stack(
    models: Path,
    manifest_dir: Path,
    name: str = "stack",
    n: int = 6,
    size: int | list[int] = 1 << 20,
) -> Path:
    """Write manifest `<manifest_dir>/<name>.yaml` with `n` assets and install them (sparse files).

    `size` is one size for all, or one per asset. Returns the manifest path. Asset dests use the
    default variant (`Q4_K_M`).
    """
    sizes = size if isinstance(size, list) else [size] * n
    manifest_dir.mkdir(parents=True, exist_ok=True)
    assets = [(f"a{i}", ROLES[i % 6], DESTS[i % 6].format(name=f"{name}{i}", quant="{quant}"))
              for i in range(n)]  # fmt: skip
    manifest = write_manifest(manifest_dir / f"{name}.yaml", name, assets)
    layout = Layout(models)
    for (asset_id, _role, dest), nbytes in zip(assets, sizes, strict=True):
        rel = dest.replace("{quant}", "Q4_K_M")
        path = layout.dest(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.truncate(nbytes)  # sparse: no blocks written
        write_receipt(
            layout,
            rel,
            source=source(name, rel),
            sha256=hashlib.sha256(asset_id.encode()).hexdigest(),
        )
    return manifest
