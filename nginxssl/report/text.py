"""`path:line: ID message`, like every linter; colour only on a terminal."""

from __future__ import annotations

import re
from typing import Iterable, TextIO

from nginxssl.model.finding import Finding

_COLOURS = {"error": "\x1b[31m", "warning": "\x1b[33m", "info": "\x1b[36m"}
_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"


# Control characters other than tab, and the Unicode line separators. A file name may hold any of
# them: raw, they would split a report line or, ESC above all, drive the terminal showing it.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def one_line(text: str) -> str:
    """Paths may hold newlines and other control characters; a report line must stay one plain line."""
    return _CONTROL.sub(_escape, text)


def render(findings: Iterable[Finding], out: TextIO, colour: bool, summary: str) -> None:
    for finding in findings:
        where = f"{one_line(finding.file)}:{finding.line}:"
        rule = finding.rule
        if colour:
            where = f"{_BOLD}{where}{_RESET}"
            rule = f"{_COLOURS.get(finding.severity, '')}{rule}{_RESET}"
        out.write(f"{where} {rule} {one_line(finding.message)}\n")
    if summary:
        out.write(summary + "\n")


def summarize(findings: list[Finding], sites: int, targets: int) -> str:
    counts = {severity: 0 for severity in ("error", "warning", "info")}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    parts = [f"{count} {severity}{'s' if count != 1 and severity != 'info' else ''}"
             for severity, count in counts.items() if count]
    found = ", ".join(parts) if parts else "no problems"
    return f"{found} in {sites} TLS site{'s' if sites != 1 else ''}"
