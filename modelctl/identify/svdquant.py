"""SVDQuant (Nunchaku) facts: precision and rank, read three ways and cross-checked.

Precision comes from the `wscales` dtype (BF16/F16 => int4, F8_E4M3 => fp4; nunchaku
`models/linear.py`), rank from `proj_down.shape[1]`; `quantization_config` in `__metadata__` and
the `svdq-{precision}_r{rank}` file name are compared with them and any disagreement is a warning.
The tables, and the file-name grammar that compat reads through `read_name` too, live in
`data/svdquant_tables.yaml`.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from modelctl.formats.model import Header
from modelctl.identify.rules import View
from modelctl.identify.values import MetadataReader


@cache
def _table() -> dict[str, Any]:
    from modelctl.datafiles import load_yaml

    text = (
        resources.files("modelctl.identify")
        .joinpath("data/svdquant_tables.yaml")
        .read_text("utf-8")
    )
    return load_yaml(text)


def svdquant_facts(
    view: View, header: Header, filename: str | None
) -> tuple[dict[str, Any], list[str]]:
    """`{"svdquant": {...}}` and warnings for disagreements between weights, metadata, name."""
    table = _table()
    t = view.tensors
    warnings: list[str] = []
    out: dict[str, Any] = {}
    wscales = sorted(k for k in t if k.endswith(".wscales"))
    # W4A4 layers have proj_down; AWQ W4A16 modulation layers only qweight/wscales/wzeros.
    w4a4 = [k for k in wscales if k.removesuffix(".wscales") + ".proj_down" in t]
    dtypes = {t[k].dtype for k in (w4a4 or wscales)}
    by_dtype = {table["wscales_dtype"].get(d) for d in dtypes} - {None}
    if len(by_dtype) == 1:
        out["precision"] = by_dtype.pop()
    elif len(by_dtype) > 1:
        warnings.append(f"SVDQuant wscales have mixed dtypes {sorted(dtypes)}")
    ranks = {t[k].shape[1] for k in t if k.endswith(".proj_down") and len(t[k].shape) == 2}
    if len(ranks) == 1:
        out["rank"] = ranks.pop()
    elif ranks:
        out["rank"] = max(ranks)
        warnings.append(f"SVDQuant proj_down ranks differ between layers: {sorted(ranks)}")
    out["sources"] = {"weights": dict(out)}
    config = header.detail.parsed_metadata.get("quantization_config") if header.detail else None
    if isinstance(config, dict):
        meta, notes = _from_config(config, table)
        warnings.extend(notes)
        out["sources"]["metadata"] = meta
        _compare(out, meta, "quantization_config", warnings)
    if filename:
        name = read_name(filename)
        if name:
            out["sources"]["filename"] = name
            _compare(out, name, "the file name", warnings)
    for key in ("precision", "rank"):
        if key not in out:
            for where in ("metadata", "filename"):
                if key in out["sources"].get(where, {}):
                    out[key] = out["sources"][where][key]
                    break
    if header.metadata is not None and "config" not in header.metadata:
        warnings.append("SVDQuant file has no `config` metadata (nunchaku's loader requires it)")
    return {"svdquant": out}, warnings


def read_name(text: str) -> dict[str, Any]:
    """The precision and rank a Nunchaku file name states (`svdq-int4_r32-…`), those it has.

    The one reader of that grammar: identify compares it with the weights, compat
    (`compat/names.py`) keeps it as the name's claim.
    """
    out: dict[str, Any] = {}
    for key, pattern in _table()["filename"].items():
        m = re.search(pattern, text)
        if m:
            out[key] = int(m.group(1)) if key == "rank" else m.group(1).lower()
    return out


def _from_config(config: dict[str, Any], table: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Precision and rank from `quantization_config` (parsed JSON of any shape), typed reads."""
    weight = config.get("weight")
    if isinstance(weight, dict):
        values = {"weight.dtype": weight.get("dtype"), "rank": config.get("rank")}
    else:
        values = {"weight": weight, "rank": config.get("rank")}
    fields = MetadataReader(values, where="quantization_config")
    meta: dict[str, Any] = {}
    dtype = fields.get("weight.dtype", "str")
    fields.get("weight", "str")  # notes a `weight` that is not an object
    if dtype in table["config_weight_dtype"]:
        meta["precision"] = table["config_weight_dtype"][dtype]
    rank = fields.get("rank", "int")
    if rank is not None:
        meta["rank"] = rank
    return meta, fields.notes()


def _compare(out: dict[str, Any], other: dict[str, Any], where: str, warnings: list[str]) -> None:
    for key in ("precision", "rank"):
        if key in out and key in other and out[key] != other[key]:
            warnings.append(
                f"SVDQuant {key} is {out[key]} in the weights but {other[key]} in {where}"
            )
