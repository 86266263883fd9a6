"""Doctor's checks of the installed `nunchaku`: the SVDQuant engine or its unrelated PyPI namesake,
its compiled extension and wheel tags against this Python, and its `+torchX.Y` tag against torch."""

from __future__ import annotations

from typing import Any

from modelctl.compat.gpu_rules import nunchaku_install_hint, rules
from modelctl.doctor.model import Check
from modelctl.doctor.python import torch_version
from modelctl.machine.packages import Dist, PythonEnv, TorchImport, identify_nunchaku, major_minor


def nunchaku_checks(py: PythonEnv, imp: TorchImport | None, required: bool) -> list[Check]:
    spec = rules()["nunchaku_distribution"]
    hint = nunchaku_install_hint()
    dist = py.dists.get(spec["name"])
    if dist is None:
        if required:
            return [
                Check(
                    "nunchaku.package",
                    "fail",
                    f"nunchaku is not installed in {py.executable}",
                    hint,
                )
            ]
        return [
            Check("nunchaku.package", "ok", "nunchaku not installed (only Nunchaku stacks need it)")
        ]
    ident = identify_nunchaku(dist)
    if not ident.engine:
        return [
            Check(
                "nunchaku.package",
                "fail",
                f"the installed `nunchaku` {dist.version} is not the SVDQuant engine: it has no "
                f"compiled `nunchaku._C` extension (it is the unrelated PyPI package of that name)",
                f"pip uninstall nunchaku, then {hint}",
            )
        ]
    checks = []
    if not ident.version_ok:
        checks.append(
            Check(
                "nunchaku.package",
                "fail",
                f"nunchaku {dist.version} is older than {spec['engine_min_version']}",
                hint,
            )
        )
    else:
        checks.append(
            Check(
                "nunchaku.package",
                "ok",
                f"nunchaku {dist.version}: the SVDQuant engine ({(ident.extension or {})['path']})",
            )
        )
    checks.extend(_nunchaku_build_checks(dist, ident.extension or {}, py, hint))
    checks.append(_torch_tag_check(dist, ident.torch_tag, torch_version(py, imp), py, hint))
    return checks


def _nunchaku_build_checks(
    dist: Dist, ext: dict[str, Any], py: PythonEnv, hint: str
) -> list[Check]:
    checks = []
    if not ext.get("exists", True):
        checks.append(
            Check(
                "nunchaku.extension",
                "fail",
                f"nunchaku's compiled extension {ext['path']} is missing on disk",
                f"reinstall: {hint}",
            )
        )
    elif not ext.get("abi_ok", True):
        checks.append(
            Check(
                "nunchaku.extension",
                "fail",
                f"nunchaku's compiled extension {ext['path']} is not built for "
                f"Python {py.version} ({py.cp_tag})",
                hint,
            )
        )
    pythons = {t.split("-")[0] for t in dist.wheel_tags}
    if pythons and py.cp_tag not in pythons and not any(p.startswith("py") for p in pythons):
        checks.append(
            Check(
                "nunchaku.wheel",
                "fail",
                f"nunchaku was installed from a wheel for {', '.join(sorted(pythons))}, "
                f"but this is {py.cp_tag}",
                hint,
            )
        )
    return checks


def _torch_tag_check(
    dist: Dist, tag: str | None, torch: str | None, py: PythonEnv, hint: str
) -> Check:
    if tag is None:
        return Check(
            "nunchaku.torch",
            "warn",
            f"nunchaku {dist.version} has no +torchX.Y tag (a source build?): "
            "its torch ABI cannot be checked",
            "make sure it was built against the installed torch",
        )
    if torch is None:
        return Check(
            "nunchaku.torch",
            "fail",
            f"nunchaku {dist.version} needs torch {tag}, and torch is not installed",
            f"pip install 'torch=={tag}.*'",
        )
    have = major_minor(torch)
    if have != tag:
        return Check(
            "nunchaku.torch",
            "fail",
            f"nunchaku {dist.version} was built for torch {tag}, but torch {torch} is installed "
            "(its C++ extension only loads with the torch it was compiled against)",
            f"install nunchaku's +torch{have} wheel for {py.cp_tag} "
            f"(https://github.com/nunchaku-tech/nunchaku/releases), or torch {tag}",
        )
    return Check("nunchaku.torch", "ok", f"nunchaku's +torch{tag} tag matches torch {torch}")
