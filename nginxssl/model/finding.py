"""What a check reports: a finding at a file and line, and the fix it carries.

A finding's message is the whole story (what is wrong, what the browser or server does, the fix
by hand and with --fix), written as clauses joined by "; ". The text report shows a headline,
short enough to read at a glance, and the rest below it: `headline()` and `detail()` cut the
message where its own punctuation does, so a check writes one message and every report agrees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nginxssl.model.node import Node
from nginxssl.model.site import Site

# A headline longer than this is cut at a weaker break (": ", ", ") of its first clause, or
# shortened. With the `file:line: ID severity: ` before it (about 50 characters for a site file),
# the line stays under 130 characters, the width of a terminal beside an editor; the text report
# asks for what its line has left.
HEADLINE_WIDTH = 80
# A cut that leaves less than this says too little ("nginx will refuse to start"): cut elsewhere.
_SHORTEST_HEADLINE = 34

# A headline this short after a cut names a subject and little else ("location /api/"): a longer
# cut is better, even beyond HEADLINE_WIDTH.
_TERSE_HEADLINE = 40
# Words that open a subordinate clause after a comma: a cut there leaves a whole statement, where
# a cut inside a list ("TLSv1, TLSv1.1") would say something false.
_SUBORDINATE = frozenset(("which", "whose", "but", "so", "where", "while", "found", "perhaps", "because", "since",
                          "though", "although", "making", "expecting"))

_OPENING = "([{"
_CLOSING = ")]}"
# `"ssl/a.pem" (/etc/nginx/ssl/a.pem)`: a path as written, then where it resolves. The headline keeps
# the path as written (the report's file:line says in which configuration); the detail keeps both.
_RESOLVED = re.compile(r'("(?P<written>[^"]+)") \((?P<resolved>[^()"]+)\)')
# Further shortenings of a headline that is still too long, each tried only after the one before:
# where the certificate lives (`in "ssl/a.pem"`: the directive at file:line names it), then which
# certificate (`the certificate 'a.test'`: the site has one). The detail keeps both.
_LOCATION = re.compile(r' in "[^"]*"')
_CERTIFICATE_LABEL = re.compile(r"(certificate) '[^']*'")


def _breaks(text: str) -> list[tuple[int, int, str]]:
    """Where `text` may be cut, outside brackets, quotes and `commands`: (start, end, kind), the cut
    removing text[start:end]. Kinds: ';' a clause, '.' a sentence, ':' an explanation, ',' a list.
    Only the characters that open or close something, or may cut, are looked at (a text report of
    7,000 findings of 800 characters each spent 1.2 s here going through every one)."""
    found: list[tuple[int, int, str]] = []
    depth = 0
    quote = ""
    size = len(text)
    for match in _BREAK_SPECIAL.finditer(text):
        index = match.start()
        char = text[index]
        after = text[index + 1] if index + 1 < size else " "
        if quote:
            # An apostrophe inside a quoted word ('site's') does not close a single quote.
            if char == quote and not (quote == "'" and after.isalnum()):
                quote = ""
            continue
        before = text[index - 1] if index else " "
        if char in "\"`" or (char == "'" and not before.isalnum()):
            quote = char
        elif char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth = max(0, depth - 1)
        elif depth == 0 and after == " ":
            if char == ";":
                found.append((index, index + 2, ";"))
            elif char == "." and text[index + 2:index + 3].isupper() and not before.isdigit():
                found.append((index + 1, index + 2, "."))
            elif char in ":,":
                found.append((index, index + 2, char))
    return found


_BREAK_SPECIAL = re.compile(r"""["`'()\[\]{};.:,]""")
_ASIDE_SPECIAL = re.compile(r"""["`'()]""")


def _split(text: str, kinds: str) -> list[str]:
    parts, start = [], 0
    for cut_start, cut_end, kind in _breaks(text):
        if kind in kinds:
            parts.append(text[start:cut_start])
            start = cut_end
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _short_paths(text: str) -> str:
    """`"a.pem" (/etc/nginx/a.pem)` as `"a.pem"`: only where the parenthesis is where the path resolves."""
    return _RESOLVED.sub(lambda match: match.group(1) if _resolves(match) else match.group(), text)


def _resolves(match: re.Match[str]) -> bool:
    return match["resolved"].endswith(match["written"].lstrip("/").removeprefix("./"))


def _shorter(headline: str) -> list[str]:
    """The headline without its asides, then without where the certificate lives, then which one."""
    variants = [_without_asides(headline)]
    variants.append(_LOCATION.sub("", variants[-1]))
    variants.append(_CERTIFICATE_LABEL.sub(r"\1", variants[-1]))
    return variants


def _without_asides(text: str) -> str:
    """`text` without its parenthesised asides (outside quotes): what is left must still read.
    Like _breaks, it looks only at the quotes and parentheses, and keeps the text between asides."""
    kept: list[str] = []
    depth, quote = 0, ""
    start = 0  # where the text kept since the last aside begins
    size = len(text)
    for match in _ASIDE_SPECIAL.finditer(text):
        index = match.start()
        char = text[index]
        before = text[index - 1] if index else " "
        if not quote and depth == 0 and (char in "\"`" or (char == "'" and not before.isalnum())):
            quote = char
        elif quote and char == quote and not (quote == "'" and (text[index + 1] if index + 1 < size else " ").isalnum()):
            quote = ""
        elif not quote and char == "(" and (depth or before == " "):
            if depth == 0:
                kept.append(text[start:index])
            depth += 1
        elif not quote and char == ")" and depth:
            depth -= 1
            if depth == 0:
                start = index + 1
    if depth == 0:
        kept.append(text[start:])
    # The blank an aside leaves before the punctuation that followed it goes ("a (b), c" -> "a, c"),
    # not one before a word that starts with a dot (`server_name .a.test`).
    return re.sub(r" +([,:;.](?=\s|$)|$)", r"\1", re.sub(r"  +", " ", "".join(kept))).strip()


def split_message(message: str, width: int = HEADLINE_WIDTH) -> tuple[str, tuple[str, ...]]:
    """(headline, detail lines) of a message. The headline is the first clause; when that is long,
    the most of it that fits: cut at its explanation (": ") or before a subordinate clause
    (", which", ", but" ...), without its asides in parentheses if it must. The detail is the
    rest, a clause a line, and nothing of the message is lost: a first clause that lost asides
    comes whole, and the resolved paths of `"a.pem" (/etc/x/a.pem)`, which a headline writes as
    `"a.pem"`, close the detail."""
    clauses = _split(message, ";.") or [""]
    first, rest = clauses[0], clauses[1:]
    cuts = [(first, "")] + [(first[:start], first[end:]) for start, end, kind in _breaks(first)
                            if kind == ":" or (kind == "," and first[end:].split(" ", 1)[0] in _SUBORDINATE)]
    candidates = []  # (headline, detail)
    for written, remainder in cuts:
        short = _short_paths(written)
        paths = [f'"{match["written"]}" is {match["resolved"]}' for match in _RESOLVED.finditer(written)
                 if _resolves(match)]
        candidates.append((short, tuple(([remainder] if remainder else []) + rest + paths)))
        for shorter in _shorter(short):
            if shorter != short:
                candidates.append((shorter, (first, *rest)))
    usable = [(headline, detail) for headline, detail in candidates
              if len(headline) >= _SHORTEST_HEADLINE or headline == _short_paths(first)]

    best = max((c for c in usable if len(c[0]) <= width), key=lambda c: len(c[0]), default=None)
    if best is None or len(best[0]) < _TERSE_HEADLINE:
        # Nothing fits, or only a bare subject: the shortest headline that still says what is wrong.
        best = min((c for c in usable if len(c[0]) >= _TERSE_HEADLINE), key=lambda c: len(c[0]), default=best)
    return best if best is not None else (first, tuple(rest))


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
    # The text report's first line when the message's own first clause would not do (too long to
    # cut well); the message stays the whole story, which the detail then shows in full.
    summary: str = ""
    related: tuple[Related, ...] = ()

    def named(self, name: str, severity: str) -> "Finding":
        """This finding as the engine reports it: with the rule's name and the severity in force.
        (dataclasses.replace, which inspects the fields on every call, took three times as long
        for the 16,000 findings of a large tree.)"""
        return Finding(self.rule, self.file, self.line, self.message, self.names, self.server, severity, name,
                       self.fix, self.summary, self.related)

    @classmethod
    def at(cls, rule: str, node: Node, message: str, site: Site, fix: Fix | None = None,
           summary: str = "") -> "Finding":
        """A finding at a directive, for the names of the site it serves."""
        return cls(rule, node.file, node.line, message, site.name_list, site.server, fix=fix, summary=summary)

    def headline_and_detail(self, width: int = HEADLINE_WIDTH) -> tuple[str, tuple[str, ...]]:
        """The text report's first line (what is wrong, in about `width` characters) and the lines
        below it (what the browser or server does, the fix): split_message's, or the summary over the
        whole message."""
        if self.summary:
            return _short_paths(self.summary), tuple(_split(self.message, ";."))
        return split_message(self.message, width)
