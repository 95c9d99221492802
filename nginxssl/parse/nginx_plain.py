"""A fast reader for plain nginx files: crossplane's statements, without its per-character lexer.

Why this exists. crossplane stays sslint's nginx parser (the decision in
parse/nginx.py), but its lexer is a chain of per-character generators: on the
benchmark tree (5,000 server blocks in 500 files, benchmarks/gen_tree.py)
`crossplane.parse` takes 0.9 to 1.5 s of CPU, which alone is the whole budget
for linting that tree (issue #8: sslint in at most the time of
`crossplane.parse`); under cProfile its lexer was 5.2 of sslint's 27 s. This
reader takes 0.18 to 0.26 s of CPU for the same 500 files (a fifth or less of
crossplane's time; measured side by side on the same loaded machine): one
regular expression takes a whole statement of bare words at a time, another
one token at a time for everything else.

What "plain" means. The reader takes the grammar every ordinary file uses:
directives, bare, single- and double-quoted arguments with backslash escapes,
`{ }` blocks, `;`, `#` comments (also between arguments), `\\r\\n` line ends,
and crossplane's treatment of `if (...)` arguments. A lone `\\r` is read as nginx
reads it, not as crossplane does: a blank between words, a character of a quoted
word, never a line break (crossplane's universal newlines would move every later
line number and rename a file called "c\\r.pem"); so is a byte that is not UTF-8 (kept
as a surrogate escape, the file name nginx opens; crossplane writes U+FFFD). Anything else makes it
return None and the caller hands the file to crossplane, which then decides
everything, including every error message:

- text that holds `${` (crossplane's parameter-expansion rule is idiosyncratic);
- whatever the expression cannot read to the end of the file: an unterminated
  quote, a comment or a bare word on the last line without a line end, a lone
  trailing backslash;
- a token that begins with an escaped line end (crossplane counts its line
  differently);
- a statement that `}` ends, a `;` or `{` where a directive belongs, a `}`
  with no block open, a block or statement still open at the end of the file;
- blocks nested deeper than crossplane's recursion would go.

Proof. tests/test_nginx_plain.py parses every nginx file of shared/corpus and
generated and hypothesis-made inputs both ways and requires identical nodes
and comments (directive, arguments, file, line, children; comment text and
line, in order) wherever this reader answers; where it declines, the caller
uses crossplane, so nothing changes.
"""

from __future__ import annotations

import re

from nginxssl.model.node import Comment, Node

# One token per match, with the whitespace before it. Group 1: a bare word; 2: `{`, `}` or `;`;
# 3 and 4: the inside of a quoted argument; 5: a comment up to its line end (crossplane drops a
# comment that ends the file without one, so a match needs it). A backslash pairs with the next
# character, which loses any special meaning; a quote or `#` inside a word is just a character.
# Written as unrolled loops (`[^x]*(?:\\.[^x]*)*`): twice as fast as one alternation per character.
_TOKEN = re.compile(
    r"""\s*(?:
      ((?:[^\s{};"'\#\\]|\\.)[^\s{};\\]*(?:\\.[^\s{};\\]*)*)
    | ([{};])
    | "([^"\\]*(?:\\.[^"\\]*)*)"
    | '([^'\\]*(?:\\.[^'\\]*)*)'
    | (\#[^\n\\]*(?:\\[^\n][^\n\\]*)*)\\?\n
    )""",
    re.VERBOSE | re.DOTALL,
)
_WORD, _SPECIAL, _DOUBLE, _SINGLE, _COMMENT = 1, 2, 3, 4, 5
# Most statements are bare words only (`listen 443 ssl;`, `location / {`): one match takes the
# whole statement and str.split() its arguments (the same whitespace as `\s`), a third of the
# loop turns of reading it token by token. Anything else in a statement (a quote, a backslash,
# a comment) fails this match and is read by _TOKEN.
_SIMPLE = re.compile(r"""\s*([^\s{};"'\#\\][^\s{};"'\\]*)((?:\s+[^\s{};"'\#\\][^\s{};"'\\]*)*)\s*([;{])""")
MAX_DEPTH = 100  # crossplane parses blocks recursively; far below Python's recursion limit


def _if_args(args: list[str]) -> None:
    """crossplane's treatment of `if (...)`: the parentheses go, empty ends are dropped."""
    if args and args[0].startswith("(") and args[-1].endswith(")"):
        args[0] = args[0][1:].lstrip()
        args[-1] = args[-1][:-1].rstrip()
        start = int(not args[0])
        end = len(args) - int(not args[-1])
        args[:] = args[start:end]


def parse_plain(data: bytes, file: str, words: dict[str, str] | None = None,
                ) -> tuple[tuple[Node, ...], list[Comment]] | None:
    """The nodes and comments crossplane would give for this file, or None when it is not plain.

    `words` (shared by the files of one run) keeps one string for each distinct directive name
    and bare argument: a 5,000-block tree has 120,000 of them and 17,000 distinct ones, and
    the copies were 40 % of the parse's memory (a 50,000-block tree's: 55 MB)."""
    keep = (words if words is not None else {}).setdefault
    # nginx reads bytes: a byte that is not UTF-8 (a latin-1 file name) stays that byte
    # (crossplane would replace it with U+FFFD, and the file would not be found).
    text = data.decode("utf-8", "surrogateescape")
    if "\r\n" in text:  # crossplane reads in universal-newline mode; for CRLF files that changes nothing nginx sees
        text = text.replace("\r\n", "\n")
    # A lone CR stays what nginx makes of it (crossplane would read a line break): blank
    # between words, part of a quoted word (a file name), never the end of a line.
    if "${" in text:
        return None

    comments: list[Comment] = []
    nodes: list[Node] = []  # the children of the block being read
    # Open blocks: (directive, args, line, comments among its arguments, enclosing children).
    stack: list[tuple[str, tuple[str, ...], int, list[str], list[Node]]] = []
    directive: str | None = None  # the statement being read, once its first token is seen
    statement_line = 0
    args: list[str] = []
    arg_comments: list[str] = []
    # Lines are counted only where one is kept (a directive, a comment): arguments' are not.
    line = 1
    counted = 0
    end = 0
    count = text.count
    simple = _SIMPLE.match
    token = _TOKEN.match
    while True:
        if directive is None:
            match = simple(text, end)
            if match is not None:
                start = match.start(1)
                line += count("\n", counted, start)
                counted = start
                name, bare, terminator = match.groups()
                name = keep(name, name)
                args = [keep(word, word) for word in bare.split()] if bare else []
                if name == "if":
                    _if_args(args)
                if terminator == ";":
                    nodes.append(Node(name, tuple(args), file, line))
                else:
                    if len(stack) >= MAX_DEPTH:
                        return None
                    stack.append((name, tuple(args), line, [], nodes))
                    nodes = []
                args = []
                end = match.end()
                continue
        match = token(text, end)
        if match is None:
            break
        end = match.end()
        kind = match.lastindex
        if kind == _WORD or kind == _DOUBLE or kind == _SINGLE:
            value = match.group(kind)
            if kind == _DOUBLE:
                value = value.replace('\\"', '"')
            elif kind == _SINGLE:
                value = value.replace("\\'", "'")
            else:
                value = keep(value, value)
            if directive is not None:
                args.append(value)
                continue
            if kind == _WORD and value.startswith("\\\n"):
                return None  # crossplane gives such a token the line after its backslash
            start = match.start(kind)
            line += count("\n", counted, start)
            counted = start
            directive = value
            statement_line = line
        elif kind == _SPECIAL:
            value = match.group(kind)
            if directive is None:
                if value != "}" or not stack:
                    return None
                name, block_args, block_line, block_comments, children = stack.pop()
                children.append(Node(name, block_args, file, block_line, tuple(nodes)))
                if block_comments:
                    comments.extend(Comment(file, block_line, text_) for text_ in block_comments)
                nodes = children
                continue
            if directive == "if":
                _if_args(args)
            if value == ";":
                nodes.append(Node(directive, tuple(args), file, statement_line))
                if arg_comments:
                    comments.extend(Comment(file, statement_line, text_) for text_ in arg_comments)
                    arg_comments = []
            elif value == "{":
                if len(stack) >= MAX_DEPTH:
                    return None
                stack.append((directive, tuple(args), statement_line, arg_comments, nodes))
                nodes = []
                arg_comments = []
            else:
                return None  # crossplane ends the statement at `}` and leaves the block open
            directive = None
            args = []
        else:  # the one alternative left
            value = match.group(_COMMENT)
            if directive is not None:
                arg_comments.append(value[1:])
                continue
            start = match.start(_COMMENT)
            line += count("\n", counted, start)
            counted = start
            comments.append(Comment(file, line, value[1:]))
    if end != len(text) and not text[end:].isspace():
        return None
    if directive is not None or stack:
        return None  # the file ends inside a statement or a block: crossplane words the error
    return tuple(nodes), comments
