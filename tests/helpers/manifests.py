"""Small manifests written by tests (no bundled manifest is assumed to keep its shape)."""

from __future__ import annotations

from pathlib import Path

NUNCHAKU = """\
schema: 1
name: nunchaku-test
description: a Nunchaku SVDQuant stack for tests
variants:
  precision: {{values: [auto, int4, fp4], default: auto}}
  rank: {{values: [r32, r128], default: r32}}
assets:
  - id: dit
    role: diffusion_model
    source: file://{mirror}/svdq-{{precision}}_{{rank}}-test.safetensors
    dest: diffusion_models/svdq-{{precision}}_{{rank}}-test.safetensors
    size: {size}
requires:
  gpu: {{min_vram_gib: {vram}, precision: "{{precision}}"}}
  packages: {{nunchaku: ">=1.0.0"}}
"""


def nunchaku_manifest(directory: Path, size: int = 1000, vram: float = 8) -> Path:
    """`nunchaku-test.yaml` in `directory`: precision auto|int4|fp4 (default auto), rank r32|r128."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "nunchaku-test.yaml"
    path.write_text(NUNCHAKU.format(mirror=directory / "mirror", size=size, vram=vram), "utf-8")
    return path
