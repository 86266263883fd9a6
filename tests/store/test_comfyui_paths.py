"""`modelctl comfyui-paths`: the extra_model_paths.yaml section, read back the way ComfyUI reads it.

The oracle is ComfyUI's own loading code, transcribed below from its sources (not from ours):
`utils/extra_config.py` @4328fa89 `load_extra_path_config`, `folder_paths.py` @1df2885e
(`map_legacy`, `add_model_folder_path`, default `folder_names_and_paths` for the two renamed keys),
and ComfyUI-GGUF `nodes.py` @76908c11 `update_folder_names_and_paths`, run in that order as
ComfyUI's `main.py` does (extra paths first, custom nodes later).
"""

from __future__ import annotations

import os

import pytest
import yaml

from modelctl.store import comfyui_paths
from tests.helpers.cli import run_main
from tests.helpers.stack import fake_stack


class ComfyFolders:
    """ComfyUI's folder registry, transcribed (see module docstring)."""

    def __init__(self, comfy_models: str) -> None:
        pt = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
        self.folders: dict[str, tuple[list[str], set[str]]] = {
            "text_encoders": (
                [os.path.join(comfy_models, "text_encoders"), os.path.join(comfy_models, "clip")],
                pt,
            ),
            "diffusion_models": (
                [
                    os.path.join(comfy_models, "unet"),
                    os.path.join(comfy_models, "diffusion_models"),
                ],
                pt,
            ),
            "vae": ([os.path.join(comfy_models, "vae")], pt),
        }

    @staticmethod
    def map_legacy(name: str) -> str:
        return {"unet": "diffusion_models", "clip": "text_encoders"}.get(name, name)

    def add_model_folder_path(self, name: str, path: str, is_default: bool = False) -> None:
        name = self.map_legacy(name)
        if name in self.folders:
            paths, _ = self.folders[name]
            if path in paths:
                if is_default and paths[0] != path:
                    paths.remove(path)
                    paths.insert(0, path)
            elif is_default:
                paths.insert(0, path)
            else:
                paths.append(path)
        else:
            self.folders[name] = ([path], set())

    def load_extra_path_config(self, yaml_path: str) -> None:
        with open(yaml_path, encoding="utf-8") as stream:
            config = yaml.safe_load(stream)
        yaml_dir = os.path.dirname(os.path.abspath(yaml_path))
        for c in config:
            conf = config[c]
            if conf is None:
                continue
            base_path = None
            if "base_path" in conf:
                base_path = conf.pop("base_path")
                base_path = os.path.expandvars(os.path.expanduser(base_path))
                if not os.path.isabs(base_path):
                    base_path = os.path.abspath(os.path.join(yaml_dir, base_path))
            is_default = conf.pop("is_default", False)
            for x in conf:
                for y in conf[x].split("\n"):
                    if len(y) == 0:
                        continue
                    full_path = os.path.join(base_path, y) if base_path else y
                    self.add_model_folder_path(x, os.path.normpath(full_path), is_default)

    def gguf_update(self, key: str, targets: list[str]) -> None:
        base = self.folders.get(key, ([], {}))
        base = base[0] if isinstance(base[0], (list, set, tuple)) else []
        target = next((x for x in targets if x in self.folders), targets[0])
        orig, _ = self.folders.get(target, ([], {}))
        self.folders[key] = (orig or base, {".gguf"})

    def get_filename_list(self, name: str) -> list[str]:
        paths, exts = self.folders[self.map_legacy(name)]
        out = set()
        for folder in paths:
            for dirpath, _dirs, files in os.walk(folder):
                for f in files:
                    rel = os.path.relpath(os.path.join(dirpath, f), folder)
                    if not exts or os.path.splitext(f)[1].lower() in exts:
                        out.add(rel)
        return sorted(out)


def comfy_with(tmp_path, yaml_file) -> ComfyFolders:
    comfy = ComfyFolders(str(tmp_path / "ComfyUI" / "models"))
    comfy.load_extra_path_config(str(yaml_file))
    comfy.gguf_update("unet_gguf", ["diffusion_models", "unet"])
    comfy.gguf_update("clip_gguf", ["text_encoders", "clip"])
    return comfy


def test_comfyui_and_comfyui_gguf_see_exactly_the_installed_files(tmp_path):
    models = tmp_path / "models"
    fake_stack(models, tmp_path / "manifests", name="s", n=6)
    custom = models / "sams" / "sam_vit_b.pth"  # a custom-node folder with an installed file
    custom.parent.mkdir()
    custom.write_bytes(b"x")
    (models / ".modelctl" / "receipts" / "sams").mkdir()
    out = tmp_path / "ComfyUI" / "extra_model_paths.yaml"
    out.parent.mkdir()
    env = {"MODELCTL_MODELS_DIR": str(models)}
    result = run_main("comfyui-paths", "--write", str(out), env=env)
    assert result.code == 0, result.err
    assert result.out.startswith(f"comfyui-paths: {out} written")

    comfy = comfy_with(tmp_path, out)
    assert comfy.get_filename_list("unet_gguf") == ["s0-Q4_K_M.gguf", "s4-extra.gguf"]
    assert comfy.get_filename_list("diffusion_models") == []  # core loaders skip .gguf
    assert comfy.get_filename_list("clip") == ["s1-te.safetensors", "s5-clip.safetensors"]
    assert comfy.get_filename_list("clip_gguf") == []
    assert comfy.get_filename_list("vae") == ["s2-vae.safetensors"]
    assert comfy.get_filename_list("loras") == ["s3-lora.safetensors"]
    assert comfy.get_filename_list("sams") == ["sam_vit_b.pth"]
    # the models dir comes first (is_default) and appears once per folder
    paths = comfy.folders["diffusion_models"][0]
    assert paths[:2] == [str(models / "unet"), str(models / "diffusion_models")]
    assert len(paths) == len(set(paths))
    assert not any(".modelctl" in p for key in comfy.folders for p in comfy.folders[key][0])


def test_printed_yaml_quotes_any_path(tmp_path):
    models = tmp_path / 'odd: name # "x"' / "models"
    result = run_main("comfyui-paths", "--models-dir", str(models))
    assert result.code == 0, result.err
    data = yaml.safe_load(result.out)
    assert list(data) == ["modelctl"]
    assert data["modelctl"]["base_path"] == str(models)
    assert data["modelctl"]["diffusion_models"] == "diffusion_models/\nunet/"
    assert "custom_nodes" not in data["modelctl"]


def test_write_keeps_other_sections_and_comments_and_replaces_only_its_block(tmp_path):
    out = tmp_path / "extra_model_paths.yaml"
    user = "# my settings\na1111:\n    base_path: /sd\n    loras: models/Lora\n"
    out.write_text(user)
    block_a = comfyui_paths.render("/models/a", comfyui_paths.folder_map())
    block_b = comfyui_paths.render("/models/b", comfyui_paths.folder_map())
    assert comfyui_paths.write(str(out), block_a) is True
    assert out.read_text().startswith(user)
    assert comfyui_paths.write(str(out), block_a) is False  # unchanged: not rewritten
    out.write_text(out.read_text() + "\nafter:\n    vae: x\n")
    assert comfyui_paths.write(str(out), block_b) is True
    data = yaml.safe_load(out.read_text())
    assert data["a1111"] == {"base_path": "/sd", "loras": "models/Lora"}
    assert data["after"] == {"vae": "x"}
    assert data["modelctl"]["base_path"] == "/models/b"
    assert out.read_text().count("# BEGIN modelctl") == 1


def test_write_follows_a_symlink_and_keeps_the_mode(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text("x:\n  vae: v\n")
    real.chmod(0o600)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    comfyui_paths.write(str(link), comfyui_paths.render("/m", {"vae": ["vae"]}))
    assert link.is_symlink()
    assert yaml.safe_load(real.read_text())["modelctl"]["vae"] == "vae/"
    assert real.stat().st_mode & 0o777 == 0o600


def test_foreign_modelctl_section_is_refused(tmp_path):
    out = tmp_path / "extra_model_paths.yaml"
    out.write_text("modelctl:\n  base_path: /mine\n")
    result = run_main("comfyui-paths", "--write", str(out), "--models-dir", str(tmp_path / "m"))
    assert result.code == 2
    assert result.err.splitlines()[0] == (
        f"error: {out} already has a `modelctl:` section that modelctl did not write"
    )
    assert out.read_text() == "modelctl:\n  base_path: /mine\n"


def test_unwritable_target_is_one_error_line(tmp_path):
    result = run_main(
        "comfyui-paths", "--write", str(tmp_path / "no" / "dir" / "x.yaml"),
        "--models-dir", str(tmp_path / "m"),
    )  # fmt: skip
    assert result.code == 2
    assert result.err.startswith("error: cannot write ") and "Traceback" not in result.err


@pytest.mark.parametrize("name", ["custom_nodes", "base_path", ".hidden", "a b"])
def test_unsafe_receipt_folders_are_not_exposed(name):
    assert name not in comfyui_paths.folder_map([name])


def test_fast_path_prints_what_the_full_command_prints_and_imports_nothing_heavy(tmp_path, capsys):
    from modelctl.cli.commands.ensure import comfyui_paths_command
    from tests.helpers.probe import probe

    models = tmp_path / "models"
    fake_stack(models, tmp_path / "manifests", name="s", n=2)
    for args in ([], ["--json"]):
        result, out, err = probe("comfyui-paths", "--models-dir", str(models), *args, env={})
        assert result == {"code": 0, "heavy": []}, err
        comfyui_paths_command(write=None, json_output=bool(args), models_dir=str(models))
        assert capsys.readouterr().out == out
