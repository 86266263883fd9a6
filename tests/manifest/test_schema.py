"""The JSON Schema against the validator: what one accepts, the other accepts.

Generated manifests, valid and nearly valid, go to both: as YAML text to `parse_manifest`, as the
values YAML reads from that text to jsonschema. The schema must never refuse a manifest the
validator accepts; where every fault of a manifest is one JSON Schema can express, it must also
refuse what the validator refuses. Faults of the kinds `manifest.schema` lists as validator-only
are marked so by the mutation that makes them, and then only the first direction is checked.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelctl.errors import ManifestError
from modelctl.manifest import validate as V
from modelctl.manifest.model import EXPECT_KEYS, ROLES
from modelctl.manifest.schema import json_schema
from modelctl.manifest.validate import parse_manifest
from tests.manifest.test_validate import CASES

SCHEMA = json_schema()
CHECKER = jsonschema.Draft202012Validator(SCHEMA)
Doc = dict[str, Any]


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:  # write every value out: no `&id001`
        return True


def to_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1 << 30)


def validator_accepts(text: str) -> bool:
    try:
        parse_manifest(text.encode(), where="t.yaml")
    except ManifestError:
        return False
    return True


def schema_accepts(text: str) -> bool:
    return CHECKER.is_valid(yaml.load(text, Loader=_Loader))


# ---- valid manifests -------------------------------------------------------------------------

AXIS_NAMES = ["quant", "te", "steps"]
AXIS_VALUES = ["Q4_K_M", "Q8_0", "bf16", "fp8", "v1.0", "a+b"]
HEX = "0123456789abcdef" * 4


@st.composite
def axes(draw: st.DrawFn) -> dict[str, Doc]:
    out = {}
    for name in draw(st.lists(st.sampled_from(AXIS_NAMES), max_size=2, unique=True)):
        values = draw(st.lists(st.sampled_from(AXIS_VALUES), min_size=1, max_size=3, unique=True))
        default = draw(st.sampled_from(values))
        one = len(values) == 1 and draw(st.booleans())  # `values: Q8_0` is a list of one
        out[name] = {"values": values[0] if one else values, "default": default}
    return out


def _values(axis: Doc) -> list[str]:
    values = axis["values"]
    return [values] if isinstance(values, str) else values


@st.composite
def sources(draw: st.DrawFn, variants: dict[str, Doc]) -> tuple[str, bool]:
    """A valid source, and whether it is an hf:// one."""
    tail = draw(st.sampled_from([""] + [f"-{{{name}}}" for name in variants]))
    kind = draw(st.sampled_from(["hf", "https", "file"]))
    if kind == "hf":
        prefix = draw(st.sampled_from(["", "datasets/"]))
        owner = draw(st.sampled_from(["owner", "Org-1", "a.b"]))
        repo = draw(st.sampled_from(["repo", "r_2"]))
        path = draw(st.sampled_from(["model", "sub/dir/m", ".hidden/m"]))
        return f"hf://{prefix}{owner}/{repo}/{path}{tail}.gguf", True
    if kind == "https":
        host = draw(st.sampled_from(["example.org", "h.test:8443", "@example.org", "[::1]"]))
        query = draw(st.sampled_from(["", "?download=1", "#x"]))
        return f"https://{host}/files/ae{tail}.safetensors{query}", False
    return draw(st.sampled_from(["file:///abs/x", "file://rel/x"])) + f"{tail}.bin", False


@st.composite
def asset(draw: st.DrawFn, index: int, variants: dict[str, Doc]) -> Doc:
    source, hf = draw(sources(variants))
    tail = draw(st.sampled_from([""] + [f"-{{{name}}}" for name in variants]))
    out: Doc = {
        "id": draw(st.sampled_from(["a", "unet", "te.x", "V-1"])) + str(index),
        "role": draw(st.sampled_from(ROLES)),
        "source": source,
        # `base` cannot be spelled by the mutations below: no dest collides with these
        "dest": f"base{index}/f{index}{tail}.bin",
    }
    if hf and draw(st.booleans()):
        out["revision"] = draw(st.sampled_from(["main", "v1.0", "refs/pr/3", HEX[:40], None, ""]))
    if draw(st.booleans()):
        out["sha256"] = draw(st.sampled_from([HEX, HEX.upper(), None]))
    if draw(st.booleans()):
        out["size"] = draw(st.sampled_from([1, 2**40, None]))
    if bool(variants) and draw(st.booleans()):
        name = draw(st.sampled_from(sorted(variants)))
        values = _values(variants[name])
        out["when"] = {name: draw(st.sampled_from([values[0], values]))}
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(sorted(EXPECT_KEYS)), max_size=3, unique=True))
        out["expect"] = {
            key: 16 if EXPECT_KEYS[key] is int else "flux" + tail.replace("-", "_") for key in keys
        }
    if draw(st.booleans()):
        out["allow_pickle"] = draw(st.booleans())
    return out


@st.composite
def manifests(draw: st.DrawFn) -> Doc:
    variants = draw(axes())
    doc: Doc = {"schema": 1, "name": draw(st.sampled_from(["demo", "z-image.2", "a"]))}
    if draw(st.booleans()):
        doc["description"] = draw(st.sampled_from(["a demo stack", "", "two\nlines"]))
    if bool(variants) or draw(st.booleans()):
        doc["variants"] = variants
    doc["assets"] = [draw(asset(i, variants)) for i in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        doc["requires"] = draw(
            st.sampled_from(
                [
                    {},
                    {"gpu": {"min_vram_gib": 8, "precision": "fp8"}},
                    {"gpu": {"min_vram_gib": 7.5}, "packages": {"torch": ">=2"}},
                    {"python": ">=3.10", "packages": {}},
                ]
            )
        )
    return doc


# ---- mutations: each changes the manifest and says whether its fault is validator-only -------

Draw = Callable[..., Any]  # st.DataObject.draw
Mutation = Callable[[Draw, Doc], bool]  # True: the fault may be one the schema cannot see
MUTATIONS: dict[str, Mutation] = {}


def mutation(fn: Mutation) -> Mutation:
    MUTATIONS[fn.__name__] = fn
    return fn


def tokens(*parts: str, max_size: int = 10) -> st.SearchStrategy[str]:
    """Strings glued from `parts`: short, and dense in the corners the rules are about."""
    return st.lists(st.sampled_from(parts), max_size=max_size).map("".join)


def each(key: str, *values: Any) -> list[tuple[str, Any]]:
    return [(key, value) for value in values]


def pick(draw: Draw, *options: Any) -> Any:
    return copy.deepcopy(draw(st.sampled_from(options)))


def first(doc: Doc) -> Doc:
    """The first asset, to mutate; a scratch mapping once an earlier mutation broke the list."""
    assets = doc.get("assets")
    if isinstance(assets, list) and assets and isinstance(assets[0], dict):
        return assets[0]
    return {}


def an_axis(doc: Doc) -> str:
    """A declared axis, or without variants an undeclared one: either way the schema sees all
    that is wrong with a placeholder of it (it refuses any placeholder without variants)."""
    variants = doc.get("variants")
    return next(iter(variants), "quant") if isinstance(variants, dict) else "quant"


def undeclared(doc: Doc, text: str) -> bool:
    """Does `text` name, as `{axis}`, an axis-shaped name that the variants do not declare?

    Validator-only, unless there are no variants at all (the schema refuses any placeholder then)
    or the name cannot be an axis (the schema refuses that too)."""
    variants = doc.get("variants")
    names = [n for n in re.findall(V.PLACEHOLDER, text) if V.AXIS_RE.fullmatch(n)]
    return isinstance(variants, dict) and bool(variants) and any(n not in variants for n in names)


@mutation
def top_unknown_key(draw: Draw, doc: Doc) -> bool:
    doc[pick(draw, "descripton", "Schema", "asset", "")] = "x"
    return False


@mutation
def top_missing_key(draw: Draw, doc: Doc) -> bool:
    doc.pop(pick(draw, *sorted(V.TOP_REQUIRED)), None)
    return False


@mutation
def top_values(draw: Draw, doc: Doc) -> bool:
    key, value = pick(
        draw,
        *each("schema", 2, 0, "1", True, None, [1]),
        *each("name", "Demo", "demo\n", "-x", "", "a" * 65, "ok-1", 5, None),
        *each("description", 5, None, True, "a\x00b", "fine", ["x"]),
        *each("variants", [], "x", 5, {}, None),
        *each("assets", [], {}, "x", None, ["x"], [5], [None], [[]]),
    )
    doc[key] = value
    return False


@mutation
def drop_variants(draw: Draw, doc: Doc) -> bool:
    doc.pop("variants", None)  # placeholders and `when` now name no axis: E, see an_axis
    return False


@mutation
def extra_axis(draw: Draw, doc: Doc) -> bool:
    name = pick(draw, "extra", "Bad", "1x", "a-b", "a" * 33, "x\x00")
    values = pick(draw, ["x1"], ["x1", "x2"], [], "x1", ["x1", "x1"], ["bad value"], [1], None, {})
    default = pick(draw, "x1", "x2", 1, None, "bad value", ["x1"])
    axis: Doc = {"values": values, "default": default}
    if draw(st.booleans()):
        axis.pop(pick(draw, "values", "default"))
    if draw(st.booleans()):
        axis["defualt"] = "x1"
    variants = doc.get("variants")
    if not isinstance(variants, dict):
        variants = doc["variants"] = {}
    variants[name] = axis
    listed = [values] if isinstance(values, str) else values
    return default == "x2" and isinstance(listed, list) and "x2" not in listed  # not a value


@mutation
def asset_shape(draw: Draw, doc: Doc) -> bool:
    change = pick(draw, "unknown", "missing", "not a mapping")
    if change == "unknown":
        first(doc)[pick(draw, "revison", "Role", "hash", "")] = "main"
    elif change == "missing":
        first(doc).pop(pick(draw, *sorted(V.ASSET_REQUIRED)), None)
    else:
        doc["assets"] = [pick(draw, "x", 5, [], None)]
    return False


@mutation
def asset_values(draw: Draw, doc: Doc) -> bool:
    key, value = pick(
        draw,
        *each("id", "", "-x", "a b", "x" * 65, 5, None, "ok.id", "a/b", "ü"),
        *each("role", "vea", "", 5, None, "VAE", *ROLES),
        *each("sha256", "0" * 63, "0" * 65, "g" * 64, HEX + "\n", None, 5, ""),
        *each("size", 0, -1, 1, 2**40, "5", 5.5, True, None, [1]),
        *each("allow_pickle", "yes", 1, None, True, False, "true"),
        *each("when", "x", 5, None, [], {}, {"Bad": "x1"}, {"q": 5}, {"q": [5]}),
        *each("when", {"q": {"a": "b"}}, {"q": "bad value"}, {"q": ["x", "-"]}),
        *each("expect", "x", None, [], {"width": 16}, {"dim": 0}, {"dim": "16"}),
        *each("expect", {"dim": True}, {"family": 5}, {"family": "x{Bad}"}),
        *each("expect", {"family": "{}"}, {"dim": 16, "family": "flux"}),
    )
    first(doc)[key] = value
    return False


@mutation
def asset_validator_only(draw: Draw, doc: Doc) -> bool:
    """Faults the schema is not expected to see (it may, when another fault hides them)."""
    a = first(doc)
    change = pick(draw, "size 5.0", "when axis", "when value", "expect axis", "id", "dest")
    if change == "size 5.0":
        a["size"] = 5.0  # the validator wants `5`; JSON Schema's "integer" takes 5.0
    elif change == "when axis":
        a["when"] = {"zzz": "x1"}  # AXIS-shaped, not declared
    elif change == "when value":
        a["when"] = {an_axis(doc): "nope"}
    elif change == "expect axis":
        a["expect"] = {"family": "f-{zzz}"}
    elif a and len(doc["assets"]) > 1 and isinstance(doc["assets"][1], dict):
        a[change] = doc["assets"][1][change]  # a duplicate id, or two assets on one dest
    return True


SOURCE_TOKENS = (
    *("hf://", "https://", "file://", "http://", "ftp://", "datasets/", "a", "B0", "/", "."),
    *("..", "@", ":", "?", "#", "\\", " ", "_", "-", "+", "\n", "\x7f", "[", "]", "é"),
)
BAD_SOURCES = (
    *("hf://only", "hf://a/b", "hf://a/b/", "hf://a..b/r/f", "hf://a/r/f@main", "hf://a/b/../c"),
    *(
        "hf://datasets/a/b",
        "hf://-a/b/c",
        "hf://a/b//c",
        "hf://a/b/c\\d",
        "hf:///a/b",
        "HF://a/b/c",
    ),
    *("hf://" + "a" * 97 + "/b/c", "http://x/y", "ftp://x/y", "https://x/", "https://u:p@x/y"),
    *(
        "https://u@x/y",
        "https://:@x/y",
        "https://@x/y",
        "https:///y",
        "https://x/../y",
        "https://x",
    ),
    *("https://x?y/z", "https://x/y?", "https://x/y#", "https://:80/y", "file://", "a b", "x"),
    *("{proto}://a/b/c", "", "https://[::1]/y", "https://x/y/..", "https://x//y"),
)


def _urllib_only(source: str) -> bool:
    """A https:// URL that urllib.parse.urlsplit itself may refuse (validator-only)."""
    if not source.startswith("https://"):
        return False
    authority = re.split(r"[/?#]", source[len("https://") :], maxsplit=1)[0]
    return bool(re.search(r"[\[\]]", authority)) or not authority.isascii()


@mutation
def asset_source(draw: Draw, doc: Doc) -> bool:
    source = draw(st.one_of(st.sampled_from(BAD_SOURCES), tokens(*SOURCE_TOKENS)))
    first(doc)["source"] = source
    return _urllib_only(source) or "{" in source  # {proto}: the scheme is a placeholder


DEST_TOKENS = ("x", "vae", "/", ".", "..", "\\", " ", "\n", "\x01", "é", ":", "@", "{", "}")
BAD_DESTS = (
    *("vae/../x", "/abs/x", "vae\\x", "x", ".hidden/x", ".modelctl/x", "vae//x", "vae/./x"),
    *("vae/", "", "vae/x\x01", "vae/..", "../x", "vae/" + "x" * 1021, "vae/" + "x" * 1020),
    *("vae/{}", "vae/{Bad}.bin", "vae/{a/b}.bin", "C:\\x", "vae/x:y", "vae/ x", "vae/.x"),
)


@mutation
def asset_dest(draw: Draw, doc: Doc) -> bool:
    axis = f"{{{an_axis(doc)}}}"
    templated = tuple(
        t.replace("Q", axis)
        for t in ("Q/../x", ".Q/x", "vae/Q", "/Q/x", "Q", "vae/Q/", "vae//Q", "vae\\Q", "vae/.Q")
    )
    dest = draw(st.one_of(st.sampled_from(BAD_DESTS + templated), tokens(*DEST_TOKENS)))
    first(doc)["dest"] = dest
    long = bool(re.search(V.PLACEHOLDER, dest)) and len(dest) > 1000  # its length once filled in
    return long or undeclared(doc, dest)


@mutation
def asset_revision(draw: Draw, doc: Doc) -> bool:
    revision = draw(
        st.one_of(
            st.sampled_from(
                (
                    *("main", "../main", "a//b", "x.lock", "x/", "-x", "", None, 5, "refs/pr/1"),
                    *("a" * 255, "a" * 256, HEX[:40], "main\n", "v1.{steps}", "{quant}", "{}"),
                )
            ),
            tokens("a", "0", ".", "/", "+", "-", "_", ".lock", "@", " ", max_size=6),
        )
    )
    first(doc)["revision"] = revision
    return isinstance(revision, str) and bool(re.search(V.PLACEHOLDER, revision))


@mutation
def requires_values(draw: Draw, doc: Doc) -> bool:
    requires = pick(
        draw,
        *(None, 5, {}, {"gpu": None}, {"gpu": {"vram": 8}}, {"pip": {}}, {"python": 3.1}),
        *({"gpu": dict([pair])} for pair in each("min_vram_gib", -1, "8", 7.5, True, 0, None)),
        *(dict([pair]) for pair in each("packages", {"torch": 2}, [], {"torch": None}, {"": "x"})),
        {"gpu": {"precision": 5}},
        {"gpu": {"min_vram_gib": 1e-5}},  # validator-only: YAML writes 1.0e-05
    )
    doc["requires"] = requires
    return requires == {"gpu": {"min_vram_gib": 1e-5}}


# ---- the properties --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(manifests())
def test_generated_manifests_are_valid(doc: Doc) -> None:
    text = to_yaml(doc)
    assert validator_accepts(text), text
    assert schema_accepts(text), text


def check_verdicts(doc: Doc, validator_only: bool) -> None:
    text = to_yaml(doc)
    by_validator, by_schema = validator_accepts(text), schema_accepts(text)
    if by_validator:
        assert by_schema, f"the schema refuses what the validator accepts:\n{text}"
    elif not validator_only:
        assert not by_schema, f"the schema accepts what the validator refuses:\n{text}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), st.data())
def test_schema_agrees_with_validator(doc: Doc, data: st.DataObject) -> None:
    names = data.draw(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=2))
    validator_only = False
    for name in names:
        validator_only |= MUTATIONS[name](data.draw, doc)
    check_verdicts(doc, validator_only)


# The grammar of sources, dests and revisions, part by part: most parts are right, some not.
def segments(*extra: str, max_size: int = 3) -> st.SearchStrategy[str]:
    segment = st.sampled_from(["a", "m.gguf", "sub", ".h", "...", "{quant}", *extra])
    return st.lists(segment, min_size=1, max_size=max_size).map("/".join)


_PART = st.one_of(
    st.sampled_from(["owner", "Org-1", "a.b", "r_2", "x" * 96]),
    tokens("a", "B0", ".", "..", "-", "_", "+", "@", "é", "x" * 95, max_size=4),
)
_PATH = segments("", ".", "..", "x@y", "a\\b", "a b", "{zzz}", "{Bad}", "é", "\n")
HF_SOURCES = st.builds(
    "hf://{}{}/{}/{}".format, st.sampled_from(["", "datasets/", "datasets"]), _PART, _PART, _PATH
)
HTTPS_SOURCES = st.builds(
    "https://{}{}{}{}{}".format,
    st.sampled_from(["", "", "", "@", ":@", "u@", ":p@", "u:p@", "@@", "::@", "u@v@"]),
    st.sampled_from(["h", "example.org", "H.Test", "", ":", "é.test", "[::1]", "[", "]"]),
    st.sampled_from(["", "", ":8443", ":", ":x"]),
    st.one_of(st.just(""), segments("", "..", ".", "a?b", "a#b", "?", "#").map("/".__add__)),
    st.sampled_from(["", "", "?q=1", "#f", "?a/../b", "/"]),
)
FIELD_VALUES = st.one_of(
    st.tuples(st.just("source"), st.one_of(HF_SOURCES, HTTPS_SOURCES, tokens(*SOURCE_TOKENS))),
    st.tuples(st.just("dest"), st.one_of(_PATH, tokens(*DEST_TOKENS))),
    st.tuples(st.just("revision"), tokens("a", "0", ".", "/", "+", "-", ".lock", "@", " ")),
)


@settings(max_examples=300, deadline=None)
@given(FIELD_VALUES, st.booleans())
def test_field_grammar_agrees(field_value: tuple[str, str], with_variants: bool) -> None:
    field, value = field_value
    doc: Doc = {"schema": 1, "name": "demo"}
    if with_variants:
        doc["variants"] = {"quant": {"values": ["Q8_0", "a+b"], "default": "Q8_0"}}
    doc["assets"] = [{"id": "a", "role": "vae", "source": "hf://o/r/x.bin", "dest": "vae/x"}]
    doc["assets"][0][field] = value
    # placeholders stand only where the schema checks them (paths): none is validator-only
    check_verdicts(doc, undeclared(doc, value) or (field == "source" and _urllib_only(value)))


# ---- the pinned validator cases --------------------------------------------------------------

# CASES of test_validate the schema cannot refuse, by the kinds listed in `manifest.schema`
VALIDATOR_ONLY = {
    "duplicate key": "YAML spelling",
    "size with underscore": "YAML spelling (YAML 1.1 reads 1_000 as 1000)",
    "allow_pickle yes": "YAML spelling (YAML 1.1 reads yes as true)",
    "tabs": "YAML spelling",
    "two documents": "YAML spelling",
    "default not in values": "a reference",
    "unknown axis value in when": "a reference",
    "unknown axis in when": "a reference",
    "unknown placeholder": "a reference",
    "duplicate asset id": "a reference",
    "two assets one dest": "a reference",
    "too many combinations": "a reference",
    "unbalanced ipv6 bracket": "urllib",
}


def _loaded(text: str) -> Iterator[Any]:
    try:
        yield yaml.safe_load(textwrap.dedent(text))
    except yaml.YAMLError:
        return


@pytest.mark.parametrize("case", sorted(set(CASES) - set(VALIDATOR_ONLY)))
def test_schema_refuses_pinned_case(case: str) -> None:
    for doc in _loaded(CASES[case][0]):
        assert not CHECKER.is_valid(doc), case


@pytest.mark.parametrize("case", sorted(VALIDATOR_ONLY))
def test_validator_only_cases_are_known(case: str) -> None:
    assert case in CASES  # a renamed case must not silently leave this list


@pytest.mark.parametrize(
    ("field", "value"),
    [("dest", "vae/../x"), ("source", "hf://only"), ("source", "https://example.org/x.bin")],
)
def test_issue_examples(field: str, value: str) -> None:
    """Three manifests the old hand-written schema accepted and the validator refuses."""
    doc: Doc = {
        "schema": 1,
        "name": "demo",
        "assets": [
            {"id": "a", "role": "vae", "source": "hf://o/r/x.bin", "dest": "vae/x", field: value}
        ],
    }
    if value.startswith("https://"):
        doc["assets"][0]["revision"] = "main"
    assert not validator_accepts(to_yaml(doc))
    assert not CHECKER.is_valid(doc)


# ---- the patterns mean the same to ECMA-262 -------------------------------------------------


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern":
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


PROBES = sorted(
    {*BAD_SOURCES, *BAD_DESTS, "hf://o/r/x.gguf", "hf://datasets/o/r/a/b", "vae/x", "demo"}
    | {"main", "refs/pr/1", "a..b", "x.lock", HEX, HEX + "\n", "a\nb", "{quant}", "Q8_0", "\x00"}
    | {"https://h/a?b/", "https://@h/x", "https://h#/x", "https://a@b@c/x", "ab/.", "..."}
)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node for ECMA-262 regexes")
def test_patterns_mean_the_same_in_ecma262() -> None:
    """JSON Schema's `pattern` is ECMA-262 (with the `u` flag); jsonschema runs Python's `re`."""
    patterns = sorted(set(_patterns(SCHEMA)))
    script = (
        "const {patterns, probes} = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(patterns.map(p => {"
        "  const r = new RegExp(p, 'u'); return probes.map(s => r.test(s)); })));"
    )
    stdin = json.dumps({"patterns": patterns, "probes": PROBES})
    run = subprocess.run(
        ["node", "-e", script], input=stdin, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    for pattern, ecma in zip(patterns, json.loads(run.stdout), strict=True):
        python = [re.search(pattern, probe) is not None for probe in PROBES]
        differ = [p for p, a, b in zip(PROBES, python, ecma, strict=True) if a != b]
        assert not differ, (pattern, differ)
