"""Reading the text report back in tests: a finding is its first line and the indented detail below."""

from __future__ import annotations


def blocks(output: str) -> list[str]:
    """Each finding of a text report as one line: `file:line: ID severity: headline` then its detail
    lines (a clause a line, wrapped) joined by spaces; other lines (the summary) as they are."""
    joined: list[str] = []
    for line in output.splitlines():
        if line.startswith("    ") and joined:
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    return joined


def joined(output: str) -> str:
    """The text report with each finding on one line: what a substring test of a message looks in."""
    return "\n".join(blocks(output))
