"""Edits -> new file contents, line-level, on the original bytes.

Each config edit touches one line (or inserts one); every other byte of the file
stays identical. The result records, per file, which original lines were
replaced by which new ones, so the diff is built from the edits themselves.
"""

from __future__ import annotations

import os
import re
from typing import Callable

from nginxssl.model.edits import (
    Change,
    DeleteLine,
    Edit,
    EditConflict,
    ExpectChain,
    FilePlan,
    InsertLine,
    LineEdit,
    NewFile,
    ReplaceArgs,
    apache_quote,
    config_lines,
    nginx_quote,
)


def _statement_span(line: str, directive: str, server: str) -> tuple[int, int] | None:
    """(start of the arguments, end of the arguments) of `directive` on `line`."""
    flags = re.IGNORECASE if server == "apache" else 0
    for match in re.finditer(rf"(?:(?<=^)|(?<=[\s;{{}}]))({re.escape(directive)})(?=\s)", line, flags):
        start = match.end(1)
        if server == "apache":
            end = len(line.rstrip("\r\n"))
            return start, end
        end_at = _unquoted(line, start, "{}#\n;")
        return (start, end_at) if end_at is not None and line[end_at] == ";" else None
    return None


def _unquoted(line: str, start: int, stops: str) -> int | None:
    """The column of the first of `stops` on `line` from `start` that no quote or backslash hides
    (how nginx's lexer reads a statement), or None."""
    quote = None
    position = start
    while position < len(line):
        char = line[position]
        if char == "\\":
            position += 2
            continue
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in stops:
            return position
        position += 1
    return None


def _replace_args(text: str, edit: ReplaceArgs) -> str:
    span = _statement_span(text, edit.directive, edit.server)
    if span is None:
        raise EditConflict(f"{edit.file}:{edit.line}: cannot find `{edit.directive} ...;` on that line")
    start, end = span
    # Keep the spacing the author chose around the arguments (aligned columns stay aligned).
    lead = len(text[start:end]) - len(text[start:end].lstrip())
    trail = len(text[start:end]) - len(text[start:end].rstrip())
    quote = apache_quote if edit.server == "apache" else nginx_quote
    # An argument that keeps its value keeps its spelling: the author's quotes stay.
    written = _tokens(text[start:end])
    spelled = [raw if raw is not None and value == arg else quote(arg)
               for arg, (raw, value) in zip(edit.args, written + [(None, None)] * len(edit.args))]
    return text[:start + lead] + " ".join(spelled) + text[end - trail:end] + text[end:]


def _tokens(span: str) -> list[tuple[str, str]]:
    """(as written, value) of each argument in `span`: quotes removed, backslash escapes resolved."""
    found = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|((?:[^\s"\'\\]|\\.)+)', span):
        inner = next(group for group in match.groups() if group is not None)
        found.append((match.group(0), re.sub(r"\\(.)", r"\1", inner)))
    return found


def written_args(path: str, line: int, directive: str, server: str,
                 read: Callable[[str], bytes] | None = None) -> tuple[str, ...] | None:
    """The arguments of `directive` as the file writes them on `line` (quotes removed, variables
    such as `$domain` or `${VAR}` not expanded); None when the line cannot be read or lacks it."""
    try:
        lines = config_lines((read or _read)(path).decode("utf-8", "surrogateescape"))
    except OSError:
        return None
    if not 0 < line <= len(lines):
        return None
    span = _statement_span(lines[line - 1], directive, server)
    if span is None:
        return None
    return tuple(value for _raw, value in _tokens(lines[line - 1][span[0]:span[1]]))


_MACRO_OPEN = re.compile(r"\s*<Macro(?:\s+([^\s>]+))?", re.IGNORECASE)
_MACRO_CLOSE = re.compile(r"\s*</Macro\s*>", re.IGNORECASE)


def macro_around(path: str, line: int, read: Callable[[str], bytes] | None = None) -> tuple[str, int] | None:
    """(name, line) of the Apache `<Macro>` whose body holds `line` of `path`, or None: such a
    line is configuration once per `Use`, with that use's values."""
    try:
        lines = config_lines((read or _read)(path).decode("utf-8", "surrogateescape"))
    except OSError:
        return None
    opened: tuple[str, int] | None = None
    for number, text in enumerate(lines[:line], start=1):
        if opened is None and (match := _MACRO_OPEN.match(text)):
            opened = (match.group(1) or "", number)
        elif opened is not None and _MACRO_CLOSE.match(text) and number < line:
            opened = None
    return opened


def variable_rewrites(edits: list[Edit], read: Callable[[str], bytes] | None = None) -> dict[Edit, str]:
    """The edits that would replace an argument written with a variable (`$domain` of a macro,
    `${VAR}`, nginx `$host`) by a value without one: right for the use the finding judged, wrong
    for every other (`edit -> why`). An edit that keeps the variable in the new value (the
    fullchain plan does so where the same edit is right for every use) passes."""
    problems: dict[Edit, str] = {}
    for edit in edits:
        if not isinstance(edit, ReplaceArgs):
            continue
        written = written_args(edit.file, edit.line, edit.directive, edit.server, read)
        if written is None:
            continue
        for old, new in zip(written, edit.args):
            if "$" in old and old != new and "$" not in new:
                where = macro_around(edit.file, edit.line, read)
                inside = f" inside <Macro {where[0]}> (line {where[1]})" if where else ""
                problems[edit] = (f"{edit.file}:{edit.line}: {edit.directive} is written `{old}`{inside}: its meaning "
                                  f"depends on where it is used, and `{new}` is right for one use only")
                break
    return problems


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _inserted(lines: list[str], index: int, text: str) -> str:
    """`text` indented like its neighbours: one level in when the anchor line opens a block."""
    anchor = lines[index]
    indent = _indent_of(anchor)
    stripped = anchor.split("#", 1)[0].rstrip()
    if stripped.endswith("{") or re.match(r"\s*<[A-Za-z]", anchor):
        inner = next((_indent_of(line) for line in lines[index + 1:] if line.strip() and not line.strip().startswith(("}", "</"))), None)
        if inner is None or len(inner) <= len(indent):
            inner = indent + ("\t" if indent.startswith("\t") else "    ")
        indent = inner
    ending = "\r\n" if anchor.endswith("\r\n") else "\n"
    return f"{indent}{text}{ending}"


def plan(edits: list[Edit], read: Callable[[str], bytes] | None = None) -> dict[str, FilePlan]:
    """Apply every edit in memory; raise EditConflict when one cannot apply cleanly."""
    read = read or _read
    plans: dict[str, FilePlan] = {}
    by_file: dict[str, list[LineEdit]] = {}
    for edit in edits:
        if isinstance(edit, ExpectChain):
            continue  # a promise about the result, checked by fix.fullchain before anything is written
        if isinstance(edit, NewFile):
            if os.path.lexists(edit.path):
                if _holds(edit.path, edit.content, read):
                    continue  # written already (by the fix of another target sharing the directory)
                raise EditConflict(f"{edit.path}: exists already; sslint never overwrites a certificate file")
            earlier = plans.get(edit.path)
            if earlier is not None and (earlier.new != edit.content or earlier.like != edit.like):
                raise EditConflict(f"{edit.path}: two fixes want to write different contents")
            plans[edit.path] = FilePlan(edit.path, None, edit.content, [Change(1, 0, config_lines(edit.content))], edit.like)
        else:
            by_file.setdefault(edit.file, []).append(edit)
    for path, file_edits in by_file.items():
        original = read(path)
        text = original.decode("utf-8", "surrogateescape")
        lines = config_lines(text)
        replaced: dict[int, list[str]] = {}  # original index -> its new lines
        inline_end: dict[int, int] = {}  # original index -> where the next statement put inside a one-line block goes
        for edit in sorted(set(file_edits), key=_order):
            index = edit.line - 1
            if not 0 <= index < len(lines):
                raise EditConflict(f"{path}:{edit.line}: the file has only {len(lines)} lines")
            if isinstance(edit, InsertLine) and edit.block:
                index = _brace_line(lines, index, edit.block)
            current = replaced.get(index, [lines[index]])
            if isinstance(edit, ReplaceArgs):
                current = [_replace_args(current[0], edit)] + current[1:]
            elif isinstance(edit, DeleteLine):
                body = current[0].strip() if current else ""
                if not body.lower().startswith(edit.directive.lower()) or body.count(";") > 1:
                    raise EditConflict(f"{path}:{edit.line}: `{edit.directive}` does not stand alone on that line")
                current = current[1:]
            elif isinstance(edit, InsertLine) and edit.block and (inside := _inside_one_line(
                    current, edit, inline_end.get(index))):
                current, inline_end[index] = inside
            elif isinstance(edit, InsertLine):
                if current and not current[-1].endswith("\n"):
                    current = current[:-1] + [current[-1] + ("\r\n" if "\r\n" in text else "\n")]
                current = current + [_inserted(lines, index, edit.text)]
            replaced[index] = current
        new_lines = []
        changes = []
        for index, line in enumerate(lines):
            if index in replaced:
                new = replaced[index]
                new_lines.extend(new)
                changes.append(Change(index + 1, 1, [part.encode("utf-8", "surrogateescape") for part in new]))
            else:
                new_lines.append(line)
        plans[path] = FilePlan(path, original, "".join(new_lines).encode("utf-8", "surrogateescape"), changes)
    return plans


def _inside_one_line(current: list[str], edit: InsertLine, after: int | None) -> tuple[list[str], int] | None:
    """`current` with `edit.text` inside the braces of its block when that block is written on one
    line with statements after its `{` (`location /app { return 200; }`), and where the next such
    statement goes (`after` this one: they keep their order); None otherwise (the text then goes
    on a new line after the `{`). Every other byte of the line stays."""
    if not current:
        return None
    if after is None:
        brace = _block_brace(current[0], edit.block)
        if brace is None and current[0].lstrip().startswith("{"):  # the `{` of `location /b` <newline> `{`
            brace = len(current[0]) - len(current[0].lstrip())
        if brace is None:
            return None  # the `{` is on a later line: the text goes on a new line, as for any other block
        rest = current[0][brace + 1:]
        if not rest.split("#", 1)[0].strip():
            return None
        lead = len(rest) - len(rest.lstrip(" \t"))
        at = brace + 1 + lead
        text = (" " if lead == 0 else "") + edit.text + " "
    else:
        at, text = after, edit.text + " "
    return [current[0][:at] + text + current[0][at:], *current[1:]], at + len(text)


def _brace_line(lines: list[str], index: int, block: tuple[str, ...]) -> int:
    """The line holding the `{` that opens `block`, which starts on line `index`: that line, or
    the first later one that starts with `{` after nothing but blank lines and comments."""
    if _block_brace(lines[index], block) is not None:
        return index
    for later in range(index + 1, min(len(lines), index + 16)):
        text = lines[later].split("#", 1)[0].strip()
        if text.startswith("{"):
            return later
        if text:
            break
    return index


def _block_brace(line: str, block: tuple[str, ...]) -> int | None:
    """The column of the `{` that opens `block` (directive and arguments) on `line`, or None."""
    directive, args = block[0], list(block[1:])
    for match in re.finditer(rf"(?:(?<=^)|(?<=[\s;{{}}]))({re.escape(directive)})(?=[\s{{])", line):
        start = match.end(1)
        position = _unquoted(line, start, "{;}#")
        if position is not None and line[position] == "{" and \
                [value for _raw, value in _tokens(line[start:position])] == args:
            return position
    return None


def _order(edit: LineEdit) -> tuple:
    # On one line: replacements first, then insertions (which go after it), then deletion.
    kind = {ReplaceArgs: 0, InsertLine: 1, DeleteLine: 2}[type(edit)]
    return (edit.line, kind, repr(edit))


def _holds(path: str, content: bytes, read: Callable[[str], bytes]) -> bool:
    try:
        return os.path.isfile(path) and read(path) == content
    except OSError:
        return False


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()
