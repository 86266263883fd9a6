"""Usage errors are one `error:` line with exit 2; help exits 0; no traceback ever."""

from __future__ import annotations

import pytest

from modelctl.cli.main import main


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["list", "--bogus"], "error: No such option", "see `modelctl list --help`"),
        (["bogus"], "error: No such command 'bogus'", "see `modelctl --help`"),
        (["show"], "error: Missing argument", "see `modelctl show --help`"),
    ],
)
def test_usage_errors(
    args: list[str], message: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert hint in err
    assert "Traceback" not in err


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in (
        "list",
        "show",
        "pull",
        "ensure",
        "inspect",
        "check",
        "verify",
        "status",
        "lock",
        "rm",
        "gc",
        "doctor",
        "from-workflow",
        "schema",
    ):
        assert command in out
