"""`--format github`: one workflow-command annotation per finding, escaped as GitHub requires,
then the plain text report (GitHub shows only the first few annotations of a step)."""

from __future__ import annotations

import io
import re

import typer.testing

from nginxssl.cli import lint_app
from nginxssl.model.finding import Finding
from nginxssl.report import github

NOW = "2030-01-01T00:00:00Z"


def unescape_data(value: str) -> str:
    """What the runner does with a command's message (GitHub's toolkit: %0D, %0A, then %25)."""
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(value: str) -> str:
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


def parse(line: str) -> tuple[str, dict[str, str], str]:
    match = re.fullmatch(r"::(\w+) ([^:]*)::(.*)", line)
    assert match, line
    properties = dict(item.split("=", 1) for item in match.group(2).split(","))
    return match.group(1), {k: unescape_property(v) for k, v in properties.items()}, unescape_data(match.group(3))


def test_severities_map_to_error_warning_notice(tmp_path):
    findings = [Finding("SSL002", str(tmp_path / "a.conf"), 7, "gone", severity="error", name="file-missing"),
                Finding("SSL007", str(tmp_path / "a.conf"), 8, "readable", severity="warning", name="key-permissions"),
                Finding("SSL008", str(tmp_path / "a.conf"), 9, "dynamic", severity="info", name="cert-path-dynamic")]
    out = io.StringIO()
    github.render(findings, out, "2 errors in 1 TLS site", base=str(tmp_path))
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["::error file=a.conf,line=7,title=SSL002 file-missing::gone",
                         "::warning file=a.conf,line=8,title=SSL007 key-permissions::readable",
                         "::notice file=a.conf,line=9,title=SSL008 cert-path-dynamic::dynamic"]
    assert lines[3:] == [f"{tmp_path}/a.conf:7: SSL002 error: gone", f"{tmp_path}/a.conf:8: SSL007 warning: readable",
                         f"{tmp_path}/a.conf:9: SSL008 info: dynamic", "2 errors in 1 TLS site"]


def test_paths_and_messages_are_escaped(tmp_path):
    odd = tmp_path / "sites, a:b" / "100%.conf"
    message = "ssl_certificate \"x\" is 100% wrong:\nline two\r, done"
    finding = Finding("SSL002", str(odd), 3, message, severity="error", name="file-missing")
    line = github.annotation(finding, base=str(tmp_path))
    assert line == ("::error file=sites%2C a%3Ab/100%25.conf,line=3,title=SSL002 file-missing::"
                    "ssl_certificate \"x\" is 100%25 wrong:%0Aline two%0D, done")
    assert "\n" not in line and "\r" not in line
    command, properties, data = parse(line)
    assert command == "error"
    assert properties == {"file": "sites, a:b/100%.conf", "line": "3", "title": "SSL002 file-missing"}
    assert data == message


def test_a_path_outside_the_working_directory_stays_absolute(tmp_path):
    finding = Finding("SSL002", "/etc/nginx/sites-enabled/a.conf", 3, "m", severity="error", name="file-missing")
    line = github.annotation(finding, base=str(tmp_path))
    assert line.startswith("::error file=/etc/nginx/sites-enabled/a.conf,line=3,")


def test_paths_are_relative_to_the_workflow_checkout(tmp_path, monkeypatch):
    """A step with `working-directory: configs` still annotates configs/... as GitHub names it."""
    (tmp_path / "configs").mkdir()
    monkeypatch.chdir(tmp_path / "configs")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    finding = Finding("SSL002", "sites/a.conf", 3, "m", severity="error", name="file-missing")
    assert github.annotation(finding).startswith("::error file=configs/sites/a.conf,line=3,")


def test_the_cli_prints_annotations_then_the_text_report(tmp_path, monkeypatch):
    from pki import build

    build({"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"]}},
           "files": {"a.pem": ["leaf"], "a.key": {"key": "leaf", "mode": "0644"}}}, tmp_path / "my, site")
    site = tmp_path / "my, site" / "a.conf"
    site.write_text("server {\n    listen 443 ssl;\n    server_name a.test;\n"
                    "    ssl_certificate a.pem;\n    ssl_certificate_key a.key;\n"
                    "    ssl_trusted_certificate missing.pem;\n}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    result = typer.testing.CliRunner().invoke(lint_app, ["my, site/a.conf", "--format", "github", "--now", NOW,
                                                         "--select", "SSL0"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    annotations = [line for line in lines if line.startswith("::")]
    assert [parse(line)[0] for line in annotations] == ["warning", "error"]
    assert annotations[0].startswith("::warning file=my%2C site/a.conf,line=5,title=SSL007 key-permissions::")
    assert annotations[1].startswith("::error file=my%2C site/a.conf,line=6,title=SSL002 file-missing::")
    assert lines[:len(annotations)] == annotations  # annotations first, then the report
    text = [line for line in lines[len(annotations):] if not line.startswith("    ")]  # first lines, no detail
    assert text[0].startswith("my, site/a.conf:5: SSL007 warning: ")
    assert text[1].startswith("my, site/a.conf:6: SSL002 error: ")
    assert text[-1] == "1 error, 1 warning in 1 TLS site"
    assert "\x1b[" not in result.stdout
