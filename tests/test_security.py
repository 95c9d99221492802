"""What sslint must never do, run as root on production boxes and in CI on configs anyone can commit.

- Print or write key material: every output (text, json, sarif, github, --diff,
  --fix, certs table/json/csv) and every file --fix writes is searched for the
  bytes of every private key in the tree, base64 lines and all, and for the
  passphrase that opens one.
- Run a shell: no shell=True, os.system or os.popen in nginxssl/, every
  subprocess gets an argument list, and a tree whose path is shell syntax
  is validated without that syntax ever running.
- Run what a configuration names: SSLPassPhraseDialog exec:, piped logs,
  RewriteMap prg:, command substitution in envvars, nginx perl_set and friends.
- Touch the network without --fetch: sockets are trapped while the CLI runs
  over certificates whose AIA URLs point somewhere.
- Write outside the directories of the files it edits and the certificates it
  completes (checked over the whole file system subtree around the tree).
- Break a report with a path: spaces, quotes, tabs, newlines, %, commas,
  colons and bytes that are not UTF-8 stay escaped in every format.
"""

from __future__ import annotations

import ast
import base64
import csv
import io
import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

import pytest
import typer.testing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from nginxssl.cli import commands_app, lint_app

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "nginxssl"
NOW = "2026-01-01T00:00:00Z"
PASSPHRASE = "s3cret-Passphrase-91-do-not-print"
AIA_URL = "http://127.0.0.1:9/never/inter.der"

SPEC = {
    "pki": {
        "root": {"ca": True},
        "inter": {"ca": True, "issuer": "root"},
        "swap": {"issuer": "inter", "names": ["swap.test"]},
        "comb": {"issuer": "inter", "names": ["comb.test"], "key": "rsa2048"},
        "enc": {"issuer": "inter", "names": ["enc.test"]},
        "mism": {"issuer": "inter", "names": ["mism.test"]},
        "other": {"issuer": "inter", "names": ["other.test"], "key": "rsa2048"},
        "incl": {"issuer": "inter", "names": ["incl.test"]},
        "aia": {"issuer": "inter", "names": ["aia.test"], "aia_ca_issuers": AIA_URL},
    },
    "files": {
        "ca/root.pem": ["root"],
        "ssl/swap.pem": ["swap"], "ssl/swap.key": {"key": "swap"},
        "ssl/comb.pem": ["comb", {"key": "comb"}],  # certificate and key in one file
        "ssl/enc.pem": ["enc", "inter"], "ssl/enc.key": {"key": "enc", "password": PASSPHRASE},
        "ssl/pass.txt": PASSPHRASE + "\n",
        "ssl/mism.pem": ["mism", "inter"], "ssl/other.key": {"key": "other", "format": "traditional"},
        "ssl/other.der": {"key": "other", "format": "der"},
        "ssl/incl.key": {"key": "incl"},
        "ssl/aia.pem": ["aia"], "ssl/aia.key": {"key": "aia"},
        "ssl/chain.pem": ["inter"],
    },
}
KEYED = ("swap", "comb", "enc", "other", "incl", "aia")


def _broken_key(pem: bytes) -> bytes:
    """The key with a few body characters changed: it no longer parses, and is still secret."""
    lines = pem.splitlines(keepends=True)
    lines[3] = lines[3][:10] + (b"A" if lines[3][10:11] != b"A" else b"B") + lines[3][11:]
    return b"".join(lines)


def build_nginx(directory: Path):
    from pki import build

    pki = build(SPEC, directory)
    (directory / "ssl" / "broken.key").write_bytes(_broken_key((directory / "ssl" / "swap.key").read_bytes()))
    os.chmod(directory / "ssl" / "broken.key", 0o600)
    sites = {
        "swap": "ssl_certificate ssl/swap.key;\n    ssl_certificate_key ssl/swap.pem;",  # SSL004, fixable
        "comb": "ssl_certificate ssl/comb.pem;\n    ssl_certificate_key ssl/comb.pem;",  # SSL201: a fullchain
        "enc": "ssl_certificate ssl/enc.pem;\n    ssl_certificate_key ssl/enc.key;\n    ssl_password_file ssl/pass.txt;",
        "mism": "ssl_certificate ssl/mism.pem;\n    ssl_certificate_key ssl/other.key;",  # SSL005
        "der": "ssl_certificate ssl/other.der;\n    ssl_certificate_key ssl/other.der;",  # SSL003 DER key
        "broken": "ssl_certificate ssl/mism.pem;\n    ssl_certificate_key ssl/broken.key;",
        "trusted": "ssl_certificate ssl/enc.pem;\n    ssl_certificate_key ssl/comb.pem;\n"
                   "    ssl_trusted_certificate ssl/other.key;\n    ssl_stapling on;",
        "aia": "ssl_certificate ssl/aia.pem;\n    ssl_certificate_key ssl/aia.key;",
    }
    (directory / "sites").mkdir()
    for name, body in sites.items():
        (directory / "sites" / f"{name}.conf").write_text(
            f"server {{\n    listen 443 ssl;\n    server_name {name}.test;\n    {body}\n"
            "    add_header Strict-Transport-Security \"max-age=31536000\";\n}\n")
    (directory / "nginx.conf").write_text(
        "events {}\nhttp {\n    include ssl/incl.key;\n    include sites/*.conf;\n}\n")
    return pki


def build_apache(directory: Path):
    from pki import build

    pki = build(SPEC, directory)
    vhosts = {
        "swap": "SSLCertificateFile ssl/swap.key\n    SSLCertificateKeyFile ssl/swap.pem",
        "comb": "SSLCertificateFile ssl/comb.pem",
        "enc": "SSLCertificateFile ssl/enc.pem\n    SSLCertificateKeyFile ssl/enc.key",
        "chain": "SSLCertificateFile ssl/mism.pem\n    SSLCertificateKeyFile ssl/other.key\n"
                 "    SSLCertificateChainFile ssl/incl.key",
        "aia": "SSLCertificateFile ssl/aia.pem\n    SSLCertificateKeyFile ssl/aia.key",
    }
    text = f"ServerRoot {directory}\nListen 443\nInclude ssl/incl.key\nSSLPassPhraseDialog exec:{directory}/ask.sh\n"
    for name, body in vhosts.items():
        text += (f"<VirtualHost *:443>\n    ServerName {name}.test\n    SSLEngine on\n    {body}\n"
                 "    Header set Strict-Transport-Security \"max-age=31536000\"\n</VirtualHost>\n")
    (directory / "apache2.conf").write_text(text)
    return pki


def secrets_of(pki, directory: Path) -> dict[str, bytes]:
    """Every fragment that would betray a key: each base64 line of each encoding of each private key
    (as the files hold them and as any tool would re-encode them), 24-character pieces of the DER,
    the private numbers in hex and decimal, and the passphrase."""
    found: dict[str, bytes] = {"passphrase": PASSPHRASE.encode()}
    pems = [path.read_bytes() for path in directory.rglob("*") if path.is_file() and b"PRIVATE KEY" in path.read_bytes()]
    # What certificates hold is public, and some of it (an EC key's algorithm identifier) is in a
    # private key's DER too: a piece that occurs in a certificate betrays nothing.
    public = b"".join(pki.cert(name).public_bytes(serialization.Encoding.PEM) for name in SPEC["pki"])
    for name in KEYED:
        key = pki.key(name)
        for private_format in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
            pems.append(key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption()))
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        flat = base64.b64encode(der)
        for start in range(0, len(flat) - 24, 12):
            if flat[start:start + 24] not in public:
                found[f"{name} der base64 @{start}"] = flat[start:start + 24]
        found[f"{name} der hex"] = der.hex().encode()[40:104]
        numbers = key.private_numbers()
        secret = numbers.private_value if isinstance(key, ec.EllipticCurvePrivateKey) else numbers.d
        found[f"{name} private number (hex)"] = f"{secret:x}".encode()[:40]
        found[f"{name} private number (decimal)"] = str(secret).encode()[:40]
        if isinstance(key, rsa.RSAPrivateKey):
            found[f"{name} prime p"] = f"{numbers.p:x}".encode()[:40]
    for pem in pems:
        inside = False
        for line in pem.splitlines():
            if line.startswith(b"-----BEGIN") and b"PRIVATE KEY" in line:
                inside = True
            elif line.startswith(b"-----END"):
                inside = False
            elif inside and len(line) >= 16 and b":" not in line and line not in public:
                found[f"pem line {line[:12]!r}"] = line
    return found


def assert_no_secret(where: str, data: bytes, secrets: dict[str, bytes]) -> None:
    leaked = [name for name, secret in secrets.items() if secret in data]
    assert not leaked, f"{where} holds key material: {leaked[:5]}"


def cli(*args: str) -> typer.testing.Result:
    app = commands_app if args and args[0] in ("certs", "rules", "explain", "probe") else lint_app
    return typer.testing.CliRunner().invoke(app, list(args), catch_exceptions=False)


def every_output(tree: Path, extra: tuple[str, ...] = ()) -> dict[str, bytes]:
    """stdout and stderr of every report format, --diff and the certificate inventory."""
    base = (str(tree), "--now", NOW, "--ca-file", str(tree / "ca" / "root.pem"), *extra)
    outputs = {}
    for format in ("text", "json", "sarif", "github"):
        result = cli(*base, "--format", format)
        outputs[format] = result.stdout_bytes + result.stderr_bytes
    result = cli(*base, "--diff")
    outputs["diff"] = result.stdout_bytes + result.stderr_bytes
    for format in ("table", "json", "csv"):
        result = cli("certs", *base, "--format", format)
        outputs[f"certs {format}"] = result.stdout_bytes + result.stderr_bytes
    return outputs


def files_of(tree: Path) -> dict[str, bytes]:
    return {str(path.relative_to(tree)): path.read_bytes() for path in sorted(tree.rglob("*")) if path.is_file()}


# ---------------------------------------------------------------- key material


@pytest.mark.parametrize("server", ["nginx", "apache"])
def test_no_output_and_no_written_file_holds_key_material(server, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    pki = (build_nginx if server == "nginx" else build_apache)(tree)
    secrets = secrets_of(pki, tree)
    assert len(secrets) > 100
    outputs = every_output(tree)
    # The tree is bad in the ways that put keys near reports: prove the findings are there.
    assert b"SSL004" in outputs["text"] and b"SSL001" in outputs["text"], outputs["text"].decode()
    assert b"PRIVATE KEY" not in outputs["diff"]
    for name, data in outputs.items():
        assert_no_secret(name, data, secrets)
    before = files_of(tree)
    fixed = cli(str(tree), "--now", NOW, "--ca-file", str(tree / "ca" / "root.pem"), "--fix", "--no-validate")
    assert b"fixed" in fixed.stderr_bytes, fixed.stderr
    assert_no_secret("--fix", fixed.stdout_bytes + fixed.stderr_bytes, secrets)
    after = files_of(tree)
    written = {path: data for path, data in after.items() if before.get(path) != data}
    assert any(path.endswith(".fullchain.pem") for path in written), sorted(written)
    for path, data in written.items():
        assert b"PRIVATE KEY" not in data, path
        assert_no_secret(f"{path} (written by --fix)", data, secrets)
    for path, data in before.items():  # no key or certificate file was modified or removed
        if path.startswith("ssl/"):
            assert after.get(path) == data, path


def test_a_key_inline_in_the_config_is_not_quoted_by_any_report(tmp_path):
    """nginx `data:` values put the PEM in the config itself; reports point at the line, never quote it.
    (A --diff whose context lines happen to include that line shows it, as any diff of the file would.)"""
    from pki import build

    pki = build({"pki": SPEC["pki"], "files": {"ca/root.pem": ["root"], "key.pem": {"key": "swap"}}}, tmp_path)
    key = (tmp_path / "key.pem").read_text().replace("\n", "\\n")
    cert = pki.cert("swap").public_bytes(serialization.Encoding.PEM).decode().replace("\n", "\\n")
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n    server {\n        listen 443 ssl;\n        server_name inline.test;\n"
        f"        ssl_certificate \"data:{key}\";\n        ssl_certificate_key \"data:{cert}\";\n    }}\n}}\n")
    secrets = secrets_of(pki, tmp_path)
    outputs = every_output(tmp_path)
    assert b"inline.test" in outputs["text"], outputs["text"].decode()
    for name, data in outputs.items():
        if name != "diff":
            assert_no_secret(name, data, secrets)


# ---------------------------------------------------------------- no shell, nothing executed


_SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
                ("pty", "spawn"), ("os", "execl"), ("os", "execlp"), ("os", "execv"), ("os", "execvp"),
                ("os", "spawnl"), ("os", "spawnlp"), ("os", "spawnv"), ("os", "spawnvp"), ("os", "posix_spawn")}
_RUNNERS = {"run", "Popen", "call", "check_call", "check_output"}


def test_no_shell_anywhere_in_the_package():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 30
    problems = []
    for path in sources:
        text = path.read_text()
        for word in ("shell=True", "os.system", "os.popen"):
            if word in text:
                problems.append(f"{path}: {word}")
        for node in ast.walk(ast.parse(text, str(path))):
            if not isinstance(node, ast.Call):
                continue
            function = node.func
            if isinstance(function, ast.Name) and function.id in ("eval", "exec"):
                problems.append(f"{path}:{node.lineno}: {function.id}()")
            if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
                if (function.value.id, function.attr) in _SHELL_CALLS:
                    problems.append(f"{path}:{node.lineno}: {function.value.id}.{function.attr}()")
                if function.value.id == "subprocess" and function.attr in _RUNNERS:
                    for keyword in node.keywords:
                        if keyword.arg == "shell":
                            problems.append(f"{path}:{node.lineno}: subprocess.{function.attr}(shell=...)")
                    first = node.args[0] if node.args else None
                    if isinstance(first, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                        problems.append(f"{path}:{node.lineno}: subprocess.{function.attr} with a command string")
    assert not problems, problems


def test_validation_passes_paths_as_arguments_never_through_a_shell(tmp_path, monkeypatch):
    """The tree lives in a directory whose name is shell syntax; `nginx -t` validates it, nothing runs."""
    from judges import require

    require("nginx")
    monkeypatch.chdir(tmp_path)  # where a shell would create the markers
    tree = tmp_path / "x; touch MARKER-1 ; $(touch MARKER-2) `touch MARKER-3` | touch MARKER-4 & touch MARKER-5"
    tree.mkdir()
    from pki import build

    build({"pki": SPEC["pki"], "files": {"ssl/swap.pem": ["swap"], "ssl/swap.key": {"key": "swap"}}}, tree)
    (tree / "nginx.conf").write_text(
        "pid nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n    access_log off;\n    server {\n"
        "        listen 127.0.0.1:8443 ssl;\n        server_name swap.test;\n"
        "        ssl_certificate ssl/swap.key;\n        ssl_certificate_key ssl/swap.pem;\n    }\n}\n")
    result = cli(str(tree), "--now", NOW, "--fix", "--select", "SSL004")
    assert result.exit_code == 0, result.output
    assert "not validated" not in result.stderr  # nginx -t ran, and accepted the swapped paths
    assert not list(tmp_path.glob("MARKER*"))


def _marker_scripts(directory: Path) -> Path:
    """Scripts that would leave a marker file if anything ran them; the marker directory."""
    markers = directory / "markers"
    markers.mkdir()
    for name in ("ask.sh", "log.sh", "map.sh", "perl.sh"):
        script = directory / name
        script.write_text(f"#!/bin/sh\ntouch {markers}/{name}-$$\necho {PASSPHRASE}\n")
        script.chmod(0o755)
    return markers


def test_apache_commands_in_the_config_never_run(tmp_path):
    from pki import build

    markers = _marker_scripts(tmp_path)
    build({"pki": SPEC["pki"], "files": {"ca/root.pem": ["root"], "ssl/enc.pem": ["enc", "inter"],
                                         "ssl/enc.key": {"key": "enc", "password": PASSPHRASE}}}, tmp_path)
    (tmp_path / "envvars").write_text(
        f"export APACHE_RUN_USER=$(touch {markers}/envvars-1)\nexport APACHE_LOG_DIR=`touch {markers}/envvars-2`\n"
        f"export APACHE_LOCK_DIR=\"$(sh {tmp_path}/ask.sh)\"\n")
    (tmp_path / "apache2.conf").write_text(
        f"ServerRoot {tmp_path}\nListen 443\nSSLPassPhraseDialog exec:{tmp_path}/ask.sh\n"
        f"ErrorLog \"|{tmp_path}/log.sh\"\nCustomLog \"|$ {tmp_path}/log.sh\" combined\n"
        f"RewriteMap lookup \"prg:{tmp_path}/map.sh\"\nDefine X ${{APACHE_RUN_USER}}\n"
        "<VirtualHost *:443>\n    ServerName enc.test\n    SSLEngine on\n    SSLCertificateFile ssl/enc.pem\n"
        f"    SSLCertificateKeyFile ssl/enc.key\n    Header set X-A \"1\"\n    ErrorLog \"||{tmp_path}/log.sh\"\n"
        "</VirtualHost>\n")
    outputs = every_output(tmp_path)
    assert b"enc.test" in outputs["text"], outputs["text"].decode()
    cli(str(tmp_path), "--now", NOW, "--ca-file", str(tmp_path / "ca" / "root.pem"), "--fix", "--no-validate")
    assert not list(markers.iterdir())
    for data in outputs.values():
        assert PASSPHRASE.encode() not in data


def test_nginx_code_in_the_config_never_runs(tmp_path):
    from pki import build

    markers = _marker_scripts(tmp_path)
    build({"pki": SPEC["pki"], "files": {"ca/root.pem": ["root"], "ssl/enc.pem": ["enc", "inter"],
                                         "ssl/enc.key": {"key": "enc", "password": PASSPHRASE}}}, tmp_path)
    run = f"system('sh {tmp_path}/perl.sh')"
    (tmp_path / "nginx.conf").write_text(
        f"load_module {tmp_path}/evil.so;\nevents {{}}\nhttp {{\n    perl_modules {tmp_path};\n"
        f"    perl_require evil.pm;\n    perl_set $x 'sub {{ {run}; return 1; }}';\n"
        f"    js_import {tmp_path}/evil.js;\n    js_set $y evil.run;\n"
        "    server {\n        listen 443 ssl;\n        server_name enc.test;\n        ssl_certificate ssl/enc.pem;\n"
        f"        ssl_certificate_key ssl/enc.key;\n        ssl_password_file {tmp_path}/ask.sh;\n"
        f"        location / {{ perl 'sub {{ {run}; }}'; }}\n    }}\n}}\n")
    (tmp_path / "evil.pm").write_text(f"package evil; BEGIN {{ {run}; }} 1;\n")
    every_output(tmp_path)
    cli(str(tmp_path), "--now", NOW, "--ca-file", str(tmp_path / "ca" / "root.pem"), "--fix", "--no-validate")
    assert not list(markers.iterdir())


# ---------------------------------------------------------------- network


class _Trapped(Exception):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Every way to a connection fails the run, and is written down."""
    attempts: list[str] = []

    def trap(name):
        def refuse(*args, **kwargs):
            attempts.append(f"{name}{args[1:] if name.startswith('socket.connect') else args[:1]}")
            raise _Trapped(f"network use: {name}")
        return refuse

    monkeypatch.setattr(socket.socket, "connect", trap("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", trap("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", trap("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", trap("socket.getaddrinfo"))
    return attempts


@pytest.mark.parametrize("server", ["nginx", "apache"])
def test_no_network_without_fetch(server, tmp_path, no_network):
    from pki import build

    tree = tmp_path / "tree"
    # The intermediate is nowhere in the tree, the pool or the trust store: only the leaf's AIA URL has it.
    build({"pki": SPEC["pki"], "files": {"ca/root.pem": ["root"], "ssl/aia.pem": ["aia"], "ssl/aia.key": {"key": "aia"},
                                         "ssl/swap.pem": ["swap"], "ssl/swap.key": {"key": "swap"}}}, tree)
    sites = {"aia": ("ssl/aia.pem", "ssl/aia.key"), "swap": ("ssl/swap.key", "ssl/swap.pem")}
    if server == "nginx":
        (tree / "nginx.conf").write_text("events {}\nhttp {\n" + "".join(
            f"    server {{\n        listen 443 ssl;\n        server_name {name}.test;\n        ssl_certificate {cert};\n"
            f"        ssl_certificate_key {key};\n        ssl_stapling on;\n        resolver 127.0.0.1;\n    }}\n"
            for name, (cert, key) in sites.items()) + "}\n")
    else:
        (tree / "apache2.conf").write_text(f"ServerRoot {tree}\nListen 443\nSSLUseStapling on\n" + "".join(
            f"<VirtualHost *:443>\n    ServerName {name}.test\n    SSLEngine on\n    SSLCertificateFile {cert}\n"
            f"    SSLCertificateKeyFile {key}\n</VirtualHost>\n" for name, (cert, key) in sites.items()))
    outputs = every_output(tree, ("--no-system-trust",))
    assert b"SSL201" in outputs["text"] and b"aia.test" in outputs["text"], outputs["text"].decode()
    cli(str(tree), "--now", NOW, "--ca-file", str(tree / "ca" / "root.pem"), "--no-system-trust", "--fix", "--no-validate")
    assert no_network == []
    # The trap works: with --fetch, sslint does try the URL (and says why it got nothing).
    result = cli(str(tree), "--now", NOW, "--ca-file", str(tree / "ca" / "root.pem"), "--no-system-trust", "--fetch",
                 "--select", "SSL201")
    assert no_network and any("127.0.0.1" in attempt or "connect" in attempt for attempt in no_network), no_network
    assert result.exit_code in (0, 1)


# ---------------------------------------------------------------- where --fix writes


def _state(top: Path) -> dict[str, tuple]:
    """Every entry under `top` (links not followed): kind, mode, owner, content, link target."""
    state = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(directory) / name
            info = path.lstat()
            content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
            target = os.readlink(path) if path.is_symlink() else None
            state[str(path)] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), info.st_uid, content, target)
    return state


def test_fix_writes_only_beside_the_files_it_edits_and_the_certificates_it_completes(tmp_path):
    from pki import build

    top = tmp_path / "top"
    tree, certs, elsewhere = top / "etc" / "nginx", top / "srv" / "certs", top / "srv" / "other"
    build({"pki": SPEC["pki"], "files": {"a.pem": ["swap"], "a.key": {"key": "swap"}, "chain.pem": ["inter"],
                                         "root.pem": ["root"]}}, certs)
    build({"pki": SPEC["pki"], "files": {"b.pem": ["comb"], "b.key": {"key": "comb"}, "unrelated.pem": ["inter"]}},
          elsewhere)
    (tree / "sites-available").mkdir(parents=True)
    (tree / "sites-enabled").mkdir()
    (tree / "snippets").mkdir()
    (tree / "nginx.conf").write_text("events {}\nhttp {\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
                                     "    include sites-enabled/*;\n}\n")
    (tree / "snippets" / "headers.conf").write_text("add_header X-Frame-Options DENY;\n")
    (tree / "sites-available" / "a.conf").write_text(
        f"server {{\n    listen 443 ssl;\n    server_name swap.test;\n    ssl_certificate {certs}/a.pem;\n"
        f"    ssl_certificate_key {certs}/a.key;\n    include snippets/headers.conf;\n"
        "    add_header Strict-Transport-Security \"max-age=31536000\";\n}\n")
    (tree / "sites-enabled" / "a.conf").symlink_to(tree / "sites-available" / "a.conf")
    (tree / "sites-enabled" / "b.conf").write_text(
        f"server {{\n    listen 443 ssl;\n    server_name comb.test;\n    ssl_certificate {elsewhere}/b.pem;\n"
        f"    ssl_certificate_key {elsewhere}/b.key;\n}}\n")
    before = _state(top)
    result = cli(str(tree), "--now", NOW, "--ca-file", str(certs / "root.pem"), "--intermediates", str(elsewhere),
                 "--fix", "--no-validate")
    assert "fixed" in result.stderr, result.output
    after = _state(top)
    changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
    allowed = {str(tree / "sites-available"), str(tree / "sites-enabled"), str(certs), str(elsewhere)}
    assert changed, "nothing was fixed"
    assert {os.path.dirname(path) for path in changed} <= allowed, sorted(changed)
    assert str(certs / "a.fullchain.pem") in changed and str(tree / "sites-available" / "a.conf") in changed
    assert (tree / "sites-enabled" / "a.conf").is_symlink()  # written at its target, the link kept
    for path in before:  # no certificate or key file was touched
        if path.endswith((".pem", ".key")):
            assert after.get(path) == before[path], path


def test_fix_under_root_never_writes_outside_it(tmp_path):
    """A config repo checked out under --root: links inside it that point at absolute paths
    (/etc/ssl/...) are followed under the root, never to this machine's /etc."""
    from pki import build

    top = tmp_path / "top"
    root = top / "checkout"
    build({"pki": SPEC["pki"], "files": {"a.pem": ["swap"], "a.key": {"key": "swap"}, "chain.pem": ["inter"],
                                         "root.pem": ["root"]}}, root / "etc" / "ssl" / "real")
    (root / "etc" / "nginx" / "sites").mkdir(parents=True)
    (root / "etc" / "nginx" / "ssl").symlink_to("/etc/ssl/real")  # absolute: means <root>/etc/ssl/real
    (root / "etc" / "nginx" / "sites" / "a.conf").symlink_to("/etc/nginx/sites-real/a.conf")
    (root / "etc" / "nginx" / "sites-real").mkdir()
    (root / "etc" / "nginx" / "sites-real" / "a.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name swap.test;\n    ssl_certificate /etc/nginx/ssl/a.pem;\n"
        "    ssl_certificate_key ../../../../../../etc/nginx/ssl/a.key;\n"
        "    add_header Strict-Transport-Security \"max-age=31536000\";\n}\n")
    (root / "etc" / "nginx" / "nginx.conf").write_text(
        "events {}\nhttp {\n    ssl_protocols TLSv1.2 TLSv1.3;\n    include /etc/nginx/sites/*.conf;\n}\n")
    before = _state(top)
    result = cli(str(root / "etc" / "nginx"), "--root", str(root), "--now", NOW,
                 "--ca-file", str(root / "etc" / "ssl" / "real" / "root.pem"), "--fix", "--no-validate")
    assert "fixed" in result.stderr, result.output
    after = _state(top)
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    assert changed and all(path.startswith(str(root) + os.sep) for path in changed), changed
    assert str(root / "etc" / "ssl" / "real" / "a.fullchain.pem") in changed, changed


# ---------------------------------------------------------------- odd paths in every format


ODD_NAMES = ["we ird \"q\" 's'.conf", "new\nline.conf", "tab\tx.conf", "pc%0A,co:lon.conf", "back\\slash.conf",
             "日本.conf", os.fsdecode(b"\xff\xfe.conf"), "--looks-like-an-option.conf", "ends with space .conf"]


@pytest.fixture
def odd_tree(tmp_path):
    from pki import build

    build({"pki": SPEC["pki"], "files": {"ssl/a.pem": ["swap"], "ssl/a.key": {"key": "swap"}, "ca.pem": ["root"]}},
          tmp_path)
    (tmp_path / "sites").mkdir()
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
                                         "    include sites/*.conf;\n}\n")
    for index, name in enumerate(ODD_NAMES):
        # a name of its own: a block whose every name an earlier one takes answers nothing (SSL304 alone)
        (tmp_path / "sites" / name).write_text(
            f"server {{\n    listen 443 ssl;\n    server_name swap{index}.test;\n    ssl_certificate ssl/a.pem;\n"
            "    ssl_certificate_key ssl/a.key;\n    add_header Strict-Transport-Security \"max-age=1\";\n}\n")
    return tmp_path


def _odd_run(tree: Path, *args: str) -> subprocess.CompletedProcess:
    """The real command, with the strict UTF-8 stdout of a machine whose locale is en_US.UTF-8."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    done = subprocess.run([sys.executable, "-m", "nginxssl", *args], cwd=tree, capture_output=True, env=env, timeout=120)
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    assert done.returncode in (0, 1), done.stderr.decode(errors="replace")
    return done


def test_odd_paths_stay_escaped_in_every_format(odd_tree):
    common = (".", "--now", NOW, "--ca-file", "ca.pem", "--select", "SSL403")
    paths = {os.path.join("sites", name) for name in ODD_NAMES}
    # JSON: valid UTF-8, and each path comes back exactly.
    document = json.loads(_odd_run(odd_tree, *common, "--format", "json").stdout.decode("utf-8"))
    assert {finding["file"] for finding in document["findings"]} == paths
    # Text: one first line per finding, the path first (the detail below it indented, never a path).
    text = [line for line in _odd_run(odd_tree, *common).stdout.decode("utf-8").splitlines()
            if not line.startswith("    ")]
    assert len(text) == len(paths) + 1 and all(" SSL403 info: " in line for line in text[:-1]), text
    concise = _odd_run(odd_tree, *common, "--format", "concise").stdout.decode("utf-8").splitlines()
    assert concise == text
    # SARIF: every location is a valid relative URI reference that decodes to the file's bytes.
    log = json.loads(_odd_run(odd_tree, *common, "--format", "sarif").stdout.decode("utf-8"))
    uris = [result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for result in log["runs"][0]["results"]]
    for uri in uris:
        assert re.fullmatch(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]+", uri), uri
        assert not urlsplit(uri).scheme, uri
    assert {os.fsdecode(unquote_to_bytes(uri)) for uri in uris} == paths
    # GitHub: one annotation per line, its properties escaped.
    github = _odd_run(odd_tree, *common, "--format", "github").stdout.decode("utf-8").splitlines()
    annotations = [line for line in github if line.startswith("::")]
    assert len(annotations) == len(paths)
    for line in annotations:
        properties = line.split("::")[1].split(" ", 1)[1]
        file_value = properties.split(",line=")[0][len("file="):]
        assert "," not in file_value and ":" not in file_value and "\n" not in file_value, line
    # The certificate inventory: the table one row per line, CSV and JSON well-formed.
    table = _odd_run(odd_tree, "certs", *common[:5]).stdout.decode("utf-8").splitlines()
    # header, one certificate (its names, issuer and sites indented below), summary
    assert len([line for line in table if not line.startswith("       ")]) == 3, table
    assert len(table) == 6 and all(len(line) <= 100 for line in table), table
    rows = list(csv.reader(io.StringIO(_odd_run(odd_tree, "certs", *common[:5], "--format", "csv").stdout.decode())))
    assert len(rows) == 2 and rows[1][0] == "ssl/a.pem"
    assert len(rows[1][CSV_SITES]) > 0
    certs = json.loads(_odd_run(odd_tree, "certs", *common[:5], "--format", "json").stdout.decode("utf-8"))
    assert {use["file"] for use in certs["certificates"][0]["sites"]} == paths


CSV_SITES = 14  # the "sites" column of `sslint certs --format csv`


def test_odd_paths_in_a_diff_that_git_applies(odd_tree):
    from judges import require

    require("git")
    common = (".", "--now", NOW, "--ca-file", "ca.pem", "--select", "SSL403")
    patch = _odd_run(odd_tree, *common, "--diff").stdout
    assert patch.count(b"\n--- ") + patch.startswith(b"--- ") == len(ODD_NAMES)
    subprocess.run(["git", "init", "-q"], cwd=odd_tree, check=True)
    applied = subprocess.run(["git", "apply", "-"], cwd=odd_tree, input=patch, capture_output=True)
    assert applied.returncode == 0, applied.stderr.decode()
    again = _odd_run(odd_tree, *common, "--format", "json")
    assert json.loads(again.stdout)["findings"] == []
