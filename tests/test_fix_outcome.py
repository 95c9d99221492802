"""What `--fix` says (issue 19, items 4 and 5): "N fixed, M remaining" and the findings of the
fixed tree, the exit code from what remains, --show-fixes; and, when the real server refuses the
result, whether the tree failed before sslint touched it or the fix broke it (and which edit).
"""

from __future__ import annotations

from pathlib import Path

import typer.testing
from judges import nginx_test, require

from nginxssl.cli import lint_app

NOW = "2026-06-01T00:00:00Z"
PKI = {"root": {"ca": True, "cn": "Outcome Root"}, "inter": {"ca": True, "issuer": "root", "cn": "Outcome Inter"},
       "a": {"issuer": "inter", "names": ["a.test"]}, "b": {"issuer": "inter", "names": ["b.test"]}}


def sslint(*args: str) -> typer.testing.Result:
    return typer.testing.CliRunner().invoke(lint_app, [*args, "--now", NOW], catch_exceptions=False)


def tree(tmp_path: Path, include: str = "sites/*.conf") -> Path:
    """a.test lacks its intermediate (SSL201, fixable); b.test's certificate is fine but its HSTS
    header lacks `always` (SSL403, info, fixable) -- and b.test names no CSP (SSL401, fixable)."""
    from pki import build

    build({"pki": PKI, "files": {"ca/root.pem": ["root"], "ssl/inter.pem": ["inter"],
                                 "ssl/a.pem": ["a"], "ssl/a.key": {"key": "a"},
                                 "ssl/b.pem": ["b", "inter"], "ssl/b.key": {"key": "b"}}}, tmp_path)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n    access_log off;\n"
        f"    ssl_protocols TLSv1.2 TLSv1.3;\n    include {include};\n}}\n")
    (tmp_path / "sites").mkdir(exist_ok=True)
    for name in ("a", "b"):
        (tmp_path / f"sites/{name}.conf").write_text(
            f"server {{\n    listen 127.0.0.1:8443 ssl;\n    server_name {name}.test;\n"
            f"    ssl_certificate ssl/{name}.pem;\n    ssl_certificate_key ssl/{name}.key;\n"
            "    add_header Content-Security-Policy \"upgrade-insecure-requests\" always;\n"
            "    add_header Strict-Transport-Security \"max-age=31536000\";\n}\n")
    return tmp_path


def test_the_report_after_fix_is_what_remains_and_the_exit_code_follows_it(tmp_path):
    require("nginx")
    root = tree(tmp_path)
    ca = str(root / "ca/root.pem")
    before = sslint(str(root), "--ca-file", ca)
    assert before.exit_code == 1 and "SSL201" in before.stdout and "SSL403" in before.stdout
    fixed = sslint(str(root), "--ca-file", ca, "--fix", "--show-fixes")
    assert fixed.exit_code == 0, fixed.output
    # One SSL201 (a new fullchain file, the directive repointed) and two SSL403; what is left is info only.
    assert "3 fixed, " in fixed.stdout and "SSL201" not in fixed.stdout and "SSL403" not in fixed.stdout
    assert "sslint: 3 fixed, " in fixed.stderr
    # --show-fixes: every edit, where it was made.
    assert "Fixed 3 findings:" in fixed.stderr
    assert f"wrote {root}/ssl/a.fullchain.pem" in fixed.stderr
    assert f"{root}/sites/a.conf:4: ssl_certificate now names ssl/a.fullchain.pem" in fixed.stderr
    assert "inserted" not in fixed.stderr or "add_header" in fixed.stderr
    assert "ExpectChain" not in fixed.stderr
    assert nginx_test(root / "nginx.conf").ok
    again = sslint(str(root), "--ca-file", ca, "--fix")
    assert "0 fixed, " in again.stdout and again.exit_code == 0


def test_a_tree_the_server_refused_before_the_fix_is_named_as_such(tmp_path):
    require("nginx")
    root = tree(tmp_path)
    (root / "sites/broken.conf").write_text("server { listen 127.0.0.1:8444; proxy_pas http://x; }\n")
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    result = sslint(str(root), "--ca-file", str(root / "ca/root.pem"), "--fix")
    assert result.exit_code == 1
    assert "as it is, before any fix; the server says:" in result.stderr
    assert 'unknown directive "proxy_pas"' in result.stderr  # nginx's own words
    assert "--fix --no-validate" in result.stderr
    assert {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} == before
    # The admin's way out: fix without the server's judgement.
    forced = sslint(str(root), "--ca-file", str(root / "ca/root.pem"), "--fix", "--no-validate", "--select", "SSL2")
    assert "1 fixed, 0 remaining" in forced.stdout, forced.output


def test_a_fix_the_server_refuses_is_undone_and_named(tmp_path):
    """nginx.conf also includes `ssl/*.fullchain.pem` (a glob that matches nothing, so nginx -t
    passes before the fix): the new fullchain file is read as configuration, nginx -t refuses it,
    every file is restored and the message names the SSL201 fix that wrote it."""
    require("nginx")
    root = tree(tmp_path, include="sites/*.conf;\n    include ssl/*.fullchain.pem")
    assert nginx_test(root / "nginx.conf").ok
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    result = sslint(str(root), "--ca-file", str(root / "ca/root.pem"), "--fix", "--select", "SSL201")
    assert result.exit_code == 1
    assert "the fixes made `" in result.stderr and "(it passed before them)" in result.stderr, result.stderr
    assert "a.fullchain.pem" in result.stderr  # nginx's words: the file it could not read as configuration
    assert "The fix that touches the file it names:" in result.stderr
    assert "SSL201 write ssl/a.fullchain.pem" in result.stderr
    assert {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} == before
