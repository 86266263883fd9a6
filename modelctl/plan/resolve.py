"""The plan: for each asset of a selection, where it goes and whether it is already there.

States: `installed` (receipt matches the file's stat), `missing`, `modified` (stat changed since
install), `outdated` (installed from another source / hash / commit than the manifest now asks for),
`interrupted` (an install placed this very file and was stopped before its receipt: its intent
record matches the file; `pull`, `ensure` and `verify` finish it), and `unmanaged` (a file
modelctl did not install sits at the destination; never overwritten without --force).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelctl.manifest.model import ResolvedAsset, Selection
from modelctl.store import intents, receipts
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt, outdated_reason


@dataclass(frozen=True)
class PlanItem:
    asset: ResolvedAsset
    path: Path
    state: str
    receipt: Receipt | None

    @property
    def size(self) -> int | None:
        """The expected size when known (manifest, else receipt of the same content)."""
        if self.asset.size is not None:
            return self.asset.size
        return self.receipt.size if self.receipt and self.state == "installed" else None


def item_state(
    asset: ResolvedAsset, path: Path, receipt: Receipt | None, layout: Layout | None = None
) -> str:
    """The state of `asset`'s destination; with `layout`, intent records are consulted too."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    if receipt is None or not receipt.matches(st):
        intent = intents.read(layout, asset.dest) if layout is not None else None
        if intent is not None and intents.placed(intent.receipt, st):
            return "interrupted"
        return "unmanaged" if receipt is None else "modified"
    if outdated_reason(asset, receipt):
        return "outdated"
    return "installed"


def plan(selection: Selection, layout: Layout) -> list[PlanItem]:
    """Each asset of `selection` with its destination and installed state."""
    items = []
    for asset in selection.assets:
        receipt = receipts.read(layout, asset.dest)
        path = layout.dest(asset.dest)
        items.append(PlanItem(asset, path, item_state(asset, path, receipt, layout), receipt))
    return items
