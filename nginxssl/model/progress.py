"""How a stage says how far it is: progress(stage, done, total)."""

from __future__ import annotations

from typing import Callable

Report = Callable[[str, int, int], None]


def silent(stage: str, done: int, total: int) -> None:
    """What the pipeline calls when nobody watches."""
