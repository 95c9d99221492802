"""One finding per root cause (issue 18, item 2): a key file shared by many sites, a dynamic
certificate pair, a tree reached through several paths on the command line."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import typer.testing

from nginxssl.catalogue import catalogue
from nginxssl.cli import lint_app
from nginxssl.discover import discover
from nginxssl.engine.lint import lint, lint_each_tree_once
from nginxssl.model.settings import Settings

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
SETTINGS = Settings(now=NOW, server_version="nginx/1.22.1 OpenSSL/3.0.13")
PKI = {"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test", "b.test", "c.test"],
                                              "not_before": "2029-06-01", "not_after": "2030-06-01"}},
       "files": {"a.pem": ["leaf"], "a.key": {"key": "leaf", "mode": "0644"}}}


def tree(tmp_path: Path) -> Path:
    from pki import build

    build(PKI, tmp_path)
    sites = tmp_path / "sites-enabled"
    sites.mkdir()
    for name in ("a", "b", "c"):
        (sites / f"{name}.conf").write_text(
            f"server {{\n    listen 443 ssl;\n    server_name {name}.test;\n    ssl_certificate {tmp_path}/a.pem;\n"
            f"    ssl_certificate_key {tmp_path}/a.key;\n    return 301 https://x.test;\n}}\n")
    (sites / "d.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name ~^(?<n>.+)$;\n    ssl_certificate /etc/ssl/$ssl_server_name.pem;\n"
        "    ssl_certificate_key /etc/ssl/$ssl_server_name.key;\n    return 301 https://x.test;\n}\n")
    main = tmp_path / "nginx.conf"
    main.write_text(f"events {{}}\nhttp {{\n    include {sites}/*.conf;\n}}\n")
    return main


def test_a_key_file_shared_by_three_sites_is_one_ssl007_naming_them_all(tmp_path):
    main = tree(tmp_path)
    findings = lint(discover(str(main)), SETTINGS, tuple(catalogue())).findings
    ssl007 = [f for f in findings if f.rule == "SSL007"]
    assert len(ssl007) == 1, ssl007
    assert ssl007[0].names == ("a.test", "b.test", "c.test")
    assert ssl007[0].file.endswith("a.conf") and ssl007[0].line == 5
    assert [(Path(r.file).name, r.line, r.names) for r in ssl007[0].related] == [
        ("b.conf", 5, ("b.test",)), ("c.conf", 5, ("c.test",))]
    ssl008 = [f for f in findings if f.rule == "SSL008"]
    assert [(Path(f.file).name, f.line) for f in ssl008] == [("d.conf", 4)]  # the pair once, at the certificate


def test_the_same_tree_through_several_paths_is_reported_once(tmp_path):
    main = tree(tmp_path)
    site = tmp_path / "sites-enabled" / "a.conf"
    once = lint_each_tree_once([discover(str(site)), discover(str(main))],
                               lambda target: lint(target, SETTINGS, tuple(catalogue())))
    assert [result.target.path for result in once] == [str(main)]  # the site file is part of the tree
    keys = [(f.rule, f.file, f.line) for result in once for f in result.findings]
    assert len(keys) == len(set(keys))


def test_json_carries_the_related_places(tmp_path):
    main = tree(tmp_path)
    result = typer.testing.CliRunner().invoke(lint_app, [str(main), "--now", "2030-01-01T00:00:00Z",
                                                         "--format", "json", "--select", "SSL007"])
    finding, = json.loads(result.stdout)["findings"]
    assert [(Path(r["file"]).name, r["line"], r["names"]) for r in finding["related"]] == [
        ("b.conf", 5, ["b.test"]), ("c.conf", 5, ["c.test"])]


def test_a_catch_all_self_signed_server_gets_no_certbot_command_it_cannot_follow(tmp_path):
    """`certbot --nginx -d _` would fail: a catch-all (`server_name _;`) gets the ways out without it,
    and no header finding calls it a server without server_name."""
    from pki import build

    build({"pki": {"self": {"ca": True, "names": ["snakeoil.invalid"], "not_before": "2029-06-01",
                            "not_after": "2030-06-01"}},
           "files": {"s.pem": ["self"], "s.key": {"key": "self"}}}, tmp_path)
    main = tmp_path / "nginx.conf"
    main.write_text(f"events {{}}\nhttp {{\n  server {{\n    listen 443 ssl default_server;\n    server_name _;\n"
                    f"    ssl_certificate {tmp_path}/s.pem;\n    ssl_certificate_key {tmp_path}/s.key;\n  }}\n}}\n")
    findings = lint(discover(str(main)), SETTINGS, tuple(catalogue())).findings
    self_signed = [f for f in findings if f.rule == "SSL104"]
    assert self_signed and not any("certbot" in f.message for f in self_signed)
    assert not any("no server_name" in f.message for f in findings), [f.message for f in findings]
