"""Does a file's identity keep the promises its manifest asset makes (`role` and `expect:`)?

A wrong file under the right name is the worst failure there is: it installs, it loads, and it
produces garbage or a cryptic shape error. `pull` calls `expect_mismatches` on every downloaded file
before placing it, and `check` calls it on headers read before downloading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelctl.identify.model import Identity

# Where each `expect:` key lives in an Identity: an attribute, or a path into `facts`.
_ATTRIBUTES = ("family", "format", "role")
_NESTED = {"precision": ("svdquant", "precision"), "rank": ("svdquant", "rank")}
# Values that accept any identity (a variant left to be resolved from the GPU).
_WILDCARDS = {"precision": {"auto"}}
# Formats that are never a model, whatever the name says: an error page or a Git LFS pointer.
# (A `json` file is a tokenizer.json when identify says so; any other JSON is an error body.)
_IMPOSTORS = {"html", "lfs-pointer"}


class Promise(Protocol):
    """What a manifest asset says about its file: `manifest.model.ResolvedAsset` is one (compat
    sits below `manifest`, so it names the fields it reads instead of importing the class)."""

    @property
    def id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def expect(self) -> Mapping[str, Any]: ...


def identity_value(identity: Identity, key: str) -> Any:
    """The value of an `expect:` key in an identity, or None when the file does not show it."""
    if key in _ATTRIBUTES:
        return getattr(identity, key, None)
    facts = getattr(identity, "facts", None) or {}
    value: Any = facts
    for step in _NESTED.get(key, (key,)):
        value = value.get(step) if isinstance(value, dict) else None
    return value


def role_mismatch(asset_role: str, identity: Identity) -> str | None:
    """Why the file cannot be the asset's role, or None.

    Only evidence counts: a file identified as another role, or bytes that are no model at all.
    A file identify does not recognise (role `unknown`, format `unknown`) contradicts nothing,
    because manifests may hold models identify has no rule for.
    """
    found = getattr(identity, "role", None) or "unknown"
    fmt = getattr(identity, "format", None)
    if fmt in _IMPOSTORS or (fmt == "json" and found == "unknown"):
        return f"role: the manifest says {asset_role}, the file is {_article(fmt)} {fmt} file"
    if found in (asset_role, "unknown") or asset_role == "other":
        return None
    return f"role: the manifest says {asset_role}, the file is a {found}"


def _article(word: str | None) -> str:
    return "an" if (word or "x")[0] in "aeiouhl" else "a"


def expect_mismatches(asset: Promise, identity: Identity) -> list[str]:
    """Every way `identity` contradicts `asset.role` and `asset.expect`, one readable line each."""
    problems = []
    role = role_mismatch(asset.role, identity)
    if role:
        problems.append(role)
    for key, wanted in (asset.expect or {}).items():
        if key == "role" and wanted == asset.role:
            continue
        if wanted in _WILDCARDS.get(key, ()):
            continue
        found = identity_value(identity, key)
        if found is None:
            problems.append(f"{key}: expected {wanted}, the file does not show it")
        elif str(found) != str(wanted):
            problems.append(f"{key}: expected {wanted}, the file has {found}")
    return problems
