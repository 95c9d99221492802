"""Certificates and the files that hold them, judged by the real nginx 1.22.1 (OpenSSL 3.0) and
`openssl s_client -verify_return_error -verify_hostname` against what sslint says.

What the judges answered:
- a dNSName written with a trailing dot (`b.test.`) covers nothing: s_client 'hostname mismatch'
  (62) for b.test, as cryptography's verifier ('no matching subjectAltName') and mozilla::pkix
  (presented names may not be absolute) say; Chrome alone drops the dot.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import typer.testing
from judges import LOOPBACK, free_port, nginx_test, require, running_nginx, s_client_verify

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
