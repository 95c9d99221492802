"""parse/nginx_plain.py reads plain nginx files exactly as crossplane does.

Wherever the fast reader answers, its nodes and comments must be crossplane's
(through parse/nginx.py's own conversion), on every nginx file of shared/corpus,
on generated trees and on hypothesis-made text full of the characters that
make lexers differ. Where it declines (None), parse/nginx.py uses crossplane,
so nothing can differ there. One difference is deliberate: a lone carriage
return, which crossplane's universal-newline reading turns into a line break and
nginx does not (judged by the real nginx below).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from judges import nginx_test
from pki import build
from test_corpus import CORPUS, FILES

import nginxssl.parse.nginx as nginx
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.model.settings import Settings
from nginxssl.parse.nginx_plain import parse_plain


def _shape(nodes) -> list:
    return [(node.directive, node.args, node.file, node.line,
             None if node.children is None else _shape(node.children)) for node in nodes]


def _by_crossplane(path: str):
    saved = nginx.PLAIN_READER
    nginx.PLAIN_READER = False
    try:
        return nginx._parse_one(path)
    finally:
        nginx.PLAIN_READER = saved


def _same_as_crossplane(path: str) -> bool:
    """Assert the fast reader agrees with crossplane on `path`; False when it declined."""
    with open(path, "rb") as handle:
        data = handle.read()
    plain = parse_plain(data, path)
    if plain is None or b"\r" in data.replace(b"\r\n", b""):
        return False  # a lone CR: crossplane reads a line break, nginx (and the reader) do not
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False  # bytes that are not UTF-8: crossplane writes U+FFFD, nginx (and the reader) keep them
    reference = _by_crossplane(path)
    assert not reference.errors, (path, reference.errors)  # the reader declines every file crossplane faults
    assert _shape(plain[0]) == _shape(reference.nodes), path
    assert plain[1] == reference.comments, path
    return True


@pytest.mark.skipif(not FILES, reason="shared/corpus not found")
def test_every_corpus_file_reads_as_crossplane_reads_it():
    answered = [relative for relative in FILES if _same_as_crossplane(str(CORPUS / relative))]
    # The reader must carry real configs, not decline its way to agreement.
    assert len(answered) >= 0.9 * len(FILES), f"{len(answered)} of {len(FILES)}"


@pytest.mark.skipif(not FILES, reason="shared/corpus not found")
def test_whole_corpus_trees_are_the_same_configs_either_way(monkeypatch):
    for relative in FILES:
        path = str(CORPUS / relative)
        if not _utf8(path):
            continue  # crossplane writes U+FFFD where nginx (and the reader) keep the byte
        monkeypatch.setattr(nginx, "PLAIN_READER", False)
        reference = nginx.parse_nginx(path)
        monkeypatch.setattr(nginx, "PLAIN_READER", True)
        fast = nginx.parse_nginx(path)
        assert _shape(fast.nodes) == _shape(reference.nodes), relative
        assert (fast.files, fast.errors, fast.comments) == (reference.files, reference.errors, reference.comments)


def _utf8(path: str) -> bool:
    with open(path, "rb") as handle:
        try:
            handle.read().decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def test_the_benchmark_tree_reads_the_same(tmp_path):
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
    from gen_tree import generate

    main = generate(tmp_path, 60, 6, 12, "nginx")
    files = [str(main)] + sorted(str(path) for path in (tmp_path / "sites-enabled").iterdir())
    assert all(_same_as_crossplane(path) for path in files)


TRICKY = [
    'a b;', 'a "b c" \'d e\';', "a { b c; }", "# comment\n", 'a "x\\"y" \'p\\\'q\' "r\\\\";',
    "a b\\ c d\\;e;", "a #in args\n b;", "if ($a) { return 1; }", "if ( $a = 1 ) { }",
    "if (-f $x){}", 'a "multi\nline" b;', "a 'x'y;", 'a b"c"d;', "a b#c;", "\\#a b;",
    "a;;", "}", "a {", "a b", "a }", "{ a; }", "a \"open", "# tail", "a \\\n b;", "\\\na;",
    "location ~ \\.php$ { fastcgi_pass unix:/run/php.sock; }", "a ${b} c;", "a $b{c};",
    "map $a $b { default 0; \"~x\" 1; }", "a \r\n b;\r", "a\x0bb;", "a\x1cb;", "a\u00a0b;",
    "a\u2028b;", "a\u3000b;", "\ufeffa b;", "\u00e9t\u00e9 \"\u00fc\";", "a\\", "a \"\\\"\";",
    "a {#c\n}", "a b { # x\n c; } # y\n", "a '#' \"#\";", "a\tb\fc;", "\"if\" (x);",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_texts(text, tmp_path):
    path = tmp_path / "t.conf"
    path.write_bytes(text.encode("utf-8"))
    _same_as_crossplane(str(path))


def test_the_reader_declines_what_it_does_not_know():
    for text in ("a ${b};", "a;;", "}", "a {", "a b", "a }", "a \"open", "# tail", "a\\", "\\\na;"):
        assert parse_plain(text.encode(), "t.conf") is None, text
    nodes, _comments = parse_plain(b"a \xe9t\xe9.pem;\n", "t.conf")  # not declined: nginx keeps the bytes
    assert [os.fsencode(arg) for arg in nodes[0].args] == [b"\xe9t\xe9.pem"]


def test_a_lone_carriage_return_is_what_nginx_makes_of_it():
    """Blank between words, kept in a quoted word, never a line break (nginx counts lines at LF;
    crossplane's universal-newline reading would turn the CR into LF, moving every later line
    and renaming a file called "c\\r.pem" to "c\\n.pem")."""
    nodes, _comments = parse_plain(b'a "c\r.pem";\rb  x\ry;\r\nc z;\n', "t.conf")
    assert [(node.directive, node.args, node.line) for node in nodes] == [
        ("a", ("c\r.pem",), 1), ("b", ("x", "y"), 1), ("c", ("z",), 2)]


def test_a_certificate_named_with_a_carriage_return_is_found_as_nginx_finds_it(tmp_path):
    build({"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"]}},
           "files": {"c\r.pem": ["leaf"], "k.pem": {"key": "leaf"}}}, tmp_path)
    conf = tmp_path / "nginx.conf"
    conf.write_bytes(b'events {}\nhttp {\n    server {\n        listen 127.0.0.1:8443 ssl;\n'
                     b'        ssl_certificate "c\r.pem";\n        ssl_certificate_key k.pem;\n'
                     b'        server_name a.test;\n    }\n}\n')
    assert nginx_test(conf).ok  # the judge: the file exists under that name
    found = lint(discover(str(conf)), Settings(now=datetime(2026, 12, 1, tzinfo=timezone.utc)), ("SSL002", "SSL403"))
    assert found.findings == ()
    assert [site.certs[0].cert.path for site in found.sites] == [str(tmp_path / "c\r.pem")]


_PIECES = st.sampled_from([
    "a", "b", "server", "listen", "if", "(", ")", "$x", "${", "}", "{", ";", "#", "# c", "\"", "'",
    "\\", "\\\"", "\\'", "\\n", " ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x1c", "\u00a0", "\u2028",
    "\u3000", "\u00e9", "x\"y", "'q r'", "\"s;t\"", "~", "^/", "=",
])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=40))
def test_random_texts(pieces):
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "t.conf")
        with open(path, "wb") as handle:
            handle.write("".join(pieces).encode("utf-8"))
        _same_as_crossplane(path)


_WORDS = st.text(st.sampled_from("abz09_-./:$~^*\\\"'#;{} \t"), min_size=1, max_size=8)


@st.composite
def _configs(draw, depth=0):
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["server", "location", "ssl_certificate", "add_header", "if", "x"]))
        args = [draw(st.one_of(st.from_regex(r"[a-z0-9_./:$~^*-]{1,8}", fullmatch=True),
                               _WORDS.map(lambda word: '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'),
                               _WORDS.map(lambda word: "'" + word.replace("\\", "\\\\").replace("'", "\\'") + "'")))
                for _ in range(draw(st.integers(0, 3)))]
        comment = draw(st.sampled_from(["", " # note", "#x"]))
        if depth < 3 and draw(st.booleans()):
            inner = draw(_configs(depth + 1))
            lines.append(f"{name} {' '.join(args)} {{{comment}\n{inner}}}\n")
        else:
            lines.append(f"{name} {' '.join(args)};{comment}\n")
    return "".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_configs())
def test_generated_configs_are_read_and_agree(text):
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "t.conf")
        with open(path, "wb") as handle:
            handle.write(text.encode("utf-8"))
        if "${" not in text:
            assert _same_as_crossplane(path), text  # well-formed: the fast reader must answer
