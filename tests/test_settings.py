"""Project settings (.sslint.yaml, [tool.sslint]) and inline suppressions, as a config repo uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer.testing

from nginxssl.cli import lint_app
from nginxssl.settings import SettingsError, find_settings, load_settings

SITE = ("server {{\n    listen 443 ssl;\n    server_name a.test;\n    ssl_certificate {cert};\n"
        "    ssl_certificate_key ../a.key;\n}}\n")


def sslint(*args: str) -> typer.testing.Result:
    return typer.testing.CliRunner().invoke(lint_app, list(args), catch_exceptions=False)


def rules_of(result) -> list[str]:
    return [finding["rule"] for finding in json.loads(result.stdout)["findings"]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A config repo: a site whose certificate file is missing (SSL002) and a world-readable key (SSL007)."""
    from pki import build

    build({"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"]}},
           "files": {"a.key": {"key": "leaf", "mode": "0644"}}}, tmp_path)
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "a.conf").write_text(SITE.format(cert="../missing.pem"))
    return tmp_path


def test_yaml_settings_select_and_per_path_ignores(repo):
    site = repo / "sites" / "a.conf"
    assert {"SSL002", "SSL007"} <= set(rules_of(sslint(str(site), "--format", "json")))
    (repo / ".sslint.yaml").write_text("select: [SSL0]\nper-path-ignores:\n  'sites/*.conf': [SSL002]\n")
    assert rules_of(sslint(str(site), "--format", "json")) == ["SSL007"]
    (repo / ".sslint.yaml").write_text("select: [SSL0]\nper-path-ignores:\n  'other/**': [SSL002]\n")
    assert sorted(rules_of(sslint(str(site), "--format", "json"))) == ["SSL002", "SSL007"]


def test_command_line_overrides_the_file(repo):
    (repo / ".sslint.yaml").write_text("select: [SSL007]\nfail-on: error\n")
    site = str(repo / "sites" / "a.conf")
    only_permissions = sslint(site, "--format", "json")
    assert rules_of(only_permissions) == ["SSL007"] and only_permissions.exit_code == 0  # warning < fail-on error
    overridden = sslint(site, "--format", "json", "--select", "SSL002", "--fail-on", "warning")
    assert rules_of(overridden) == ["SSL002"] and overridden.exit_code == 1


def test_severity_override(repo):
    (repo / ".sslint.yaml").write_text("select: [SSL002]\nseverity:\n  ssl002: info\n")
    result = sslint(str(repo / "sites" / "a.conf"), "--format", "json")
    assert [f["severity"] for f in json.loads(result.stdout)["findings"]] == ["info"]
    assert result.exit_code == 0


def test_pyproject_table(repo):
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n\n[tool.sslint]\nselect = ['SSL007']\n")
    assert rules_of(sslint(str(repo / "sites" / "a.conf"), "--format", "json")) == ["SSL007"]


@pytest.mark.parametrize("text,line,message", [
    ("select: [SSL0]\nexpiry-dayz: 3\n", 2, "unknown setting 'expiry-dayz'"),
    ("expiry-days: soon\n", 1, "expiry-days must be a int"),
    ("severity:\n  SSL002: fatal\n", 1, "is not one of"),
    ("select: [SSL0\n", 2, "not valid YAML"),
])
def test_bad_settings_are_errors_with_file_and_line(repo, text, line, message):
    (repo / ".sslint.yaml").write_text(text)
    result = typer.testing.CliRunner().invoke(lint_app, [str(repo / "sites" / "a.conf")])
    assert result.exit_code == 2
    assert f".sslint.yaml:{line}:" in result.output and message in result.output
    with pytest.raises(SettingsError):
        load_settings(str(repo / ".sslint.yaml"))


def test_settings_are_found_upward_and_paths_are_relative_to_the_file(repo):
    (repo / "certs").mkdir()
    (repo / ".sslint.yaml").write_text("ca-files: [certs/ca.pem]\nintermediates: [certs]\n")
    found = find_settings(str(repo / "sites" / "a.conf"))
    assert found == str(repo / ".sslint.yaml")
    settings = load_settings(found)
    assert settings.ca_files == (str(repo / "certs" / "ca.pem"),)
    assert settings.intermediates == (str(repo / "certs"),)


def test_inline_suppressions_and_the_unused_ones(repo):
    site = repo / "sites" / "a.conf"
    site.write_text(
        "# sslint: disable-file=SSL007\n"
        "server {  # sslint: disable=SSL401\n    listen 443 ssl;\n    server_name a.test;\n"
        "    # sslint: disable=SSL002\n    ssl_certificate ../missing.pem;\n"
        "    ssl_certificate_key ../a.key;  # sslint: disable=SSL005\n"
        "    root /srv;\n}\n")
    result = sslint(str(site), "--select", "SSL0", "--format", "json")
    findings = json.loads(result.stdout)["findings"]
    # SSL002 and SSL007 are silenced; the SSL005 comment silences nothing and is reported;
    # SSL401 was not run (--select SSL0), so its comment is not judged
    assert [(f["rule"], f["line"]) for f in findings] == [("SSL009", 7)]
    assert "disable=SSL005" in findings[0]["message"] and findings[0]["severity"] == "info"
    # run everything: the server-line suppression silences SSL401 (reported at the server block)
    everything = [(f["rule"], f["line"]) for f in json.loads(sslint(str(site), "--format", "json").stdout)["findings"]]
    assert ("SSL401", 2) not in everything and ("SSL009", 2) not in everything
    assert ("SSL404", 2) in everything


def test_server_version_from_the_command_line_and_the_file(repo):
    """A config repo linted where no nginx runs: judge the protocol defaults of production's build."""
    main = repo / "nginx.conf"
    main.write_text("events {}\nhttp {\n    include sites/*.conf;\n}\n")
    old = sslint(str(main), "--format", "json", "--select", "SSL501", "--server-version", "1.22.1")
    assert rules_of(old) == ["SSL501"] and "nginx 1.22.1's default" in old.stdout
    assert rules_of(sslint(str(main), "--format", "json", "--select", "SSL501", "--server-version",
                           "nginx/1.25.1 OpenSSL/3.0.13")) == []  # since 1.23.4: TLSv1.2 TLSv1.3 only
    unknown = json.loads(sslint(str(main), "--format", "json", "--select", "SSL501", "--server-version", "none").stdout)
    assert [f["severity"] for f in unknown["findings"]] == ["info"]
    assert "judged for server-version none" in unknown["findings"][0]["message"]

    (repo / ".sslint.yaml").write_text("select: [SSL501]\nserver-version: '1.22.1'\n")
    assert rules_of(sslint(str(main), "--format", "json")) == ["SSL501"]
    assert rules_of(sslint(str(main), "--format", "json", "--server-version", "1.26.0")) == []  # the command line wins


def test_a_server_version_without_a_version_is_a_usage_error(repo):
    main = repo / "nginx.conf"
    main.write_text("events {}\nhttp {\n    include sites/*.conf;\n}\n")
    result = typer.testing.CliRunner().invoke(lint_app, [str(main), "--server-version", "latest"])
    assert result.exit_code == 2 and "--server-version 'latest': no version number in it" in result.output
    (repo / ".sslint.yaml").write_text("select: [SSL501]\nserver-version: latest\n")
    result = typer.testing.CliRunner().invoke(lint_app, [str(main)])
    assert result.exit_code == 2 and ".sslint.yaml:2: server-version 'latest'" in result.output
