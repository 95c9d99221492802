"""The edits a finding's fix is made of: plain data, line-level, on the original text.

A check decides what is wrong and describes the repair as edits; the fixer
(nginxssl/fix) applies them without re-deciding anything. Every edit names the
file and line it was computed from, so untouched bytes stay identical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import AnyStr

from nginxssl.model.finding import Fix
from nginxssl.model.node import Node

_NGINX_NEEDS_QUOTES = re.compile(r"""[\s;{}#"'\\]|^$""")


@dataclass(frozen=True, slots=True)
class NewFile:
    """Write a file that does not exist yet (a fullchain next to the leaf)."""

    path: str
    content: bytes
    like: str | None = None  # copy mode and owner from this file


@dataclass(frozen=True, slots=True)
class ReplaceArgs:
    """Replace the arguments of `directive` on `line`, keeping everything else on the line."""

    file: str
    line: int
    directive: str
    args: tuple[str, ...]
    server: str = "nginx"


@dataclass(frozen=True, slots=True)
class InsertLine:
    """Insert `text` as a new line after `line` (inside the block when `line` opens one).

    `block`: the directive and arguments of the block `text` goes into, when `line` is where that
    block starts; the fixer finds its `{` and, for a block written on one line
    (`location /app { return 200; }`), puts `text` inside the braces, every other byte kept."""

    file: str
    line: int
    text: str
    block: tuple[str, ...] = ()


def insert_into(block: Node, text: str) -> InsertLine:
    """`text` as the first statement of `block` (nginx: even when the block is written on one line)."""
    return InsertLine(block.file, block.line, text, (block.directive, *block.args))


@dataclass(frozen=True, slots=True)
class DeleteLine:
    """Remove the line that holds `directive` (only when the line holds nothing else)."""

    file: str
    line: int
    directive: str


@dataclass(frozen=True, slots=True)
class ExpectChain:
    """Not a change: a promise the fixer checks on the planned bytes before it writes anything.

    The file at `path` (as planned, else as it is on disk) must hold certificates only: the
    leaf first, whose public key is `key_spki` (the key in `key_path`, when that can be read),
    then each certificate's issuer, no root, and cryptography's verifier must accept it with
    the trust sslint was run with (`ca_files`, `system_trust`) at `now` (ISO 8601).
    """

    path: str
    key_spki: bytes
    key_path: str | None = None
    ca_files: tuple[str, ...] = ()
    system_trust: bool = True
    now: str = ""


LineEdit = ReplaceArgs | InsertLine | DeleteLine  # an edit of one line of an existing config file
Edit = NewFile | LineEdit | ExpectChain


@dataclass(frozen=True, slots=True)
class ChainFix:
    """The fullchain fix planned for one certificate directive (nginxssl/fix/fullchain.py), handed
    to the checks of SSL201-SSL204, which carry it and word it."""

    fix: Fix  # the edits (ending with an ExpectChain), or no edits and why not
    ready_fullchain: str | None = None  # as the config names it: an existing file holding exactly the chain
    new_file: str | None = None  # on disk: the free <stem>.fullchain.pem beside the leaf


def nginx_quote(arg: str) -> str:
    if not _NGINX_NEEDS_QUOTES.search(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def apache_quote(arg: str) -> str:
    if arg and not re.search(r"""[\s"'\\]""", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def replace_args(node: Node, args: tuple[str, ...], server: str = "nginx") -> ReplaceArgs:
    return ReplaceArgs(node.file, node.line, node.directive, tuple(args), server)


# ---------------------------------------------------------------- a planned change of one file


class EditConflict(Exception):
    """An edit no longer matches the file it was computed from; nothing is changed."""


@dataclass
class Change:
    """Original lines [start, start + count) (1-based) become `lines`."""

    start: int
    count: int
    lines: list[bytes]


@dataclass
class FilePlan:
    path: str
    old: bytes | None  # None: a new file
    new: bytes = b""
    changes: list[Change] = field(default_factory=list)
    like: str | None = None  # new files copy mode/owner from this file


def config_lines(text: AnyStr) -> list[AnyStr]:
    """Lines as the servers count them: split at \\n only (str.splitlines also splits at form
    feeds, \\x1c, U+2028 ... which nginx and apache2 treat as ordinary characters). Works on
    str and bytes; every line keeps its newline."""
    newline = "\n" if isinstance(text, str) else b"\n"
    parts = text.split(newline)
    lines = [part + newline for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines
