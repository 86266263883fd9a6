"""ComfyUI workflow JSON -> manifest: the models a workflow loads, with sources and destinations.

Entry points (for `from-workflow`, `pull --workflow`, `check --workflow`):
- `analyze(path)` -> `Report` (resolved models, unresolved ones with hints, skipped ones, warnings);
- `manifest_text(report, name)` -> validated manifest v1 YAML text;
- `selection_from_workflow(path)` -> `Selection` of that manifest with its defaults, in memory.

Modules: `graph` (JSON formats and subgraphs), `table` + `data/loaders.yaml` (which node loads
which file), `urls` (Hub links -> hf://), `collect` (joining declared and referenced models),
`catalog_lookup` (sources from known manifests), `render` (YAML text).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelctl.manifest.model import Manifest, Selection
    from modelctl.workflow.collect import Report


def read_workflow(path: str | Path) -> bytes:
    """The bytes of a workflow file (at most `graph.MAX_BYTES + 1` of them are read), with a
    readable error when it cannot be read."""
    from modelctl.datafiles import FileTooLarge, NotRegularFile, read_bounded
    from modelctl.errors import BadInput
    from modelctl.workflow.graph import MAX_BYTES, too_large

    p = Path(os.path.expanduser(path))
    try:
        return read_bounded(p, MAX_BYTES)
    except FileTooLarge as exc:
        raise too_large(str(p), exc.size) from None
    except FileNotFoundError:
        raise BadInput(f"workflow file {p} does not exist", "check the path") from None
    except IsADirectoryError:
        raise BadInput(f"{p} is a folder, not a workflow file", "name a .json file in it") from None
    except NotRegularFile as exc:
        raise BadInput(f"cannot read workflow {p}: {exc.strerror}", "name a .json file") from None
    except OSError as exc:
        raise BadInput(
            f"cannot read workflow {p}: {exc.strerror}", "check the file's permissions"
        ) from None


def analyze(path: str | Path, manifests: str | None = None, use_catalog: bool = True) -> Report:
    """Read a workflow file and report its models (raises `BadInput` on bad input)."""
    return analyze_bytes(read_workflow(path), str(path), manifests, use_catalog)


def analyze_bytes(
    data: bytes, where: str, manifests: str | None = None, use_catalog: bool = True
) -> Report:
    from modelctl.workflow.catalog_lookup import catalog_index
    from modelctl.workflow.collect import collect
    from modelctl.workflow.graph import load_json, parse
    from modelctl.workflow.table import load_table

    table = load_table()
    workflow = parse(load_json(data, where), where, table)
    catalog = (lambda: catalog_index(manifests)) if use_catalog else None
    return collect(workflow, where, table, catalog)


def manifest_text(report: Report, name: str) -> str:
    """Validated manifest YAML for `report` (raises `BadInput` when nothing can be written)."""
    return _manifest(report, name)[0]


def _manifest(report: Report, name: str) -> tuple[str, Manifest]:
    """The manifest text for `report` and the `Manifest` the validator loaded from it: the text
    is parsed once, whether the caller wants the text or the loaded manifest."""
    from modelctl.workflow.render import check_name, render, validate
    from modelctl.workflow.table import load_table

    text = render(report, check_name(name), load_table())
    return text, validate(text, f"<manifest from {report.workflow}>")


def selection_from_workflow(path: str | Path, manifests: str | None = None) -> Selection:
    """The workflow's models as a `Selection` (manifest defaults), for `pull/check --workflow`.

    Only models with a download source are in it; it is empty when the workflow loads no model
    file or none has a URL. Call `analyze(path)` to show the unresolved and skipped ones.
    Raises `BadInput` for a file that is not a usable workflow.
    """
    from modelctl.manifest.model import Manifest
    from modelctl.manifest.select import select
    from modelctl.workflow.render import default_name

    report = analyze(path, manifests)
    name = default_name(Path(path))
    if not report.models:
        empty = Manifest(name, f"Models of the ComfyUI workflow {Path(path).name}", {}, (), {})
        return select(empty, {})
    return select(_manifest(report, name)[1], {})
