"""What a check reports: a finding at a file and line, and the fix it carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nginxssl.model.node import Node
from nginxssl.model.site import Site

if TYPE_CHECKING:  # probe.py imports ssl and socket, which only `sslint probe` needs
    pass


@dataclass(frozen=True)
class Fix:
    """What --fix would change: edits the fixer applies, and whether it is safe."""

    description: str
    edits: tuple = ()
    safe: bool = True


@dataclass(frozen=True)
class Related:
    """Another place one root cause affects: a site that shares the snippet, key or line reported."""

    file: str
    line: int
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    rule: str
    file: str
    line: int
    message: str
    names: tuple[str, ...] = ()
    server: str = "nginx"
    severity: str = ""  # set from the catalogue (or the user's override) by the engine
    name: str = ""
    fix: Fix | None = None
    related: tuple[Related, ...] = ()

    def named(self, name: str, severity: str) -> "Finding":
        """This finding as the engine reports it: with the rule's name and the severity in force.
        (dataclasses.replace, which inspects the fields on every call, took three times as long
        for the 16,000 findings of a large tree.)"""
        return Finding(self.rule, self.file, self.line, self.message, self.names, self.server, severity, name,
                       self.fix, self.related)

    @classmethod
    def at(cls, rule: str, node: Node, message: str, site: Site, fix: Fix | None = None) -> "Finding":
        """A finding at a directive, for the names of the site it serves."""
        return cls(rule, node.file, node.line, message, site.name_list, site.server, fix=fix)
