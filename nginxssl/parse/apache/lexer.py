"""Apache httpd configuration text -> the statements of one file, with their line numbers.

This module owns what httpd does to the text of a file before any name or
variable means anything: logical lines (a trailing backslash continues a line,
before comments are recognised: nginxssl/discover/sniff.py keeps that rule,
since the server sniff needs it too), `#` comments, `<Section>` ... `</Section>`
nesting and its errors, and word splitting with httpd's quoting
(ap_getword_conf). A file holding PEM data is refused here, before a line of
key material could be quoted in a message.

Nothing here reads a file, knows a variable or a directive: envvars.py
substitutes `${VAR}` in a statement's text, reader.py splits it into words
and gives them meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nginxssl.discover.sniff import logical_lines
from nginxssl.model.node import Comment, ParseError

_PEM_BEGIN = re.compile(r"^[ \t]*-----BEGIN [A-Z0-9 ]+-----", re.MULTILINE)
_NAME_END = re.compile(r"[\s>]")  # a section's name, after `<` or `</`, runs up to a blank or `>`
# What a message may quote of a word read from a file: the characters of directive names, section
# names and paths, at most MAX_QUOTED of them. Not `:`, `=` or `$`: the first word of a line of
# /etc/shadow is a user's whole password hash, that of /proc/self/environ a variable's value.
_QUOTABLE = re.compile(r"[A-Za-z0-9_./+@%~,-]*")
MAX_QUOTED = 64


@dataclass(slots=True)
class Item:
    """One logical line of a file, before variable substitution.

    For a plain directive `text` is the whole line; for a section it is what
    stands between `<` and the last `>`, and `children` holds its body.
    """

    line: int
    text: str
    children: list[Item] | None = None
    key: str = ""  # lower-cased section name as written, for matching the close
    name: str = ""  # section name as written, for messages


@dataclass(slots=True)
class Source:
    """A file read once: its items, the nesting errors in it, its comments."""

    path: str
    items: list[Item]
    errors: list[ParseError]
    comments: list[Comment]


def token(word: str) -> str:
    """`word` as a message may quote it: up to the first character that no directive, section name
    or path needs, at most MAX_QUOTED characters, and `…` where it was cut. httpd quotes the whole
    word (`Invalid command 'root:$6$...'` for an Include of /etc/shadow); sslint, which runs in CI
    on strangers' pull requests and prints to logs anyone may read, quotes no more than this."""
    quotable = _QUOTABLE.match(word)
    kept = quotable.group(0)[:MAX_QUOTED] if quotable else ""
    return kept if kept == word else f"{kept}…"


def split_words(text: str) -> list[str]:
    """Split a line into words the way httpd's ap_getword_conf does.

    Words are separated by whitespace; a word starting with a double or single
    quote runs to the matching quote (the quotes are removed, `"a"b` is two
    words). Inside a word a backslash escapes a backslash, and inside quotes
    also the quote character; any other backslash is kept.
    """
    if '"' not in text and "'" not in text:
        # No quoted word: the words are the runs of non-space characters, which str.split()
        # finds (same whitespace as str.isspace) in C. Most lines take this way; the loop
        # below cost 3 of the 8 s cProfile gave parse_apache on a 5,000-host tree.
        words = text.split()
        return [_unescape(word, "") for word in words] if "\\" in text else words
    return _split_quoted(text)


def _split_quoted(text: str) -> list[str]:
    """split_words, a character at a time (any line; lines with quotes need it)."""
    words: list[str] = []
    position = 0
    length = len(text)
    while True:
        while position < length and text[position].isspace():
            position += 1
        if position >= length:
            return words
        quote = text[position]
        if quote in "\"'":
            end = position + 1
            while end < length and text[end] != quote:
                if text[end] == "\\" and end + 1 < length and text[end + 1] in (quote, "\\"):
                    end += 2
                else:
                    end += 1
            words.append(_unescape(text[position + 1 : end], quote))
            position = end + 1
        else:
            end = position
            while end < length and not text[end].isspace():
                end += 1
            words.append(_unescape(text[position:end], ""))
            position = end


def _unescape(span: str, quote: str) -> str:
    if "\\" not in span:
        return span
    out = []
    index = 0
    while index < len(span):
        char = span[index]
        if char == "\\" and index + 1 < len(span) and (span[index + 1] == "\\" or (quote and span[index + 1] == quote)):
            out.append(span[index + 1])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def lex(path: str, text: str) -> Source:
    """Build the section tree of one file; nesting errors are reported, not raised."""
    pem = _PEM_BEGIN.search(text)
    if pem:
        # A key or certificate included by mistake: httpd stops at its first line; the lines
        # after it are key material, which no message may quote.
        line = text.count("\n", 0, pem.start()) + 1
        return Source(path, [], [ParseError(path, line, "holds PEM data (a certificate or private key), not "
                                             "configuration; httpd stops with \"Invalid command '-----BEGIN'\"")], [])
    root: list[Item] = []
    stack: list[Item] = []
    errors: list[ParseError] = []
    comments: list[Comment] = []

    def body() -> list[Item]:
        if not stack:
            return root
        children = stack[-1].children
        assert children is not None  # only sections go on the stack, and each opens with a list
        return children

    for line, content in logical_lines(text):
        if content.startswith("#"):
            comments.append(Comment(path, line, content[1:]))
            continue
        if content.startswith("</"):
            close = _NAME_END.split(content[2:], maxsplit=1)[0]
            if not content.endswith(">") or content[2 + len(close) :].strip() != ">":
                errors.append(ParseError(path, line, f"</{token(close)}> directive missing closing '>'"))
            if not stack:
                errors.append(ParseError(path, line, f"</{token(close)}> without matching <{token(close)}> section"))
                continue
            if close.lower() == stack[-1].key:
                stack.pop()
                continue
            errors.append(ParseError(path, line, f"Expected </{token(stack[-1].name)}> but saw </{token(close)}>"))
            # Recover the way a reader of the file would: if the close names an
            # outer section, the inner ones were merely left unclosed.
            keys = [open_section.key for open_section in stack]
            if close.lower() in keys:
                del stack[len(keys) - 1 - keys[::-1].index(close.lower()) :]
            continue
        if content.startswith("<") and len(content) > 1 and not content[1].isspace() and content[1] != ">":
            end = content.rfind(">")
            name = _NAME_END.split(content[1:], maxsplit=1)[0]
            if end == -1:
                errors.append(ParseError(path, line, f"<{token(name)}> directive missing closing '>'"))
                inner = content[1:]
            else:
                inner = content[1:end]  # text after the last '>' is ignored, as httpd does
            section = Item(line, inner, [], name.lower(), name)
            body().append(section)
            stack.append(section)
            continue
        body().append(Item(line, content))
    for open_section in reversed(stack):
        errors.append(ParseError(path, open_section.line, f"<{token(open_section.name)}> was not closed."))
    return Source(path, root, errors, comments)
