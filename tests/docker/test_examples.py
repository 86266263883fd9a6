"""The container examples stay consistent with the repository and the hook's environment."""

from __future__ import annotations

import re

import yaml

from tests.helpers.cli import REPO_ROOT

DOCKER = REPO_ROOT / "docker"


def test_dockerfile_copies_paths_that_exist_and_uses_the_hook():
    text = (DOCKER / "Dockerfile.example").read_text()
    for line in re.findall(r"(?m)^COPY (.+)$", text):
        *sources, _dest = line.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), source
    assert 'ENTRYPOINT ["/usr/local/bin/modelctl-entrypoint"]' in text
    assert "COPY docker/entrypoint-hook.sh /usr/local/bin/modelctl-entrypoint" in text


def test_compose_shares_one_models_volume_and_reserves_gpus():
    compose = yaml.safe_load((DOCKER / "compose.example.yml").read_text())
    services = compose["services"]
    assert len(services) >= 2
    for service in services.values():
        assert "models:/models" in service["volumes"]
        env = service["environment"]
        assert env["MODELCTL_MODELS_DIR"] == "/models"
        assert env["MODELCTL_ENSURE"]
        assert env["MODELCTL_COMFYUI_PATHS"].endswith("extra_model_paths.yaml")
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
    assert "models" in compose["volumes"]


def test_every_variable_the_hook_reads_is_documented_in_it():
    hook = (DOCKER / "entrypoint-hook.sh").read_text()
    header = hook.split("\nset -u", 1)[0]
    for name in set(re.findall(r"\$\{?(MODELCTL_[A-Z_]+)", hook)):
        assert name in header, name
