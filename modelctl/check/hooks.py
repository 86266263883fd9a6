"""The hooks `pull` calls: the stack check before any download, the identity check after each one.

`preflight(selections, layout)` refuses an incompatible stack before a single model byte moves
(headers are read with Range requests; installed files locally; offline, only locally).
`post_verify(asset, path)` refuses to place a downloaded file whose identity contradicts its
asset's role or `expect:` block. Both raise `CheckFailed` (exit 1); `pull --no-check` skips the
first, never the second.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.errors import CheckFailed, FormatError

if TYPE_CHECKING:
    from modelctl.manifest.model import ResolvedAsset, Selection
    from modelctl.store.layout import Layout

MAX_HINT_FAILURES = 6


def preflight(
    selections: list[Selection],
    layout: Layout,
    gpu_sm: int | None = None,
    *,
    offline: bool = False,
) -> None:
    """Check every selection; raise `CheckFailed` naming each failed rule when one does not fit.

    `offline` (`pull --offline`, `HF_HUB_OFFLINE`): no socket is opened; a selection with an asset
    that only the network could be read from is a `SourceError` before anything is read.
    """
    from modelctl.check.stack import check_selection

    for selection in selections:
        report = check_selection(selection, layout, gpu_sm, offline)
        if report.ok:
            continue
        failures = [(v, f) for v in report.failures for f in v.findings]
        lines = [f"{f.message} [{v.rule.id}] - fix: {_fix_text(v.rule.fix)}"
                 for v, f in failures[:MAX_HINT_FAILURES]]  # fmt: skip
        if len(failures) > MAX_HINT_FAILURES:
            lines.append(f"... and {len(failures) - MAX_HINT_FAILURES} more")
        lines.append(f"nothing was downloaded; see `modelctl check {selection.spec}`, "
                     "or pass --no-check to download anyway")  # fmt: skip
        count = len(report.failures)
        raise CheckFailed(
            f"{selection.spec}: the stack does not fit together ({count} rule"
            f"{'s' if count != 1 else ''} failed)",
            "\n".join(lines),
        )


def post_verify(asset: ResolvedAsset, path: Path) -> None:
    """Raise `CheckFailed` when the file at `path` is not what `asset` promises (not placed)."""
    from modelctl.compat.expect import expect_mismatches
    from modelctl.identify import identify

    name = asset.dest.rsplit("/", 1)[-1]
    try:
        identity = identify(path, filename=name)
    except FormatError as exc:
        raise CheckFailed(
            f"{asset.dest}: the downloaded file is not a valid model file: {exc.message}",
            "nothing was placed; the source holds a broken file - report it to the repository",
        ) from None
    problems = expect_mismatches(asset, identity)
    if problems:
        raise CheckFailed(
            f"{asset.dest}: the downloaded file is not what the manifest promises: "
            + "; ".join(problems),
            "nothing was placed; point the asset's source at the right file, or correct its "
            f"`expect:` (`modelctl inspect {asset.source}` shows what the file is)",
        )


def _fix_text(fix: dict[str, str]) -> str:
    target = f" ({fix['use']} from {fix['from']})" if fix.get("use") and fix.get("from") else ""
    return fix["text"] + target
