"""The text report's headline and detail, cut from the message where its own punctuation allows."""

from __future__ import annotations

import io
import re

import pytest

from nginxssl.model.finding import Finding, split_message
from nginxssl.report import text

# Messages as the checks write them (the demo tree's and the corpus's), and the headline each gives.
CASES = [
    ("ssl_certificate_key \"ssl/nokey.key\" (/etc/nginx/ssl/nokey.key) does not exist; `nginx -t` fails with "
     "'cannot load certificate key' and nginx will not start",
     'ssl_certificate_key "ssl/nokey.key" does not exist'),
    # an explanation after a colon goes below
    ("https://a.test sends no Content-Security-Policy with upgrade-insecure-requests: browsers block http:// "
     "scripts, styles and frames on its pages (the page breaks); add `add_header ...` to this server block",
     "https://a.test sends no Content-Security-Policy with upgrade-insecure-requests"),
    # a colon that only names the subject is not a headline on its own
    ("location /api/: its own add_header Access-Control-Allow-Origin (/etc/nginx/site.conf:9) discards every "
     "add_header from above, so responses from it go out without Content-Security-Policy (set at "
     "/etc/nginx/site.conf:6): mixed content on those pages is no longer upgraded to https://",
     "location /api/: its own add_header Access-Control-Allow-Origin discards every add_header from above"),
    # a comma inside a list is never a cut: "enables only SSLv3" would be false
    ("`ssl_protocols SSLv3 TLSv1` enables only SSLv3, TLSv1, and OpenSSL 3.0.22 (what nginx 1.22.1 here runs "
     "with) has no SSLv3 and refuses TLSv1 at its default security level: every handshake fails",
     "`ssl_protocols SSLv3 TLSv1` enables only SSLv3, TLSv1, and OpenSSL 3.0.22 has no SSLv3 and refuses TLSv1 "
     "at its default security level"),
    # nginx's own words after "will refuse to start:" are the point
    ("apache2 will refuse to start: Invalid command '../conf-available/charset.conf', perhaps misspelled or "
     "defined by a module not included in the server configuration",
     "apache2 will refuse to start: Invalid command '../conf-available/charset.conf'"),
    # an apostrophe inside a quoted word does not end the quote
    ("\"a.pem\" starts with 'sslint Test Inter CA', a CA certificate, and the key is that CA's private key: "
     "nginx starts, but browsers see a CA certificate where the site's should be; fix: put the leaf first",
     "\"a.pem\" starts with 'sslint Test Inter CA', a CA certificate, and the key is that CA's private key"),
]


@pytest.mark.parametrize("message, headline", CASES)
def test_headline(message, headline):
    assert split_message(message)[0] == headline


@pytest.mark.parametrize("message, headline", CASES)
def test_nothing_of_the_message_is_lost(message, headline):
    shown, detail = split_message(message)
    everything = " ".join((shown, *detail))
    for word in message.split():
        assert word.strip(";:,()") in everything, word


def test_a_short_message_is_its_own_headline():
    assert split_message("`# sslint: disable=SSL002` suppresses nothing") == (
        "`# sslint: disable=SSL002` suppresses nothing", ())


def test_the_headline_fits_what_the_line_has_left():
    message = ("server_name www.a.example is not covered by the certificate 'a.example' in \"ssl/a.pem\" "
               "(/etc/nginx/ssl/a.pem), which names a.example; browsers show NET::ERR_CERT_COMMON_NAME_INVALID")
    finding = Finding("SSL301", "sites-enabled/a.conf", 4, message, severity="error")
    out = io.StringIO()
    text.render([finding], out, False, "", concise=True)
    near = out.getvalue()
    assert near == "sites-enabled/a.conf:4: SSL301 error: server_name www.a.example is not covered by the " \
                   "certificate 'a.example' in \"ssl/a.pem\"\n"
    deep = Finding("SSL301", "/srv/" + "x" * 60 + "/sites-enabled/a.conf", 4, message, severity="error")
    out = io.StringIO()
    text.render([deep], out, False, "", concise=True)
    far = out.getvalue()
    assert far.endswith(" SSL301 error: server_name www.a.example is not covered by the certificate\n")
    # A report cuts a message once for each width it is shown at: each line as it reads alone.
    out = io.StringIO()
    text.render([finding, deep, finding], out, False, "", concise=True)
    assert out.getvalue() == near + far + near


def test_a_summary_the_check_gives_heads_the_whole_message():
    finding = Finding("SSL999", "a.conf", 1, "long story; the fix", severity="info", summary="short story")
    out = io.StringIO()
    text.render([finding], out, False, "1 info")
    assert out.getvalue() == "a.conf:1: SSL999 info: short story\n    long story\n    the fix\n1 info\n"


def test_colour_marks_the_severity_on_a_terminal_only():
    finding = Finding("SSL002", "a.conf", 1, "gone", severity="error")
    coloured, plain = io.StringIO(), io.StringIO()
    text.render([finding], coloured, True, "")
    text.render([finding], plain, False, "")
    assert "\x1b[31mSSL002 error:\x1b[0m" in coloured.getvalue() and plain.getvalue() == "a.conf:1: SSL002 error: gone\n"


# The detail lines are filled by report/text.py itself (textwrap took a third of a second on a large
# report); what they must be is textwrap's own filling, words never broken.
_TEXTWRAP = __import__("textwrap").TextWrapper(
    text.DETAIL_WIDTH, initial_indent=text.DETAIL_INDENT, subsequent_indent=text.DETAIL_INDENT + "  ",
    break_long_words=False, break_on_hyphens=False)


def _as_textwrap_wraps(clause: str) -> list[str]:
    protected = text._COMMAND.sub(lambda match: match.group().replace(" ", text._KEEP_TOGETHER), text.one_line(clause))
    return [line.replace(text._KEEP_TOGETHER, " ") for line in _TEXTWRAP.wrap(protected)]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ODD = st.text(alphabet=st.sampled_from("ab-/`'\".:x\u00e9\u00a0\t\n "), min_size=0, max_size=140)
_PLAIN = st.text(alphabet=st.sampled_from("abcdefgh-/`'.: "), min_size=0, max_size=40)  # the usual clause


@settings(max_examples=3000)
@given(st.lists(st.one_of(_ODD, _PLAIN, _PLAIN), max_size=24).map(" ".join))
def test_detail_lines_are_textwraps(clause):
    assert text._wrapped(clause) == _as_textwrap_wraps(clause)


def test_detail_lines_of_long_words_and_runs_of_spaces():
    room = text.DETAIL_WIDTH - len(text.DETAIL_INDENT)
    clauses = ["x" * 150 + " y", "a " * 60 + "b" * 120, "a  " * 50, "`sslint --fix` " * 12, "word" * 30 + "  end"]
    # A word ending exactly where the line ends, or one character before or after it.
    clauses += [f"{'w' * length} {'z' * (room - length - 1 + delta)} tail of the clause that goes on" * 2
                for length in range(80, 95) for delta in (-1, 0, 1)]
    for clause in clauses:
        assert text._wrapped(clause) == _as_textwrap_wraps(clause)


def test_an_aside_taken_out_keeps_the_blank_before_a_dotted_name():
    """A headline shortened without its asides loses the blank the aside leaves before the
    punctuation after it, not the one before `server_name .a.test` (it read "block for.a.test")."""
    from nginxssl.model.finding import _without_asides

    assert _without_asides("the server block for .a.test (a catch-all), then more") == \
        "the server block for .a.test, then more"
    assert _without_asides("certificate 'a' (in b) .") == "certificate 'a'."


# The headline search reads messages through regexes that hand over quoted spans and asides whole
# (nginxssl/model/finding.py): what they must find is what a reading of one character at a time
# finds, the rules written out plainly here.
def _breaks_read_slowly(text: str) -> list[tuple[int, int, str]]:
    found, depth, quote = [], 0, ""
    for index, char in enumerate(text):
        before = text[index - 1] if index else " "
        after = text[index + 1] if index + 1 < len(text) else " "
        if quote:
            # An apostrophe inside a quoted word ('site's') does not close a single quote.
            if char == quote and not (quote == "'" and after.isalnum()):
                quote = ""
        elif char in "\"`" or (char == "'" and not before.isalnum()):
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and after == " ":
            if char == ";":
                found.append((index, index + 2, ";"))
            elif char == "." and text[index + 2:index + 3].isupper() and not before.isdigit():
                found.append((index + 1, index + 2, "."))
            elif char in ":,":
                found.append((index, index + 2, char))
    return found


def _without_asides_read_slowly(text: str) -> str:
    kept, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        before = text[index - 1] if index else " "
        after = text[index + 1] if index + 1 < len(text) else " "
        if not quote and depth == 0 and (char in "\"`" or (char == "'" and not before.isalnum())):
            quote = char
        elif quote and char == quote and not (quote == "'" and after.isalnum()):
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
    return re.sub(r" +([,:;.](?=\s|$)|$)", r"\1", re.sub(r"  +", " ", "".join(kept))).strip()


# Every character the rules look at, and the pairs they look at: a mark before a blank, a quote
# after or before a letter, a digit or an underscore (no letter to str.isalnum()).
_MARKS = st.lists(st.sampled_from(list("ab1_\u00e9A'\"`()[]{};.:, \t\n") + [
    "; ", ". A", "1. A", ": ", ", ", "_'", "a'", "'a", "'_", " '", "' ", " (", "\u00e9'", "'1"]), max_size=30).map("".join)


@settings(max_examples=3000)
@given(_MARKS)
def test_breaks_are_those_of_a_reading_one_character_at_a_time(message):
    from nginxssl.model.finding import _breaks, _without_asides

    slowly = _breaks_read_slowly(message)
    assert _breaks(message, ";.") == [cut for cut in slowly if cut[2] in ";."]
    assert _breaks(message, ":,") == [cut for cut in slowly if cut[2] in ":,"]
    assert _without_asides(message) == _without_asides_read_slowly(message)


def _split_message_trying_everything(message: str, width: int) -> tuple[str, tuple[str, ...]]:
    """split_message as it was first written: every shortening of every cut is a candidate."""
    from nginxssl.model import finding

    clauses = finding._split(message, ";.") or [""]
    first, rest = clauses[0], clauses[1:]
    cuts = [(first, "")] + [(first[:start], first[end:]) for start, end, kind in _breaks_read_slowly(first)
                            if kind == ":" or (kind == "," and first[end:].split(" ", 1)[0] in finding._SUBORDINATE)]
    candidates = []
    for written, remainder in cuts:
        short = finding._short_paths(written)
        paths = [f'"{match["written"]}" is {match["resolved"]}' for match in finding._RESOLVED.finditer(written)
                 if finding._resolves(match)]
        candidates.append((short, tuple(([remainder] if remainder else []) + rest + paths)))
        shorter = short
        for shorten in finding._SHORTENINGS:
            shorter = shorten(shorter)
            if shorter != short:
                candidates.append((shorter, (first, *rest)))
    usable = [c for c in candidates if len(c[0]) >= finding._SHORTEST_HEADLINE or c[0] == finding._short_paths(first)]
    best = max((c for c in usable if len(c[0]) <= width), key=lambda c: len(c[0]), default=None)
    if best is None or len(best[0]) < finding._TERSE_HEADLINE:
        best = min((c for c in usable if len(c[0]) >= finding._TERSE_HEADLINE), key=lambda c: len(c[0]), default=best)
    return best if best is not None else (first, tuple(rest))


# Pieces of the messages checks write: resolved paths, a certificate's label and file, asides,
# explanations, subordinate clauses, clauses, sentences, quotes, and a long word.
_PIECES = st.sampled_from([
    "word", "longer words here", '"ssl/a.pem" (/etc/nginx/ssl/a.pem)', '"b.pem" (/x/c.pem)', ' in "ssl/a.pem"',
    "certificate 'a.test'", ": ", ", which ", ", but ", ", ", "(an aside)", "(nested (aside))", "; ", ". Next",
    " ", "  ", "'", '"', "`cmd x`", "site's", "TLSv1.2", "a.b.c", "(", ")", "x" * 30, " .dot", "\u00e9",
    "the certificate 'b' (in c)"])


@settings(max_examples=3000)
@given(st.lists(_PIECES, max_size=14).map("".join), st.sampled_from([10, 34, 40, 50, 60, 80, 100]))
def test_the_headline_search_skips_only_candidates_that_cannot_win(message, width):
    """split_message shortens a cut only where the cut is usable but too wide (a shortening is
    never longer than what it shortens, and comes after it): the same headline and detail as
    trying every shortening of every cut."""
    assert split_message(message, width) == _split_message_trying_everything(message, width)
