"""Chain fixes without the private key (issue 19, item 3): a config repository holds no keys by
design. The leaf is the certificate served first, or the one whose names the site serves, or the
only one no other certificate issued; a key that can be read only confirms it, and only a key
that belongs to none of the certificates refuses the fix (SSL005)."""

from __future__ import annotations

import os
from pathlib import Path

from test_fix_chains import NOW_TEXT, PKI, chain_findings, edits_of, sslint

from nginxssl.model.edits import ExpectChain, NewFile, ReplaceArgs


def _certbot_repo(tmp_path: Path) -> Path:
    """/etc/letsencrypt/live/a.test as certbot lays it out, under a --root sysroot, without privkey."""
    from cryptography.hazmat.primitives import serialization
    from pki import build as build_pki

    root = tmp_path / "repo"
    made = build_pki({"pki": PKI, "files": {
        "etc/letsencrypt/archive/a.test/cert1.pem": ["leaf"],
        "etc/letsencrypt/archive/a.test/chain1.pem": ["inter"]}}, root)
    build_pki({"pki": PKI, "files": {"root.pem": ["root"]}}, tmp_path)
    pems = b"".join(made.cert(name).public_bytes(serialization.Encoding.PEM) for name in ("leaf", "inter"))
    (root / "etc/letsencrypt/archive/a.test/fullchain1.pem").write_bytes(pems)
    live = root / "etc/letsencrypt/live/a.test"
    live.mkdir(parents=True)
    for name in ("cert", "chain", "fullchain", "privkey"):  # privkey.pem dangles: the key is not in the repository
        (live / f"{name}.pem").symlink_to(f"../../archive/a.test/{name}1.pem")
    (root / "etc/nginx").mkdir(parents=True)
    (root / "etc/nginx/nginx.conf").write_text(
        "events {}\nhttp {\n    server {\n        listen 443 ssl;\n        server_name a.test;\n"
        "        ssl_certificate /etc/letsencrypt/live/a.test/cert.pem;\n"
        "        ssl_certificate_key /etc/letsencrypt/live/a.test/privkey.pem;\n    }\n}\n")
    return root


def test_lets_encrypt_in_a_config_repository_gets_fullchain_pem(tmp_path):
    root = _certbot_repo(tmp_path)
    config = root / "etc/nginx/nginx.conf"
    findings = chain_findings(config, tmp_path, root=str(root))
    (finding,) = [f for f in findings if f.rule == "SSL201"]
    assert finding.fix.edits, finding.fix.description  # before: refused, blaming the key (SSL005)
    assert "SSL005" not in finding.message
    assert edits_of(findings, ReplaceArgs)[0].args == ("/etc/letsencrypt/live/a.test/fullchain.pem",)
    assert not edits_of(findings, NewFile)
    (promise,) = edits_of(findings, ExpectChain)
    assert promise.key_path is None  # nothing to confirm with; the chain is still checked on its bytes
    result = sslint(str(config), "--root", str(root), "--fix", "--now", NOW_TEXT, "--no-system-trust",
                    "--ca-file", str(tmp_path / "root.pem"), "--select", "SSL2")
    assert result.exit_code == 0, result.output
    assert "ssl_certificate /etc/letsencrypt/live/a.test/fullchain.pem;" in config.read_text()
    assert sorted(os.listdir(root / "etc/letsencrypt/live/a.test")) == [
        "cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"]


def test_a_reversed_bundle_without_a_key_serves_the_certificate_the_site_is_named_in(tmp_path):
    """The intermediate first, the leaf second, no key: the leaf is the certificate for a.test."""
    from test_fix_chains import build, site

    config = build(tmp_path, {"a.pem": ["inter", "leaf"]}, site("a.pem", "absent.key"))
    findings = chain_findings(config, tmp_path)
    (new_file,) = edits_of(findings, NewFile)
    from cryptography import x509

    certs = x509.load_pem_x509_certificates(new_file.content)
    assert [cert.subject.rfc4514_string() for cert in certs] == ["CN=a.test", "CN=Fix Test Inter"]


def test_two_possible_leaves_and_no_key_is_a_refusal_that_says_why(tmp_path):
    from test_fix_chains import build, site

    config = build(tmp_path, {"a.pem": ["inter", "leaf", "b"]}, site("a.pem", "absent.key", name="c.test"))
    findings = [f for f in chain_findings(config, tmp_path) if f.fix is not None]
    assert findings and not any(f.fix.edits for f in findings)
    assert "could each be the leaf" in findings[0].fix.description


def test_a_key_that_belongs_to_no_certificate_still_refuses(tmp_path):
    from test_fix_chains import build, site

    config = build(tmp_path, {"a.pem": ["leaf"], "chain.pem": ["inter"], "b.key": {"key": "b"}},
                   site("a.pem", "b.key"))
    findings = [f for f in chain_findings(config, tmp_path) if f.rule == "SSL201"]
    assert findings and not findings[0].fix.edits and "SSL005" in findings[0].fix.description
