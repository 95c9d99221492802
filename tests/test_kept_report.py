"""A warm run copies the kept report a piece at a time (cli._copy_report), never whole."""

from __future__ import annotations

import io

from nginxssl.cli import _copy_report


def test_a_character_cut_by_a_piece_boundary_arrives_whole():
    # The report cache writes UTF-8 with surrogatepass (engine/cache.py rendering_kept).
    text = "a" * ((1 << 20) - 1) + "é\udcff" + "b" * (1 << 20) + "→\n"
    out = io.StringIO()
    _copy_report(io.BytesIO(text.encode("utf-8", "surrogatepass")), out)
    assert out.getvalue() == text


def test_the_report_is_written_out_in_pieces():
    class Pieces(io.StringIO):
        largest = 0

        def write(self, text: str) -> int:
            Pieces.largest = max(Pieces.largest, len(text))
            return super().write(text)

    out = Pieces()
    _copy_report(io.BytesIO(b"x" * (5 << 20)), out)
    assert out.getvalue() == "x" * (5 << 20) and Pieces.largest <= 1 << 20
