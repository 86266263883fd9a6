"""ComfyUI's `extra_model_paths.yaml`: point ComfyUI at the models dir modelctl fills.

How ComfyUI reads the file (comfyanonymous/ComfyUI `utils/extra_config.py` @4328fa89,
`load_extra_path_config`): each top-level section is a mapping; `base_path` and `is_default` are
popped, every other key is a folder name whose value is split on newlines, each line joined to
`base_path` and handed to `folder_paths.add_model_folder_path(key, path, is_default)`, which maps
the legacy names (`unet`, `clip`) through `map_legacy`. ComfyUI's `main.py` reads the file in
`apply_custom_paths()`, before any custom node is imported.

ComfyUI-GGUF (`update_folder_names_and_paths` in its `nodes.py`) builds its `unet_gguf` and
`clip_gguf` folders at import time from the *same list object* as `diffusion_models` (else `unet`)
and `text_encoders` (else `clip`), filtered to `.gguf`. So the GGUF loaders see exactly what the
`diffusion_models` / `text_encoders` entries below list; writing `unet_gguf:` keys ourselves would
only make ComfyUI-GGUF log "Unknown file list already present". The folder names, legacy names
and GGUF folders, each with its upstream source, are in `data/comfyui_folders.json`
(`store.comfyui_folders`).

We write the section as text between BEGIN/END marker comments, not with `yaml.safe_dump`, so a
user's own sections and comments in the same file survive every rewrite (StabilityMatrix #130/#882:
tools that regenerate the whole file lose the user's sections). Values are JSON strings, which
are valid YAML double-quoted scalars, so any path survives quoting; the tests load the output with
`yaml.safe_load` and ComfyUI's own parsing rules as the oracle. Stdlib only: this runs at
container start.
"""

from __future__ import annotations

import json
import os
import re

from modelctl.datafiles import read_bounded
from modelctl.errors import BadInput
from modelctl.store import comfyui_folders
from modelctl.store.atomic import write_text

SECTION = "modelctl"
MAX_BYTES = 16 << 20  # far above any extra_model_paths.yaml; a bigger file is refused, unread
BEGIN = "# BEGIN modelctl"
END = "# END modelctl"

_SAFE_FOLDER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def folder_map(extra_folders: list[str] | tuple[str, ...] = ()) -> dict[str, list[str]]:
    """ComfyUI folder key -> sub-folders of the models dir, for every known folder plus `extra`.

    `extra_folders` are the top-level folders of files modelctl installed (from receipts), so a
    custom-node folder a manifest writes into (e.g. `sams/`) is exposed too.
    """
    keys = list(comfyui_folders.folders())
    # The legacy names are keys of their own too, for ComfyUI builds from before the
    # `clip` -> `text_encoders` rename (there `clip` is a key); current builds map them onto the
    # new keys and skip duplicate paths.
    reserved = comfyui_folders.not_folders()
    for name in (*comfyui_folders.legacy_names(), *extra_folders):
        if name not in keys and _SAFE_FOLDER.fullmatch(name) and name not in reserved:
            keys.append(name)
    return {key: list(comfyui_folders.subfolders(key)) for key in keys}


def render(models_root: str, folders: dict[str, list[str]], is_default: bool = True) -> str:
    """The marked `modelctl:` section for `models_root` (an absolute path)."""
    lines = [
        f"{BEGIN} (written by `modelctl comfyui-paths`; this block is replaced on every run)",
        *_gguf_note(),
        f"{SECTION}:",
        f"  base_path: {json.dumps(models_root)}",
        f"  is_default: {'true' if is_default else 'false'}",
    ]
    for key, subfolders in folders.items():
        lines.append(f"  {key}: {json.dumps(chr(10).join(s + '/' for s in subfolders))}")
    lines.append(END)
    return "\n".join(lines) + "\n"


def _gguf_note() -> list[str]:
    """Comment lines saying which folders ComfyUI-GGUF's loaders list (from the folder data)."""
    import textwrap

    gguf = comfyui_folders.gguf_folders()
    bases = [targets[0] for targets in gguf.values()]
    dirs = [f"{d}/" for base in bases for d in comfyui_folders.subfolders(base)]
    text = (
        f"ComfyUI-GGUF's {_and(list(gguf))} folders are built from {_and(bases)}, so "
        f"{_and(list(comfyui_folders.gguf_extensions()))} files under {_and(dirs)} show in the "
        "GGUF loaders too."
    )
    return textwrap.wrap(text, width=86, initial_indent="# ", subsequent_indent="# ")


def _and(words: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return f"{', '.join(words[:-1])} and {words[-1]}" if len(words) > 1 else "".join(words)


def merge(existing: str | None, block: str, path: str) -> str:
    """`existing` file text with our block replaced, or appended when it has none yet."""
    if not existing:
        return block
    start = existing.find(BEGIN)
    if start >= 0 and (start == 0 or existing[start - 1] == "\n"):
        end = existing.find(END, start)
        if end < 0:
            raise BadInput(
                f"{path} has a `{BEGIN}` line but no `{END}` line",
                f"restore the `{END}` line or delete the modelctl block from {path}",
            )
        end = existing.find("\n", end)
        tail = existing[end + 1 :] if end >= 0 else ""
        return existing[:start] + block + tail
    if re.search(rf"(?m)^{SECTION}\s*:", existing):
        raise BadInput(
            f"{path} already has a `{SECTION}:` section that modelctl did not write",
            "rename or remove that section, or write the paths to another file",
        )
    return existing + ("" if existing.endswith("\n") else "\n") + "\n" + block


def write(path: str, block: str) -> bool:
    """Merge `block` into the file at `path` atomically; False when it already said the same.

    A symlinked file is updated at its target (containers often link the config from a volume).
    The file's mode is kept; nothing is rewritten when the content would not change, so ComfyUI
    and file watchers see no spurious modification.
    """
    target = os.path.realpath(path)
    try:
        existing: str | None = read_bounded(target, MAX_BYTES).decode("utf-8")
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        existing, mode = None, 0o644
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(
            f"cannot read {path}: {_reason(exc)}",
            "check that it is a readable UTF-8 text file, or pass another --write path",
        ) from None
    text = merge(existing, block, path)
    if text == existing:
        return False
    try:
        write_text(target, text, mode=mode)
    except OSError as exc:
        raise BadInput(
            f"cannot write {path}: {_reason(exc)}",
            "check that the folder exists and is writable, or pass another --write path",
        ) from None
    return True


def generate(
    models_root: str, write_to: str | None
) -> tuple[str, bool | None, dict[str, list[str]]]:
    """The block for `models_root` (absolute), written to `write_to` when given.

    Returns (block, changed: None when not writing, folder map). Used by the `comfyui-paths`
    command and by its stdlib-only fast path in `modelctl.ensure`.
    """
    from modelctl.store.layout import STATE_DIR

    folders = folder_map(installed_folders(os.path.join(models_root, STATE_DIR, "receipts")))
    block = render(models_root, folders)
    changed = write(write_to, block) if write_to else None
    return block, changed, folders


def report(models_root: str, write_to: str | None, json_output: bool) -> str:
    """Generate (and maybe write), and return what the command prints."""
    block, changed, folders = generate(models_root, write_to)
    if json_output:
        data = {"models_dir": models_root, "path": write_to, "changed": changed, "folders": folders}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if write_to:
        state = "written" if changed else "unchanged"
        return f"comfyui-paths: {write_to} {state} (models dir {models_root})\n"
    return block


def installed_folders(receipts_dir: str) -> list[str]:
    """Top-level folders that hold installed files, from the receipts tree (no file is opened)."""
    try:
        names = sorted(os.listdir(receipts_dir))
    except OSError:
        return []
    return [n for n in names if os.path.isdir(os.path.join(receipts_dir, n))]


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)
