"""Install files the way a pull leaves them (file + receipt via the store API), without a download.

Shared by the store, lock-file and inventory CLI tests.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from modelctl.store import receipts
from modelctl.store.install import write_receipt
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt

DEMO_MANIFEST = """\
schema: 1
name: demo
description: a demo stack
variants:
  quant: {values: [Q4, Q8], default: Q4}
assets:
  - id: diffusion
    role: diffusion_model
    source: hf://acme/demo/model-{quant}.gguf
    revision: main
    dest: unet/model-{quant}.gguf
  - id: vae
    role: vae
    source: hf://acme/demo/vae.safetensors
    dest: vae/vae.safetensors
  - id: cfg
    role: other
    source: hf://acme/demo/config.json
    dest: configs/demo.json
"""


def install(
    layout: Layout,
    dest: str,
    data: bytes,
    source: str | None = None,
    selections: list[str] | None = None,
    **fields: object,
) -> Receipt:
    """Write `data` at `dest` and a receipt for it (sha256 of `data`)."""
    path = layout.dest(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return write_receipt(
        layout,
        dest,
        source=source or f"hf://acme/demo/{Path(dest).name}",
        sha256=hashlib.sha256(data).hexdigest(),
        selections=list(selections or []),
        **fields,
    )


def flip_byte(path: Path, offset: int) -> None:
    """Change one byte in place and put the mtime back: invisible to a stat check."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def install_demo(layout: Layout, quant: str = "Q4", spec: str | None = None) -> dict[str, bytes]:
    """Every file of `demo:quant=<quant>` installed; returns dest -> bytes."""
    spec = spec or f"demo:quant={quant}"
    files = {
        f"unet/model-{quant}.gguf": b"GGUF" + quant.encode() * 1000,
        "vae/vae.safetensors": b"vae-bytes" * 500,
        "configs/demo.json": b'{"a": 1}',
    }
    sources = {
        f"unet/model-{quant}.gguf": f"hf://acme/demo/model-{quant}.gguf",
        "vae/vae.safetensors": "hf://acme/demo/vae.safetensors",
        "configs/demo.json": "hf://acme/demo/config.json",
    }
    for dest, data in files.items():
        old = receipts.read(layout, dest)
        sels = [*old.selections, spec] if old and spec not in old.selections else [spec]
        install(
            layout, dest, data, sources[dest], sels, revision="main" if "unet" in dest else None
        )
    return files
