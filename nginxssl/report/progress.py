"""A progress line on stderr for long runs, when stderr is a terminal.

The pipeline reports `(stage, done, total)` through one callable; this module
decides whether and how to show it. Nothing is drawn until a run has lasted
DELAY seconds (a quick run stays silent), the line is redrawn at most every
INTERVAL seconds, it never reaches stdout (the report does, alone), and
`close()` erases it before anything else is printed. On a pipe, a file or in
CI (stderr not a terminal) the callable does nothing at all.
"""

from __future__ import annotations

import os
import time
from typing import Callable, TextIO

DELAY = 0.5  # seconds before the first drawing
INTERVAL = 0.1  # seconds between two drawings
BAR = 20  # cells of the bar
_ERASE = "\r\x1b[K"  # back to column 1, clear to the end of the line


class Progress:
    """`progress(stage, done, total)`: draws "sslint: <stage> [####    ] done/total" on `stream`.

    `total` 0: a stage whose size is not known (the bar and count are left out). `clock` is for tests.
    """

    def __init__(self, stream: TextIO, *, delay: float = DELAY, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.start = clock()
        self.delay = delay
        self.shown = False
        self._last = float("-inf")
        self._stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        if now - self.start < self.delay:
            return
        final = total > 0 and done >= total
        if stage == self._stage and now - self._last < INTERVAL and not final:
            return
        self._stage, self._last = stage, now
        self.stream.write(_ERASE + self._line(stage, done, total))
        self.stream.flush()
        self.shown = True

    def _line(self, stage: str, done: int, total: int) -> str:
        if total > 0:
            filled = BAR * min(done, total) // total
            line = f"sslint: {stage} [{'#' * filled}{' ' * (BAR - filled)}] {done}/{total}"
        else:
            line = f"sslint: {stage}"
        return line[: max(self._width() - 1, 10)]  # never wrap: \r only returns within one line

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return columns or 80  # a terminal that does not say its width (a bare pty) says 0

    def close(self) -> None:
        """Erase the line (if one was drawn): what follows starts at column 1 of a clean line."""
        if self.shown:
            self.stream.write(_ERASE)
            self.stream.flush()
            self.shown = False


def for_stream(stream: TextIO) -> Progress | None:
    """A Progress on `stream` when it is a terminal (and TERM is not "dumb"), else None."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        return None
    if not interactive or os.environ.get("TERM") == "dumb":
        return None
    try:  # SSLINT_PROGRESS_DELAY: seconds before the first drawing (tests set 0)
        delay = float(os.environ.get("SSLINT_PROGRESS_DELAY", DELAY))
    except ValueError:
        delay = DELAY
    return Progress(stream, delay=delay)
