"""`modelctl from-workflow` end to end, as users run it: through the CLI's entry function, in-process
(`run_main`: local files in, text out; nothing here depends on the process)."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers.cli import run_cli, run_main
from tests.helpers.limits import run_cli_limited
from tests.workflow.builders import UI, ZIT, api, hub_url, model, write_json, zit_model


def workflow(tmp_path, with_unresolved=True):
    ui = UI()
    sub = ui.subgraph("66666666-6666-4666-8666-666666666666", "Text to image")
    ui.node(sub["id"], [])
    ui.node(
        "UNETLoader",
        ["z_image_turbo_bf16.safetensors", "default"],
        [zit_model("diffusion_models", "z_image_turbo_bf16.safetensors", view="blob")],
        graph=sub,
    )
    ui.node("VAELoader", ["ae.safetensors"], [zit_model("vae", "ae.safetensors")], graph=sub)
    ui.node("VAELoader", ["ae.safetensors"])  # the same file again, outside the subgraph
    if with_unresolved:
        ui.node("LoraLoaderModelOnly", ["no_url_anywhere_lora.safetensors", 1.0])
    return ui.write(tmp_path / "My Workflow.json")


def test_writes_a_manifest_that_show_loads(tmp_path):
    path = workflow(tmp_path)
    out = tmp_path / "stack.yaml"
    r = run_main("from-workflow", str(path), "-o", str(out))
    assert r.code == 0, r.err
    assert f"wrote {out}" in r.out and "no_url_anywhere_lora.safetensors" in r.out
    text = out.read_text()
    assert "# Unresolved" in text and "loras/no_url_anywhere_lora.safetensors" in text
    shown = run_main("show", str(out), "--json", "--models-dir", str(tmp_path / "models"))
    assert shown.code == 0, shown.err
    data = json.loads(shown.out)
    assert data["manifest"] == "stack"  # named after the -o file, as the catalog expects
    assets = {a["dest"]: a for a in data["assets"]}
    assert set(assets) == {"diffusion_models/z_image_turbo_bf16.safetensors", "vae/ae.safetensors"}
    assert assets["vae/ae.safetensors"]["source"] == f"hf://{ZIT}/split_files/vae/ae.safetensors"
    assert assets["vae/ae.safetensors"]["revision"] == "main"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    by_name = run_main("show", "stack", "--manifests", str(tmp_path), "--models-dir", str(tmp_path))
    assert by_name.code == 0, by_name.err  # usable from a manifests folder by its name


def test_prints_to_stdout_and_reports_to_stderr(tmp_path):
    r = run_main("from-workflow", str(workflow(tmp_path)))
    assert r.code == 0, r.err
    assert r.out.startswith("# Generated") and 'name: "my-workflow"' in r.out
    assert "unresolved" in r.err and "hint:" in r.err


def test_json_report(tmp_path):
    r = run_main("from-workflow", str(workflow(tmp_path)), "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["format"] == "ui" and data["output"] is None
    assert [m["dest"] for m in data["models"]] == [
        "diffusion_models/z_image_turbo_bf16.safetensors",
        "vae/ae.safetensors",
    ]
    vae = data["models"][1]
    assert [u["node"] for u in vae["used_by"]] == ["1:3", "4"]
    (unresolved,) = data["unresolved"]
    assert unresolved["folder"] == "loras" and "properties.models" in unresolved["hint"]
    assert data["manifest"].startswith("# Generated")


def test_existing_output_is_kept_unless_forced(tmp_path):
    out = tmp_path / "stack.yaml"
    out.write_text("mine\n")
    r = run_main("from-workflow", str(workflow(tmp_path)), "-o", str(out))
    assert r.code == 2 and r.err.startswith("error: ") and "--force" in r.err
    assert out.read_text() == "mine\n"
    r = run_main(
        "from-workflow", str(workflow(tmp_path)), "-o", str(out), "--force", "--name", "zit"
    )
    assert r.code == 0 and out.read_text().startswith("# Generated")
    assert 'name: "zit"' in out.read_text()


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "out.yaml"
    cases = {
        "not-json.json": "{nodes: oops",
        "not-workflow.json": json.dumps({"hello": "world"}),
        "bad-url.json": json.dumps(
            _one_lora(model("x.safetensors", "loras", "ftp://host/x.safetensors"))
        ),
        "bad-dir.json": json.dumps(
            _one_lora(model("x.safetensors", "../loras", hub_url("o/r", "x.safetensors")))
        ),
        "bad-name.json": json.dumps(
            _one_lora(model("a/x.safetensors", "loras", hub_url("o/r", "x.safetensors")))
        ),
    }
    for file_name, text in cases.items():
        path = tmp_path / file_name
        path.write_text(text)
        r = run_main("from-workflow", str(path), "-o", str(out))
        assert r.code == 2, (file_name, r.err)
        lines = r.err.splitlines()
        assert lines[0].startswith("error: "), (file_name, r.err)
        assert all(line.startswith(("error: ", "  hint: ")) for line in lines), r.err
        assert "Traceback" not in r.err and not out.exists()


def _one_lora(entry):
    ui = UI()
    ui.node("LoraLoaderModelOnly", ["x.safetensors", 1.0], [entry])
    return ui.doc


def test_tokens_in_urls_are_never_printed(tmp_path):
    secret = "hf_abcdefghijklmnopqrstuvwxyz012345"
    url = f"https://civitai.com/api/download/models/5?type=Model&token={secret}"
    path = write_json(tmp_path / "w.json", _one_lora(model("x.safetensors", "loras", url)))
    r = run_main("from-workflow", str(path), "--json")
    assert r.code == 0, r.err
    assert secret not in r.out and secret not in r.err
    assert (
        json.loads(r.out)["models"][0]["source"]
        == "https://civitai.com/api/download/models/5?type=Model"
    )


def test_workflow_without_models_writes_nothing_and_succeeds(tmp_path):
    path = write_json(tmp_path / "api.json", api({"1": ("OpenAIGPTImage1", {"prompt": "a cat"})}))
    out = tmp_path / "out.yaml"
    r = run_main("from-workflow", str(path), "-o", str(out))
    assert r.code == 0 and "nothing written" in r.err and not out.exists()


def test_only_unresolved_models_is_exit_2_with_the_list(tmp_path):
    prompt = api(
        {
            "1": (
                "LoraLoaderModelOnly",
                {"model": ["2", 0], "lora_name": "nowhere_lora.safetensors", "strength_model": 1.0},
            )
        }
    )
    out = tmp_path / "out.yaml"
    r = run_main("from-workflow", str(write_json(tmp_path / "api.json", prompt)), "-o", str(out))
    assert r.code == 2 and "loras/nowhere_lora.safetensors" in r.err and not out.exists()


@pytest.mark.parametrize("kind", ["sparse 3 GiB", "/dev/zero", "fifo"])
def test_workflow_files_are_read_bounded(tmp_path, kind):
    """Issue 16, item 15: a workflow is read up to its 16 MiB cap + 1 byte; devices and FIFOs are
    refused unread. Under a 512 MiB address-space cap, reading the 3 GiB file or /dev/zero whole
    would die of MemoryError (exit 70); a FIFO with no writer would block past the timeout."""
    if kind == "sparse 3 GiB":
        path = tmp_path / "big.json"
        with open(path, "wb") as fh:
            fh.truncate(3 << 30)
        expected = "is 3221225472 bytes, over the 16 MiB limit"
    elif kind == "/dev/zero":
        path, expected = "/dev/zero", "it is a character device, not a regular file"
    else:
        path = tmp_path / "pipe.json"
        os.mkfifo(path)
        expected = "it is a FIFO (named pipe), not a regular file"
    r = run_cli_limited("from-workflow", str(path), "-o", str(tmp_path / "out.yaml"))
    assert r.code == 2, r.err
    (line,) = [x for x in r.err.splitlines() if x.startswith("error:")]
    assert str(path) in line and expected in line
    assert not (tmp_path / "out.yaml").exists()


def test_nested_subgraph_copies_are_read_by_reference(tmp_path):
    """Issue 16, item 13: each subgraph placing 10 copies of the next, 8 levels deep (a 50 KB
    file, 10^7 placements of the innermost loader). A full expansion took 54 s and 1.4 GB at 7
    levels and ran out of memory at 8; read by reference it is one node with its copies
    counted, well inside a 512 MiB address space and the 60 s guard."""
    ui = UI()
    ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(8)]
    subs = [ui.subgraph(sid) for sid in ids]
    ui.node(ids[0], [])
    for parent, child in zip(subs, ids[1:], strict=False):
        for _ in range(10):
            ui.node(child, [], graph=parent)
    ui.node("VAELoader", ["ae.safetensors"], [zit_model("vae", "ae.safetensors")], graph=subs[-1])
    path = write_json(tmp_path / "nested.json", ui.doc)
    r = run_cli_limited("from-workflow", str(path), "--json")
    assert r.code == 0, r.err
    (used,) = json.loads(r.out)["models"][0]["used_by"]
    assert used["copies"] == 10**7 and used["active"]


@pytest.mark.parametrize("kind", ["distinct unknown values", "one name declared everywhere"])
def test_many_nodes_are_joined_in_linear_time(tmp_path, kind):
    """20,000 nodes, within the 100,000-node budget. Joining each model-looking value of an
    unknown node scanned every model found so far, and each loader's file every declaration of
    the same name (20,000^2 steps: minutes); the 60 s timeout only catches a return of that."""
    url = hub_url("o/r", "x.safetensors")
    if kind == "distinct unknown values":
        nodes = [{"id": i, "type": "MyNode", "widgets_values": [f"m{i}.safetensors"]}
                 for i in range(20_000)]  # fmt: skip
    else:
        declared = {"models": [model("x.safetensors", "vae", url)]}
        nodes = [{"id": i, "type": "VAELoader", "widgets_values": [f"s{i}/x.safetensors"],
                  "properties": declared} for i in range(20_000)]  # fmt: skip
    path = write_json(tmp_path / "many.json", {"nodes": nodes})
    r = run_cli("from-workflow", str(path), "--json", timeout=60)
    (line,) = [x for x in r.err.splitlines() if x.startswith("error:")]
    assert r.code == 2, r.err
    if kind == "distinct unknown values":  # all 20,000 joined, none with a URL
        assert "none of its 20000 model(s) has a download URL" in line
    else:  # all 20,000 resolved: 3 MB of manifest, over its 1 MiB cap
        assert "manifest is 3246870 bytes, over the 1048576-byte limit" in line


def test_lone_surrogates_in_ids_types_and_titles_are_printable(tmp_path):
    """JSON can encode lone surrogates (`"\\ud800"`), which UTF-8 stdout cannot print: --json
    exited 70 (UnicodeEncodeError). Ids, types and titles keep U+FFFD in their place."""
    ui = UI()
    ui.node("VAELoader", ["ae.safetensors"], [zit_model("vae", "ae.safetensors")], title="\ud800x")
    ui.doc["nodes"][0]["id"] = "\udc00"
    ui.node("My\ud800Node", ["m.safetensors"])
    path = write_json(tmp_path / "w.json", ui.doc)
    r = run_cli("from-workflow", str(path), "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    (used,) = data["models"][0]["used_by"]
    assert (used["node"], used["title"]) == ("\ufffd", "\ufffdx")
    assert data["unresolved"][0]["used_by"][0]["type"] == "My\ufffdNode"
