"""Property-based: whatever the bytes, sslint gives a report or a clean error (exit 0, 1 or 2), never a traceback.

Hypothesis writes configs from the words nginx and httpd read and the bytes
that break readers (quotes, backslashes, braces, NUL, CR, non-UTF-8), mutates
real files from shared/corpus (copied: the corpus is read-only), feeds the
certificate loader random bytes and damaged PEM, DER and PKCS#12, and names
files with spaces, quotes, newlines and undecodable bytes. Every report
format stays well-formed. Example counts are modest so the suite stays fast,
and the examples are derandomized (a fixed seed): every run tries the same
inputs, and a failure found once is found again. Beside them, a few hundred
cases of benchmarks/fuzz.py's fixed-seed generator (mutated corpus configs
with what an attacker writes, damaged certificates) run each under a timer:
exit 0, 1 or 2, no traceback, no case longer than CASE_SECONDS.
`python benchmarks/fuzz.py --count N --seed S` runs more, when there is time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
import typer.testing
from conftest import CORPUS, needs_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nginxssl.cli import commands_app, lint_app
from nginxssl.parse.apache.reader import parse_apache
from nginxssl.parse.nginx import parse_nginx
from nginxssl.pki.load import Loader

NOW = "2026-01-01T00:00:00Z"
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
PARSE = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=_QUIET)
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=_QUIET)
FORMATS = ("text", "json", "sarif", "github")

NGINX_WORDS = [
    b"events", b"http", b"stream", b"server", b"location", b"if", b"map", b"upstream", b"{", b"}", b";", b"listen",
    b"443", b"80", b"ssl", b"quic", b"http2", b"default_server", b"[::]:443", b"server_name", b"a.test", b"*.a.test",
    b"www.a.test", b"_", b"~^(?<x>.+)$", b"include", b"sites/*.conf", b"a.conf", b"ssl_certificate",
    b"ssl_certificate_key", b"ssl_trusted_certificate", b"ssl_password_file", b"cert.pem", b"key.pem",
    b"$ssl_server_name.pem", b"data:-----BEGIN", b"ssl_protocols", b"TLSv1", b"TLSv1.3", b"ssl", b"on", b"off",
    b"ssl_stapling", b"resolver", b"add_header", b"Strict-Transport-Security", b"Content-Security-Policy",
    b'"max-age=31536000"', b"'upgrade-insecure-requests'", b"always", b"return", b"301", b"https://$host$request_uri",
    b"/", b"=", b"~*", b"(", b")", b"$host", b"#", b"# sslint: disable=SSL301", b"\\", b'"', b"'", b"${",
    b"perl_set", b"load_module", b"ssl_session_cache", b"shared:SSL:10m", b"root", b"/srv",
]
APACHE_WORDS = [
    b"<VirtualHost", b"*:443>", b"_default_:443>", b"[::]:443>", b"</VirtualHost>", b"SSLEngine", b"on", b"off",
    b"optional", b"ServerName", b"ServerAlias", b"a.test", b"*.a.test", b"SSLCertificateFile",
    b"SSLCertificateKeyFile", b"SSLCertificateChainFile", b"SSLCACertificateFile", b"cert.pem", b"key.pem",
    b"Include", b"IncludeOptional", b"conf.d/*.conf", b"a.conf", b"conf.d/", b"Define", b"UnDefine", b"X", b"${X}",
    b"${APACHE_LOG_DIR}", b"<IfModule", b"ssl_module>", b"mod_ssl.c>", b"!ssl_module>", b"</IfModule>",
    b"<IfDefine", b"SSL>", b"!SSL>", b"</IfDefine>", b"<Macro", b"M", b"$name>", b"</Macro>", b"Use", b"UndefMacro",
    b"<If", b"\"%{HTTPS} == 'on'\">", b"</If>", b"<Location", b"/>", b"</Location>", b"Header", b"always", b"set",
    b"unset", b"Strict-Transport-Security", b'"max-age=31536000"', b"SSLProtocol", b"all", b"-all", b"+TLSv1.2",
    b"-SSLv3", b"SSLPassPhraseDialog", b"exec:/bin/false", b"builtin", b"Listen", b"443", b"https", b"ServerRoot",
    b"/etc/apache2", b"LoadModule", b"ssl_module", b"modules/mod_ssl.so", b"SSLUseStapling", b"#", b"\\", b'"',
    b"'", b"<", b">", b"</", b"</>",
]
SEPARATORS = [b" ", b"\n", b"\t", b"\r\n", b"\\\n", b"", b";", b"\x00", b"\xff", b"\xc3\x28", b"\xe9", b"\xef\xbb\xbf"]


def words(vocabulary: list[bytes]) -> st.SearchStrategy[bytes]:
    piece = st.one_of(st.sampled_from(vocabulary), st.binary(max_size=6))
    return st.lists(st.tuples(piece, st.sampled_from(SEPARATORS)), max_size=60).map(
        lambda pairs: b"".join(word + separator for word, separator in pairs))


def _corpus_files(predicate) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.rglob("*")):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 200_000 and predicate(path):
                found.append(path)
        except OSError:
            continue
    return found


NGINX_CORPUS = _corpus_files(lambda path: path.suffix == ".conf" and "nginx" in str(path).lower())
APACHE_CORPUS = _corpus_files(lambda path: (path.suffix in (".conf", ".load") or path.name in ("httpd.conf",))
                              and ("apache" in str(path).lower() or "httpd" in str(path).lower()))


@st.composite
def mutated(draw, files: list[Path], vocabulary: list[bytes]) -> bytes:
    """A real file, cut, spliced, duplicated and sprinkled with words and bytes that break readers."""
    data = bytearray(draw(st.sampled_from(files)).read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "duplicate", "replace", "truncate"]))
        if kind == "insert":
            data[position:position] = draw(st.one_of(st.sampled_from(vocabulary + SEPARATORS), st.binary(max_size=8)))
        elif kind == "delete":
            del data[position:position + draw(st.integers(1, 200))]
        elif kind == "duplicate":
            data[position:position] = data[position:position + draw(st.integers(1, 400))]
        elif kind == "replace" and data:
            data[min(position, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[position:]
    return bytes(data)


class _Runner(typer.testing.CliRunner):
    """Streams set up as `sslint` (nginxssl.cli.main) sets up the real ones: undecodable bytes of a
    file name are written as escapes, not refused (tests/test_security.py runs the real command)."""

    @contextlib.contextmanager
    def isolation(self, *args, **kwargs):
        with super().isolation(*args, **kwargs) as streams:
            for stream in (sys.stdout, sys.stderr):
                stream.reconfigure(errors="backslashreplace")
            yield streams


def cli(*args: str) -> typer.testing.Result:
    """The CLI in this process; a traceback anywhere below it fails the property."""
    app = commands_app if args and args[0] == "certs" else lint_app
    result = _Runner().invoke(app, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    return result


def check_report(format: str, result: typer.testing.Result) -> None:
    """The report is well-formed: JSON and SARIF parse, text and GitHub lines are whole findings."""
    if result.exit_code == 2:
        assert result.stderr.startswith("sslint: ") or "Error" in result.stderr, result.stderr
        return
    if format == "json":
        document = json.loads(result.stdout)
        assert document["summary"]["findings"] == len(document["findings"])
    elif format == "sarif":
        assert json.loads(result.stdout)["version"] == "2.1.0"
    elif format == "text":
        lines = result.stdout.splitlines()
        assert lines and (" TLS site" in lines[-1]), result.stdout
        for line in lines[:-1]:
            # `file:line: ID severity: headline`, the detail indented below: a path never breaks a line
            assert " SSL" in line or line.startswith("    "), line
    elif format == "github":
        for line in result.stdout.splitlines():
            assert line.startswith(("::", "    ")) or " SSL" in line or " TLS site" in line, line


def lint_tree(directory: Path, main: str, format: str, *extra: str) -> None:
    result = cli(str(directory / main), "--now", NOW, "--format", format, "--no-system-trust",
                 "--ca-file", str(directory / "ca.pem"), *extra)
    check_report(format, result)


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> dict[str, bytes]:
    """Real certificates and keys to damage, and a CA file every tree trusts."""
    from pki import build

    directory = tmp_path_factory.mktemp("material")
    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
                   "leaf": {"issuer": "inter", "names": ["a.test", "*.a.test"]},
                   "rsa": {"issuer": "inter", "names": ["a.test"], "key": "rsa2048"}},
           "files": {"ca.pem": ["root"], "chain.pem": ["leaf", "inter"], "leaf.key": {"key": "leaf"},
                     "rsa.key": {"key": "rsa", "format": "traditional"}, "enc.key": {"key": "leaf", "password": "pw"},
                     "leaf.der": {"der": "leaf"}, "key.der": {"key": "leaf", "format": "der"},
                     "bundle.p12": {"pkcs12": "leaf", "chain": ["inter"], "password": "pw"},
                     "both.pem": ["rsa", {"key": "rsa"}, "inter"]}}, directory)
    return {path.name: path.read_bytes() for path in directory.iterdir()}


def _write_tree(directory: Path, material: dict[str, bytes], files: dict[str, bytes]) -> None:
    (directory / "ca.pem").write_bytes(material["ca.pem"])
    for name, data in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# ---------------------------------------------------------------- the parsers


@PARSE
@given(text=words(NGINX_WORDS))
def test_the_nginx_parser_never_raises(text):
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "nginx.conf"
        path.write_bytes(text)
        (Path(name) / "a.conf").write_bytes(text[: len(text) // 2])
        for fragment in (None, True, False):
            config = parse_nginx(str(path), fragment=fragment)
            assert all(error.line >= 1 and error.file for error in config.errors)


@PARSE
@given(text=words(APACHE_WORDS))
def test_the_apache_parser_never_raises(text):
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "apache2.conf"
        path.write_bytes(text)
        (Path(name) / "a.conf").write_bytes(text[len(text) // 2:])
        for fragment in (False, True):
            config = parse_apache(str(path), fragment=fragment)
            assert all(error.line >= 1 and error.file for error in config.errors)


@FUZZ
@given(text=words(NGINX_WORDS), format=st.sampled_from(FORMATS))
def test_random_nginx_configs_lint_cleanly(material, text, format):
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        _write_tree(directory, material, {"nginx.conf": b"events {}\nhttp {\n" + text + b"\n}\n", "a.conf": text,
                                          "cert.pem": material["chain.pem"], "key.pem": material["leaf.key"]})
        lint_tree(directory, "nginx.conf", format)
        lint_tree(directory, "a.conf", format, "--server", "nginx")


@FUZZ
@given(text=words(APACHE_WORDS), format=st.sampled_from(FORMATS))
def test_random_apache_configs_lint_cleanly(material, text, format):
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        _write_tree(directory, material, {"apache2.conf": text, "a.conf": text, "cert.pem": material["chain.pem"],
                                          "key.pem": material["leaf.key"]})
        lint_tree(directory, "apache2.conf", format)
        lint_tree(directory, "a.conf", format, "--server", "apache")


@needs_corpus
@FUZZ
@given(data=st.data(), format=st.sampled_from(FORMATS))
def test_mutated_nginx_corpus_files_lint_cleanly(material, data, format):
    text = data.draw(mutated(NGINX_CORPUS, NGINX_WORDS))
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        _write_tree(directory, material, {"nginx.conf": text, "cert.pem": material["chain.pem"],
                                          "key.pem": material["leaf.key"]})
        lint_tree(directory, "nginx.conf", format, "--server", "nginx")


@needs_corpus
@FUZZ
@given(data=st.data(), format=st.sampled_from(FORMATS))
def test_mutated_apache_corpus_files_lint_cleanly(material, data, format):
    text = data.draw(mutated(APACHE_CORPUS, APACHE_WORDS))
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        _write_tree(directory, material, {"apache2.conf": text, "cert.pem": material["chain.pem"],
                                          "key.pem": material["leaf.key"]})
        lint_tree(directory, "apache2.conf", format, "--server", "apache")


@needs_corpus
def test_the_corpus_samples_are_there():
    assert len(NGINX_CORPUS) > 100 and len(APACHE_CORPUS) > 50, (len(NGINX_CORPUS), len(APACHE_CORPUS))


# ---------------------------------------------------------------- certificates and keys


@st.composite
def damaged(draw, material: dict[str, bytes]) -> bytes:
    """Random bytes, or a real certificate, key, DER or PKCS#12 file with bytes changed, cut or repeated."""
    if draw(st.booleans()):
        return draw(st.one_of(
            st.binary(max_size=3000),
            st.binary(max_size=600).map(lambda body: b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"),
            st.binary(max_size=600).map(lambda body: b"-----BEGIN PRIVATE KEY-----\n" + body + b"\n-----END PRIVATE KEY-----\n"),
            st.sampled_from(list(material.values())).map(lambda data: data.replace(b"-----END", b"-----BEGIN")),
        ))
    data = bytearray(material[draw(st.sampled_from(sorted(material)))])
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["flip", "cut", "repeat", "insert"]))
        if kind == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[position:position + draw(st.integers(1, 300))]
        elif kind == "repeat":
            data[position:position] = data[position:position + draw(st.integers(1, 300))]
        else:
            data[position:position] = draw(st.sampled_from([b"\n", b"\r", b"-----", b"=", b"\x00", b"\x30\x82\xff\xff"]))
    return bytes(data)


@FUZZ
@given(data=st.data(), format=st.sampled_from(FORMATS + ("certs",)), server=st.sampled_from(["nginx", "apache"]))
def test_random_and_damaged_certificate_and_key_files(material, data, format, server):
    cert, key, chain = data.draw(damaged(material)), data.draw(damaged(material)), data.draw(damaged(material))
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        loader = Loader()
        for file_name, content in (("cert.pem", cert), ("key.pem", key), ("chain.pem", chain)):
            (directory / file_name).write_bytes(content)
            held = loader.load(str(directory / file_name), (b"pw",))
            assert held.status in ("ok", "empty", "der", "pkcs12", "garbage"), held
        if server == "nginx":
            main = "nginx.conf"
            (directory / main).write_text(
                "events {}\nhttp {\n    server {\n        listen 443 ssl;\n        server_name a.test www.a.test;\n"
                "        ssl_certificate cert.pem;\n        ssl_certificate_key key.pem;\n"
                "        ssl_trusted_certificate chain.pem;\n        ssl_stapling on;\n    }\n}\n")
        else:
            main = "apache2.conf"
            (directory / main).write_text(
                "Listen 443\n<VirtualHost *:443>\n    ServerName a.test\n    SSLEngine on\n"
                "    SSLCertificateFile cert.pem\n    SSLCertificateKeyFile key.pem\n"
                "    SSLCertificateChainFile chain.pem\n</VirtualHost>\n")
        (directory / "ca.pem").write_bytes(material["ca.pem"])
        if format == "certs":
            for certs_format in ("table", "json", "csv"):
                result = cli("certs", str(directory / main), "--now", NOW, "--format", certs_format)
                if certs_format == "json":
                    json.loads(result.stdout)
                elif certs_format == "csv":
                    list(csv.reader(io.StringIO(result.stdout)))
        else:
            lint_tree(directory, main, format)
            result = cli(str(directory / main), "--now", NOW, "--diff", "--ca-file", str(directory / "ca.pem"))
            assert result.exit_code in (0, 1)


# ---------------------------------------------------------------- odd names


NAME_CHARACTERS = st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",))
odd_names = st.one_of(
    st.text(NAME_CHARACTERS, min_size=1, max_size=24),
    st.text(st.sampled_from(list(" \"'\n\t\r\\%,:;{}#$*?[]é日-=")), min_size=1, max_size=12),
    st.binary(min_size=1, max_size=12).filter(lambda raw: b"/" not in raw and b"\x00" not in raw).map(os.fsdecode),
).filter(lambda name: name not in (".", "..") and len(os.fsencode(name)) < 200)


def _nginx_quoted(name: str) -> bytes:
    return b'"' + os.fsencode(name).replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


@FUZZ
@given(site=odd_names, cert=odd_names, directory_name=odd_names, format=st.sampled_from(FORMATS + ("diff",)))
def test_odd_file_names_in_every_format(material, site, cert, directory_name, format):
    with tempfile.TemporaryDirectory() as name:
        base = Path(name) / directory_name
        (base / "sites").mkdir(parents=True)
        (base / "ca.pem").write_bytes(material["ca.pem"])
        (base / "nginx.conf").write_bytes(b"events {}\nhttp {\n    include sites/*;\n}\n")
        (base / "certs").mkdir()
        (base / "certs" / cert).write_bytes(material["chain.pem"].split(b"-----END CERTIFICATE-----\n")[0]
                                            + b"-----END CERTIFICATE-----\n")
        (base / "certs" / "key.pem").write_bytes(material["leaf.key"])
        (base / "sites" / site).write_bytes(
            b"server {\n    listen 443 ssl;\n    server_name a.test;\n    ssl_certificate " + _nginx_quoted("certs/" + cert)
            + b";\n    ssl_certificate_key certs/key.pem;\n    add_header Strict-Transport-Security \"max-age=1\";\n}\n")
        if format == "diff":
            result = cli(str(base), "--now", NOW, "--diff", "--ca-file", str(base / "ca.pem"))
            assert result.exit_code in (0, 1)
            return
        result = cli(str(base), "--now", NOW, "--format", format, "--ca-file", str(base / "ca.pem"))
        check_report(format, result)
        if format == "json":
            files = {finding["file"] for finding in json.loads(result.stdout)["findings"]}
            assert files <= {str(base / "nginx.conf"), str(base / "sites" / site)}, files


# ---------------------------------------------------------------- fixed-seed mutations, bounded


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz as fixed_seed  # benchmarks/fuzz.py owns the generator the long fuzz run uses

FIXED_SEED = 20
FIXED_CASES = 300
CASE_SECONDS = 20  # the slowest case takes about a second; a budget that no longer holds takes minutes


class _TooSlow(Exception):
    pass


def _too_slow(signum: int, frame: object) -> None:
    raise _TooSlow(f"a case took more than {CASE_SECONDS} s")


@pytest.mark.skipif(not NGINX_CORPUS, reason="shared/corpus is not here")
def test_fixed_seed_mutations_of_corpus_configs_and_certificates(material, tmp_path):
    previous = signal.signal(signal.SIGALRM, _too_slow)
    slowest = (0.0, -1)
    try:
        for case in fixed_seed.cases(FIXED_SEED, FIXED_CASES, material):
            directory = tmp_path / f"case-{case.number}"
            directory.mkdir()
            main = fixed_seed.write(case, directory)
            start = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
            try:
                result = cli(*fixed_seed.argv(case, main))
            except Exception as error:
                raise AssertionError(f"case {case.number} (seed {FIXED_SEED}): {error!r}") from error
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            slowest = max(slowest, (time.monotonic() - start, case.number))
            assert "Traceback" not in result.stderr, (case.number, result.stderr)
            if case.args[:2] == ("--format", "json") or case.args[:2] == ("--format", "sarif"):
                check_report(case.args[1], result)
            elif case.args[0] == "certs" and case.args[2] == "json" and result.exit_code != 2:
                json.loads(result.stdout)
    finally:
        signal.signal(signal.SIGALRM, previous)
    print(f"slowest case: {slowest[1]}, {slowest[0]:.2f} s")
