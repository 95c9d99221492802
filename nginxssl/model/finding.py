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


def _breaks(text: str, kinds: str) -> list[tuple[int, int, str]]:
    """Where `text` may be cut, outside brackets, quotes and `commands`: (start, end, kind), the cut
    removing text[start:end]. Kinds (`kinds`, one of _BREAK_SCANS's): ';' a clause, '.' a sentence,
    ':' an explanation, ',' a list. The scan hands over a quoted span whole, a bracket with nothing
    inside that counts (no bracket, no quote) whole, and a mark only where it may cut: the loop
    sees little else (a text report of 7,000 findings of 600 characters each spent a tenth of a
    second here looking at every dot of every host name)."""
    found: list[tuple[int, int, str]] = []
    depth = 0
    for match in _BREAK_SCANS[kinds].finditer(text):
        index = match.start()
        char = text[index]
        if char in _QUOTES:
            continue
        if char in _OPENING:
            if match.end() == index + 1:  # not an aside skipped whole
                depth += 1
        elif char in _CLOSING:
            depth = max(0, depth - 1)
        elif depth == 0:
            if char == ";":
                found.append((index, index + 2, ";"))
            elif char == ".":
                if text[index + 2:index + 3].isupper() and not text[index - 1:index].isdigit():
                    found.append((index + 1, index + 2, "."))
            else:
                found.append((index, index + 2, char))
    return found


_QUOTES = "\"`'"
# What _breaks and _without_asides look at. One class of characters first, so the regex engine
# skips the plain text between them at C speed (an alternation of classes would try every position);
# lookbehinds then say which character it was. A quote runs to the same character (to the end if
# never closed): a single quote opens only after a character that is not a letter or digit
# ("the site's" holds none) and closes only before one ('Bench CA's key' is one quote); [^\W_] is
# exactly what str.isalnum() accepts. A cutting mark counts only before a blank or at the end.
_QUOTED = r"""(?<=")[^"]*"?|(?<=`)[^`]*`?|(?<=')(?<![^\W_]')[^']*(?:'(?=[^\W_])[^']*)*'?"""


def _break_scan(kinds: str) -> re.Pattern[str]:
    # Brackets count any closing one against any opening one, so an opening bracket, then nothing
    # that opens or closes something, then a closing one leaves the depth as it was: one match.
    return re.compile(r"""["`'()\[\]{}""" + kinds + "](?:" + _QUOTED + r"""|(?<=[(\[{])[^()\[\]{}"'`]*+[)\]}]"""
                      r"""|(?<=[()\[\]{}])|(?<=[""" + kinds + r"""])(?= |\Z))""")


# The kinds of cut looked for: a message's clauses and sentences, a first clause's explanation and
# list. A scan for fewer marks hands the loop fewer matches.
_BREAK_SCANS = {kinds: _break_scan(kinds) for kinds in (";.", ":,")}
# Outside an aside: a quoted span, or a parenthesis that opens one (after a blank, or first): the
# whole aside when no parenthesis is inside it (quotes inside an aside do not count).
_ASIDE_OPENS = re.compile(r"""["`'(](?:""" + _QUOTED + r"""|(?<=\()(?<![^ ]\()(?:[^()]*+\))?+)""")
# Inside an aside quotes do not count: only how deep the parentheses go.
_PARENTHESIS = re.compile(r"[()]")


def _split(text: str, kinds: str) -> list[str]:
    parts, start = [], 0
    for cut_start, cut_end, _ in _breaks(text, kinds):
        parts.append(text[start:cut_start])
        start = cut_end
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _short_paths(text: str) -> str:
    """`"a.pem" (/etc/nginx/a.pem)` as `"a.pem"`: only where the parenthesis is where the path resolves."""
    return _RESOLVED.sub(lambda match: match.group(1) if _resolves(match) else match.group(), text)


def _resolves(match: re.Match[str]) -> bool:
    return match["resolved"].endswith(match["written"].lstrip("/").removeprefix("./"))


def _without_location(headline: str) -> str:
    return _LOCATION.sub("", headline) if ' in "' in headline else headline


def _without_label(headline: str) -> str:
    return _CERTIFICATE_LABEL.sub(r"\1", headline) if "certificate '" in headline else headline


def _without_asides(text: str) -> str:
    """`text` without its parenthesised asides (outside quotes): what is left must still read.
    Like _breaks, it hands the regex engine the text between what counts (quotes and parentheses
    outside an aside, parentheses inside one), and keeps the text between asides."""
    kept: list[str] = []
    depth = 0
    start = 0  # where the text kept since the last aside begins
    position = 0 if "(" in text else len(text)  # without a parenthesis there is no aside to look for
    while True:
        match = (_PARENTHESIS if depth else _ASIDE_OPENS).search(text, position)
        if match is None:
            break
        index, position = match.start(), match.end()
        char = text[index]
        if char == "(":
            if depth == 0:
                kept.append(text[start:index])
                if position > index + 1:  # an aside with no parenthesis inside, matched whole
                    start = position
                    continue
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                start = index + 1
    if depth == 0:
        kept.append(text[start:])
    # The blank an aside leaves before the punctuation that followed it goes ("a (b), c" -> "a, c"),
    # not one before a word that starts with a dot (`server_name .a.test`).
    # (Each substitution only where it can apply: most headlines have neither, and a substitution
    # that finds nothing still costs a pass over the text.)
    kept_text = "".join(kept)
    if "  " in kept_text:
        kept_text = _BLANKS.sub(" ", kept_text)
    if " ," in kept_text or " :" in kept_text or " ;" in kept_text or " ." in kept_text:
        kept_text = _BLANK_BEFORE_MARK.sub("", kept_text)
    return kept_text.strip()


_BLANKS = re.compile(r"  +")
# Blanks at the very end need no substitution: strip() takes them.
_BLANK_BEFORE_MARK = re.compile(r" +(?=[,:;.](?:\s|$))")
# The shortenings of a headline that is still too long, in the order they are tried, each applied to
# the headline the one before left.
_SHORTENINGS = (_without_asides, _without_location, _without_label)


def split_message(message: str, width: int = HEADLINE_WIDTH) -> tuple[str, tuple[str, ...]]:
    """(headline, detail lines) of a message. The headline is the first clause; when that is long,
    the most of it that fits: cut at its explanation (": ") or before a subordinate clause
    (", which", ", but" ...), without its asides in parentheses if it must. The detail is the
    rest, a clause a line, and nothing of the message is lost: a first clause that lost asides
    comes whole, and the resolved paths of `"a.pem" (/etc/x/a.pem)`, which a headline writes as
    `"a.pem"`, close the detail."""
    clauses = _split(message, ";.") or [""]
    first, rest = clauses[0], clauses[1:]
    cuts = [(first, "")] + [(first[:start], first[end:]) for start, end, kind in _breaks(first, ":,")
                            if kind == ":" or (kind == "," and first[end:].split(" ", 1)[0] in _SUBORDINATE)]
    whole = _short_paths(first)
    candidates = []  # (headline, the cut it comes from, whether it is that cut shortened further)
    for number, (written, _) in enumerate(cuts):
        short = _short_paths(written) if number else whole
        candidates.append((short, number, False))
        # The shortenings that can matter. One is never longer than what it shortens and comes
        # after it, so once that fits the width, it (or a longer candidate) is chosen before the
        # shortening; once that is too short to be usable, so is the shortening, unless it is
        # `whole`, which candidate 0 already is. (Each is a pass over the headline; the long first
        # clauses of the 5,000-block benchmark still need 43,000 of the 50,000.)
        shorter = short
        for shorten in _SHORTENINGS:
            if len(shorter) <= width or (len(shorter) < _SHORTEST_HEADLINE and shorter != whole):
                break
            shorter = shorten(shorter)
            if shorter != short:
                candidates.append((shorter, number, True))
    usable = [candidate for candidate in candidates
              if len(candidate[0]) >= _SHORTEST_HEADLINE or candidate[0] == whole]

    best = max((c for c in usable if len(c[0]) <= width), key=lambda c: len(c[0]), default=None)
    if best is None or len(best[0]) < _TERSE_HEADLINE:
        # Nothing fits, or only a bare subject: the shortest headline that still says what is wrong.
        best = min((c for c in usable if len(c[0]) >= _TERSE_HEADLINE), key=lambda c: len(c[0]), default=best)
    if best is None:
        return first, tuple(rest)
    headline, number, shortened = best
    if shortened:
        return headline, (first, *rest)
    written, remainder = cuts[number]
    paths = [f'"{match["written"]}" is {match["resolved"]}' for match in _RESOLVED.finditer(written)
             if _resolves(match)]
    return headline, tuple(([remainder] if remainder else []) + rest + paths)


@dataclass(frozen=True, slots=True)
class Fix:
    """What --fix would change: edits the fixer applies, and whether it is safe."""

    description: str
    edits: tuple = ()
    safe: bool = True


@dataclass(frozen=True, slots=True)
class Related:
    """Another place one root cause affects: a site that shares the snippet, key or line reported."""

    file: str
    line: int
    names: tuple[str, ...] = ()


# Slots (here and on the fix and its edits): a 50,000-block run holds 110,000 findings, each 48 bytes
# smaller without a __dict__ (208 -> 160), a fix or an edit 40.
@dataclass(frozen=True, slots=True)
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
