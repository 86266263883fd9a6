"""What a model file is: role, family and the facts a compatibility check needs.

`identify(source)` reads only the header (local path or any ByteSource) and applies the rules in
`identify/data/*.yaml`; `identify_target(target)` does the same for a path, `hf://` or `https://`
target, reading remote files with growing HTTP Range requests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelctl.identify.model import Identity

__all__ = ["Identity", "Inspection", "identify", "identify_header", "identify_target"]


@dataclass
class Inspection:
    """The header info behind an Identity: parsed header, where it came from, bytes read."""

    target: str
    display: str
    header: Any  # modelctl.formats.model.Header
    size: int
    bytes_fetched: int | None = None
    commit: str | None = None
    url: str | None = None


def identify(source: Any, *, filename: str | None = None) -> Identity:
    """Identify a local Path/str or a ByteSource from its header."""
    from modelctl.formats.read import read_header
    from modelctl.formats.source import FileSource

    if isinstance(source, (str, os.PathLike)):
        with FileSource(source) as src:
            return identify_header(read_header(src), filename=filename or Path(source).name)
    return identify_header(read_header(source), filename=filename)


def identify_header(header: Any, *, filename: str | None = None) -> Identity:
    """Apply the rules to an already parsed Header."""
    from modelctl.identify.facts import general_facts
    from modelctl.identify.rules import load_rules, matches, read_facts

    identity = Identity(format=header.format, facts=general_facts(header))
    identity.warnings.extend(header.warnings)
    for rule in load_rules():
        if rule.kind != "identity":
            continue
        view = matches(rule, header)
        if view is not None:
            identity.role, identity.family = rule.role, rule.family
            identity.rule, identity.source = rule.id, rule.citation()
            identity.facts.update(read_facts(rule, view))
            if view.prefix:
                identity.facts["key_prefix"] = view.prefix
            break
    for rule in load_rules():
        if rule.kind != "trait":
            continue
        view = matches(rule, header)
        if view is None:
            continue
        identity.facts.update(read_facts(rule, view))
        if rule.handler == "svdquant":
            from modelctl.identify.svdquant import svdquant_facts

            facts, warnings = svdquant_facts(view, header, filename)
            identity.facts.update(facts)
            identity.warnings.extend(warnings)
    _cross_check(identity, header)
    return identity


def _cross_check(identity: Identity, header: Any) -> None:
    """Semantic checks on values the file claims (reported, never trusted for allocation)."""
    facts = identity.facts
    embd = header.tensor_map().get("token_embd.weight") if header.format == "gguf" else None
    width, vocab = facts.get("embedding_length"), facts.get("tokenizer_vocab_size")
    if embd is not None and len(embd.shape) == 2:
        if isinstance(width, int) and embd.shape[1] != width:
            identity.warnings.append(
                f"embedding_length {width} differs from token_embd.weight width {embd.shape[1]}"
            )
        if isinstance(vocab, int) and embd.shape[0] != vocab:
            identity.warnings.append(
                f"the embedded tokenizer has {vocab} tokens but token_embd.weight has "
                f"{embd.shape[0]} rows"
            )
    for key in ("embedding_length", "block_count", "vocab_size"):
        value = facts.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            identity.warnings.append(f"{key} is not an integer ({value!r})")
    block_count = facts.get("block_count")
    if isinstance(block_count, int) and block_count > 512:
        identity.warnings.append(
            f"block_count {block_count} is implausible (llama.cpp caps at 512)"
        )


def identify_target(
    target: str, *, token: str | None = None, endpoint: str | None = None
) -> tuple[Identity, Inspection]:
    """Identify a path, `hf://owner/repo/path[@rev]` or `https://` URL from its header.

    Remote files are read with HTTP Range requests that grow only as far as the header needs.
    `token` defaults to HF_TOKEN and is only ever sent to the Hub host.
    """
    from modelctl.formats.read import read_header
    from modelctl.formats.source import FileSource

    if target.startswith(("hf://", "https://", "http://")):
        from modelctl.sources.remote import open_remote

        with open_remote(target, token=token, endpoint=endpoint) as remote:
            header = read_header(remote)
            name = remote.filename
            inspection = Inspection(
                target, remote.name, header, remote.size, remote.bytes_fetched,
                remote.commit, remote.display_url,
            )  # fmt: skip
        return identify_header(header, filename=name), inspection
    path = Path(target.removeprefix("file://"))
    _check_local(path)
    with FileSource(path) as src:
        header = read_header(src)
    inspection = Inspection(target, str(path), header, header.size)
    return identify_header(header, filename=path.name), inspection


def _check_local(path: Path) -> None:
    from modelctl.errors import BadInput

    if not path.exists():
        raise BadInput(f"{path}: no such file", "check the path, or use hf://owner/repo/file")
    if path.is_dir():
        raise BadInput(f"{path} is a directory", "name a model file inside it")
    if not os.access(path, os.R_OK):
        raise BadInput(f"{path}: permission denied", "check the file's permissions")
