"""What a model file is: role, family and the facts a compatibility check needs.

`identify(source)` reads only the header (a local path or any ByteSource it is handed) and applies
the rules in `identify/data/*.yaml`. Opening remote files is not this package's business:
`modelctl.check.targets.identify_target` does that and hands the bytes here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.identify.model import Identity

if TYPE_CHECKING:
    from modelctl.formats.model import Header
    from modelctl.formats.source import ByteSource

__all__ = ["Identity", "identify", "identify_header"]


def identify(
    source: str | os.PathLike[str] | ByteSource, *, filename: str | None = None
) -> Identity:
    """Identify a local Path/str or a ByteSource from its header."""
    from modelctl.formats.read import read_header
    from modelctl.formats.source import FileSource

    if isinstance(source, (str, os.PathLike)):
        with FileSource(source) as src:
            return identify_header(read_header(src), filename=filename or Path(source).name)
    return identify_header(read_header(source), filename=filename)


def identify_header(header: Header, *, filename: str | None = None) -> Identity:
    """Apply the rules to an already parsed Header.

    Every metadata value is read through one `MetadataReader` (typed, see `identify.values`);
    values of the wrong type leave their facts unknown and come back as warnings."""
    from modelctl.identify.facts import general_facts
    from modelctl.identify.rules import Subject, load_rules, matches, read_facts

    subject = Subject(header)
    identity = Identity(format=header.format, facts=general_facts(header, subject.reader))
    identity.warnings.extend(header.warnings)
    notes: dict[str, str] = {}
    for rule in load_rules():
        if rule.kind != "identity":
            continue
        view = matches(rule, subject)
        if view is not None:
            assert rule.role is not None  # rules._parse_rule rejects identity rules without one
            identity.role, identity.family = rule.role, rule.family
            identity.rule, identity.source = rule.id, rule.citation()
            identity.facts.update(read_facts(rule, view))
            notes.update(view.notes)
            if view.prefix:
                identity.facts["key_prefix"] = view.prefix
            break
    for rule in load_rules():
        if rule.kind != "trait":
            continue
        view = matches(rule, subject)
        if view is None:
            continue
        identity.facts.update(read_facts(rule, view))
        notes.update(view.notes)
        if rule.handler == "svdquant":
            from modelctl.identify.svdquant import svdquant_facts

            facts, warnings = svdquant_facts(view, header, filename)
            identity.facts.update(facts)
            identity.warnings.extend(warnings)
    identity.warnings.extend([*subject.reader.notes(), *notes.values()])
    _cross_check(identity, header)
    return identity


def _cross_check(identity: Identity, header: Header) -> None:
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
    block_count = facts.get("block_count")
    if isinstance(block_count, int) and block_count > 512:
        identity.warnings.append(
            f"block_count {block_count} is implausible (llama.cpp caps at 512)"
        )
