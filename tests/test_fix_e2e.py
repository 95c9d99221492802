"""`sslint --fix`, end to end, judged by the real programs.

Before: `nginx -t` refuses a wrong-order bundle and `openssl s_client
-verify_return_error` refuses the incomplete chains (leaf alone, certbot's
cert.pem); a page lacks the upgrading Content-Security-Policy and a location
drops it. After one `sslint --fix` (which validates with `nginx -t` itself): a
fresh nginx serves every name with a chain s_client verifies and sends the
policy at / and in the location; a second `--fix` changes no byte. The same
for apache2 (a leaf alone, an SSLCertificateChainFile that sends the root, one
that sends the wrong CA), for badssl.com's incomplete-chain, fallback and
reversed-chain under a --root sysroot (judged by `openssl verify`, since the
paths name another machine), and for a fix the server rejects: every file is
put back byte for byte and the new fullchain file is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
import typer.testing
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from judges import (
    apache_base_config,
    apache_test,
    free_port,
    http_get,
    nginx_test,
    openssl_verify,
    require,
    running_apache,
    running_nginx,
    s_client_verify,
    served_chain_pem,
)

from nginxssl.cli import lint_app
from nginxssl.discover.sysroot import to_disk

PKI = {
    "root": {"ca": True, "cn": "E2E Root"},
    "inter": {"ca": True, "issuer": "root", "cn": "E2E Inter"},
    "other_root": {"ca": True, "cn": "E2E Other Root"},
    "other_inter": {"ca": True, "issuer": "other_root", "cn": "E2E Other Inter"},
    "leafonly": {"issuer": "inter", "names": ["leafonly.test"]},
    "wrongorder": {"issuer": "inter", "names": ["wrongorder.test"]},
    "le": {"issuer": "inter", "names": ["le.test"]},
    "a": {"issuer": "inter", "names": ["a.test"]},
    "b": {"issuer": "inter", "names": ["b.test"]},
    "c": {"issuer": "inter", "names": ["c.test"]},
}
UPGRADE = "upgrade-insecure-requests"


def sslint(*args: str) -> typer.testing.Result:
    return typer.testing.CliRunner().invoke(lint_app, list(args), catch_exceptions=False)


def snapshot(tree: Path) -> dict[str, bytes]:
    return {str(path.relative_to(tree)): path.read_bytes()
            for path in sorted(tree.rglob("*")) if path.is_file() and not path.is_symlink()}


def subjects(pems: list[bytes]) -> list[str]:
    return [x509.load_pem_x509_certificate(pem).subject.rfc4514_string() for pem in pems]


@pytest.fixture
def public_dir():
    """World-readable: nginx workers and apache2 children (nobody / www-data as root) cannot
    enter pytest's 0700 tmp_path, and they serve the pages."""
    directory = Path(tempfile.mkdtemp(prefix="sslint-fix-e2e-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------- nginx

SITE_LEAFONLY = """\
# The leaf alone; the intermediate sits beside it in ssl/intermediate.pem.
server {{
    listen 127.0.0.1:{port} ssl;
    server_name leafonly.test;
    root {www};

    ssl_certificate     ssl/leafonly.pem;
    ssl_certificate_key ssl/leafonly.key;

    add_header Strict-Transport-Security "max-age=31536000" always;

    location /api/ {{
        add_header X-Frame-Options DENY always;
    }}
}}
"""
SITE_WRONGORDER = """\
server {{
    listen 127.0.0.1:{port} ssl;
    server_name wrongorder.test;
    ssl_certificate     ssl/wrongorder.pem;   # the intermediate first
    ssl_certificate_key ssl/wrongorder.key;
    add_header Content-Security-Policy "upgrade-insecure-requests" always;
}}
"""
SITE_LE = """\
server {{
    listen 127.0.0.1:{port} ssl;
    server_name le.test;
    ssl_certificate     live/le.test/cert.pem;
    ssl_certificate_key live/le.test/privkey.pem;
    add_header Content-Security-Policy "upgrade-insecure-requests" always;
}}
"""
MAIN = """\
pid {run}/nginx.pid;
error_log {run}/error.log;
events {{}}
http {{
    access_log off;
    include {include};
}}
"""


def nginx_tree(tree: Path, run: Path, www: Path, port: int) -> None:
    from pki import build

    build({"pki": PKI, "files": {
        "ca/root.pem": ["root"],
        "ssl/leafonly.pem": ["leafonly"], "ssl/leafonly.key": {"key": "leafonly"},
        "ssl/intermediate.pem": ["inter"],
        "ssl/wrongorder.pem": ["inter", "wrongorder"], "ssl/wrongorder.key": {"key": "wrongorder"},
        "archive/le.test/cert1.pem": ["le"], "archive/le.test/chain1.pem": ["inter"],
        "archive/le.test/fullchain1.pem": ["le", "inter"], "archive/le.test/privkey1.pem": {"key": "le"},
    }}, tree)
    live = tree / "live/le.test"
    live.mkdir(parents=True)
    for name in ("cert", "chain", "fullchain", "privkey"):
        (live / f"{name}.pem").symlink_to(f"../../archive/le.test/{name}1.pem")
    (tree / "sites").mkdir()
    (tree / "sites/leafonly.conf").write_text(SITE_LEAFONLY.format(port=port, www=www))
    (tree / "sites/wrongorder.conf").write_text(SITE_WRONGORDER.format(port=port))
    (tree / "sites/le.conf").write_text(SITE_LE.format(port=port))
    (tree / "nginx.conf").write_text(MAIN.format(run=run, include="sites/*.conf"))
    for folder in (www, www / "api"):
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
        (folder / "index.html").write_text("<!doctype html><p>ok</p>\n")
        (folder / "index.html").chmod(0o644)


def test_nginx_fix_end_to_end(tmp_path, public_dir, monkeypatch):
    require("nginx")
    require("openssl")
    from test_fix import git_apply_check

    tree, run, port = tmp_path / "nginx", tmp_path / "run", free_port()
    run.mkdir()
    nginx_tree(tree, run, public_dir, port)
    ca = tree / "ca/root.pem"
    names = ("leafonly.test", "wrongorder.test", "le.test")

    # Before: nginx refuses the wrong order; without that site, s_client refuses the incomplete chains.
    refused = nginx_test(tree / "nginx.conf")
    assert not refused.ok and "key values mismatch" in refused.output
    (tree / "before.conf").write_text(MAIN.format(run=run, include="sites/[!w]*.conf"))
    with running_nginx(tree / "before.conf", tree, port=port):
        for name in ("leafonly.test", "le.test"):
            verdict = s_client_verify(port, name, ca)
            assert not verdict.ok and verdict.code in (20, 21), verdict.output
        _status, headers = http_get(port, "/", host="leafonly.test")
        assert UPGRADE not in headers.get("content-security-policy", "")
    (tree / "before.conf").unlink()

    # The diff an admin reads first applies with git, new files from /dev/null.
    monkeypatch.chdir(tree)
    shown = sslint(".", "--ca-file", str(ca), "--diff")
    assert shown.exit_code == 1
    assert "--- /dev/null\n+++ b/ssl/leafonly.fullchain.pem" in shown.stdout
    assert "+    ssl_certificate     live/le.test/fullchain.pem;" in shown.stdout
    git_apply_check(shown.stdout, tree)
    assert not (tree / "ssl/leafonly.fullchain.pem").exists()

    fixed = sslint(".", "--ca-file", str(ca), "--fix")
    assert "changed nothing" not in fixed.output, fixed.output
    for rule in ("SSL201", "SSL202", "SSL401", "SSL402"):
        assert rule not in fixed.stdout, fixed.output  # the report shows what remains after the fix
    assert "6 fixed, 3 remaining: 3 info in 3 TLS sites" in fixed.stdout, fixed.output
    after = sslint(".", "--ca-file", str(ca), "--format", "json")
    left = {rule for rule in ("SSL201", "SSL202", "SSL203", "SSL204", "SSL401", "SSL402") if f'"{rule}"' in after.stdout}
    assert not left, after.stdout
    assert nginx_test(tree / "nginx.conf").ok
    assert "ssl_certificate     ssl/wrongorder.fullchain.pem;   # the intermediate first" in \
        (tree / "sites/wrongorder.conf").read_text()
    assert (tree / "live/le.test").is_dir() and sorted(os.listdir(tree / "live/le.test")) == [
        "cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"]

    # After: a fresh nginx serves every name with a chain openssl verifies, and the policy everywhere.
    with running_nginx(tree / "nginx.conf", tree, port=port):
        for name in names:
            verdict = s_client_verify(port, name, ca)
            assert verdict.ok, verdict.output
            assert len(verdict.chain_subjects) == 2 and "E2E Inter" in verdict.chain_subjects[1]
        for path in ("/", "/api/"):
            status, headers = http_get(port, path, host="leafonly.test")
            assert status == 200 and UPGRADE in headers.get("content-security-policy", ""), (path, headers)
            assert "strict-transport-security" in headers, (path, headers)

    # A second --fix changes no byte.
    settled = snapshot(tree)
    again = sslint(".", "--ca-file", str(ca), "--fix")
    assert "sslint: fixed" not in again.output, again.output
    assert snapshot(tree) == settled


def test_nginx_fix_never_touches_certificate_or_key_files(tmp_path, public_dir):
    require("nginx")
    tree, run = tmp_path / "nginx", tmp_path / "run"
    run.mkdir()
    nginx_tree(tree, run, public_dir, free_port())
    material = {path: data for path, data in snapshot(tree).items() if path.endswith((".pem", ".key"))}
    modes = {path: (tree / path).stat().st_mode for path in material}
    result = sslint(str(tree), "--ca-file", str(tree / "ca/root.pem"), "--fix", "--select", "SSL2")
    assert "changed nothing" not in result.output, result.output
    after = snapshot(tree)
    assert {path: after[path] for path in material} == material
    assert {path: (tree / path).stat().st_mode for path in material} == modes
    new = sorted(set(after) - set(material) - {p for p in after if p.endswith(".conf")})
    assert new == ["ssl/leafonly.fullchain.pem", "ssl/wrongorder.fullchain.pem"]
    assert (tree / "ssl/leafonly.fullchain.pem").stat().st_mode & 0o777 == (tree / "ssl/leafonly.pem").stat().st_mode & 0o777


def test_nginx_rejecting_the_tree_restores_every_file_and_removes_the_new_chain(tmp_path, public_dir):
    require("nginx")
    tree, run = tmp_path / "nginx", tmp_path / "run"
    run.mkdir()
    nginx_tree(tree, run, public_dir, free_port())
    (tree / "sites/wrongorder.conf").unlink()
    # Another file of the tree that nginx refuses, before and after any fix.
    (tree / "sites/other.conf").write_text("server { listen 127.0.0.1:9; unknown_directive_here on; }\n")
    before = snapshot(tree)
    result = sslint(str(tree), "--ca-file", str(tree / "ca/root.pem"), "--fix", "--select", "SSL201")
    assert result.exit_code == 1
    assert "changed nothing" in result.output and "unknown_directive_here" in result.output
    assert "fails `" in result.output and "as it is, before any fix" in result.output
    assert "0 fixed, 2 remaining" in result.output
    assert snapshot(tree) == before
    assert not (tree / "ssl/leafonly.fullchain.pem").exists()
    assert not list(tree.rglob(".sslint-*"))


# ---------------------------------------------------------------- apache2

APACHE_SITE = """\
# a.test: the leaf alone, the intermediate beside it.
<VirtualHost 127.0.0.1:{port}>
    ServerName a.test
    SSLEngine on
    SSLCertificateFile ssl/a.pem
    SSLCertificateKeyFile ssl/a.key
</VirtualHost>

# b.test: the chain file sends the root too.
<VirtualHost 127.0.0.1:{port}>
    ServerName b.test
    SSLEngine on
    SSLCertificateFile ssl/b.pem
    SSLCertificateKeyFile ssl/b.key
    SSLCertificateChainFile ssl/b-bundle.pem
</VirtualHost>

# c.test: the chain file is another CA's.
<VirtualHost 127.0.0.1:{port}>
    ServerName c.test
    SSLEngine on
    SSLCertificateFile ssl/c.pem
    SSLCertificateKeyFile ssl/c.key
    SSLCertificateChainFile ssl/c-chain.pem
</VirtualHost>
"""


def test_apache_fix_end_to_end(tmp_path, public_dir):
    require("apache2")
    require("openssl")
    from pki import build

    tree, port = tmp_path / "apache2", free_port()
    build({"pki": PKI, "files": {
        "ca/root.pem": ["root"],
        "ssl/a.pem": ["a"], "ssl/a.key": {"key": "a"}, "ssl/intermediate.pem": ["inter"],
        "ssl/b.pem": ["b"], "ssl/b.key": {"key": "b"}, "ssl/b-bundle.pem": ["inter", "root"],
        "ssl/c.pem": ["c"], "ssl/c.key": {"key": "c"}, "ssl/c-chain.pem": ["other_inter"],
    }}, tree)
    site = tree / "sites/site.conf"
    site.parent.mkdir()
    site.write_text(APACHE_SITE.format(port=port))
    # A whole apache2.conf, so that sslint finds the tree and validates its fix with apache2 -t.
    (tree / "apache2.conf").write_text(apache_base_config(tree, public_dir, site, [port]))
    (public_dir / "htdocs").mkdir()
    ca = tree / "ca/root.pem"

    with running_apache(site, tree, port=port):
        assert not s_client_verify(port, "a.test", ca).ok
        assert not s_client_verify(port, "c.test", ca).ok
        assert subjects(served_chain_pem(port, "b.test"))[-1] == "CN=E2E Root"

    result = sslint(str(tree), "--ca-file", str(ca), "--fix", "--select", "SSL2")
    assert "changed nothing" not in result.output and "not validated" not in result.output, result.output
    text = site.read_text()
    assert "SSLCertificateChainFile" not in text
    for name in ("a", "b", "c"):
        assert f"SSLCertificateFile ssl/{name}.fullchain.pem\n" in text
    assert apache_test(site, tree).ok

    with running_apache(site, tree, port=port):
        for name in ("a.test", "b.test", "c.test"):
            verdict = s_client_verify(port, name, ca)
            assert verdict.ok, verdict.output
            assert [subject.split(",")[0] for subject in verdict.chain_subjects] == [f"CN={name}", "CN=E2E Inter"]

    settled = snapshot(tree)
    sslint(str(tree), "--ca-file", str(ca), "--fix", "--select", "SSL2")
    assert snapshot(tree) == settled


# ---------------------------------------------------------------- badssl.com under --root

BADSSL_FIXED = {
    # snippet: (server name judged, the key the fixed snippet must name)
    "wildcard-incomplete-chain.conf": ("incomplete-chain.badssl.test", "/etc/keys/leaf-main.key"),
    "wildcard-fallback.conf": ("badssl-fallback-unknown-subdomain-or-no-sni", "/etc/keys/leaf-main.key"),
    "subdomain-reversed-chain.conf": ("reversed-chain.badssl.test", "/etc/keys/leaf-main.key"),
}


def _directive(text: str, name: str) -> str:
    for line in text.splitlines():
        words = line.strip().rstrip(";").split()
        if words and words[0] == name:
            return words[1]
    raise AssertionError(f"no {name} in:\n{text}")


def test_badssl_chains_fixed_under_root_verify_with_openssl(tmp_path):
    require("openssl")
    from test_badssl import BADSSL, NOW, sysroot

    root = sysroot(tmp_path)
    ca_root = BADSSL / "certs/sets/test/gen/crt/ca-root.crt"
    args = [str(root / "etc/nginx"), "--root", str(root), "--now", NOW, "--no-system-trust", "--ca-file",
            str(ca_root), "--select", "SSL2"]
    result = sslint(*args, "--fix")
    assert "not validated: with --root" in result.output, result.output
    assert "changed nothing" not in result.output, result.output
    attime = int(datetime.fromisoformat(NOW.replace("Z", "+00:00")).timestamp())
    includes = root / "corpus/badssl.com/_site/nginx-includes"
    for snippet, (hostname, key) in BADSSL_FIXED.items():
        text = (includes / snippet).read_text()
        served = _directive(text, "ssl_certificate")
        # The config's own words: the path on the machine it describes, not under the sysroot.
        assert served.startswith("/var/www/badssl/_site/certs/sets/current/gen/chain/") and \
            served.endswith(".fullchain.pem"), served
        assert _directive(text, "ssl_certificate_key") == key
        on_disk = Path(to_disk(served, "/", str(root)))  # the sysroot's links are absolute, inside it
        verdict = openssl_verify(on_disk, ca_root, untrusted=on_disk, hostname=hostname, attime=attime)
        assert verdict.ok, (snippet, verdict.output)
        certs = x509.load_pem_x509_certificates(on_disk.read_bytes())
        assert len(certs) == 2 and "BadSSL Intermediate" in certs[1].subject.rfc4514_string()
        private = serialization.load_pem_private_key(Path(to_disk(key, "/", str(root))).read_bytes(), None)
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        assert private.public_key().public_bytes(serialization.Encoding.DER, spki) == \
            certs[0].public_key().public_bytes(serialization.Encoding.DER, spki)
    # The originals are untouched; the corpus itself was never written to.
    copy = root / "corpus/badssl.com/certs/sets/test/gen"
    for name in ("chain/wildcard-incomplete-chain.pem", "chain/fallback.pem", "chain/subdomain-reversed-chain.pem",
                 "key/ca-intermediate.key"):
        assert (copy / name).read_bytes() == (BADSSL / "certs/sets/test/gen" / name).read_bytes()
    assert not list((BADSSL / "certs/sets/test/gen/chain").glob("*.fullchain*.pem"))
    # Fixed means fixed: a re-lint finds no chain problem left at those sites; a second --fix changes nothing.
    relint = sslint(*args, "--format", "json")
    for hostname in ("incomplete-chain.badssl.test", "reversed-chain.badssl.test"):
        assert f'"{hostname}"' not in relint.stdout
    settled = snapshot(root / "corpus")
    sslint(*args, "--fix")
    assert snapshot(root / "corpus") == settled


def test_apache_sends_the_chain_file_instead_of_the_certificate_files_own_chain(tmp_path):
    """mod_ssl's SSLCertificateChainFile replaces the intermediates the certificate file holds
    (what pki.analyse models): sslint reports the chain apache2 really sends, and --fix repairs it."""
    require("apache2")
    require("openssl")
    from pki import build

    port = free_port()
    build({"pki": PKI, "files": {"ca/root.pem": ["root"], "full.pem": ["a", "inter"], "a.key": {"key": "a"},
                                 "extra.pem": ["root"]}}, tmp_path)
    site = tmp_path / "site.conf"
    site.write_text(f"<VirtualHost 127.0.0.1:{port}>\n    ServerName a.test\n    SSLEngine on\n"
                    "    SSLCertificateFile full.pem\n    SSLCertificateKeyFile a.key\n"
                    "    SSLCertificateChainFile extra.pem\n</VirtualHost>\n")
    with running_apache(site, tmp_path, port=port):
        assert subjects(served_chain_pem(port, "a.test")) == ["CN=a.test", "CN=E2E Root"]
        assert not s_client_verify(port, "a.test", tmp_path / "ca/root.pem").ok
    args = [str(site), "--server", "apache", "--ca-file", str(tmp_path / "ca/root.pem"), "--select", "SSL2"]
    report = sslint(*args)
    assert "SSL201" in report.stdout and "'E2E Inter'" in report.stdout and "full.pem" in report.stdout
    fixed = sslint(*args, "--fix")
    assert "changed nothing" not in fixed.output, fixed.output
    # full.pem already holds the right chain: only the chain file goes, no new file is written.
    assert "SSLCertificateChainFile" not in site.read_text() and "SSLCertificateFile full.pem" in site.read_text()
    assert not list(tmp_path.glob("*.fullchain*.pem"))
    with running_apache(site, tmp_path, port=port):
        verdict = s_client_verify(port, "a.test", tmp_path / "ca/root.pem")
        assert verdict.ok and verdict.chain_subjects == ["CN=a.test", "CN=E2E Inter"], verdict.output
