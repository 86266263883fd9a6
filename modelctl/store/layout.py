"""Where things live on the models volume.

The models dir follows ComfyUI's layout (`diffusion_models/`, `text_encoders/`, `vae/`, …: the
names are in `store/data/comfyui_folders.json`); modelctl's own state sits beside the models in
`<models-dir>/.modelctl/` so that partial files are on the same filesystem as their destination
(the final rename must be atomic) and locks are shared by every container that mounts the volume
(never /tmp, which containers do not share).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from modelctl.errors import BadInput, from_os_error
from modelctl.store.comfyui_folders import canonical

DEFAULT_MODELS_DIR = "./shared/models"
STATE_DIR = ".modelctl"


def models_dir(option: str | None = None) -> Path:
    """`--models-dir`, else `$MODELCTL_MODELS_DIR`, else `./shared/models`; refused (exit 2) when
    it exists and is not a folder (`check_root`)."""
    value = option or os.environ.get("MODELCTL_MODELS_DIR") or DEFAULT_MODELS_DIR
    # os.path's expanduser, as everywhere in modelctl: `~nobody/x` (no such user, or no home)
    # stays as written, as a shell leaves it, where pathlib's raises RuntimeError
    root = Path(os.path.expanduser(value)).absolute()
    check_root(root)
    return root


def check_root(root: Path) -> None:
    """A models dir that does not exist yet is fine (pull creates it); one that is a file, a
    dangling symlink (a volume not mounted) or under a file is refused before any command looks
    into it, since every answer read from it ("0 files", "missing") would be wrong."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        if not root.is_symlink():
            return
        raise BadInput(
            f"models dir {root} is a symlink to {os.readlink(root)}, which does not exist",
            "mount or create the folder it points to (is the volume mounted?), or fix the link",
        ) from None
    except OSError as exc:
        raise from_os_error(exc, "opening the models dir", root) from None
    if not stat.S_ISDIR(st.st_mode):
        raise BadInput(
            f"models dir {root} is not a folder",
            "point --models-dir (or MODELCTL_MODELS_DIR) at a folder, or move the file away",
        )
    state = root / STATE_DIR  # modelctl's own records: "0 files" read past a file there is wrong
    if os.path.lexists(state) and not state.is_dir():
        raise BadInput(
            f"{state} is not a folder: modelctl keeps its receipts, partials and locks there",
            "move it away (modelctl recreates the folder; installed files then read as unmanaged "
            "until `modelctl verify --full` adopts them)",
        )


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

    @property
    def intents(self) -> Path:
        return self.state / "intents"

    def dest(self, relpath: str) -> Path:
        return self.root / relpath

    def receipt(self, relpath: str) -> Path:
        """`receipts/<top folder>/<dest_key>.json`: a name of fixed length, whatever the dest's.

        The top folder is kept (it is a folder of the models dir, so its name fits wherever the
        model's does) because `comfyui_paths.installed_folders` lists installed folders from it
        without opening a receipt; the receipt itself names its destination (`Receipt.dest`).
        """
        top, sep, _ = relpath.partition("/")
        name = f"{dest_key(relpath)}.json"
        return self.receipts / top / name if sep else self.receipts / name

    def legacy_receipt(self, relpath: str) -> Path:
        """Where receipts were written before the fixed-length names: `receipts/<dest>.json`
        (a basename near NAME_MAX made that name too long). Still read; replaced when rewritten."""
        return self.receipts / f"{relpath}.json"

    def intent(self, relpath: str) -> Path:
        """The intent record of an install in progress (`store.intents`)."""
        return self.intents / f"{dest_key(relpath)}.json"

    def lock(self, relpath: str) -> Path:
        """`locks/<dest_key>.lock`: fixed length, like the receipt's name."""
        return self.locks / f"{dest_key(relpath)}.lock"


def inside(relpath: str) -> bool:
    """True when `relpath` names a file inside the models dir, outside `.modelctl/` (a dest read
    back from a state file is checked like one from a manifest: no `..`, not absolute)."""
    parts = relpath.split("/")
    return (
        "\\" not in relpath
        and not relpath.startswith("/")
        and all(p not in ("", ".", "..") for p in parts)
        and parts[0] != STATE_DIR
    )


def dest_key(relpath: str) -> str:
    """32 hex digits naming a destination's state files: never longer, whatever its name."""
    return hashlib.sha256(relpath.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def canonical_folder(relpath: str) -> str:
    """The ComfyUI folder of a dest, legacy names mapped (`unet/x` -> diffusion_models)."""
    return canonical(relpath.split("/", 1)[0])
