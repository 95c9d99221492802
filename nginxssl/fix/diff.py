"""FilePlans -> a unified diff built from unidiff's objects (no difflib).

Three lines of context, `a/` and `b/` prefixes, new files from /dev/null; the
hunks come straight from the edits' line ranges, so no diff algorithm guesses.
"""

from __future__ import annotations

import os

from unidiff import PatchSet
from unidiff.patch import Hunk, Line, PatchedFile

from nginxssl.model.edits import Change, FilePlan, config_lines

CONTEXT = 3
_NO_NEWLINE = " No newline at end of file\n"


def _text(line: bytes) -> str:
    return line.decode("utf-8", "surrogateescape")


def display_path(path: str) -> str:
    """Relative to the working directory when under it, else absolute without the leading slash."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return relative if not relative.startswith("..") else absolute.lstrip("/")


_GIT_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r",
                0x22: '\\"', 0x5C: "\\\\"}


def header_name(prefix: str, path: str) -> str:
    """`prefix` and the path for a `---`/`+++` line, in double quotes with C escapes the way git
    writes a name holding a control character, a double quote or bytes that are not UTF-8
    (`git apply` reads it back); any other name as it is."""
    name = prefix + display_path(path)
    raw = name.encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
        plain = not any(byte < 0x20 or byte in (0x22, 0x7F) for byte in raw)
    except UnicodeDecodeError:
        plain = False
    if plain:
        return name
    return '"' + "".join(_GIT_ESCAPES.get(byte) or (chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03o}")
                         for byte in raw) + '"'


def _add(hunk: Hunk, line_type: str, line: bytes) -> None:
    text = _text(line)
    if text.endswith("\n"):
        hunk.append(Line(text, line_type))
    else:
        hunk.append(Line(text + "\n", line_type))
        hunk.append(Line(_NO_NEWLINE, "\\"))


def _contiguous(changes: list[Change]) -> list[Change]:
    """Adjacent changed lines read as one block: all removals, then all additions."""
    merged: list[Change] = []
    for change in sorted(changes, key=lambda c: c.start):
        if merged and merged[-1].start + merged[-1].count == change.start:
            last = merged[-1]
            merged[-1] = Change(last.start, last.count + change.count, last.lines + change.lines)
        else:
            merged.append(change)
    return merged


def _groups(changes: list[Change]) -> list[list[Change]]:
    groups: list[list[Change]] = []
    for change in _contiguous(changes):
        if groups:
            last = groups[-1][-1]
            if change.start - (last.start + last.count) <= 2 * CONTEXT:
                groups[-1].append(change)
                continue
        groups.append([change])
    return groups


def _patched_file(plan: FilePlan) -> PatchedFile:
    target = header_name("b/", plan.path)
    if plan.old is None:
        patched = PatchedFile(source="/dev/null", target=target)
        new_lines = config_lines(plan.new)
        hunk = Hunk(0, 0, 1, len(new_lines))
        for line in new_lines:
            _add(hunk, "+", line)
        patched.append(hunk)
        return patched
    patched = PatchedFile(source=header_name("a/", plan.path), target=target)
    old_lines = config_lines(plan.old)
    offset = 0
    for group in _groups(plan.changes):
        first, last = group[0], group[-1]
        start = max(1, first.start - CONTEXT)
        end = min(len(old_lines), last.start + last.count - 1 + CONTEXT)
        hunk = Hunk()
        position = start
        for change in group:
            for number in range(position, change.start):
                _add(hunk, " ", old_lines[number - 1])
            removed = old_lines[change.start - 1:change.start - 1 + change.count]
            added = list(change.lines)
            # An insertion is recorded as "this line becomes itself plus a new one": show the
            # unchanged lines at either end as context, not as removed and added again.
            head = 0
            while head < min(len(removed), len(added)) and removed[head] == added[head]:
                head += 1
            tail = 0
            while tail < min(len(removed), len(added)) - head and removed[-1 - tail] == added[-1 - tail]:
                tail += 1
            for line in removed[:head]:
                _add(hunk, " ", line)
            for line in removed[head:len(removed) - tail]:
                _add(hunk, "-", line)
            for line in added[head:len(added) - tail]:
                _add(hunk, "+", line)
            for line in removed[len(removed) - tail:]:
                _add(hunk, " ", line)
            position = change.start + change.count
        for number in range(position, end + 1):
            _add(hunk, " ", old_lines[number - 1])
        hunk.source_start, hunk.source_length = start, len(hunk.source)
        hunk.target_start, hunk.target_length = start + offset, len(hunk.target)
        if hunk.source_length == 0:
            hunk.source_start -= 1
        offset += hunk.target_length - hunk.source_length
        patched.append(hunk)
    return patched


def render(plans: dict[str, FilePlan]) -> str:
    patch = PatchSet("")
    for path in sorted(plans):
        plan = plans[path]
        if plan.old is not None and plan.old == plan.new:
            continue
        patch.append(_patched_file(plan))
    return str(patch)
