"""A plain nginx server block on a socket another block made TLS, held against the real nginx 1.22.1.

What the judge answered: nginx keeps `ssl` per listening socket. A block that writes a plain
`listen 127.0.0.1:P` (no `ssl`, no certificate) beside a block's `listen 127.0.0.1:P ssl`, or behind
a default server with the removed `ssl on;`, starts (`nginx -t` passes when it is not the default)
and answers its names over TLS with the default server's certificate: `openssl s_client -servername
b.test -verify_hostname b.test` fails with 'verify error:num=62:hostname mismatch' and gets CN=a.test;
curl -k gets the block's own page. sslint said nothing (the block was no site: routing never placed it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cases import PINNED_NOW
from judges import LOOPBACK, free_port, nginx_test, require, running_nginx, s_client_verify

from nginxssl.catalogue import catalogue
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.model.finding import Finding
from nginxssl.model.settings import Settings


def _pki(directory: Path) -> None:
    from pki import build

    build({"pki": {"root": {"ca": True}, "a": {"issuer": "root", "names": ["a.test"]}},
           "files": {"root.pem": ["root"], "a.pem": ["a"], "a.key": {"key": "a"}}}, directory)


def _findings(path: Path) -> list[Finding]:
    result = lint(discover(str(path)), Settings(now=PINNED_NOW, system_trust=False,
                                                ca_files=(str(path.parent / "root.pem"),)), tuple(catalogue()))
    return result.findings


MADE_TLS = {
    # how the TLS block makes the socket TLS: its listen parameters, its extra directive
    "listen ssl": (" ssl", "", "`listen ... ssl` at {conf}:4"),
    "ssl on": ("", " ssl on;", "`ssl on` at {conf}:5"),
}


@pytest.mark.parametrize("how", sorted(MADE_TLS))
def test_a_plain_block_on_a_tls_socket_gets_the_default_certificate(tmp_path, how):
    require("nginx")
    require("openssl")
    _pki(tmp_path)
    port = free_port()
    flags, directive, where = MADE_TLS[how]
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\nhttp {\n    access_log off;\n"
        f"    server {{ listen {LOOPBACK}:{port}{flags}; server_name a.test; ssl_certificate {tmp_path}/a.pem;\n"
        f"        ssl_certificate_key {tmp_path}/a.key;{directive} }}\n"
        f"    server {{ listen {LOOPBACK}:{port}; server_name b.test; return 200 \"b\\n\"; }}\n"
        "}\n")
    assert nginx_test(conf).ok
    with running_nginx(conf, tmp_path, port=port):
        verdict = s_client_verify(port, "b.test", tmp_path / "root.pem")
    assert not verdict.ok and verdict.code == 62 and verdict.chain_subjects == ["CN=a.test"]

    [finding] = [finding for finding in _findings(conf) if finding.rule == "SSL303"]
    assert (finding.line, finding.names, finding.severity) == (6, ("b.test",), "error")
    assert "with the certificate of the default server there" in finding.message
    assert "'a.test', which names a.test, not b.test" in finding.message
    assert where.format(conf=conf) in finding.message
    assert "or move it to a port no server block makes TLS" in finding.message

    # the fix the message gives, moving the block to a port of its own: nginx answers b.test in plain HTTP
    other = free_port()
    conf.write_text(conf.read_text().replace(f"listen {LOOPBACK}:{port}; server_name b.test",
                                             f"listen {LOOPBACK}:{other}; server_name b.test"))
    assert nginx_test(conf).ok
    assert [finding for finding in _findings(conf) if finding.rule == "SSL303"] == []
