"""Does a file's identity keep the promises its manifest asset makes (`role` and `expect:`)?

A wrong file under the right name is the worst failure there is: it installs, it loads, and it
produces garbage or a cryptic shape error. `pull` calls `expect_mismatches` on every downloaded file
before placing it, and `check` calls it on headers read before downloading.
"""

from __future__ import annotations

from typing import Any

# Where each `expect:` key lives in an Identity: an attribute, or a path into `facts`.
_ATTRIBUTES = ("family", "format", "role")
_NESTED = {"precision": ("svdquant", "precision"), "rank": ("svdquant", "rank")}
# Values that accept any identity (a variant left to be resolved from the GPU).
_WILDCARDS = {"precision": {"auto"}}
# Roles `identify` recognises; for others (lora, other) an `unknown` identity contradicts nothing.
_RECOGNISED_ROLES = {"diffusion_model", "text_encoder", "vae", "tokenizer", "mmproj"}


def identity_value(identity: Any, key: str) -> Any:
    """The value of an `expect:` key in an identity, or None when the file does not show it."""
    if key in _ATTRIBUTES:
        return getattr(identity, key, None)
    facts = getattr(identity, "facts", None) or {}
    value: Any = facts
    for step in _NESTED.get(key, (key,)):
        value = value.get(step) if isinstance(value, dict) else None
    return value


def role_mismatch(asset_role: str, identity: Any) -> str | None:
    """Why the file cannot be the asset's role, or None."""
    found = getattr(identity, "role", None) or "unknown"
    if found == asset_role or asset_role == "other":
        return None
    if found == "unknown":
        if asset_role not in _RECOGNISED_ROLES:
            return None
        return f"role: the manifest says {asset_role}, the file is not recognisable as one"
    return f"role: the manifest says {asset_role}, the file is a {found}"


def expect_mismatches(asset: Any, identity: Any) -> list[str]:
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
