"""Manifest v1 validation: YAML nodes in, a `Manifest` out, or one `file:line: …` error with a fix.

Validation walks the composed node tree field by field so every error can name its line, and each
scalar is converted to exactly the type its field expects (see `yamlload` for why).

The key sets, patterns and limits below are the only statement of them: `manifest.schema` builds
the JSON Schema from them, so the patterns are written as `uris` explains (Python's `re` and
ECMA-262 read them alike).
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import yaml

from modelctl.errors import ManifestError, printable
from modelctl.manifest import yamlload as Y
from modelctl.manifest.model import EXPECT_KEYS, ROLES, Asset, Axis, Manifest
from modelctl.manifest.uris import check_dest, check_revision, check_source, whole

SCHEMA_VERSION = 1
NAME = r"[a-z0-9][a-z0-9._-]{0,63}"
AXIS = r"[a-z][a-z0-9_]{0,31}"
VALUE = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
SHA256 = r"[0-9a-fA-F]{64}"
PLACEHOLDER = r"\{([^{}]*)\}"
NAME_RE = re.compile(whole(NAME))
AXIS_RE = re.compile(whole(AXIS))
VALUE_RE = re.compile(whole(VALUE))
ID_RE = re.compile(whole(ID))
SHA256_RE = re.compile(whole(SHA256))
PLACEHOLDER_RE = re.compile(PLACEHOLDER)
NUL = "\x00"  # no string may hold it
MIN_SIZE = 1
MIN_EXPECT_INT = 1
MIN_VRAM_GIB = 0
# The largest whole number a manifest may hold: the largest file size (POSIX `off_t` is a signed
# 64-bit integer), and far above any width or count a model header holds. Larger sizes once
# reached `float()` when printed (an OverflowError past ~10^308), and `int()` of more than 4300
# digits raises ValueError, so the digits are counted before any conversion.
MAX_INT = 2**63 - 1
MAX_SIZE = MAX_INT
MAX_EXPECT_INT = MAX_INT
MAX_VRAM_GIB = 1 << 20  # 1 PiB of GPU memory: keeps the value finite (`9…9.0` is float inf)
MAX_COMBINATIONS = 4096
# At most this many assets once every `{axis}` is filled in (over all values of the axes an
# asset's source, dest and revision use). The validator checks each of them, `lock` and the
# workflow catalog lookup resolve each: 2000 assets using three two-valued axes each are 16,000.
MAX_EXPANSIONS = 1 << 16

TOP_KEYS = {"schema", "name", "description", "variants", "assets", "requires"}
TOP_REQUIRED = {"schema", "name", "assets"}
AXIS_KEYS = {"values", "default"}  # both required
ASSET_KEYS = {
    "id",
    "role",
    "source",
    "revision",
    "dest",
    "sha256",
    "size",
    "when",
    "expect",
    "allow_pickle",
}
ASSET_REQUIRED = {"id", "role", "source", "dest"}
REQUIRES_KEYS = {"gpu", "packages", "python"}
GPU_KEYS = {"min_vram_gib", "precision"}


class _Walker:
    """Converts nodes to typed values, raising errors that carry `file:line`."""

    def __init__(self, where: str) -> None:
        self.where = where

    def error(self, node: yaml.Node, message: str, hint: str | None = None) -> ManifestError:
        line = node.start_mark.line + 1
        return ManifestError(printable(f"{self.where}:{line}: {message}"), hint and printable(hint))

    def mapping(
        self,
        node: yaml.Node,
        field: str,
        allowed: set[str] | None,
        required: AbstractSet[str] = frozenset(),
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{field} must be a mapping of `key: value` lines")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.string(key_node, f"a key in {field}")
            if key in out:
                raise self.error(key_node, f"duplicate key `{key}` in {field}", "keep only one")
            if allowed is not None and key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"did you mean `{close[0]}`?" if close else None
                known = ", ".join(sorted(allowed))
                raise self.error(
                    key_node,
                    f"unknown key `{key}` in {field}",
                    hint or f"allowed keys: {known}",
                )
            out[key] = value_node
        for key in sorted(required - out.keys()):
            raise self.error(node, f"{field} is missing the required key `{key}`")
        return out

    def sequence(self, node: yaml.Node, field: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{field} must be a list")
        return list(node.value)

    def _scalar(self, node: yaml.Node, field: str, kind: str) -> yaml.ScalarNode:
        if not isinstance(node, yaml.ScalarNode):
            shape = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
            raise self.error(node, f"{field} must be {kind}, not {shape}")
        return node

    def string(self, node: yaml.Node, field: str) -> str:
        node = self._scalar(node, field, "a string")
        if node.tag != Y.STR:
            raise self.error(
                node,
                f"{field}: `{_shown(node.value)}` is read by YAML as {Y.tag_word(node.tag)}, "
                "not text",
                f'quote it: "{_shown(node.value)}"',
            )
        if NUL in node.value:
            raise self.error(node, f"{field} contains a NUL character")
        return node.value

    def integer(self, node: yaml.Node, field: str, minimum: int = 0, maximum: int = MAX_INT) -> int:
        node = self._scalar(node, field, "a whole number")
        if node.tag != Y.INT or not re.fullmatch(r"0|[1-9][0-9]*", node.value):
            raise self.error(
                node,
                f"{field}: `{_shown(node.value)}` is not a plain whole number",
                "write digits only, without leading zeros, underscores or quotes",
            )
        if len(node.value) > len(str(maximum)):  # before int(): see MAX_INT
            shown = _shown(node.value, "digits")
            raise self.error(node, f"{field} must be at most {maximum}, not {shown}")
        value = int(node.value)
        if not minimum <= value <= maximum:
            bound = f"at least {minimum}" if value < minimum else f"at most {maximum}"
            raise self.error(node, f"{field} must be {bound}, not {value}")
        return value

    def number(self, node: yaml.Node, field: str, minimum: int, maximum: int) -> float:
        node = self._scalar(node, field, "a number")
        if node.tag == Y.INT:
            return float(self.integer(node, field, minimum, maximum))
        if node.tag == Y.FLOAT and re.fullmatch(r"[0-9]+\.[0-9]+", node.value):
            whole = node.value.split(".", 1)[0].lstrip("0")
            value = float(node.value) if len(whole) <= len(str(maximum)) else math.inf
            if not minimum <= value <= maximum:
                bound = f"at least {minimum}" if value < minimum else f"at most {maximum}"
                shown = _shown(node.value)
                raise self.error(node, f"{field} must be {bound}, not {shown}")
            return value
        raise self.error(
            node, f"{field}: `{_shown(node.value)}` is not a number", "write e.g. 8 or 7.5"
        )

    def boolean(self, node: yaml.Node, field: str) -> bool:
        node = self._scalar(node, field, "true or false")
        if node.tag != Y.BOOL or node.value not in ("true", "false"):
            raise self.error(
                node, f"{field}: `{_shown(node.value)}` is not true or false", "write true or false"
            )
        return node.value == "true"

    def is_null(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag == Y.NULL

    def strings(self, node: yaml.Node, field: str) -> tuple[str, ...]:
        """A list of strings, or one string standing for a list of one."""
        if isinstance(node, yaml.ScalarNode):
            return (self.string(node, field),)
        return tuple(self.string(item, field) for item in self.sequence(node, field))


def _shown(text: str, unit: str = "characters", limit: int = 40) -> str:
    """`text` as an error message quotes it: a 5000-digit number is named by its length."""
    return text if len(text) <= limit else f"{text[:20]}… ({len(text)} {unit})"


def parse_manifest(data: bytes, path: Path | None = None, where: str | None = None) -> Manifest:
    """Validate manifest bytes; `where` names the file in error messages."""
    where = where or (str(path) if path else "<manifest>")
    root = Y.compose(data, where)
    w = _Walker(where)
    top = w.mapping(root, "the manifest", TOP_KEYS, TOP_REQUIRED)
    schema = w.integer(top["schema"], "schema")
    if schema != SCHEMA_VERSION:
        raise w.error(
            top["schema"],
            f"unsupported schema {schema}",
            f"this modelctl reads `schema: {SCHEMA_VERSION}`",
        )
    name = w.string(top["name"], "name")
    if not NAME_RE.fullmatch(name):
        raise w.error(
            top["name"],
            f"name `{name}` is not valid",
            "use lowercase letters, digits, '.', '_', '-'",
        )
    description = w.string(top["description"], "description") if "description" in top else ""
    axes = _axes(w, top["variants"]) if "variants" in top else {}
    _check_combination_count(w, top["assets"], axes)
    parsed = _assets(w, top["assets"], axes)
    _check_expansion_count(w, top["assets"], axes, [asset for asset, _ in parsed])
    for asset, fields in parsed:
        _check_every_expansion(w, fields, axes, asset)
    requires = _requires(w, top["requires"]) if "requires" in top else {}
    assets = tuple(asset for asset, _ in parsed)
    manifest = Manifest(name, description, axes, assets, requires, path)
    _check_dest_collisions(w, manifest)
    return manifest


def _axes(w: _Walker, node: yaml.Node) -> dict[str, Axis]:
    axes: dict[str, Axis] = {}
    for axis_name, axis_node in w.mapping(node, "variants", None).items():
        if not AXIS_RE.fullmatch(axis_name):
            raise w.error(
                axis_node, f"variant axis name `{axis_name}` is not valid", "use [a-z0-9_]"
            )
        fields = w.mapping(axis_node, f"variants.{axis_name}", AXIS_KEYS, AXIS_KEYS)
        values = w.strings(fields["values"], f"variants.{axis_name}.values")
        if not values:
            raise w.error(fields["values"], f"variants.{axis_name}.values is empty")
        for value, value_node in zip(values, _items(fields["values"]), strict=True):
            if not VALUE_RE.fullmatch(value):
                raise w.error(
                    value_node,
                    f"variant value `{value}` of `{axis_name}` is not valid",
                    "use letters, digits, '.', '_', '+', '-'",
                )
        if len(set(values)) != len(values):
            raise w.error(fields["values"], f"variants.{axis_name}.values repeats a value")
        default = w.string(fields["default"], f"variants.{axis_name}.default")
        if default not in values:
            raise w.error(
                fields["default"],
                f"default `{default}` of `{axis_name}` is not one of its values",
                f"pick one of: {', '.join(values)}",
            )
        axes[axis_name] = Axis(axis_name, values, default)
    return axes


def _items(node: yaml.Node) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else [node]


def _assets(
    w: _Walker, node: yaml.Node, axes: dict[str, Axis]
) -> list[tuple[Asset, dict[str, yaml.Node]]]:
    """Each asset with its field nodes (for the `file:line` of errors found after it)."""
    items = w.sequence(node, "assets")
    if not items:
        raise w.error(node, "assets is empty", "list at least one asset")
    seen: set[str] = set()
    out = []
    for item in items:
        asset, fields = _asset(w, item, axes)
        if asset.id in seen:
            raise w.error(item, f"duplicate asset id `{asset.id}`", "asset ids must be unique")
        seen.add(asset.id)
        out.append((asset, fields))
    return out


def _asset(
    w: _Walker, node: yaml.Node, axes: dict[str, Axis]
) -> tuple[Asset, dict[str, yaml.Node]]:
    f = w.mapping(node, "an asset", ASSET_KEYS, ASSET_REQUIRED)
    asset_id = w.string(f["id"], "id")
    if not ID_RE.fullmatch(asset_id):
        raise w.error(
            f["id"], f"asset id `{asset_id}` is not valid", "use letters, digits, '.', '_', '-'"
        )
    label = f"asset `{asset_id}`"
    role = w.string(f["role"], f"{label} role")
    if role not in ROLES:
        raise w.error(
            f["role"], f"{label}: unknown role `{role}`", f"use one of: {', '.join(ROLES)}"
        )
    source = w.string(f["source"], f"{label} source")
    dest = w.string(f["dest"], f"{label} dest")
    revision = None
    if "revision" in f and not w.is_null(f["revision"]):
        revision = w.string(f["revision"], f"{label} revision")
        if not source.startswith("hf://"):
            raise w.error(f["revision"], f"{label}: revision applies to hf:// sources only")
    sha256 = None
    if "sha256" in f and not w.is_null(f["sha256"]):
        sha256 = w.string(f["sha256"], f"{label} sha256")
        if not SHA256_RE.fullmatch(sha256):
            problem = (
                "has a character that is not hexadecimal"
                if len(sha256) == 64
                else f"must be 64 hexadecimal characters, got {len(sha256)} characters"
            )
            raise w.error(
                f["sha256"],
                f"{label}: sha256 {problem}",
                "copy the full sha256 from the model page, or set it to null",
            )
        sha256 = sha256.lower()
    size = None
    if "size" in f and not w.is_null(f["size"]):
        size = w.integer(f["size"], f"{label} size", MIN_SIZE, MAX_SIZE)
    when = _when(w, f["when"], axes, label) if "when" in f else {}
    expect = _expect(w, f["expect"], label) if "expect" in f else {}
    allow_pickle = (
        w.boolean(f["allow_pickle"], f"{label} allow_pickle") if "allow_pickle" in f else False
    )
    for field_name in ("source", "dest", "revision"):
        if field_name in f and not w.is_null(f[field_name]):
            _check_placeholders(w, f[field_name], axes, label)
    if "expect" in f:
        for _key_node, value_node in f["expect"].value:
            if isinstance(value_node, yaml.ScalarNode):
                _check_placeholders(w, value_node, axes, label)
    asset = Asset(
        asset_id,
        role,
        source,
        dest,
        revision,
        sha256,
        size,
        when,
        expect,
        allow_pickle,
        node.start_mark.line + 1,
    )
    return asset, f


def _when(
    w: _Walker, node: yaml.Node, axes: dict[str, Axis], label: str
) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for axis_name, value_node in w.mapping(node, f"{label} when", None).items():
        if axis_name not in axes:
            raise w.error(
                value_node,
                f"{label}: `when` names the unknown axis `{axis_name}`",
                f"declare it under variants, or use one of: {', '.join(axes) or '(none)'}",
            )
        values = tuple(dict.fromkeys(w.strings(value_node, f"{label} when.{axis_name}")))
        known = frozenset(axes[axis_name].values)  # a set: `when` lists may be long
        for value in values:
            if value not in known:
                raise w.error(
                    value_node,
                    f"{label}: `when` value `{value}` is not a value of `{axis_name}`",
                    f"use one of: {', '.join(axes[axis_name].values)}",
                )
        out[axis_name] = values
    return out


def _expect(w: _Walker, node: yaml.Node, label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value_node in w.mapping(node, f"{label} expect", set(EXPECT_KEYS)).items():
        field = f"{label} expect.{key}"
        if EXPECT_KEYS[key] is int:
            out[key] = w.integer(value_node, field, MIN_EXPECT_INT, MAX_EXPECT_INT)
        else:
            out[key] = w.string(value_node, field)
    return out


def _requires(w: _Walker, node: yaml.Node) -> dict[str, Any]:
    f = w.mapping(node, "requires", REQUIRES_KEYS)
    out: dict[str, Any] = {}
    if "gpu" in f:
        gpu = w.mapping(f["gpu"], "requires.gpu", GPU_KEYS)
        out["gpu"] = {}
        if "min_vram_gib" in gpu:
            out["gpu"]["min_vram_gib"] = w.number(
                gpu["min_vram_gib"], "requires.gpu.min_vram_gib", MIN_VRAM_GIB, MAX_VRAM_GIB
            )
        if "precision" in gpu:
            out["gpu"]["precision"] = w.string(gpu["precision"], "requires.gpu.precision")
    if "packages" in f:
        packages = w.mapping(f["packages"], "requires.packages", None)
        out["packages"] = {
            name: w.string(spec, f"requires.packages.{name}") for name, spec in packages.items()
        }
    if "python" in f:
        out["python"] = w.string(f["python"], "requires.python")
    return out


def _check_placeholders(w: _Walker, node: yaml.Node, axes: dict[str, Axis], label: str) -> None:
    for name in PLACEHOLDER_RE.findall(node.value):
        if name not in axes:
            raise w.error(
                node,
                f"{label}: `{{{name}}}` is not a variant axis",
                f"declare `{name}` under variants, or use one of: {', '.join(axes) or '(none)'}",
            )


def substitute(template: str, values: dict[str, str]) -> str:
    """Replace each `{axis}` in `template` with its selected value."""
    return PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template)


def combinations(axes: dict[str, Axis], names: list[str] | None = None) -> list[dict[str, str]]:
    """Every combination of values of the named axes (all axes when `names` is None)."""
    names = list(axes) if names is None else names
    product = itertools.product(*(axes[n].values for n in names))
    return [dict(zip(names, combo, strict=True)) for combo in product]


def placeholders(template: str | None) -> list[str]:
    """The distinct `{axis}` names in `template`, sorted."""
    return sorted(set(PLACEHOLDER_RE.findall(template or "")))


def expansions(asset: Asset, axes: dict[str, Axis]) -> int:
    """How many forms `asset` takes once its `{axis}` placeholders are filled in: the product of
    the value counts of the axes its source, dest and revision use together."""
    used = set(placeholders(asset.source)) | set(placeholders(asset.dest))
    used |= set(placeholders(asset.revision))
    return math.prod(len(axes[name].values) for name in used)


def _check_expansion_count(
    w: _Walker, assets_node: yaml.Node, axes: dict[str, Axis], assets: list[Asset]
) -> None:
    """Refuse a manifest whose assets expand past `MAX_EXPANSIONS` before any is expanded."""
    count = sum(expansions(asset, axes) for asset in assets)
    if count > MAX_EXPANSIONS:
        raise w.error(
            assets_node,
            f"the assets expand to {count} variants over their `{{axis}}` placeholders, "
            f"at most {MAX_EXPANSIONS}",
            "use fewer placeholders per asset, or split the manifest into several",
        )


def _check_every_expansion(
    w: _Walker, f: dict[str, yaml.Node], axes: dict[str, Axis], asset: Asset
) -> None:
    """Each of source, dest and revision is checked once per combination of the axes it uses
    itself (a dest using `{a}` is checked |a| times, however many axes the source adds)."""
    label = f"asset `{asset.id}`"
    checks = [("source", asset.source, check_source), ("dest", asset.dest, check_dest)]
    if asset.revision:
        checks.append(("revision", asset.revision, check_revision))
    for field_name, template, check in checks:
        for values in combinations(axes, placeholders(template)):
            problem = check(substitute(template, values))
            if problem:
                raise w.error(f[field_name], f"{label} {field_name}: {problem[0]}", problem[1])


def _check_combination_count(w: _Walker, assets_node: yaml.Node, axes: dict[str, Axis]) -> None:
    """Refuse too many variant combinations before any is built: `lock` pins each, and eight
    axes of eight values (a few lines of YAML) would be 16 million."""
    count = math.prod(len(axis.values) for axis in axes.values())
    if count > MAX_COMBINATIONS:
        raise w.error(
            assets_node, f"{count} variant combinations, over {MAX_COMBINATIONS}", "split it"
        )


class _Space:
    """Sets of variant combinations as bits of one int: combination `i` in `combinations(axes)`
    order is bit `i`, so "the combinations where `quant` is Q8_0 and `when` holds" is an AND of
    two ints, and "some selection has both" is a non-zero AND. The space has at most
    `MAX_COMBINATIONS` bits, so each operation is a few dozen machine words."""

    def __init__(self, axes: dict[str, Axis]) -> None:
        self.axes = list(axes.values())
        self.size = math.prod(len(axis.values) for axis in self.axes)
        self.full = (1 << self.size) - 1
        self.masks: dict[str, dict[str, int]] = {}
        stride = self.size
        for axis in self.axes:
            # the last axis varies fastest: value j of this axis holds `stride` consecutive
            # combinations out of every `period`, starting at j * stride
            stride //= len(axis.values)
            period = stride * len(axis.values)
            every_period = self.full // ((1 << period) - 1)  # bit 0 of each period set
            block = (1 << stride) - 1
            self.masks[axis.name] = {
                value: (block << (j * stride)) * every_period for j, value in enumerate(axis.values)
            }

    def where(self, values: dict[str, str]) -> int:
        """The combinations that have these values (of some axes)."""
        bits = self.full
        for name, value in values.items():
            bits &= self.masks[name][value]
        return bits

    def where_any(self, when: dict[str, tuple[str, ...]]) -> int:
        """The combinations where each named axis has one of its listed values (`Asset.when`)."""
        bits = self.full
        for name, allowed in when.items():
            either = 0
            for value in allowed:
                either |= self.masks[name][value]
            bits &= either
        return bits

    def first(self, bits: int) -> dict[str, str]:
        """The first combination (in `combinations` order) of a non-empty set."""
        index = (bits & -bits).bit_length() - 1
        out = {}
        stride = self.size
        for axis in self.axes:
            stride //= len(axis.values)
            out[axis.name] = axis.values[(index // stride) % len(axis.values)]
        return out


def _check_dest_collisions(w: _Walker, manifest: Manifest) -> None:
    """No two assets of one selection may write the same dest (compared case-folded).

    Each asset's dest is expanded over the axes it uses (bounded by `MAX_EXPANSIONS`), each form
    paired with the combinations it applies in (a `_Space` set); two forms of different assets
    with the same dest collide when their sets meet. This is linear in the expansions; checking
    every combination against every asset was 4096 x 2000 dest substitutions for 2000 assets.
    """
    space = _Space(manifest.axes)
    covered: dict[str, int] = {}  # case-folded dest -> the combinations some asset writes it in
    writers: dict[str, list[tuple[Asset, dict[str, str]]]] = {}  # who wrote it, at which values
    for asset in manifest.assets:
        applies = space.where_any(asset.when)
        if not applies:
            continue
        for values in combinations(manifest.axes, placeholders(asset.dest)):
            bits = applies & space.where(values)
            if not bits:
                continue
            dest = substitute(asset.dest, values)
            key = dest.casefold()
            if covered.get(key, 0) & bits:
                other, both = next(
                    (a, b & bits)
                    for a, v in writers[key]
                    if (b := space.where_any(a.when) & space.where(v)) & bits
                )
                selection = ",".join(f"{k}={v}" for k, v in space.first(both).items())
                raise ManifestError(
                    f"{w.where}:{asset.line}: assets `{other.id}` and `{asset.id}` both "
                    f"write `{dest}` when {selection or 'no variant is chosen'}",
                    "give them different dest paths, or separate them with `when`",
                )
            covered[key] = covered.get(key, 0) | bits
            writers.setdefault(key, []).append((asset, values))
