"""Comments, docstrings, data files and docs cite only what a reader of this repository can open.

An upstream source (repository + path + commit or tag, an issue or PR number, an RFC or spec) or
the fact itself, stated in a few words. Never the project's private background notes (catalogue
numbers and section numbers of notes kept outside this repository; `PATTERNS` below lists the
phrasings): they are not part of the repository, so such a citation leads nowhere. The patterns
cover every phrasing that was found and replaced; nothing is allowed. The examples in
`test_patterns_catch_the_phrasings_that_were_replaced` are split into two joined strings so that this file does not
itself match.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("modelctl", "manifests", "bench", "docker", "docs", "README.md")
SKIPPED_DIRS = {"__pycache__", ".cache", ".pytest_cache", ".mypy_cache", ".ruff_cache"}

PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\brobustness[- ](notes?|section|catalogue|[A-I]\.\d)",
        r"\brobustness\.md\b",
        r"\bmodel[- ]facts\b",
        r"\bproduct[- ]spec\b",
        r"\bhub[- ]protocol(\.md| notes)",
        r"\bpeers(\.md| notes)\b",
        r"\bproject's [\w-]+ notes\b",
        r"\bfacts (sections? )?\d+(\.\d+)?\b",
        r"\bnotes #\d+",
        r"shared/docs\b|\.\./shared\b",
    )
] + [
    # Catalogue entries: "E.51", "(G.65/G.66)", "E.46-E.48", "F.61)". Case-sensitive: single capital
    # letter A-I, a dot, then a number.
    re.compile(r"(?<![\w.])[A-I]\.\d{1,3}(?![\w.])"),
]


def _files() -> list[Path]:
    found: list[Path] = []
    for name in SCANNED:
        top = ROOT / name
        if top.is_file():
            found.append(top)
            continue
        for path in sorted(top.rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_file() and not SKIPPED_DIRS.intersection(rel.parts):
                found.append(path)
    return found


def _text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:  # binary: not prose
        return None


def test_the_scan_sees_the_repository() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _files()}
    assert "README.md" in names and "modelctl/errors.py" in names
    assert any(n.startswith("modelctl/compat/data/") and n.endswith(".yaml") for n in names)


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_citation_of_documents_outside_the_repository(path: Path) -> None:
    text = _text(path)
    if text is None:
        return
    hits = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
        for pattern in PATTERNS
        for m in pattern.finditer(text)
    ]
    assert not hits, (
        "cite an upstream source (repo + path + commit/tag, issue/PR, RFC) or state the fact "
        "inline:\n" + "\n".join(hits)
    )


@pytest.mark.parametrize(
    "line",
    [
        "file's size and LFS sha256 (robust" + "ness E.51).",
        "(robust" + "ness notes #1, #20, #32)",
        "# Tokenizers of text encoders. model-" + "facts sections 2.3, 3.1, 3.3.",
        "contract from the product " + "spec:",
        "summarised in the project's hub-" + "protocol notes",
        "see peers" + ".md",
        "Locks are an optimisation (G.65/G.66)",
        "- Resume (E.46-E.48): the partial's state",
        "renamed there (F.61): never copied",
        "the Wan VAE (facts 4.2)",
        "read ../shared/docs/robust" + "ness.md",
    ],
)
def test_patterns_catch_the_phrasings_that_were_replaced(line: str) -> None:
    assert any(p.search(line) for p in PATTERNS), line


@pytest.mark.parametrize(
    "line",
    [
        "huggingface_hub src/huggingface_hub/file_download.py @ v2.4.0",
        "range requests: RFC 9110 §14",
        "Comfy-Org/ComfyUI comfy/model_detection.py @0b61ce5b",
        "general.alignment is 32; the spec asks for a multiple of 8",
        "--models-dir, else ./shared/models",
        "Q4_K_M, Q8_0, sm 8.9, version 1.2.0",
    ],
)
def test_patterns_leave_real_citations_alone(line: str) -> None:
    assert not any(p.search(line) for p in PATTERNS), line
