"""Subgraphs expanded by reference (issue 16, item 13): each definition read once, a node
budget, and the same answers as a full expansion about which models run and where."""

from __future__ import annotations

import json

import pytest

from modelctl.errors import BadInput
from modelctl.workflow import analyze_bytes
from modelctl.workflow.graph import MAX_NODES
from modelctl.workflow.render import render
from modelctl.workflow.table import load_table
from tests.workflow.builders import UI, hub_url, model

SUB = "77777777-7777-4777-8777-777777777777"
OUTER = "88888888-8888-4888-8888-888888888888"
BYPASS = 4


def run(doc):
    return analyze_bytes(json.dumps(doc).encode(), "wf.json", use_catalog=False)


def vae(ui, graph, name="ae.safetensors"):
    ui.node("VAELoader", [name], [model(name, "vae", hub_url("o/r", name))], graph=graph)


def test_a_subgraph_placed_twice_runs_where_one_placement_runs():
    """Listed once, at the running placement (not the first, bypassed one), with its copies."""
    ui = UI()
    sub = ui.subgraph(SUB)
    ui.node(SUB, [], mode=BYPASS)  # node 1
    running = ui.node(SUB, [])  # node 2
    vae(ui, sub)  # node 3
    report = run(ui.doc)
    (m,) = report.models
    assert [(u.node, u.active, u.copies) for u in m.uses] == [(f"{running}:3", True, 2)]
    assert m.uses[0].label() == "VAELoader (node 2:3, 1 of 2 copies)"


def test_a_subgraph_whose_every_placement_is_bypassed_never_runs():
    ui = UI()
    outer = ui.subgraph(OUTER)
    sub = ui.subgraph(SUB)
    ui.node(OUTER, [], mode=BYPASS)  # the only path to the running copy of SUB is bypassed
    ui.node(SUB, [], graph=outer)
    ui.node(SUB, [], mode=BYPASS)
    vae(ui, sub)
    report = run(ui.doc)
    assert report.models == []
    ((skipped, why),) = report.skipped
    assert "bypassed" in why and skipped.uses[0].copies == 2 and not skipped.uses[0].active


def test_nested_copies_are_counted_not_expanded():
    """Six levels of ten copies each: 10^5 placements of the loader, one node listed (the CLI
    test in tests/cli/test_from_workflow.py runs eight levels under a memory cap)."""
    ui = UI()
    ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(6)]
    subs = [ui.subgraph(sid) for sid in ids]
    ui.node(ids[0], [])
    for parent, child in zip(subs, ids[1:], strict=False):
        for _ in range(10):
            ui.node(child, [], graph=parent)
    vae(ui, subs[-1])
    report = run(ui.doc)
    (m,) = report.models
    (use,) = m.uses
    assert use.copies == 10**5 and use.node.count(":") == 6
    text = render(report, "nested", load_table())
    assert "1 of 100000 copies" in text and len(text) < 2000


def test_a_file_loaded_by_many_nodes_lists_ten_of_them():
    ui = UI()
    for _ in range(50):
        vae(ui, None)
    report = run(ui.doc)
    text = render(report, "many", load_table())
    (line,) = [x for x in text.splitlines() if "# used by" in x]
    assert line.count("VAELoader") == 10 and line.endswith(", and 40 more")


def test_more_nodes_than_the_budget_are_refused():
    doc = {"nodes": [{"id": i, "type": "Note"} for i in range(MAX_NODES - 9)]}
    doc["definitions"] = {"subgraphs": [{"id": SUB, "nodes": [{"type": "Note"}] * 10}]}
    with pytest.raises(
        BadInput, match=f"wf.json has {MAX_NODES + 1} nodes .* over the {MAX_NODES}"
    ):
        run(doc)
    doc["nodes"].pop()
    assert run(doc).models == []


def test_cycles_through_several_subgraphs_are_refused():
    ui = UI()
    a, b = ui.subgraph(SUB), ui.subgraph(OUTER)
    ui.node(SUB, [])
    ui.node(OUTER, [], graph=a)
    ui.node(SUB, [], graph=b)
    with pytest.raises(BadInput, match=f"subgraph {SUB} contains itself"):
        run(ui.doc)


@pytest.mark.parametrize(("depth", "ok"), [(64, True), (65, False)])
def test_nesting_depth(depth, ok):
    ui = UI()
    ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(depth)]
    subs = [ui.subgraph(sid) for sid in ids]
    ui.node(ids[0], [])
    for parent, child in zip(subs, ids[1:], strict=False):
        ui.node(child, [], graph=parent)
    vae(ui, subs[-1])
    if ok:
        assert len(run(ui.doc).models) == 1
    else:
        with pytest.raises(BadInput, match="nested more than 64 deep"):
            run(ui.doc)


def test_api_format_has_the_same_node_budget():
    prompt = {str(i): {"class_type": "Note", "inputs": {}} for i in range(MAX_NODES + 1)}
    with pytest.raises(BadInput, match=f"wf.json has {MAX_NODES + 1} nodes, over the {MAX_NODES}"):
        run(prompt)


def test_titles_are_cut_in_labels():
    """A 5 MB title made a 5 MB `# used by` comment: the generated manifest went over its cap."""
    ui = UI()
    ui.node(
        "VAELoader",
        ["ae.safetensors"],
        [model("ae.safetensors", "vae", hub_url("o/r", "ae.safetensors"))],
        title="T" * 5_000_000,
    )
    report = run(ui.doc)
    label = report.models[0].uses[0].label()
    assert label == f'VAELoader "{"T" * 79}…" (node 1)'
    assert len(render(report, "t", load_table())) < 2000
