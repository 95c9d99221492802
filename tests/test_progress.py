"""The progress line (issue #7, item 8): on stderr, only when stderr is a terminal, gone
before the report; stdout carries the report and nothing else.

The drawing rules are checked with a fake clock; the command itself runs with its
stderr on a real pseudo-terminal and its stdout on a pipe.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from nginxssl.report.progress import DELAY, INTERVAL, Progress, for_stream

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from gen_tree import generate  # noqa: E402

ERASE = "\r\x1b[K"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_drawn_before_the_delay_and_the_line_is_erased_at_the_end():
    clock, stream = Clock(), io.StringIO()
    progress = Progress(stream, clock=clock)
    progress("checking certificate chains", 1, 10)
    clock.now += DELAY / 2
    progress("checking certificate chains", 2, 10)
    progress.close()
    assert stream.getvalue() == ""  # a quick run stays silent, and closing it writes nothing

    clock.now += DELAY
    progress("checking certificate chains", 5, 10)
    assert stream.getvalue() == ERASE + "sslint: checking certificate chains [##########          ] 5/10"
    progress.close()
    assert stream.getvalue().endswith(ERASE)
    progress.close()  # twice is harmless
    assert stream.getvalue().count(ERASE) == 2


def test_redrawn_at_most_every_interval_but_always_at_a_new_stage_and_at_the_end():
    clock, stream = Clock(), io.StringIO()
    progress = Progress(stream, delay=0, clock=clock)
    progress("reading certificate and key files", 1, 100)
    for done in range(2, 100):
        progress("reading certificate and key files", done, 100)  # same instant: skipped
    progress("reading certificate and key files", 100, 100)  # the end of a stage is always shown
    progress("checking", 0, 20)  # so is a new stage
    clock.now += 2 * INTERVAL
    progress("checking", 7, 20)
    lines = stream.getvalue().split(ERASE)[1:]
    assert lines == [
        "sslint: reading certificate and key files [                    ] 1/100",
        "sslint: reading certificate and key files [####################] 100/100",
        "sslint: checking [                    ] 0/20",
        "sslint: checking [#######             ] 7/20",
    ]


def test_an_unknown_total_shows_no_bar():
    stream = io.StringIO()
    Progress(stream, delay=0, clock=Clock())("reading /etc/nginx/nginx.conf", 0, 0)
    assert stream.getvalue() == ERASE + "sslint: reading /etc/nginx/nginx.conf"


def test_the_line_never_wraps_on_a_narrow_terminal(monkeypatch):
    stream = io.StringIO()
    progress = Progress(stream, delay=0, clock=Clock())
    monkeypatch.setattr(progress, "_width", lambda: 30)
    progress("checking certificate chains", 3, 9)
    assert len(stream.getvalue()) - len(ERASE) == 29


def test_no_progress_unless_stderr_is_a_terminal(monkeypatch):
    assert for_stream(io.StringIO()) is None
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as terminal:
            monkeypatch.setenv("TERM", "xterm")
            assert isinstance(for_stream(terminal), Progress)
            monkeypatch.setenv("TERM", "dumb")
            assert for_stream(terminal) is None
    finally:
        os.close(master)
        os.close(slave)


def _run(arguments: list[str], stderr_on_terminal: bool, cwd: Path) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of `sslint arguments`, stderr on a pseudo-terminal or a pipe."""
    env = {**os.environ, "SSLINT_PROGRESS_DELAY": "0", "TERM": "xterm"}
    command = [sys.executable, "-m", "nginxssl", *arguments]
    out_path = cwd / "stdout"
    with open(out_path, "wb") as out:
        if not stderr_on_terminal:
            done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, env=env, timeout=300)
            return done.returncode, out_path.read_bytes(), done.stderr
        master, slave = pty.openpty()
        process = subprocess.Popen(command, stdout=out, stderr=slave, env=env)
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            err += chunk
        os.close(master)
        code = process.wait(timeout=300)
    return code, out_path.read_bytes(), err


def test_the_command_draws_on_a_terminal_and_the_report_is_unchanged(tmp_path):
    main = generate(tmp_path / "tree", 60, 6, 20, "nginx")
    arguments = [str(main), "--format", "json", "--now", "2026-12-01T00:00:00Z"]
    code, out, err = _run(arguments, True, tmp_path)
    plain_code, plain_out, plain_err = _run(arguments, False, tmp_path)
    assert (code, out) == (plain_code, plain_out)  # stdout is the report, whatever stderr is
    assert plain_err == b""  # not a terminal: not one byte of progress
    text = err.decode()
    assert "sslint: checking certificate chains [" in text and "sslint: checking [" in text
    assert text.endswith(ERASE)  # erased before the report
    drawn = [line for line in text.split(ERASE) if line]
    assert re.fullmatch(r"sslint: checking \[#{20}\] (\d+)/\1", drawn[-1]), drawn[-1]  # the last stage, complete
    assert "\n" not in text  # one line, redrawn in place


def test_fix_notes_start_on_a_clean_line_and_later_passes_draw_nothing(tmp_path):
    main = generate(tmp_path / "tree", 40, 4, 10, "nginx")
    code, out, err = _run([str(main), "--fix", "--no-validate"], True, tmp_path)
    text = err.decode()
    drawn, notes = text.rsplit(ERASE, 1)
    assert "sslint: checking [" in drawn
    assert notes.startswith("sslint: ") and "sslint: fixed " in notes, text
    assert "\x1b" not in notes  # re-linting after the fix draws nothing
    assert b"\x1b" not in out and b"\r" not in out
