"""Inline suppressions written in the configs themselves.

    ssl_certificate a.pem;   # sslint: disable=SSL201       (this line)
    # sslint: disable=SSL401,SSL404                          (the line below)
    # sslint: disable-file=SSL103                            (the whole file)

Ids may be prefixes (`SSL4`). A suppression that silences nothing is itself
reported (SSL009), so stale ones do not pile up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from nginxssl.model.node import Comment

_DIRECTIVE = re.compile(r"sslint:\s*(disable|disable-file)\s*=\s*([A-Za-z0-9_,\s]+)")


@dataclass(frozen=True)
class Suppression:
    file: str
    line: int
    rules: tuple[str, ...]
    whole_file: bool

    def covers(self, rule: str, file: str, line: int) -> bool:
        if file != self.file or not any(rule.startswith(prefix) for prefix in self.rules):
            return False
        return self.whole_file or line in (self.line, self.line + 1)

    @property
    def text(self) -> str:
        return f"# sslint: {'disable-file' if self.whole_file else 'disable'}={','.join(self.rules)}"


def parse_suppressions(comments: Iterable[Comment]) -> tuple[Suppression, ...]:
    found = []
    for comment in comments:
        match = _DIRECTIVE.search(comment.text)
        if not match:
            continue
        rules = tuple(word.strip().upper() for word in match.group(2).replace(" ", ",").split(",") if word.strip())
        if rules:
            found.append(Suppression(comment.file, comment.line, rules, match.group(1) == "disable-file"))
    return tuple(found)


def split(findings: Iterable, suppressions: tuple[Suppression, ...]) -> tuple[list, set[Suppression]]:
    """(findings nobody suppressed, the suppressions that silenced at least one finding)."""
    kept = []
    used: set[Suppression] = set()
    by_file: dict[str, list[Suppression]] = {}
    for suppression in suppressions:
        by_file.setdefault(suppression.file, []).append(suppression)
    for finding in findings:
        matching = [s for s in by_file.get(finding.file, ()) if s.covers(finding.rule, finding.file, finding.line)]
        if matching:
            used.update(matching)
        else:
            kept.append(finding)
    return kept, used
