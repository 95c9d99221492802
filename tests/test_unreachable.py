"""A server block or vhost no request reaches (sites/routing.unreached) gets no verdict about what
a client receives, held against the real nginx 1.22.1 and apache2 2.4.

What the judges answered:
- nginx sends a block no request when it is the default server of none of its sockets and every
  name it wrote is refused there ('conflicting server name ... ignored'): not by SNI, not by Host;
- a block that keeps one name, has a regex name, or is marked default_server still answers;
- sockets are judged one by one: a block whose name is taken on 127.0.0.1 but not on [::1] answers
  the IPv6 clients of that name;
- apache2 tries the vhosts of an address in order, ServerName, ServerAlias, then wildcard aliases
  of each: a later vhost whose every name an earlier one matches answers nothing (no warning);
- nginx loads a dead block's certificate all the same: a misordered file still fails `nginx -t`.
"""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import typer.testing
from cryptography import x509
from judges import LOOPBACK, free_port, http_get, nginx_test, require, running_apache, running_nginx, served_chain_pem

from nginxssl.cli import lint_app
from nginxssl.discover import discover
from nginxssl.engine.lint import parse
from nginxssl.model.site import Site
from nginxssl.sites import sites_of
from nginxssl.sites.routing import routes, unreached

RUNNER = typer.testing.CliRunner()
NOW = "2026-01-01T00:00:00Z"
CLIENT_RULES = {"SSL101", "SSL301", "SSL302", "SSL303", "SSL401", "SSL402", "SSL403", "SSL404", "SSL501", "SSL507"}


def _pki(directory: Path, stems: tuple[str, ...], expired: tuple[str, ...] = ()) -> None:
    from pki import build

    entities = {stem: {"issuer": "root", "names": [f"{stem}.test"],
                       **({"not_after": "2020-01-01"} if stem in expired else {})} for stem in stems}
    build({"pki": {"root": {"ca": True}, **entities},
           "files": {"root.pem": ["root"], **{f"{stem}.pem": [stem] for stem in stems},
                     **{f"{stem}.key": {"key": stem} for stem in stems}}}, directory)


def _sites(path: Path) -> tuple[Site, ...]:
    return sites_of(parse(discover(str(path)), None))


def _dead_lines(path: Path) -> list[int]:
    return sorted(site.line for site in unreached(routes(_sites(path))))


def _findings(path: Path, directory: Path) -> list[dict]:
    result = RUNNER.invoke(lint_app, [str(path), "--no-cache", "--ca-file", str(directory / "root.pem"),
                                      "--now", NOW, "--format", "json"], catch_exceptions=False)
    return json.loads(result.stdout)["findings"]


def _stem(pems: list[bytes]) -> str:
    assert pems, "nothing served"
    return _common_stem(x509.load_pem_x509_certificate(pems[0]))


def _common_stem(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string().removeprefix("CN=").removesuffix(".test")


def _one_line_servers(directory: Path, written: dict[str, tuple[str, str]]) -> tuple[str, Path]:
    """An nginx.conf in `directory` with one server block per line from line 4, each `stem: (listens,
    names)` serving STEM.pem with STEM.key: its text, and its path."""
    conf = "events {}\nhttp {\n    access_log off;\n" + "".join(
        f"    server {{ {listens} server_name {names}; "
        f"ssl_certificate {directory}/{stem}.pem; ssl_certificate_key {directory}/{stem}.key; }}\n"
        for stem, (listens, names) in written.items()) + "}\n"
    path = directory / "nginx.conf"
    path.write_text(conf)
    return conf, path


def _served_over_ipv6(port: int, name: str) -> str:
    """The stem of the certificate [::1]:port sends for SNI `name` (Python's OpenSSL as the client)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("::1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return _common_stem(x509.load_der_x509_certificate(der))


def _lines_by_rule(findings: list[dict], lines: range) -> set[str]:
    return {finding["rule"] for finding in findings if finding["line"] in lines}


def test_the_lead_s_example_blocks_2_and_4_answer_nothing(tmp_path):
    """Four TLS blocks on one socket (the t507 example): nginx 1.22.1 warns about the second
    good.example.test and about .example.test, and answers good.example.test, example.test and
    other.test from block 1 and x.example.test from block 3, by SNI and by Host alike."""
    require("nginx")
    from pki import build

    build({"pki": {"root": {"ca": True}, "a": {"issuer": "root", "names": ["good.example.test"]}},
           "files": {"root.pem": ["root"], "a.pem": ["a"], "a.key": {"key": "a"}}}, tmp_path)
    port = free_port()

    def block(number: int, extra: str, names: str) -> str:
        return (f"    server {{\n        listen {LOOPBACK}:{port} ssl{extra};\n        server_name {names};\n"
                f"        {'ssl_protocols TLSv1.3;' if number == 2 else '# no protocols of its own'}\n"
                f"        ssl_certificate {tmp_path}/a.pem;\n        ssl_certificate_key {tmp_path}/a.key;\n"
                f"        add_header X-Block block{number} always;\n    }}\n")

    conf = ("events {}\nhttp {\n    access_log off;\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
            + block(1, " default_server", "good.example.test") + block(2, "", "good.example.test")
            + block(3, "", "*.example.test") + block(4, "", ".example.test") + "}\n")
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    judged = nginx_test(path, tmp_path)
    assert judged.ok, judged.output
    assert 'conflicting server name "good.example.test"' in judged.output
    assert 'conflicting server name ".example.test"' in judged.output
    with running_nginx(conf, tmp_path, port=port):
        answered = {name: http_get(port, host=name)[1].get("x-block")
                    for name in ("good.example.test", "example.test", "x.example.test", "other.test")}
    assert answered == {"good.example.test": "block1", "example.test": "block1", "x.example.test": "block3",
                        "other.test": "block1"}  # what nginx 1.22.1 answered: never block2 or block4
    # blocks start on lines 5, 13, 21 and 29 (8 lines each)
    assert _dead_lines(path) == [13, 29]
    findings = _findings(path, tmp_path)
    for dead in (range(13, 21), range(29, 37)):
        assert _lines_by_rule(findings, dead) == {"SSL304"}, findings
    said = [finding["message"] for finding in findings if finding["rule"] == "SSL304"]
    assert len(said) == 2 and all("no request reaches server block" in message for message in said), said
    assert {"SSL401", "SSL404"} <= _lines_by_rule(findings, range(5, 13))
    assert {"SSL301", "SSL401"} <= _lines_by_rule(findings, range(21, 29))  # *.example.test: answered


def test_a_block_answers_while_it_keeps_a_name_a_regex_or_the_default(tmp_path):
    """b3's names are all taken: no request reaches it, and its expired certificate (served by no
    one else) reaches no client. b4 keeps c.test, b5 has a regex, b6 is default_server with a
    taken name: each answers (nginx 1.22.1 sent them c.test, r1.test and unknown names)."""
    require("nginx")
    require("openssl")
    stems = ("b1", "b2", "b3", "b4", "b5", "b6")
    _pki(tmp_path, stems, expired=("b3", "b4"))
    port = free_port()
    listen = f"listen {LOOPBACK}:{port} ssl"
    written = {"b1": (f"{listen};", "a.test"), "b2": (f"{listen};", "b.test"), "b3": (f"{listen};", "a.test b.test"),
               "b4": (f"{listen};", "a.test c.test"), "b5": (f"{listen};", r"b.test ~^r\d\.test$"),
               "b6": (f"{listen} default_server;", "a.test")}
    conf, path = _one_line_servers(tmp_path, written)
    judged = nginx_test(path, tmp_path)
    assert judged.ok, judged.output
    with running_nginx(conf, tmp_path, port=port):
        served = {name: _stem(served_chain_pem(port, name))
                  for name in ("a.test", "b.test", "c.test", "r1.test", "nobody.test")}
    assert served == {"a.test": "b1", "b.test": "b2", "c.test": "b4", "r1.test": "b5", "nobody.test": "b6"}
    assert "b3" not in served.values()
    lines = {stem: 4 + index for index, stem in enumerate(stems)}
    assert _dead_lines(path) == [lines["b3"]]
    findings = _findings(path, tmp_path)
    by_line = {line: {finding["rule"] for finding in findings if finding["line"] == line} for line in lines.values()}
    assert by_line[lines["b3"]] == {"SSL304"}, findings  # no SSL101, no SSL301 for b3
    assert {"SSL101", "SSL301"} <= by_line[lines["b4"]]  # still answers c.test: still judged
    # b5's b.test and b6's a.test are b2's and b1's (as served above): their clients never get b5's
    # or b6's certificate, so neither is checked against those names.
    assert "SSL301" not in by_line[lines["b5"]] and "SSL301" not in by_line[lines["b6"]], findings
    (c_test,) = [finding["message"] for finding in findings if finding["rule"] == "SSL301"
                 and finding["line"] == lines["b4"]]
    assert c_test.startswith("server_name c.test is not covered"), c_test
    dead = [finding["message"] for finding in findings if "no request reaches" in finding["message"]]
    assert len(dead) == 2 and all(f"nginx.conf:{lines['b3']})" in message for message in dead), dead


def test_ipv4_and_ipv6_twins_are_judged_one_socket_at_a_time(tmp_path):
    """nginx 1.22.1 on 127.0.0.1:P and [::1]:P: a.test goes to b2 over IPv4 and b3 over IPv6,
    never to b4 (taken on both); c.test goes to b5 over IPv4 and to b6 over IPv6, so b6 answers."""
    require("nginx")
    stems = ("b1", "b2", "b3", "b4", "b5", "b6")
    _pki(tmp_path, stems)
    port = free_port()
    v4, v6 = f"listen {LOOPBACK}:{port} ssl", f"listen [::1]:{port} ssl"
    written = {"b1": (f"{v4} default_server; {v6} default_server;", "dflt.test"), "b2": (f"{v4};", "a.test"),
               "b3": (f"{v6};", "a.test"), "b4": (f"{v4}; {v6};", "a.test"), "b5": (f"{v4};", "c.test"),
               "b6": (f"{v4}; {v6};", "c.test")}
    conf, path = _one_line_servers(tmp_path, written)
    with running_nginx(conf, tmp_path, port=port):
        over_ipv4 = {name: _stem(served_chain_pem(port, name)) for name in ("a.test", "c.test")}
        over_ipv6 = {name: _served_over_ipv6(port, name) for name in ("a.test", "c.test")}
    assert over_ipv4 == {"a.test": "b2", "c.test": "b5"}
    assert over_ipv6 == {"a.test": "b3", "c.test": "b6"}
    lines = {stem: 4 + index for index, stem in enumerate(stems)}
    assert _dead_lines(path) == [lines["b4"]]
    findings = _findings(path, tmp_path)
    rules = {line: {finding["rule"] for finding in findings if finding["line"] == line} for line in lines.values()}
    assert "SSL301" not in rules[lines["b4"]] and "SSL301" in rules[lines["b6"]], findings


def test_a_name_refused_on_every_socket_of_a_block_that_still_answers_gets_no_ssl301(tmp_path):
    """nginx 1.22.1 on 127.0.0.1:P and [::1]:P: b3 writes b2.test after b2 on its only socket, so
    IPv4 clients of b2.test get b2's certificate and b3's is never checked against that name (b3
    still answers b3.test); b4 writes it too, refused on IPv4 but held on [::1]:P, where it is the
    certificate IPv6 clients of b2.test get: that one still does not name it (SSL301)."""
    require("nginx")
    stems = ("b1", "b2", "b3", "b4")
    _pki(tmp_path, stems)
    port = free_port()
    v4, v6 = f"listen {LOOPBACK}:{port} ssl", f"listen [::1]:{port} ssl"
    written = {"b1": (f"{v4} default_server; {v6} default_server;", "b1.test"), "b2": (f"{v4};", "b2.test"),
               "b3": (f"{v4};", "b3.test b2.test"), "b4": (f"{v4}; {v6};", "b4.test b2.test")}
    conf, path = _one_line_servers(tmp_path, written)
    with running_nginx(conf, tmp_path, port=port):
        over_ipv4 = {name: _stem(served_chain_pem(port, name)) for name in ("b2.test", "b3.test", "b4.test")}
        over_ipv6 = {name: _served_over_ipv6(port, name) for name in ("b2.test", "b4.test")}
    assert over_ipv4 == {"b2.test": "b2", "b3.test": "b3", "b4.test": "b4"}
    assert over_ipv6 == {"b2.test": "b4", "b4.test": "b4"}
    lines = {stem: 4 + index for index, stem in enumerate(stems)}
    assert _dead_lines(path) == []
    mismatched = [(finding["line"], finding["message"]) for finding in _findings(path, tmp_path)
                  if finding["rule"] == "SSL301"]
    assert [line for line, _message in mismatched] == [lines["b4"]], mismatched
    assert "server_name b2.test is not covered by the certificate 'b4.test'" in mismatched[0][1]


def test_apache_a_vhost_whose_every_name_an_earlier_one_takes_answers_nothing(tmp_path):
    """apache2 2.4 on 127.0.0.1:P: v1 (a.test, *.w.test) answers a.test, x.w.test and unknown
    names, v3 answers b.test; v2 (a.test again) and v4 (A.TEST, *.w.test, x.w.test: all v1's)
    answer nothing, by SNI or by Host, and apache2 says nothing about it."""
    require("apache2")
    require("openssl")
    stems = ("v1", "v2", "v3", "v4")
    _pki(tmp_path, stems)
    port = free_port()
    names = {"v1": "ServerName a.test\n    ServerAlias *.w.test", "v2": "ServerName a.test",
             "v3": "ServerName b.test\n    ServerAlias A.test", "v4": "ServerName A.TEST\n    ServerAlias *.w.test x.w.test"}
    site = tmp_path / "site.conf"
    site.write_text("".join(
        f"<VirtualHost {LOOPBACK}:{port}>\n    {written}\n    SSLEngine on\n"
        f"    SSLCertificateFile {tmp_path}/{stem}.pem\n    SSLCertificateKeyFile {tmp_path}/{stem}.key\n"
        f"    Header always set X-Vhost {stem}\n</VirtualHost>\n" for stem, written in names.items()))
    asked = ("a.test", "b.test", "x.w.test", "y.w.test", "nobody.test")
    with running_apache(site, tmp_path, port=port) as server:
        served = {name: _stem(served_chain_pem(port, name)) for name in asked}
        answered = {name: http_get(port, "/index.html", host=name)[1].get("x-vhost") for name in asked}
        logged = server.logs()
    expected = {"a.test": "v1", "b.test": "v3", "x.w.test": "v1", "y.w.test": "v1", "nobody.test": "v1"}
    assert served == expected and answered == expected, logged
    sites = _sites(site)
    assert sorted(Path(dead.certs[0].cert.raw).stem for dead in unreached(routes(sites))) == ["v2", "v4"]
    findings = _findings(site, tmp_path)
    starts = [number for number, line in enumerate(site.read_text().splitlines(), 1) if line.startswith("<VirtualHost")]
    vhost_lines = {stem: range(start, end) for stem, start, end in zip(stems, starts, [*starts[1:], 10_000])}
    flagged = {stem: {finding["rule"] for finding in findings if finding["line"] in lines}
               for stem, lines in vhost_lines.items()}
    assert "SSL301" in flagged["v1"] and "SSL301" in flagged["v3"], findings
    assert not flagged["v2"] & CLIENT_RULES and not flagged["v4"] & CLIENT_RULES, findings
    said = [(finding["line"], finding["message"]) for finding in findings if finding["rule"] == "SSL304"]
    assert [line for line, _message in said] == [vhost_lines["v2"][1], vhost_lines["v4"][1]], said  # at ServerName
    assert all("no request reaches this vhost at all" in message for _line, message in said)


def test_a_dead_block_s_misordered_certificate_still_stops_nginx(tmp_path):
    """nginx loads every block's certificate at start-up: a dead block's file with the intermediate
    first fails `nginx -t` ('key values mismatch'), so SSL202 still reports it."""
    require("nginx")
    from pki import build

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
                   "a": {"issuer": "inter", "names": ["a.test"]}},
           "files": {"root.pem": ["root"], "a.pem": ["a", "inter"], "swapped.pem": ["inter", "a"],
                     "a.key": {"key": "a"}}}, tmp_path)
    path = tmp_path / "nginx.conf"
    path.write_text("events {}\nhttp {\n" + "".join(
        f"    server {{ listen {LOOPBACK}:8443 ssl; server_name a.test; ssl_certificate {tmp_path}/{pem}; "
        f"ssl_certificate_key {tmp_path}/a.key; }}\n" for pem in ("a.pem", "swapped.pem")) + "}\n")
    judged = nginx_test(path, tmp_path)
    assert not judged.ok and "key values mismatch" in judged.output, judged.output
    assert _dead_lines(path) == [4]
    assert [(finding["rule"], finding["line"]) for finding in _findings(path, tmp_path)
            if finding["rule"] == "SSL202"] == [("SSL202", 4)]
