"""Variant expansion in validation (issue 16, item 12): linear in the manifest, bounded, and the
dest-collision check equal to the brute force over every combination that it replaced."""

from __future__ import annotations

import itertools
import json
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelctl.errors import ManifestError
from modelctl.manifest import validate as V
from modelctl.manifest.validate import parse_manifest, substitute
from tests.helpers.cli import run_cli

AXES = {"a": ["x", "y"], "b": ["x", "y", "z"], "c": ["x", "y"]}
# dest pieces: placeholders and the literal values they can become, so that two different
# templates can write the same path (`d/{a}` and `d/x`), in either letter case
PIECES = ["{a}", "{b}", "{c}", "x", "y", "X", "-", "/"]

assets = st.lists(
    st.tuples(
        st.lists(st.sampled_from(PIECES), min_size=1, max_size=4),
        st.dictionaries(
            st.sampled_from(sorted(AXES)),
            st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=2, unique=True),
            max_size=2,
        ),
    ),
    min_size=1,
    max_size=5,
)


Items = list[tuple[list[str], dict[str, list[str]]]]


def _dest(pieces: list[str]) -> str:
    return "d/" + "".join(pieces).strip("/").replace("//", "/-/") + ".bin"


def _flow(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def _text(items: Items) -> str:
    lines = ["schema: 1", "name: t", "variants:"]
    lines += [f"  {k}: {{values: {_flow(v)}, default: x}}" for k, v in AXES.items()]
    lines.append("assets:")
    for i, (pieces, when) in enumerate(items):
        lines += [f"  - id: f{i}", "    role: other", "    source: https://e.org/f.bin"]
        lines.append(f'    dest: "{_dest(pieces)}"')
        if when:
            lines.append(
                "    when: {" + ", ".join(f"{k}: {_flow(v)}" for k, v in when.items()) + "}"
            )
    return "\n".join(lines) + "\n"


def _brute_force(items: Items) -> set[tuple[str, ...]]:
    """Every (combination, dest) written twice, checking every combination against every asset:
    the algorithm the validator used before (4096 x 2000 substitutions for 2000 assets)."""
    collisions = set()
    for combo in itertools.product(*AXES.values()):
        values = dict(zip(AXES, combo, strict=True))
        seen: set[str] = set()
        for pieces, when in items:
            if all(values[k] in v for k, v in when.items()):
                key = substitute(_dest(pieces), values).casefold()
                if key in seen:
                    collisions.add((*combo, key))
                seen.add(key)
    return collisions


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(assets)
def test_dest_collisions_match_the_brute_force(items):
    collisions = _brute_force(items)
    try:
        parse_manifest(_text(items).encode(), where="t.yaml")
    except ManifestError as exc:
        assert "both write" in exc.message, exc.message
        assert collisions, exc.message
        selection = exc.message.rsplit(" when ", 1)[1]
        values = dict(pair.split("=") for pair in selection.split(","))
        written = exc.message.split("both write `", 1)[1].split("` when", 1)[0]
        assert (*(values[k] for k in AXES), written.casefold()) in collisions
    else:
        assert not collisions


def test_expansions_past_the_limit_are_refused_before_any_is_built(tmp_path):
    """Each asset using all 12 axes of two values is 4096 forms; 17 of them are 69,632."""
    axes = [f"a{i}" for i in range(12)]
    lines = ["schema: 1", "name: t", "variants:"]
    lines += [f"  {a}: {{values: [x, y], default: x}}" for a in axes]
    lines.append("assets:")
    for i in range(17):
        dest = "/".join(f"{{{a}}}" for a in axes)
        lines += [f"  - id: f{i}", "    role: other", "    source: https://e.org/f.bin"]
        lines.append(f"    dest: d{i}/{dest}.bin")
    path = tmp_path / "t.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as info:
        parse_manifest(path.read_bytes(), where=str(path))
    assert info.value.message == (
        f"{path}:17: the assets expand to {17 * 4096} variants over their `{{axis}}` "
        f"placeholders, at most {V.MAX_EXPANSIONS}"
    )


def _wide(assets: int) -> bytes:
    """`assets` one-line assets over 12 two-valued axes (4096 combinations), each filtered by
    one axis."""
    axes = [f"a{i}" for i in range(12)]
    lines = ["schema: 1", "name: big", "variants:"]
    lines += [f"  {a}: {{values: [x, y], default: x}}" for a in axes]
    lines.append("assets:")
    for i in range(assets):
        lines.append(
            f"  - {{id: f{i}, role: other, source: 'https://e.org/{{a{(i + 1) % 12}}}', "
            f"dest: 'd/{i}/{{a{(i + 2) % 12}}}', when: {{a{i % 12}: x}}}}"
        )
    return ("\n".join(lines) + "\n").encode()


def test_validation_work_is_linear_in_the_expansions():
    """An operation count, not a time: how often a dest or source is filled in. The old check
    did it for every asset in each of the 4096 combinations (819,200 times for 200 assets); now
    once per form of each field (200 assets x (2 + 2) forms, plus 2 per dest for collisions)."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call" and frame.f_code is substitute.__code__:
            calls += 1

    data = _wide(200)
    sys.setprofile(count)
    try:
        parse_manifest(data)
    finally:
        sys.setprofile(None)
    assert calls == 200 * (2 + 2 + 2)


def test_a_large_manifest_validates_in_bounded_time(tmp_path):
    """A guard, not a benchmark (bench/validate.py measures): 6000 assets over 12 axes, half the
    1 MiB cap. The old collision check filled in every dest in each of the 4096 combinations
    (~13 ms per asset here: 80 s); the 60 s subprocess timeout only catches a return of it."""
    path = tmp_path / "big.yaml"
    path.write_bytes(_wide(6000))
    r = run_cli("show", str(path), "--json", "--models-dir", str(tmp_path / "m"), timeout=60)
    assert r.code == 0, r.err
    assert len(json.loads(r.out)["assets"]) == 6000  # the defaults (all x) select every asset
