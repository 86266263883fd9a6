"""`modelctl.cli.output`: the one place printed text is redacted.

`redacted_streams` wraps stdout and stderr (as `modelctl.cli.main` does for every command); these
tests write through it the ways code prints: in pieces (`print(a, b)`), through click/typer, rich
tables that wrap a long cell, JSON with escapes, from several threads at once.
"""

from __future__ import annotations

import io
import json
import sys
import threading

import pytest

from modelctl.cli.output import RedactingStream, console, json_text, redacted_streams

SIG = "Zq9" + "0123456789abcdef" * 8
URL = f"https://cdn.example/a.safetensors?X-Amz-Credential=AKIA&X-Amz-Signature={SIG}&x=1"


def captured(fn: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with redacted_streams():
            fn()  # type: ignore[operator]
    finally:
        sys.stdout, sys.stderr = saved
    return out.getvalue(), err.getvalue()


def test_a_secret_written_in_pieces_is_seen_whole() -> None:
    def run() -> None:
        print("GET", URL.split("Signature=")[0] + "Signature=", SIG[:10], sep="", end="")
        print(SIG[10:], "done")
        sys.stderr.write("token=")
        sys.stderr.write(SIG)
        sys.stderr.flush()

    out, err = captured(run)
    assert SIG[:10] not in out and SIG[10:20] not in out
    assert out.endswith("X-Amz-Signature=<redacted> done\n")
    assert err == "token=<redacted>"


def test_text_without_a_newline_comes_out_on_flush_and_at_the_end() -> None:
    out, _ = captured(lambda: (sys.stdout.write("partial line"), sys.stdout.flush()))
    assert out == "partial line"
    out, _ = captured(lambda: sys.stdout.write("no flush, no newline"))
    assert out == "no flush, no newline"


def test_bytes_are_refused_and_no_binary_buffer_is_offered() -> None:
    stream = RedactingStream(io.StringIO())
    with pytest.raises(TypeError):
        stream.write(b"x")  # type: ignore[arg-type]
    assert not hasattr(stream, "buffer")


def test_click_and_typer_echo_go_through_it() -> None:
    import click
    import typer

    out, err = captured(lambda: (typer.echo(URL), click.echo(URL, err=True)))
    assert SIG not in out + err and "X-Amz-Signature=<redacted>&x=1" in out + err


def test_a_rich_table_that_wraps_a_long_cell_never_splits_a_secret() -> None:
    from rich.table import Table

    def run() -> None:
        table = Table()
        table.add_column("source")
        table.add_column("size")
        table.add_row(URL, "1 GiB")
        c = console()
        c.width = 40  # a narrow terminal: the cell is folded over several lines
        c.print(table)
        c.print(f"[bold]{URL}[/bold]")

    out, _ = captured(run)
    flat = "".join(out.split()).replace("│", "").replace("┃", "")
    assert SIG[:12] not in flat and SIG[-12:] not in flat
    assert "<redacted>" in flat


def test_json_is_redacted_before_encoding_and_stays_valid() -> None:
    data = {"source": URL, "note": f'quoted "token={SIG}"', "n": 1, "items": [URL, None]}
    text = json_text(data, indent=2)
    assert SIG not in text
    doc = json.loads(text)
    assert doc["n"] == 1 and doc["items"][1] is None
    assert doc["source"].endswith("X-Amz-Signature=<redacted>&x=1")


def test_lines_from_many_threads_stay_whole() -> None:
    def run() -> None:
        def worker(i: int) -> None:
            for _ in range(200):
                sys.stdout.write(f"worker {i} {URL}\n")  # one write per line, as we print

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    out, _ = captured(run)
    lines = out.splitlines()
    assert len(lines) == 800 and SIG not in out
    assert all(line.endswith("X-Amz-Signature=<redacted>&x=1") for line in lines)


def test_the_process_streams_are_restored_after_the_block() -> None:
    before = sys.stdout, sys.stderr
    with redacted_streams():
        assert isinstance(sys.stdout, RedactingStream)
    assert (sys.stdout, sys.stderr) == before


def test_a_traceback_printed_inside_is_redacted() -> None:
    """`MODELCTL_DEBUG=1` prints an internal error's traceback inside the wrapped streams."""
    import traceback

    def run() -> None:
        try:
            raise ValueError(f"could not open {URL}")
        except ValueError:
            traceback.print_exc()

    _, err = captured(run)
    assert "Traceback" in err and SIG not in err and "X-Amz-Signature=<redacted>" in err


@pytest.mark.parametrize(
    ("args", "closed", "code"),
    [(["list"], ">&-", 0), (["show", "no-such-stack"], ">&-", 2),
     (["show", "no-such-stack"], "2>&-", 2), (["list", "--json"], ">&- 2>&-", 0)],
)  # fmt: skip
def test_a_closed_stdout_or_stderr_drops_output_and_keeps_the_exit_code(
    args: list[str], closed: str, code: int
) -> None:
    """Started without a descriptor (`>&-`), Python sets `sys.stdout` to None; printing must not
    turn that into an internal error (exit 70)."""
    import subprocess

    from tests.helpers.cli import cli_env

    script = f'exec "$0" -m modelctl "$@" {closed}'
    proc = subprocess.run(["sh", "-c", script, sys.executable, *args], env=cli_env(),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == code, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    if closed == ">&-" and code == 2:
        assert proc.stderr.startswith("error: no manifest named")
