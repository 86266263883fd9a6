"""Doctor's checks of a ComfyUI install (`--comfyui DIR`): ComfyUI's version, and the
ComfyUI-nunchaku plugin's constraints on nunchaku and Python (`comfyui_nunchaku` in
`compat/data/gpu_rules.yaml`)."""

from __future__ import annotations

from modelctl.compat.gpu_rules import nunchaku_install_hint, rules
from modelctl.doctor.model import Check, version_in
from modelctl.machine.comfyui import ComfyInstall
from modelctl.machine.packages import PythonEnv, identify_nunchaku


def comfyui_checks(install: ComfyInstall, py: PythonEnv) -> list[Check]:
    checks = []
    if install.root is not None:
        checks.append(
            Check(
                "comfyui",
                "ok" if install.version else "warn",
                f"ComfyUI {install.version or '(version unknown)'} at {install.root}",
                None if install.version else "comfyui_version.py not found",
            )
        )
    if install.plugin_dir is None:
        checks.append(Check("comfyui-nunchaku", "ok", "ComfyUI-nunchaku is not installed"))
        return checks
    version = install.plugin_version
    if not version:
        checks.append(
            Check(
                "comfyui-nunchaku",
                "warn",
                f"ComfyUI-nunchaku at {install.plugin_dir} has no readable version",
                "check its pyproject.toml",
            )
        )
        return checks
    rule = next(
        (r for r in rules()["comfyui_nunchaku"]["rules"] if version_in(version, r["plugin"])), None
    )
    if rule is None:
        checks.append(
            Check(
                "comfyui-nunchaku",
                "warn",
                f"ComfyUI-nunchaku {version}: no known version constraints",
                "check its requirements by hand",
            )
        )
        return checks
    checks.append(
        Check("comfyui-nunchaku", "ok", f"ComfyUI-nunchaku {version} at {install.plugin_dir}")
    )
    backend = py.dists.get(rules()["nunchaku_distribution"]["name"])
    if backend is None or not identify_nunchaku(backend).engine:
        found = (
            f"nunchaku {backend.version} (not the SVDQuant engine)" if backend else "no nunchaku"
        )
        checks.append(
            Check(
                "comfyui-nunchaku.backend",
                "fail",
                f"ComfyUI-nunchaku {version} needs nunchaku {rule['nunchaku']}; found {found}",
                nunchaku_install_hint(),
            )
        )
    elif not version_in(backend.public_version, rule["nunchaku"]):
        checks.append(
            Check(
                "comfyui-nunchaku.backend",
                "fail",
                f"ComfyUI-nunchaku {version} needs nunchaku {rule['nunchaku']}, "
                f"found {backend.version}",
                "upgrade nunchaku (or use a ComfyUI-nunchaku release made for it)",
            )
        )
    else:
        checks.append(
            Check(
                "comfyui-nunchaku.backend",
                "ok",
                f"nunchaku {backend.version} satisfies ComfyUI-nunchaku {version} "
                f"({rule['nunchaku']})",
            )
        )
    if not version_in(py.version, rule["python"]):
        checks.append(
            Check(
                "comfyui-nunchaku.python",
                "fail",
                f"ComfyUI-nunchaku {version} needs Python {rule['python']}, this is {py.version}",
                "use a supported Python for ComfyUI",
            )
        )
    return checks
