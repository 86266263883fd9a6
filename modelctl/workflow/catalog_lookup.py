"""Find a source for a file the workflow names without a URL, in the manifests modelctl knows.

API-format prompts carry no URLs at all, and UI workflows often lack them for a LoRA or two. When a
bundled or user manifest already installs a file at exactly the same place (`<folder>/<name>`, for
some variant), that manifest's source is the one ComfyUI users of that stack already get, so we
reuse it and say where it came from. Only exact destination matches count; a bare file name that
several stacks use differently is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelctl.store.comfyui_folders import canonical


@dataclass(frozen=True)
class CatalogHit:
    source: str
    revision: str | None
    sha256: str | None
    manifest: str


def catalog_index(extra_dirs: str | None = None) -> dict[str, CatalogHit]:
    """Destination (folder aliases mapped, case-folded) -> the first manifest asset there."""
    from modelctl.errors import ModelctlError
    from modelctl.manifest.catalog import entries, load_entry, search_dirs
    from modelctl.manifest.validate import PLACEHOLDER_RE, combinations, substitute

    index: dict[str, CatalogHit] = {}
    for entry in entries(search_dirs(extra_dirs)).values():
        try:
            manifest = load_entry(entry)
        except ModelctlError:
            continue  # a broken user manifest is reported by `modelctl list`, not here
        for asset in manifest.assets:
            used = sorted(
                set(PLACEHOLDER_RE.findall(f"{asset.source}\n{asset.dest}\n{asset.revision or ''}"))
            )
            for values in combinations(manifest.axes, used):
                key = dest_key(substitute(asset.dest, values))
                revision = substitute(asset.revision, values) if asset.revision else None
                index.setdefault(
                    key,
                    CatalogHit(
                        substitute(asset.source, values), revision, asset.sha256, manifest.name
                    ),
                )
    return index


def dest_key(dest: str) -> str:
    top, _, rest = dest.partition("/")
    return f"{canonical(top)}/{rest}".casefold()
