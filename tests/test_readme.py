"""The README's two set-up commands stay true: CI runs exactly the README's test command."""

from __future__ import annotations

from tests.helpers.cli import REPO_ROOT


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    ci = (REPO_ROOT / ".ci" / "run").read_text("utf-8")
    lines = [line.strip() for line in readme.splitlines()[:12] if line.startswith("    ")]
    install, tests = lines[0], lines[1]
    assert install.startswith("python -m pip install . && modelctl pull")
    assert f"( {tests} )" in ci
