"""`inspect TARGET [--json] [--tensors]`: header-only identification, local or remote.

Reads only the header (remote targets through growing HTTP Range requests), never tensor data,
never unpickles. A malformed file exits 2 with the byte offset; an impostor (Git LFS pointer,
HTML or JSON error page) or an unrecognised file is described, then exits 2 as well.

Everything printed comes from the file and is bounded and made printable here: the readers keep
long strings as `{"type": "string", "length": N, "head": ...}` summaries, tensor names past
64 KiB are cut, non-finite floats (which JSON cannot carry, RFC 8259 section 6) are written as
strings, and the human summary escapes every non-printable character (ANSI escapes, bidi
overrides).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelctl.cli.options import Json
from modelctl.cli.output import human_size, print_json

if TYPE_CHECKING:
    from modelctl.check.targets import Inspection
    from modelctl.formats.model import Header
    from modelctl.identify.model import Identity

MAX_SHOWN = 200
MAX_NAME_SHOWN = 64 << 10  # characters of a tensor name in --json --tensors


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect_command)


def inspect_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A file path, hf://owner/repo/path (optionally @revision) or an https URL."
        ),
    ],
    json_output: Json = False,
    tensors: Annotated[
        bool, typer.Option("--tensors", help="List every tensor: name, shape, type, bytes.")
    ] = False,
) -> int:
    """Identify a GGUF, safetensors or tokenizer file from its header only."""
    from modelctl.check.targets import identify_target

    identity, inspection = identify_target(target)
    header = inspection.header
    data = _as_json(identity, inspection, tensors)
    if json_output:
        print_json(data)
    else:
        _print_summary(data, identity, inspection, tensors)
    return _verdict(header, inspection)


def _as_json(identity: Identity, inspection: Inspection, with_tensors: bool) -> dict[str, Any]:
    header = inspection.header
    data: dict[str, Any] = {
        "target": inspection.display,
        "format": header.format,
        "size": header.size,
        "header_size": header.header_size,
        "metadata": _finite(header.metadata),
        "tensor_count": len(header.tensors),
        "identity": _finite(identity.to_json()),
        "warnings": identity.warnings,
    }
    if header.format == "gguf":
        data["gguf_version"] = header.detail.version
        data["alignment"] = header.detail.alignment
    if inspection.commit:
        data["commit"] = inspection.commit
    if inspection.bytes_fetched is not None:
        data["bytes_fetched"] = inspection.bytes_fetched
    if with_tensors:
        data["tensors"] = [
            {"name": _name(t.name), "shape": list(t.shape), "dtype": t.dtype, "nbytes": t.nbytes,
             "offset": t.offset}
            for t in header.tensors
        ]  # fmt: skip
    return data


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities as strings: a GGUF FLOAT32 may hold them, JSON cannot."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _name(name: str) -> str:
    """A tensor name for JSON: safetensors names have no length limit; keep 64 KiB of one."""
    if len(name) <= MAX_NAME_SHOWN:
        return name
    return name[:MAX_NAME_SHOWN] + f"… ({len(name)} characters)"


def _verdict(header: Header, inspection: Inspection) -> int:
    from modelctl.cli.main import print_error

    kind = header.metadata.get("kind") if header.format not in ("gguf", "safetensors") else None
    hints = {
        "lfs-pointer": (
            "is a Git LFS pointer, not the model data",
            "the repository was cloned without git-lfs, or the URL points at /blob/ instead of "
            "/resolve/; download the real file",
        ),
        "html": (
            "is an HTML page, not a model",
            "an error or login page was saved in its place (gated repo? wrong URL?); download "
            "it again",
        ),
        "json-error": (
            "is a JSON error response, not a model",
            "the server answered with an error that was saved as the file; download it again",
        ),
        "unknown": ("is not a recognised model format", "check that this is the file you meant"),
        "empty": ("is empty (0 bytes)", "the download did not complete; download it again"),
    }
    if kind in hints:
        what, hint = hints[kind]
        print_error(f"{inspection.display} {what}", hint)
        return 2
    return 0


def _clean(value: Any, limit: int = MAX_SHOWN) -> str:
    """Metadata is attacker-controlled text: truncate, escape every non-printable character
    (control and ANSI, bidi overrides, zero-width), no markup."""
    from rich.markup import escape

    from modelctl.errors import printable

    if isinstance(value, dict) and value.get("type") == "string":  # a reader's truncated string
        head, length = printable(str(value.get("head", ""))[:limit]), value.get("length")
        return escape(f'"{head}…" ({length} bytes)')
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        return escape(printable(text[:limit]) + f"… ({len(text)} chars)")
    return escape(printable(text))


def _print_summary(
    data: dict[str, Any], identity: Identity, inspection: Inspection, with_tensors: bool
) -> None:
    from rich.table import Table

    from modelctl.cli.output import console

    out = console()
    facts = identity.facts
    rows: list[tuple[str, str]] = []
    fmt = data["format"] + (f" v{data['gguf_version']}" if "gguf_version" in data else "")
    line = f"{fmt} · {human_size(data['size'])}"
    if data["tensor_count"]:
        line += f" · {data['tensor_count']} tensors"
    if "parameter_count" in facts:
        line += f" · {facts['parameter_count'] / 1e9:.2f} B parameters"
    rows.append(("format", line))
    if data["format"] not in ("gguf", "safetensors", "sentencepiece"):
        rows.append(("content", _clean(data["metadata"].get("description", ""))))
    role = f"{identity.role}" + (f" · {identity.family}" if identity.family else "")
    if identity.rule:
        role += f"  [dim](rule {identity.rule})[/dim]"
    rows.append(("identity", role))
    for key in ("architecture", "general_type", "file_type_name", "tokenizer_model"):
        if key in facts:
            rows.append((key.replace("_", " "), _clean(facts[key])))
    widths = [
        f"{k} {facts[k]}" for k in (
            "dim", "cap_feat_dim", "embedding_length", "in_channels", "latent_channels",
            "vae_dims", "block_count", "n_layers", "vocab_size",
        ) if k in facts
    ]  # fmt: skip
    if widths:
        rows.append(("widths", " · ".join(widths)))
    if "svdquant" in facts:
        sq = facts["svdquant"]
        rows.append(
            ("svdquant", f"precision {sq.get('precision', '?')} · rank {sq.get('rank', '?')}")
        )
    if "quantization" in facts:
        mix = " · ".join(
            f"{d} {v['share'] * 100:.1f}% ({v['tensors']})"
            for d, v in facts["quantization"].items()
        )
        rows.append(("quantization", mix))
    if "commit" in data:
        rows.append(("commit", data["commit"]))
    if "bytes_fetched" in data:
        rows.append(("fetched", f"{human_size(data['bytes_fetched'])} (header "
                                f"{human_size(data['header_size'])})"))  # fmt: skip
    for w in identity.warnings:
        rows.append(("warning", f"[yellow]{_clean(w, 400)}[/yellow]"))
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows:
        table.add_row(k, v)
    out.print(_clean(data["target"], 400))
    out.print(table)
    if with_tensors and data.get("tensors"):
        t = Table(box=None, pad_edge=False)
        for column in ("tensor", "shape", "type", "bytes"):
            t.add_column(column)
        for row in data["tensors"]:
            t.add_row(_clean(row["name"]), "×".join(map(str, row["shape"])) or "scalar",
                      row["dtype"], human_size(row["nbytes"]))  # fmt: skip
        out.print(t)
