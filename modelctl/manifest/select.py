"""SPEC strings (`NAME[:axis=value,…]`) and turning a manifest plus a choice into a `Selection`."""

from __future__ import annotations

import re

from modelctl.errors import BadInput
from modelctl.manifest.model import Manifest, ResolvedAsset, Selection
from modelctl.manifest.validate import substitute

_CHOICE_RE = re.compile(r"^[a-z][a-z0-9_]*=[^,=:]+$")


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """`z-image-turbo:quant=Q8_0` -> ("z-image-turbo", {"quant": "Q8_0"})."""
    name, choices = spec, ""
    head, sep, tail = spec.rpartition(":")
    if sep and head and all(_CHOICE_RE.fullmatch(c) for c in tail.split(",")):
        name, choices = head, tail
    elif sep and "=" in tail:
        raise BadInput(
            f"cannot read the variant selection `{tail}` in `{spec}`",
            "write NAME:axis=value,axis=value",
        )
    values: dict[str, str] = {}
    for choice in filter(None, choices.split(",")):
        axis, value = choice.split("=", 1)
        if axis in values:
            raise BadInput(f"`{axis}` is chosen twice in `{spec}`", "choose each axis once")
        values[axis] = value
    if not name:
        raise BadInput(f"`{spec}` names no manifest", "write NAME or NAME:axis=value")
    return name, values


def select(manifest: Manifest, choices: dict[str, str]) -> Selection:
    """Apply `choices` over the defaults, check them, and resolve every applicable asset."""
    for axis, value in choices.items():
        if axis not in manifest.axes:
            known = ", ".join(manifest.axes) or "(this manifest has no variants)"
            raise BadInput(f"{manifest.name} has no variant axis `{axis}`", f"axes: {known}")
        if value not in manifest.axes[axis].values:
            allowed = ", ".join(manifest.axes[axis].values)
            raise BadInput(
                f"`{value}` is not a value of {manifest.name}:{axis}", f"use one of: {allowed}"
            )
    values = {**manifest.defaults(), **choices}
    assets = tuple(
        ResolvedAsset(
            id=a.id,
            role=a.role,
            source=substitute(a.source, values),
            dest=substitute(a.dest, values),
            revision=substitute(a.revision, values) if a.revision else None,
            sha256=a.sha256,
            size=a.size,
            expect={
                k: substitute(v, values) if isinstance(v, str) else v for k, v in a.expect.items()
            },
            allow_pickle=a.allow_pickle,
        )
        for a in manifest.assets
        if a.applies(values)
    )
    return Selection(manifest, values, assets)
