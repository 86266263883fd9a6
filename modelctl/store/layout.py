"""Where things live on the models volume.

The models dir follows ComfyUI's layout (`diffusion_models/`, `text_encoders/`, `vae/`, …: the
names are in `store/data/comfyui_folders.json`); modelctl's own state sits beside the models in
`<models-dir>/.modelctl/` so that partial files are on the same filesystem as their destination
(the final rename must be atomic) and locks are shared by every container that mounts the volume
(never /tmp, which containers do not share).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelctl.store.comfyui_folders import canonical

DEFAULT_MODELS_DIR = "./shared/models"
STATE_DIR = ".modelctl"


def models_dir(option: str | None = None) -> Path:
    """`--models-dir`, else `$MODELCTL_MODELS_DIR`, else `./shared/models`."""
    value = option or os.environ.get("MODELCTL_MODELS_DIR") or DEFAULT_MODELS_DIR
    # os.path's expanduser, as everywhere in modelctl: `~nobody/x` (no such user, or no home)
    # stays as written, as a shell leaves it, where pathlib's raises RuntimeError
    return Path(os.path.expanduser(value)).absolute()


@dataclass(frozen=True)
class Layout:
    """The paths of one models dir."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def partials(self) -> Path:
        return self.state / "partial"

    @property
    def receipts(self) -> Path:
        return self.state / "receipts"

    @property
    def locks(self) -> Path:
        return self.state / "locks"

    def dest(self, relpath: str) -> Path:
        return self.root / relpath

    def receipt(self, relpath: str) -> Path:
        return self.receipts / f"{relpath}.json"

    def lock(self, relpath: str) -> Path:
        return self.locks / (relpath.replace("/", "__") + ".lock")


def canonical_folder(relpath: str) -> str:
    """The ComfyUI folder of a dest, legacy names mapped (`unet/x` -> diffusion_models)."""
    return canonical(relpath.split("/", 1)[0])
