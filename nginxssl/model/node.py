"""The one AST shape both servers' parsers produce, and the parsed-config record.

A Node is a directive with its arguments, where it was written, and (for blocks)
its children. Includes are expanded in place: the nodes of an included file
appear where the include stood, each still carrying its own file and line, so a
later stage never needs to know that an include was there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """Compared and hashed by identity: each node is one place in one file, and
    hashing a block by value would walk its whole subtree every time."""

    directive: str
    args: tuple[str, ...]
    file: str
    line: int
    children: tuple["Node", ...] | None = None

    @property
    def is_block(self) -> bool:
        return self.children is not None

    def each(self, directive: str) -> Iterator["Node"]:
        """Direct children named `directive`."""
        for child in self.children or ():
            if child.directive == directive:
                yield child

    def last(self, directive: str) -> "Node | None":
        """The last direct child named `directive` (the one the server obeys)."""
        found = None
        for child in self.each(directive):
            found = child
        return found

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class ParseError:
    """A problem the server itself would refuse to start on (SSL001)."""

    file: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Comment:
    """A `#` comment, kept for inline suppressions."""

    file: str
    line: int
    text: str


@dataclass(frozen=True)
class Config:
    """One parsed configuration: a main file (or a lone fragment) and all it includes."""

    server: str  # "nginx" | "apache"
    main: str  # the file parsing started from
    fragment: bool  # a lone site file, linted without its main config
    prefix: str  # directory relative paths in the config resolve against
    nodes: tuple[Node, ...]
    files: tuple[str, ...]  # every file read, in the order first read
    errors: tuple[ParseError, ...] = ()
    comments: tuple[Comment, ...] = ()
    root: str | None = None  # --root sysroot that absolute paths were mapped under
    variables: dict[str, str] = field(default_factory=dict)  # Apache Define / envvars
    # Apache: every name <IfModule> accepts for the modules loaded (LoadModule, and those compiled
    # in), as the whole tree leaves them; None when unknown (nginx, a lone site file, a tree with no
    # LoadModule at all, read as if every module were loaded).
    modules: frozenset[str] | None = None
    # What else the reader's verdicts rest on, for the result cache (engine/cache.py), as (what,
    # path): "file" its bytes (Apache's envvars, the distribution's service flags, an unreadable
    # include), "kind" whether it is there and a file or a directory (<IfFile>, include targets),
    # "listing" a directory's names (an include's wildcard, a directory include). nginx: ().
    consulted: tuple[tuple[str, str], ...] = ()


def walk(nodes: tuple[Node, ...]) -> Iterator[Node]:
    """Every node, depth first, in file order."""
    for node in nodes:
        yield node
        if node.children:
            yield from walk(node.children)
