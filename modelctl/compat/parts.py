"""A stack's parts and their check: identities plus what names and manifest assets say -> a Report.

Pure: the caller reads the files (locally or with Range requests, see `modelctl.check.stack`) and
hands over identities; nothing here touches the filesystem, the network or the GPU. `env` is the
machine facts dict (`modelctl.machine.facts`) the rules read as `$env`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelctl.compat import names
from modelctl.compat.engine import evaluate_rules
from modelctl.compat.expect import Promise, expect_mismatches
from modelctl.compat.model import Part, Report
from modelctl.compat.rules import load_rules

if TYPE_CHECKING:
    from modelctl.identify.model import Identity


def make_part(
    identity: Identity,
    *,
    name: str,
    source: str,
    folder: str,
    role: str | None = None,
    asset: Promise | None = None,
) -> Part:
    """A `Part` whose facts are the identity's facts plus what its name and manifest asset say."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    facts: dict[str, Any] = dict(identity.facts)
    facts.update(
        role=role or identity.role or "unknown",
        family=identity.family,
        format=identity.format,
        name=name,
        stem=stem,
        dir=folder,
        source=source,
        named=names.read_name(name),
        identity=identity.to_json(),
    )
    expect = dict(asset.expect or {}) if asset is not None else {}
    repo_path = source.rsplit("/", 1)[0] if "/" in source else ""
    claimed = expect.get("family") or names.claimed_family(name, repo_path)
    if claimed:
        facts["claimed_family"] = claimed
    if asset is not None:
        facts.update(
            asset=asset.id, expect=expect, expect_mismatches=expect_mismatches(asset, identity)
        )
    return Part(role=facts["role"], name=name, source=source, facts=facts,
                asset=asset.id if asset is not None else None)  # fmt: skip


def run_check(
    stack_name: str | None, parts: list[Part], env: dict[str, Any], label: str | None = None
) -> Report:
    """Evaluate every rule over `parts`."""
    stack = {"name": stack_name, "named": names.read_name(stack_name or "")}
    verdicts = evaluate_rules(load_rules(), parts, stack, env)
    return Report(stack=label or stack_name or "files", parts=parts, verdicts=verdicts, env=env)
