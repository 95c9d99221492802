"""Certificates and the files that hold them, judged by the real nginx 1.22.1 (OpenSSL 3.0) and
`openssl s_client -verify_return_error -verify_hostname` against what sslint says.

What the judges answered:
- a dNSName written with a trailing dot (`b.test.`) covers nothing: s_client 'hostname mismatch'
  (62) for b.test, as cryptography's verifier ('no matching subjectAltName') and mozilla::pkix
  (presented names may not be absolute) say; Chrome alone drops the dot;
- a PEM file whose END line goes on after its marker -- `cat leaf.pem chain.pem` when leaf.pem has
  no final line break: "-----END CERTIFICATE----------BEGIN CERTIFICATE-----" -- does not load:
  nginx -t "cannot load certificate ... PEM routines::bad end line" (a key: "cannot load
  certificate key ... DECODER routines::unsupported"); apache2 -t passes, apache2 does not start
  (AH02562 ... bad end line); apache2 reads a key file written so all the same and serves;
- a server_name written in Unicode (bücher.test) is never matched: browsers send xn--bcher-kva.test
  in SNI and Host, nginx compares the bytes, and the default server answers with its certificate.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import typer.testing
import pytest
from judges import (
    LOOPBACK,
    apache_test,
    free_port,
    http_get,
    nginx_test,
    require,
    running_apache,
    running_nginx,
    s_client_verify,
)

from nginxssl.cli import lint_app

RUNNER = typer.testing.CliRunner()
NOW = "2026-01-01T00:00:00Z"
AT = int(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).timestamp())


def _findings(path: Path, directory: Path) -> list[dict]:
    result = RUNNER.invoke(lint_app, [str(path), "--no-cache", "--ca-file", str(directory / "root.pem"),
                                      "--now", NOW, "--format", "json"], catch_exceptions=False)
    return json.loads(result.stdout)["findings"]


def _one_block(directory: Path, port: int, names: str, cert: str, key: str) -> Path:
    path = directory / "nginx.conf"
    path.write_text("events {}\nhttp {\n    access_log off;\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
                    f"    server {{ listen {LOOPBACK}:{port} ssl; server_name {names}; "
                    f"ssl_certificate {directory}/{cert}; ssl_certificate_key {directory}/{key}; }}\n}}\n")
    return path


def test_a_san_ending_in_a_dot_covers_no_name(tmp_path):
    require("nginx")
    from pki import build

    build({"pki": {"root": {"ca": True},
                   "leaf": {"issuer": "root", "names": ["a.test", "b.test."]},
                   "dotted": {"issuer": "root", "names": ["c.test."]}},
           "files": {"root.pem": ["root"], "leaf.pem": ["leaf"], "leaf.key": {"key": "leaf"},
                     "dotted.pem": ["dotted"], "dotted.key": {"key": "dotted"}}}, tmp_path)
    port = free_port()
    path = _one_block(tmp_path, port, "a.test b.test", "leaf.pem", "leaf.key")
    assert nginx_test(path).ok
    with running_nginx(path, tmp_path, port=port):
        assert s_client_verify(port, "a.test", tmp_path / "root.pem", attime=AT).ok
        refused = s_client_verify(port, "b.test", tmp_path / "root.pem", attime=AT)
    assert (refused.ok, refused.code, refused.text) == (False, 62, "hostname mismatch")
    mismatches = [finding for finding in _findings(path, tmp_path) if finding["rule"] == "SSL301"]
    assert len(mismatches) == 1 and mismatches[0]["message"].startswith("server_name b.test is not covered")
    assert "b.test. with a trailing dot" in mismatches[0]["message"]
    assert "--expand -d a.test -d b.test`" in mismatches[0]["message"]  # not b.test. again

    # A leaf whose only name ends in a dot: the name's verdict (SSL301), not "browsers reject the chain".
    path = _one_block(tmp_path, port, "c.test", "dotted.pem", "dotted.key")
    with running_nginx(path, tmp_path, port=port):
        refused = s_client_verify(port, "c.test", tmp_path / "root.pem", attime=AT)
    assert (refused.ok, refused.code) == (False, 62)
    rules = sorted(finding["rule"] for finding in _findings(path, tmp_path) if finding["severity"] == "error")
    assert rules == ["SSL301"]


def _glued(directory: Path) -> None:
    """leaf.pem, inter.pem and leaf.key written without their final line break, and the files `cat` makes
    of them: glued.pem (leaf then intermediate), glued.key (key then leaf); fixed.pem as it should be."""
    from pki import build

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
                   "leaf": {"issuer": "inter", "names": ["a.test"]}},
           "files": {"root.pem": ["root"], "leaf.pem": ["leaf"], "inter.pem": ["inter"],
                     "leaf.key": {"key": "leaf"}}}, directory)
    leaf, inter, key = ((directory / name).read_bytes() for name in ("leaf.pem", "inter.pem", "leaf.key"))
    (directory / "glued.pem").write_bytes(leaf.rstrip(b"\n") + inter)
    (directory / "fixed.pem").write_bytes(leaf + inter)
    (directory / "glued.key").write_bytes(key.rstrip(b"\n") + leaf)
    (directory / "glued.key").chmod(0o600)


def _end_line_findings(findings: list[dict]) -> list[dict]:
    return [finding for finding in findings if finding["rule"] == "SSL003"]


@pytest.mark.parametrize(("cert", "key", "refusal"), [
    ("glued.pem", "leaf.key", 'cannot load certificate "{d}/glued.pem": PEM_read_bio_X509_AUX() failed '
                              "(SSL: error:04800066:PEM routines::bad end line)"),
    ("fixed.pem", "glued.key", 'cannot load certificate key "{d}/glued.key": PEM_read_bio_PrivateKey() failed'),
])
def test_nginx_refuses_an_end_line_with_more_on_it(tmp_path, cert, key, refusal):
    require("nginx")
    _glued(tmp_path)
    port = free_port()
    path = _one_block(tmp_path, port, "a.test", cert, key)
    judged = nginx_test(path)
    assert not judged.ok and refusal.format(d=tmp_path) in judged.output, judged.output
    said = _end_line_findings(_findings(path, tmp_path))
    assert len(said) == 1 and said[0]["line"] == 5, said
    assert f'"{tmp_path}/{cert if key == "leaf.key" else key}" has "-----BEGIN CERTIFICATE-----" right after' \
        in said[0]["message"]
    assert "`nginx -t` fails with 'cannot load certificate" in said[0]["message"]

    path = _one_block(tmp_path, port, "a.test", "fixed.pem", "leaf.key")  # the line broken: served, and silent
    with running_nginx(path, tmp_path, port=port):
        assert s_client_verify(port, "a.test", tmp_path / "root.pem", attime=AT).ok
    assert _end_line_findings(_findings(path, tmp_path)) == []


def test_apache_refuses_such_a_certificate_file_but_reads_such_a_key(tmp_path):
    require("apache2")
    _glued(tmp_path)
    port = free_port()
    site = tmp_path / "site.conf"

    def vhost(cert: str, key: str) -> str:
        return (f"<VirtualHost {LOOPBACK}:{port}>\n    ServerName a.test\n    SSLEngine on\n"
                f"    SSLCertificateFile {tmp_path}/{cert}\n    SSLCertificateKeyFile {tmp_path}/{key}\n"
                "</VirtualHost>\n")

    site.write_text(vhost("glued.pem", "leaf.key"))
    assert apache_test(site, tmp_path, extra_modules=["ssl"]).ok
    with pytest.raises(RuntimeError, match=r"(?s)AH02562: Failed to configure certificate.*bad end line"):
        with running_apache(site, tmp_path, port=port, extra_modules=["ssl"]):
            pass
    said = _end_line_findings(_findings(site, tmp_path))
    assert len(said) == 1 and said[0]["line"] == 4, said
    assert "`apache2 -t` passes, but apache2 will fail to start" in said[0]["message"]

    site.write_text(vhost("fixed.pem", "glued.key"))
    with running_apache(site, tmp_path, port=port, extra_modules=["ssl"]):
        assert s_client_verify(port, "a.test", tmp_path / "root.pem", attime=AT).ok
    assert _end_line_findings(_findings(site, tmp_path)) == []


def test_an_expired_second_certificate_of_a_ca_on_the_chain_is_no_impostor(tmp_path):
    """The file sends the leaf, its CA's expired certificate from one root, then the same CA (same name,
    same key) certified by another root: s_client verifies through the valid one. The expired copy signed
    the leaf as much as the valid one did: SSL204 says it is a spare copy, not 'the name of the issuer but
    not its key: it signed none of it (SSL201 tells what is missing)' with no SSL201 anywhere."""
    require("nginx")
    from pki import build

    build({"pki": {"root": {"ca": True}, "other": {"ca": True, "cn": "Other Root"},
                   "old": {"ca": True, "issuer": "root", "cn": "Inter", "not_after": "2025-01-01", "key_of": "new"},
                   "new": {"ca": True, "issuer": "other", "cn": "Inter"},
                   "leaf": {"issuer": "old", "names": ["a.test"]}},
           "files": {"root.pem": ["root", "other"], "leaf.pem": ["leaf", "old", "new"], "leaf.key": {"key": "leaf"}}},
          tmp_path)
    port = free_port()
    path = _one_block(tmp_path, port, "a.test", "leaf.pem", "leaf.key")
    with running_nginx(path, tmp_path, port=port):
        verdict = s_client_verify(port, "a.test", tmp_path / "root.pem", attime=AT)
    assert verdict.ok and verdict.chain_subjects == ["CN=a.test", "CN=Inter", "CN=Inter"]
    findings = _findings(path, tmp_path)
    assert not [finding for finding in findings if finding["severity"] == "error"], findings
    spare = [finding["message"] for finding in findings if finding["rule"] == "SSL204"]
    assert len(spare) == 1, spare
    assert spare[0].startswith("'Inter' (certificate 2 of 3 in ") and "is a second certificate of the CA 'Inter', " \
        "issued by 'sslint Test Root CA' rather than 'Other Root': clients build the chain through the one " \
        "certificate 3 of 3 in " in spare[0], spare
    assert "expired on 2025-01-01" in spare[0] and "signed none of it" not in spare[0]


def test_a_unicode_server_name_is_answered_by_the_default_server(tmp_path):
    require("nginx")
    from pki import build

    build({"pki": {"root": {"ca": True}, "a": {"issuer": "root", "names": ["a.test"]},
                   "idn": {"issuer": "root", "names": ["xn--bcher-kva.test"]}},
           "files": {"root.pem": ["root"], "a.pem": ["a"], "a.key": {"key": "a"},
                     "idn.pem": ["idn"], "idn.key": {"key": "idn"}}}, tmp_path)
    port = free_port()
    path = tmp_path / "nginx.conf"

    def write(idn_name: str) -> None:
        path.write_text(
            "events {}\nhttp {\n    access_log off;\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
            f"    server {{ listen {LOOPBACK}:{port} ssl; server_name a.test; ssl_certificate {tmp_path}/a.pem; "
            f"ssl_certificate_key {tmp_path}/a.key; add_header X-Block a always; }}\n"
            f"    server {{ listen {LOOPBACK}:{port} ssl; server_name {idn_name}; ssl_certificate {tmp_path}/idn.pem; "
            f"ssl_certificate_key {tmp_path}/idn.key; add_header X-Block idn always; }}\n}}\n")

    write("bücher.test")
    with running_nginx(path, tmp_path, port=port):
        verdict = s_client_verify(port, "xn--bcher-kva.test", tmp_path / "root.pem", attime=AT)
        _status, headers = http_get(port, host="xn--bcher-kva.test")
    assert (verdict.ok, verdict.code, verdict.chain_subjects) == (False, 62, ["CN=a.test"])
    assert headers.get("x-block") == "a"  # by Host too: the default server
    said = [finding for finding in _findings(path, tmp_path) if finding["rule"] == "SSL303"]
    assert len(said) == 1 and said[0]["line"] == 6, said
    assert said[0]["message"].startswith("server_name bücher.test matches no request: browsers send the xn-- form "
                                         "xn--bcher-kva.test in SNI and Host"), said
    assert "fix: write `server_name xn--bcher-kva.test;` (its certificate names that form)" in said[0]["message"]

    write("xn--bcher-kva.test")  # the fix: answered by its own block, and silent
    with running_nginx(path, tmp_path, port=port):
        assert s_client_verify(port, "xn--bcher-kva.test", tmp_path / "root.pem", attime=AT).ok
    assert [finding for finding in _findings(path, tmp_path) if finding["rule"] == "SSL303"] == []
