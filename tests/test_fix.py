"""The fixer: line-level edits, unidiff diffs that git applies, atomic writes, rollback, idempotence."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import typer.testing

from nginxssl.cli import lint_app
from nginxssl.fix.apply import FixFailed, Validation, apply, write_atomic
from nginxssl.fix.diff import render
from nginxssl.fix.plan import plan
from nginxssl.model.edits import DeleteLine, EditConflict, InsertLine, NewFile, ReplaceArgs

ROUNDTRIP = Path("certbot", "certbot-compatibility-test", "nginx", "nginx-roundtrip-testdata")
SWAPPED = {"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"]}},
           "files": {"a.pem": ["leaf"], "a.key": {"key": "leaf"}}}


def sslint(*args: str) -> typer.testing.Result:
    return typer.testing.CliRunner().invoke(lint_app, list(args), catch_exceptions=False)


def git_apply_check(patch: str, cwd: Path) -> None:
    (cwd / "fix.patch").write_text(patch)
    subprocess.run(["git", "init", "-q", str(cwd)], check=True)
    done = subprocess.run(["git", "apply", "--check", "fix.patch"], cwd=cwd, capture_output=True, text=True)
    (cwd / "fix.patch").unlink()
    assert done.returncode == 0, done.stderr + patch


def test_replace_args_keeps_every_other_byte(tmp_path):
    original = b"# caf\xe9 latin-1 comment\r\nserver {\r\n\tssl_certificate  a.pem; # old\r\n\tlisten 443;\r\n}"
    site = tmp_path / "a.conf"
    site.write_bytes(original)
    plans = plan([ReplaceArgs(str(site), 3, "ssl_certificate", ("dir with space/b.pem",))])
    new = plans[str(site)].new
    assert new == original.replace(b"  a.pem;", b'  "dir with space/b.pem";')


def test_two_directives_on_one_line_are_edited_separately(tmp_path):
    site = tmp_path / "a.conf"
    site.write_text("server { ssl_certificate a.key; ssl_certificate_key a.pem; }\n")
    plans = plan([ReplaceArgs(str(site), 1, "ssl_certificate", ("a.pem",)),
                  ReplaceArgs(str(site), 1, "ssl_certificate_key", ("a.key",))])
    assert plans[str(site)].new == b"server { ssl_certificate a.pem; ssl_certificate_key a.key; }\n"


def test_insert_copies_the_neighbours_indentation(tmp_path):
    site = tmp_path / "a.conf"
    site.write_text("server {\n  listen 443 ssl;\n  root /srv;\n}\n")
    inside = plan([InsertLine(str(site), 1, "add_header X-A 1 always;")])[str(site)].new.decode()
    assert inside == "server {\n  add_header X-A 1 always;\n  listen 443 ssl;\n  root /srv;\n}\n"
    after = plan([InsertLine(str(site), 3, "add_header X-B 2;")])[str(site)].new.decode()
    assert after == "server {\n  listen 443 ssl;\n  root /srv;\n  add_header X-B 2;\n}\n"


def test_delete_only_a_line_that_holds_the_directive_alone(tmp_path):
    site = tmp_path / "vhost.conf"
    site.write_text("<VirtualHost *:443>\n    SSLCertificateChainFile /x/chain.pem\n</VirtualHost>\n")
    assert plan([DeleteLine(str(site), 2, "sslcertificatechainfile")])[str(site)].new == \
        b"<VirtualHost *:443>\n</VirtualHost>\n"
    with pytest.raises(EditConflict):
        plan([DeleteLine(str(site), 1, "sslcertificatechainfile")])


def test_an_edit_that_no_longer_matches_is_refused(tmp_path):
    site = tmp_path / "a.conf"
    site.write_text("server {\n}\n")
    with pytest.raises(EditConflict):
        plan([ReplaceArgs(str(site), 2, "ssl_certificate", ("a.pem",))])
    existing = tmp_path / "exists.pem"
    existing.write_text("x")
    with pytest.raises(EditConflict):
        plan([NewFile(str(existing), b"y")])


def test_diff_of_edits_and_new_files_applies_with_git(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "a.conf"
    site.write_text("".join(f"# line {n}\n" for n in range(1, 30)) + "server {\n    ssl_certificate a.pem;\n}")
    plans = plan([
        ReplaceArgs(str(site), 31, "ssl_certificate", ("a.fullchain.pem",)),
        InsertLine(str(site), 2, "# inserted near the top"),
        NewFile(str(tmp_path / "a.fullchain.pem"), b"-----BEGIN CERTIFICATE-----\n"),
    ])
    patch = render(plans)
    assert patch.count("@@ ") == 3 and "--- /dev/null" in patch and "+++ b/a.fullchain.pem" in patch
    git_apply_check(patch, tmp_path)


def test_validation_failure_restores_every_file(tmp_path):
    first, second = tmp_path / "a.conf", tmp_path / "b.conf"
    first.write_bytes(b"one\n")
    second.write_bytes(b"two\n")
    os.chmod(second, 0o640)
    plans = plan([InsertLine(str(first), 1, "added"), InsertLine(str(second), 1, "added"),
                  NewFile(str(tmp_path / "c.pem"), b"new", like=str(second))])
    with pytest.raises(FixFailed, match="restored"):
        apply(plans, Validation(("false",)))
    assert first.read_bytes() == b"one\n" and second.read_bytes() == b"two\n"
    assert not (tmp_path / "c.pem").exists()
    assert oct(second.stat().st_mode & 0o777) == "0o640"
    assert not list(tmp_path.glob(".sslint-*"))


def test_new_files_take_the_mode_of_their_model(tmp_path):
    model = tmp_path / "leaf.pem"
    model.write_bytes(b"x")
    os.chmod(model, 0o640)
    apply(plan([NewFile(str(tmp_path / "leaf.fullchain.pem"), b"y", like=str(model))]), None)
    assert (tmp_path / "leaf.fullchain.pem").stat().st_mode & 0o777 == 0o640


def test_symlinked_site_is_written_at_its_target(tmp_path):
    target = tmp_path / "sites-available" / "a.conf"
    target.parent.mkdir()
    target.write_text("server {\n}\n")
    link = tmp_path / "a.conf"
    link.symlink_to(target)
    write_atomic(str(link), b"changed\n")
    assert link.is_symlink() and target.read_bytes() == b"changed\n"


def test_stale_temporary_files_of_a_killed_run_are_removed(tmp_path):
    site = tmp_path / "a.conf"
    site.write_text("server {\n}\n")
    stale = tmp_path / ".sslint-abc.tmp"
    stale.write_text("half")
    apply(plan([InsertLine(str(site), 1, "listen 80;")]), None)
    assert not stale.exists()


def _swapped_tree(tmp_path: Path) -> Path:
    from pki import build

    build(SWAPPED, tmp_path)
    (tmp_path / "nginx.conf").write_text(
        "pid nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n    access_log off;\n    server {\n"
        "        listen 127.0.0.1:8443 ssl;\n        server_name a.test;\n"
        "        ssl_certificate     a.key;   # swapped by mistake\n        ssl_certificate_key a.pem;\n"
        "    }\n}\n")
    return tmp_path


def test_fix_swaps_the_paths_and_real_nginx_accepts_it(tmp_path):
    from judges import nginx_test, require

    require("nginx")
    tree = _swapped_tree(tmp_path)
    assert not nginx_test(tree / "nginx.conf", prefix=tree).ok
    diff = sslint(str(tree), "--diff")
    assert diff.exit_code == 1 and "+        ssl_certificate     a.pem;   # swapped by mistake" in diff.stdout
    fixed = sslint(str(tree), "--fix", "--select", "SSL0")
    assert fixed.exit_code == 0, fixed.output
    # The report is what remains after the fix, as ruff reports it; the exit code follows it.
    assert "SSL004" not in fixed.stdout and "1 fixed, 0 remaining: no problems" in fixed.stdout, fixed.output
    assert nginx_test(tree / "nginx.conf", prefix=tree).ok
    snapshot = {path: path.read_bytes() for path in tree.rglob("*") if path.is_file()}
    again = sslint(str(tree), "--fix", "--select", "SSL0")
    assert again.exit_code == 0
    assert {path: path.read_bytes() for path in tree.rglob("*") if path.is_file()} == snapshot


def test_fix_restores_everything_when_nginx_rejects_the_tree(tmp_path):
    from judges import require

    require("nginx")
    tree = _swapped_tree(tmp_path)
    (tree / "nginx.conf").write_text((tree / "nginx.conf").read_text().replace(
        "    access_log off;\n", "    access_log off;\n    include other.conf;\n"))
    (tree / "other.conf").write_text("server { listen 127.0.0.1:8444; unknown_directive_here on; }\n")
    before = {path: path.read_bytes() for path in tree.rglob("*") if path.is_file()}
    result = sslint(str(tree), "--fix", "--select", "SSL004")
    assert result.exit_code == 1
    assert "changed nothing" in result.output and "unknown_directive_here" in result.output
    assert {path: path.read_bytes() for path in tree.rglob("*") if path.is_file()} == before


def test_fix_with_nothing_to_fix_leaves_certbot_roundtrip_files_identical(tmp_path, corpus):
    assert (corpus / ROUNDTRIP).is_dir()
    copy = tmp_path / "roundtrip"
    shutil.copytree(corpus / ROUNDTRIP, copy, symlinks=True)
    before = {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()}
    assert len(before) == 205
    for path in sorted(before):
        # The header and protocol rules (SSL4xx/SSL5xx) do repair some of these real-world files;
        # this test is about files with nothing to fix.
        result = sslint(str(path), "--server", "nginx", "--fix", "--no-validate", "--ignore", "SSL4", "--ignore", "SSL5")
        assert result.exit_code in (0, 1, 2)
    assert {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()} == before


def test_arguments_that_keep_their_value_keep_their_quotes(tmp_path):
    site = tmp_path / "a.conf"
    site.write_text("add_header Strict-Transport-Security 'max-age=31536000';\n")
    edit = ReplaceArgs(str(site), 1, "add_header", ("Strict-Transport-Security", "max-age=31536000", "always"))
    assert plan([edit])[str(site)].new == b"add_header Strict-Transport-Security 'max-age=31536000' always;\n"


def test_lines_are_counted_at_newlines_only(tmp_path):
    """A form feed is an ordinary character to nginx; str.splitlines would count it as a line break."""
    site = tmp_path / "a.conf"
    site.write_bytes(b'ssl_certificate "certs/\x0c";\nadd_header X-A "1";\n')
    new = plan([ReplaceArgs(str(site), 2, "add_header", ("X-A", "1", "always"))])[str(site)].new
    assert new == b'ssl_certificate "certs/\x0c";\nadd_header X-A "1" always;\n'


def test_a_statement_goes_inside_the_braces_of_a_one_line_block(tmp_path):
    from nginxssl.model.edits import insert_into
    from nginxssl.model.node import Node

    conf = tmp_path / "a.conf"
    conf.write_text('server {\n    location /app { add_header X-Frame-Options DENY; return 200; }  # app\n'
                    '    location /b\n    {\n        return 204;\n    }\n    server_name x; location = /c{return 200;}\n}\n')
    app = Node("location", ("/app",), str(conf), 2, ())
    later = Node("location", ("/b",), str(conf), 3, ())
    tight = Node("location", ("=", "/c"), str(conf), 7, ())
    planned = plan([insert_into(app, "add_header A 1 always;"), insert_into(app, "add_header B 2 always;"),
                    insert_into(later, "add_header C 3 always;"), insert_into(tight, "add_header D 4;")])
    assert planned[str(conf)].new.decode() == (
        "server {\n    location /app { add_header A 1 always; add_header B 2 always; add_header X-Frame-Options DENY; "
        "return 200; }  # app\n    location /b\n    {\n        add_header C 3 always;\n        return 204;\n    }\n"
        "    server_name x; location = /c{ add_header D 4; return 200;}\n}\n")
