"""A warm run copies the kept report a piece at a time (cli._copy_report), never whole."""

from __future__ import annotations

import errno
import io

import pytest
import typer

from nginxssl.cli import _copy_report


def test_a_character_cut_by_a_piece_boundary_arrives_whole():
    # The report cache writes UTF-8 with surrogatepass (engine/cache.py rendering_kept).
    text = "a" * ((1 << 20) - 1) + "é\udcff" + "b" * (1 << 20) + "→\n"
    out = io.StringIO()
    _copy_report(io.BytesIO(text.encode("utf-8", "surrogatepass")), out, "/cache")
    assert out.getvalue() == text


def test_the_report_is_written_out_in_pieces():
    class Pieces(io.StringIO):
        largest = 0

        def write(self, text: str) -> int:
            Pieces.largest = max(Pieces.largest, len(text))
            return super().write(text)

    out = Pieces()
    _copy_report(io.BytesIO(b"x" * (5 << 20)), out, "/cache")
    assert out.getvalue() == "x" * (5 << 20) and Pieces.largest <= 1 << 20


def test_a_kept_report_that_cannot_be_read_to_its_end_stops_with_a_message(capsys):
    """A disk error half-way: the part already out stays, and the run ends with exit 2 and a line
    that says what to do, never a traceback (nor a second report from a lint run after it)."""
    class Failing(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell():
                raise OSError(errno.EIO, "Input/output error")
            return super().read(size)

    out = io.StringIO()
    with pytest.raises(typer.Exit) as stopped:
        _copy_report(Failing(b"y" * (3 << 20)), out, "/home/admin/.cache/sslint")
    assert stopped.value.exit_code == 2
    assert out.getvalue() == "y" * (1 << 20)
    assert capsys.readouterr().err == ("sslint: the report kept in /home/admin/.cache/sslint could not be read to "
                                       "its end (Input/output error); run again with --no-cache\n")
