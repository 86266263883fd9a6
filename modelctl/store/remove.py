"""`rm`: remove the files modelctl installed for some selections, and nothing else.

Rules (product contract: never delete a file modelctl did not install):
* no receipt -> never touched, `--force` or not (unmanaged);
* receipt whose stat identity no longer matches (someone changed the file) -> kept unless `--force`;
* receipt that also lists another selection (`Receipt.selections`, e.g. a VAE two stacks share) ->
  file kept, only this selection is dropped from the receipt;
* otherwise the file is unlinked, then its receipt (a crash in between leaves an orphaned receipt,
  which `gc` removes; never a receipt-less managed file).

Each destination is handled while holding its lock (the one `pull` holds while installing it), so
rm never races a concurrent pull of the same file. Selections are recorded in receipts by their
canonical SPEC (`name:axis=value,…`); a bare manifest name also counts as this selection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from modelctl.errors import from_os_error
from modelctl.manifest.model import Selection
from modelctl.store import receipts
from modelctl.store.layout import Layout
from modelctl.store.receipts import Receipt


@dataclass(frozen=True)
class RmItem:
    dest: str
    asset: str
    action: str  # removed | kept-shared | kept-modified | kept-unmanaged | absent | receipt-removed
    detail: str = ""
    bytes: int = 0
    done: bool = False

    def to_json(self) -> dict[str, object]:
        return asdict(self)  # every field, in field order


def owners(selections: list[Selection]) -> set[str]:
    """The names a receipt may use for the selections being removed."""
    names: set[str] = set()
    for s in selections:
        names.update((s.spec, s.manifest.name))
    return names


def remove(
    layout: Layout,
    selections: list[Selection],
    force: bool = False,
    dry_run: bool = False,
    lock_timeout: float | None = 60.0,
) -> list[RmItem]:
    mine = owners(selections)
    seen: set[str] = set()
    out: list[RmItem] = []
    for selection in selections:
        for asset in selection.assets:
            if asset.dest in seen:
                continue
            seen.add(asset.dest)
            out.append(_one(layout, asset.dest, asset.id, mine, force, dry_run, lock_timeout))
    return out


def _one(
    layout: Layout,
    dest: str,
    asset_id: str,
    mine: set[str],
    force: bool,
    dry_run: bool,
    lock_timeout: float | None,
) -> RmItem:
    from modelctl.store.locks import hold

    if dry_run:
        return _decide(layout, dest, asset_id, mine, force, dry_run=True)
    with hold(layout.lock(dest), lock_timeout, f"with {dest}"):
        try:
            return _decide(layout, dest, asset_id, mine, force, dry_run=False)
        except OSError as exc:  # a read-only volume, an immutable file: nothing was half-done
            raise from_os_error(exc, f"while removing {dest}", layout.dest(dest)) from None


def _decide(
    layout: Layout, dest: str, asset_id: str, mine: set[str], force: bool, dry_run: bool
) -> RmItem:
    path = layout.dest(dest)
    receipt = receipts.read(layout, dest)
    if not dry_run and (receipt is None or not _intact(receipt, path)):
        from modelctl.store.intents import finish

        receipt = finish(layout, dest) or receipt  # an install interrupted after its rename
    try:
        st = path.lstat()
    except FileNotFoundError:
        st = None
    if receipt is None:
        if st is None:
            return RmItem(dest, asset_id, "absent", "not installed")
        return RmItem(
            dest, asset_id, "kept-unmanaged", "no receipt: modelctl did not install it", st.st_size
        )
    others = [s for s in receipt.selections if s not in mine]
    if others:
        if not dry_run:
            receipts.write(layout, replace(receipt, selections=others))
        return RmItem(
            dest, asset_id, "kept-shared", f"also used by {', '.join(others)}", 0, not dry_run
        )
    if st is None:
        if not dry_run:
            receipts.remove(layout, dest)
        return RmItem(dest, asset_id, "receipt-removed", "file was already gone", 0, not dry_run)
    if not _intact(receipt, path) and not force:
        return RmItem(
            dest,
            asset_id,
            "kept-modified",
            "changed since install; pass --force to remove it anyway",
            st.st_size,
        )
    if dry_run:
        return RmItem(dest, asset_id, "removed", "would remove", st.st_size)
    path.unlink()
    receipts.remove(layout, dest)
    return RmItem(dest, asset_id, "removed", "", st.st_size, True)


def _intact(receipt: Receipt, path: Path) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and receipt.matches(path.stat())
    except OSError:
        return False
