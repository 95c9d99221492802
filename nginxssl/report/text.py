"""`path:line: ID severity: headline`, like every linter, the detail indented below; colour only on a terminal.

`concise` is the first lines alone (pre-commit, editors' problem matchers); `statistics` counts the
findings by rule.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from typing import Iterable, TextIO

from nginxssl.model.finding import Finding

_COLOURS = {"error": "\x1b[31m", "warning": "\x1b[33m", "info": "\x1b[36m"}
_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"

LINE_WIDTH = 129  # a finding's first line, where the headline allows: every line under 130 columns
HEADLINE_WIDTHS = (60, 100)  # the headline's own width, whatever the path before it
DETAIL_INDENT = "    "
DETAIL_WIDTH = 100  # the detail's lines, indent included: read in a terminal or a cron mail

# Control characters other than tab, and the Unicode line separators. A file name may hold any of
# them: raw, they would split a report line or, ESC above all, drive the terminal showing it.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}
_COMMAND = re.compile(r"`[^`]*`")
_KEEP_TOGETHER = "\x00"  # stands for a space inside a `command` while wrapping: a command is never split


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def one_line(text: str) -> str:
    """Paths may hold newlines and other control characters; a report line must stay one plain line."""
    return _CONTROL.sub(_escape, text)


def shown_path(path: str) -> str:
    """A path at the start of a report line. A relative path that starts with `::` is shown as `./::...`
    (the same file): a log line starting with `::` is a workflow command to GitHub Actions
    (`::stop-commands::` turns off every annotation after it), and pre-commit passes any file name."""
    path = one_line(path)
    return "./" + path if path.startswith("::") else path


def _split(finding: Finding, already: dict[tuple[str, str, int], tuple[str, tuple[str, ...]]],
           ) -> tuple[str, str, str, tuple[str, ...]]:
    """(where, label, headline, detail) of a finding's text: the headline fits what the line has left.
    `already`: the headlines and details cut so far in this report, by message, summary and width."""
    where = f"{shown_path(finding.file)}:{finding.line}:"
    label = f"{finding.rule} {finding.severity}:" if finding.severity else f"{finding.rule}:"
    low, high = HEADLINE_WIDTHS
    width = min(high, max(low, LINE_WIDTH - len(where) - len(label) - 2))
    key = (finding.message, finding.summary, width)
    cut = already.get(key)
    if cut is None:
        cut = already[key] = finding.headline_and_detail(width)
    headline, detail = cut
    return where, label, one_line(headline), detail


_WRAPPER = textwrap.TextWrapper(DETAIL_WIDTH, initial_indent=DETAIL_INDENT, subsequent_indent=DETAIL_INDENT + "  ",
                                break_long_words=False, break_on_hyphens=False)


def _wrapped(clause: str) -> list[str]:
    protected = _COMMAND.sub(lambda match: match.group().replace(" ", _KEEP_TOGETHER), one_line(clause))
    if "\t" not in protected and protected.isascii() and protected[:1] != " " and protected[-1:] != " ":
        lines = _fill_spaced(protected)
    else:  # a tab, a character that is not ASCII (some of them are whitespace to textwrap), spaces at an end
        lines = _WRAPPER.wrap(protected)
    return [line.replace(_KEEP_TOGETHER, " ") for line in lines]


def _fill_spaced(text: str) -> list[str]:
    """_WRAPPER.wrap(text) for ASCII text without tabs that starts and ends with a word (spaces are
    its only whitespace: one_line escaped every other control character): textwrap's greedy
    filling, words never broken, each line cut at the last space within its width (rfind), where
    textwrap adds the words one by one (a third of a second for the clauses of a large report)."""
    lines: list[str] = []
    size = len(text)
    start = 0
    indent = _WRAPPER.initial_indent
    while start < size:
        room = DETAIL_WIDTH - len(indent)
        if size - start <= room:
            lines.append(indent + text[start:])
            break
        cut = text.rfind(" ", start + 1, start + room + 1)
        if cut == -1:  # the first word is longer than the line: it stands alone, whole
            cut = text.find(" ", start)
            if cut == -1:
                lines.append(indent + text[start:])
                break
        lines.append(indent + text[start:cut].rstrip(" "))
        start = cut
        while start < size and text[start] == " ":
            start += 1
        indent = _WRAPPER.subsequent_indent
    return lines


def render(findings: Iterable[Finding], out: TextIO, colour: bool, summary: str, concise: bool = False) -> None:
    # A tree repeats itself: one message at many places (a snippet many sites include), one clause
    # ("add `add_header ...` to this server block") in thousands of findings. Each is cut, or
    # filled, once a report: of the 24,500 detail lines of the 5,000-block benchmark, 13,700 differ.
    cut: dict[tuple[str, str, int], tuple[str, tuple[str, ...]]] = {}
    filled: dict[str, str] = {}
    for finding in findings:
        where, label, headline, detail = _split(finding, cut)
        if colour:
            where = f"{_BOLD}{where}{_RESET}"
            label = f"{_COLOURS.get(finding.severity, '')}{label}{_RESET}"
        out.write(f"{where} {label} {headline}\n")
        if not concise:
            for clause in detail:
                lines = filled.get(clause)
                if lines is None:
                    lines = filled[clause] = "".join(line + "\n" for line in _wrapped(clause))
                out.write(lines)
    if summary:
        out.write(summary + "\n")


def render_statistics(findings: Iterable[Finding], out: TextIO) -> None:
    """One line per rule, the most frequent first: count, id, severity, name (ruff's --statistics)."""
    counts = Counter((finding.rule, finding.severity, finding.name) for finding in findings)
    for (rule, severity, name), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        out.write(f"{count:>6}  {rule}  {severity:<7}  {name}\n".rstrip() + "\n")


def summarize(findings: list[Finding], sites: int, targets: int) -> str:
    counts = {severity: 0 for severity in ("error", "warning", "info")}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    parts = [f"{count} {severity}{'s' if count != 1 and severity != 'info' else ''}"
             for severity, count in counts.items() if count]
    if not parts and not sites:
        # Not "no problems": nothing was checked (a config repository's includes that lead nowhere, a
        # plain-HTTP configuration), and a green run must not hide that.
        configs = f"{targets} configuration{'s' if targets != 1 else ''}"
        return f"no TLS site found in {configs}: nothing checked (do its includes reach the site files?)"
    found = ", ".join(parts) if parts else "no problems"
    return f"{found} in {sites} TLS site{'s' if sites != 1 else ''}"
