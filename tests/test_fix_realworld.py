"""The fixer on realistic trees (issue 19), judged by the real servers on 127.0.0.1.

* An Apache tree with mod_macro: one `<Macro TLSSite $domain>` used for two sites, each with
  certbot's live/ directory, the macro naming `live/$domain/cert.pem` (no intermediate: s_client
  fails). --fix rewrites the macro line once, in its own terms (`live/$domain/fullchain.pem`),
  right for every use; after a restart every name verifies and each serves its own leaf. When one
  use has no fullchain.pem, the line is left alone and the finding says what to do by hand.
* A reverse-proxy nginx tree with a shared snippet and one-line locations: the headers go inside
  the braces, nginx -t passes, every location sends them.
A second --fix changes nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer.testing
from judges import apache_base_config, free_port, http_get, require, running_apache, running_nginx, s_client_verify

from nginxssl.cli import lint_app

NOW = "2026-06-01T00:00:00Z"
PKI = {"root": {"ca": True, "cn": "RW Root"}, "inter": {"ca": True, "issuer": "root", "cn": "RW Inter"},
       "a": {"issuer": "inter", "names": ["a.test"]}, "b": {"issuer": "inter", "names": ["b.test"]},
       "c": {"issuer": "inter", "names": ["c.test"]}}
MACRO_SITE = """\
# One macro for every TLS site, as FreedomBox and macropache write them.
<Macro TLSSite $domain>
    <VirtualHost 127.0.0.1:{port}>
        ServerName $domain
        SSLEngine on
        SSLCertificateFile live/$domain/cert.pem
        SSLCertificateKeyFile live/$domain/privkey.pem
        Header always set Content-Security-Policy "upgrade-insecure-requests"
    </VirtualHost>
</Macro>
{uses}
"""


def sslint(*args: str) -> typer.testing.Result:
    return typer.testing.CliRunner().invoke(lint_app, [*args, "--now", NOW], catch_exceptions=False)


def snapshot(tree: Path) -> dict[str, bytes]:
    return {str(path.relative_to(tree)): path.read_bytes()
            for path in sorted(tree.rglob("*")) if path.is_file() and not path.is_symlink()}


def certbot(tree: Path, names: str, fullchain: str = "") -> None:
    """live/NAME -> archive/NAME as certbot lays it out, for each NAME; `fullchain`: the names
    that have a fullchain.pem."""
    from pki import build

    files: dict = {"ca/root.pem": ["root"]}
    for name in names:
        files[f"archive/{name}.test/cert1.pem"] = [name]
        files[f"archive/{name}.test/chain1.pem"] = ["inter"]
        files[f"archive/{name}.test/privkey1.pem"] = {"key": name}
        if name in fullchain:
            files[f"archive/{name}.test/fullchain1.pem"] = [name, "inter"]
    build({"pki": PKI, "files": files}, tree)
    for name in names:
        live = tree / f"live/{name}.test"
        live.mkdir(parents=True)
        for part in ("cert", "chain", "privkey") + (("fullchain",) if name in fullchain else ()):
            (live / f"{part}.pem").symlink_to(f"../../archive/{name}.test/{part}1.pem")


def macro_tree(tree: Path, run: Path, port: int, names: str, fullchain: str) -> Path:
    certbot(tree, names, fullchain)
    site = tree / "sites/site.conf"
    site.parent.mkdir()
    site.write_text(MACRO_SITE.format(port=port, uses="\n".join(f"Use TLSSite {name}.test" for name in names)))
    (tree / "apache2.conf").write_text(apache_base_config(tree, run, site, [port], ("macro",)))
    return site


@pytest.fixture
def run_dir():
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="sslint-fix-rw-"))
    directory.chmod(0o755)
    (directory / "htdocs").mkdir()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_a_macro_line_is_rewritten_in_its_own_terms_for_every_use(tmp_path, run_dir):
    require("apache2")
    require("openssl")
    tree, port = tmp_path / "apache2", free_port()
    site = macro_tree(tree, run_dir, port, "ab", fullchain="ab")
    ca = tree / "ca/root.pem"
    with running_apache(site, tree, port=port, extra_modules=("macro",)):
        for name in ("a.test", "b.test"):
            verdict = s_client_verify(port, name, ca)
            assert not verdict.ok and verdict.code in (20, 21), verdict.output

    shown = sslint(str(tree), "--ca-file", str(ca), "--diff", "--select", "SSL2")
    # Before: one site's concrete path (live/a.test/fullchain.pem) in the macro, for every use.
    assert "+        SSLCertificateFile live/$domain/fullchain.pem\n" in shown.stdout, shown.output
    assert "live/a.test" not in shown.stdout
    fixed = sslint(str(tree), "--ca-file", str(ca), "--fix", "--select", "SSL2")
    assert "2 fixed, 0 remaining" in fixed.stdout, fixed.output
    assert "SSLCertificateFile live/$domain/fullchain.pem\n" in site.read_text()

    with running_apache(site, tree, port=port, extra_modules=("macro",)):
        for name in ("a.test", "b.test"):
            verdict = s_client_verify(port, name, ca)
            assert verdict.ok, verdict.output
            # Each use still serves its own certificate.
            assert [subject.split(",")[0] for subject in verdict.chain_subjects] == [f"CN={name}", "CN=RW Inter"]

    settled = snapshot(tree)
    again = sslint(str(tree), "--ca-file", str(ca), "--fix", "--select", "SSL2")
    assert "0 fixed" in again.stdout and snapshot(tree) == settled


def test_a_macro_line_no_one_edit_fits_is_left_alone_and_says_why(tmp_path, run_dir):
    """c.test has no fullchain.pem: its fix would be a new cert.fullchain.pem, the others' the
    existing fullchain.pem; no one line is right for all three, so none is written."""
    tree = tmp_path / "apache2"
    site = macro_tree(tree, run_dir, free_port(), "abc", fullchain="ab")
    before = snapshot(tree)
    result = sslint(str(tree), "--ca-file", str(tree / "ca/root.pem"), "--fix", "--select", "SSL2",
                    "--no-validate")
    assert "0 fixed, 3 remaining" in result.stdout, result.output
    assert "is written `live/$domain/cert.pem` inside <Macro TLSSite> (line 2)" in result.output
    assert "no one edit of it is right for every use" in result.output
    assert snapshot(tree) == before and "$domain/cert.pem" in site.read_text()


def test_a_path_written_with_a_variable_is_never_replaced_by_one_value(tmp_path):
    """SSL004 (key and certificate swapped) inside a macro: its edit names one use's files; it is
    not applied, and the note says why."""
    tree = tmp_path / "apache2"
    certbot(tree, "a", fullchain="a")
    site = tree / "sites/site.conf"
    site.parent.mkdir()
    site.write_text(MACRO_SITE.format(port=8443, uses="Use TLSSite a.test").replace(
        "live/$domain/cert.pem", "live/$domain/PRIV").replace("live/$domain/privkey.pem", "live/$domain/fullchain.pem")
        .replace("PRIV", "privkey.pem"))
    (tree / "apache2.conf").write_text(apache_base_config(tree, tmp_path, site, [8443], ("macro",)))
    result = sslint(str(tree), "--ca-file", str(tree / "ca/root.pem"), "--diff", "--select", "SSL004")
    assert "not fixed" in result.output and "is written `live/$domain/privkey.pem`" in result.output, result.output
    assert "live/a.test" not in result.stdout


# ---------------------------------------------------------------- nginx: Debian layout, certbot, a reverse proxy

DEBIAN_MAIN = """\
pid {run}/nginx.pid;
error_log {run}/error.log;
events {{}}
http {{
    access_log off;
    include snippets/ssl-params.conf;
    include sites-enabled/*;
}}
"""
SSL_PARAMS = "ssl_protocols TLSv1.2 TLSv1.3;\nssl_session_cache shared:SSL:1m;\n"
SECURITY_HEADERS = ('add_header Content-Security-Policy "upgrade-insecure-requests" always;\n'
                    'add_header Strict-Transport-Security "max-age=31536000" always;\n')
PROXY_SITE = """\
# {name}: certbot's cert.pem (the leaf alone), shared headers, one-line locations.
server {{
    listen 127.0.0.1:{port} ssl;
    server_name {name};
    ssl_certificate     /etc/letsencrypt/live/{name}/cert.pem;
    ssl_certificate_key /etc/letsencrypt/live/{name}/privkey.pem;
    include snippets/security-headers.conf;
    location / {{ return 200 "home\\n"; }}
    location /app {{ add_header X-Frame-Options DENY always; return 200 "app\\n"; }}
    location = /health{{add_header Cache-Control "no-store" always;return 200 "ok\\n";}}
}}
"""
LOCATIONS = ("/", "/app", "/health")


def debian_tree(tree: Path, run: Path, port: int) -> None:
    """/etc/nginx as Debian lays it out (sites-available, sites-enabled links, snippets) with
    /etc/letsencrypt as certbot does, the absolute paths pointing into the test's own tree."""
    letsencrypt = tree / "letsencrypt"
    certbot(letsencrypt, "ab", fullchain="ab")
    nginx = tree / "nginx"
    for folder in ("sites-available", "sites-enabled", "snippets"):
        (nginx / folder).mkdir(parents=True)
    (nginx / "nginx.conf").write_text(DEBIAN_MAIN.format(run=run))
    (nginx / "snippets/ssl-params.conf").write_text(SSL_PARAMS)
    (nginx / "snippets/security-headers.conf").write_text(SECURITY_HEADERS)
    for name in ("a.test", "b.test"):
        text = PROXY_SITE.format(name=name, port=port).replace("/etc/letsencrypt", str(letsencrypt))
        (nginx / "sites-available" / name).write_text(text)
        (nginx / "sites-enabled" / name).symlink_to(f"../sites-available/{name}")


def test_debian_certbot_reverse_proxy_round_trip(tmp_path, run_dir):
    require("nginx")
    require("openssl")
    tree, port = tmp_path / "etc", free_port()
    debian_tree(tree, run_dir, port)
    nginx, ca = tree / "nginx", tree / "letsencrypt/ca/root.pem"
    with running_nginx(nginx / "nginx.conf", nginx, port=port):
        for name in ("a.test", "b.test"):
            verdict = s_client_verify(port, name, ca)
            assert not verdict.ok and verdict.code in (20, 21), verdict.output
        _status, headers = http_get(port, "/app", host="a.test")
        assert "content-security-policy" not in headers  # the location's own add_header drops the snippet's

    fixed = sslint(str(nginx), "--ca-file", str(ca), "--fix", "--show-fixes")
    assert "changed nothing" not in fixed.output and "SSL402" not in fixed.stdout, fixed.output
    text = (nginx / "sites-available/a.test").read_text()
    assert f"ssl_certificate     {tree}/letsencrypt/live/a.test/fullchain.pem;\n" in text
    # Inside the braces of the one-line blocks, every other byte of the line kept.
    assert ('    location /app { add_header Content-Security-Policy "upgrade-insecure-requests" always; '
            'add_header Strict-Transport-Security "max-age=31536000" always; '
            'add_header X-Frame-Options DENY always; return 200 "app\\n"; }\n') in text
    assert '    location = /health{ add_header Content-Security-Policy' in text
    assert 'add_header Cache-Control "no-store" always;return 200 "ok\\n";}\n' in text
    assert (nginx / "sites-enabled/a.test").is_symlink()  # written at the link's target
    assert (nginx / "snippets/security-headers.conf").read_text() == SECURITY_HEADERS

    with running_nginx(nginx / "nginx.conf", nginx, port=port):
        for name in ("a.test", "b.test"):
            verdict = s_client_verify(port, name, ca)
            assert verdict.ok, verdict.output
            for location in LOCATIONS:
                status, headers = http_get(port, location, host=name)
                assert status == 200, (name, location, status)
                assert "upgrade-insecure-requests" in headers.get("content-security-policy", ""), (location, headers)
                assert "max-age=31536000" in headers.get("strict-transport-security", ""), (location, headers)
        _status, headers = http_get(port, "/app", host="a.test")
        assert headers.get("x-frame-options") == "DENY"

    settled = snapshot(tree)
    again = sslint(str(nginx), "--ca-file", str(ca), "--fix")
    assert "0 fixed" in again.stdout and snapshot(tree) == settled
