"""An installed stack without a download: files placed and receipts written through the store API.

Used where a test (or the ensure benchmark) needs "everything already installed" and the bytes do
not matter: files can be sparse, so a multi-GiB stack costs no disk and no time. Receipts are
written with `modelctl.store.receipts`, exactly as a pull leaves them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from modelctl.store import receipts
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


def write_manifest(path: Path, name: str, assets: list[tuple[str, str, str]]) -> Path:
    """A manifest v1 with one `quant` axis; `assets` are (id, role, dest) with file:// sources."""
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
            f"    source: file://{path.parent}/mirror/{dest}",
            f"    dest: {dest}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def fake_stack(
    models: Path, manifest_dir: Path, name: str = "stack", n: int = 6, size: int = 1 << 20
) -> Path:
    """Write manifest `<manifest_dir>/<name>.yaml` with `n` assets and install them (sparse files).

    Returns the manifest path. Asset dests use the default variant (`Q4_K_M`).
    """
    manifest_dir.mkdir(parents=True, exist_ok=True)
    assets = [(f"a{i}", ROLES[i % 6], DESTS[i % 6].format(name=f"{name}{i}", quant="{quant}"))
              for i in range(n)]  # fmt: skip
    manifest = write_manifest(manifest_dir / f"{name}.yaml", name, assets)
    layout = Layout(models)
    for asset_id, _role, dest in assets:
        rel = dest.replace("{quant}", "Q4_K_M")
        path = layout.dest(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.truncate(size)  # sparse: no blocks written
        receipts.write(
            layout,
            receipts.Receipt.for_file(
                path,
                dest=rel,
                source=f"file://{manifest_dir}/mirror/{dest}".replace("{quant}", "Q4_K_M"),
                sha256=hashlib.sha256(asset_id.encode()).hexdigest(),
            ),
        )
    return manifest
