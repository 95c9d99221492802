"""The command line as a user meets it: exit codes, formats, discovery, the demo tree."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import typer.testing
from text_report import blocks

from nginxssl.cli import commands_app, lint_app

REPO = Path(__file__).resolve().parent.parent
RUNNER = typer.testing.CliRunner()


def sslint(*args: str, cwd: Path | None = None) -> typer.testing.Result:
    from nginxssl.cli import SUBCOMMANDS

    app = commands_app if args and args[0] in SUBCOMMANDS else lint_app
    previous = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return RUNNER.invoke(app, list(args), catch_exceptions=True)
    finally:
        os.chdir(previous)


def test_demo_reports_its_broken_sites(demo):
    result = sslint(str(demo))
    assert result.exit_code == 1, result.output
    lines = blocks(result.output)
    assert any("sites-enabled/nokey.conf:7: SSL002 error: " in line for line in lines)
    assert any("sites-enabled/wrongkey.conf:7: SSL005 error: " in line and "good.example.test" in line for line in lines)
    assert lines[-1].endswith("in 8 TLS sites")


def test_text_report_is_a_headline_per_finding_with_the_detail_below(demo):
    """shared/DESIGN.md: `file:line: ID severity: headline`, the headline short enough to read at a
    glance, the detail (what the browser or server does, the fix) on indented lines; concise is the
    first lines alone. Measured as a user runs it, on the tree named relative to where they stand."""
    full = sslint("nginx", cwd=demo.parent)
    concise = sslint("nginx", "--format", "concise", cwd=demo.parent)
    assert full.exit_code == concise.exit_code == 1
    first_lines = concise.output.splitlines()
    assert [line for line in full.output.splitlines() if not line.startswith("    ")] == first_lines
    findings, summary = first_lines[:-1], first_lines[-1]
    assert len(findings) == 8 and summary == "7 errors, 1 info in 8 TLS sites"
    for line in findings:
        assert re.match(r"nginx/\S+:\d+: SSL\d{3} (error|warning|info): \S", line), line
        assert len(line) < 130, line
    for line in full.output.splitlines():
        # The detail wraps at 100 columns, but never inside a `command` (copied to a shell whole).
        assert len(line) <= 100 or not line.startswith("    ") or re.fullmatch(r" +`[^`]+`\W*", line), line
    # Nothing of a message is lost in the text: JSON's whole message, word for word, is in the block.
    messages = {(f["rule"], f["line"]): f["message"] for f in json.loads(sslint(str(demo), "--format", "json").stdout)
                ["findings"]}
    expired = next(line for line in blocks(full.output) if " SSL101 " in line)
    assert expired.startswith("nginx/sites-enabled/expired.conf:6: SSL101 error: certificate 'expired.example.test'")
    for word in messages[("SSL101", 6)].replace(str(demo), "nginx").split():
        assert word.rstrip(";") in expired, word  # a clause's "; " is the end of its line


def test_conventions_of_the_linters_users_know(demo, tmp_path):
    """ruff's and yamllint's: --exit-zero, -o/--output-file, --quiet, comma lists for --select/--ignore."""
    assert sslint(str(demo), "--exit-zero").exit_code == 0
    assert sslint(str(demo), "--exit-zero", "--root", "/nonexistent").exit_code == 2  # usage errors stay 2
    listed = json.loads(sslint(str(demo), "--select", "SSL002,SSL1", "--ignore", "SSL104, SSL101",
                               "--format", "json").stdout)
    assert sorted(f["rule"] for f in listed["findings"]) == ["SSL002"]
    assert "'SSL9'" in sslint(str(demo), "--select", "SSL002,SSL9").output
    quiet = sslint(str(demo), "--quiet", "--format", "concise")
    assert quiet.exit_code == 1 and len(quiet.output.splitlines()) == 8 and "TLS sites" not in quiet.output
    clean = sslint(str(demo / "sites-enabled" / "good.conf"), "--select", "SSL0", "-q")
    assert clean.exit_code == 0 and clean.output == ""
    report = tmp_path / "report.txt"
    written = sslint(str(demo), "-o", str(report), "--format", "concise")
    assert written.exit_code == 1 and written.output == "" and report.read_text() == sslint(
        str(demo), "--format", "concise").output
    unwritable = sslint(str(demo), "-o", str(tmp_path / "no" / "such" / "dir" / "x"))
    assert unwritable.exit_code == 2 and "cannot write" in unwritable.output


def test_help_names_every_subcommand():
    from nginxssl.cli import SUBCOMMANDS

    shown = subprocess.run([sys.executable, "-m", "nginxssl", "--help"], capture_output=True, text=True, check=True)
    for command in SUBCOMMANDS:
        assert f"sslint {command}" in shown.stdout, command
    for option in ("--exit-zero", "--output-file", "--quiet", "--statistics", "concise"):
        assert option in shown.stdout, option


@pytest.mark.parametrize("words, offered", [
    ("sslint --select SSL10", {f"SSL10{digit}" for digit in range(1, 10)}),
    ("sslint a.conf --ignore SSL101,SSL50", {"SSL101,SSL501", "SSL101,SSL502", "SSL101,SSL503", "SSL101,SSL504",
                                              "SSL101,SSL505", "SSL101,SSL506", "SSL101,SSL507"}),
    ("sslint explain SSL20", {"SSL201", "SSL202", "SSL203", "SSL204"}),
])
def test_completion_offers_rule_ids(words, offered):
    from nginxssl.catalogue import catalogue

    env = {**os.environ, "_SSLINT_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}
    out = subprocess.run([sys.executable, "-m", "nginxssl"], env=env, capture_output=True, text=True)
    # Only the ids the catalogue holds (SSL506, SSL507 may not exist yet in every branch).
    expected = {word for word in offered if word.rpartition(",")[2] in catalogue()}
    assert set(out.stdout.split()) == expected and expected, out.stderr


def test_statistics_count_the_findings_by_rule(demo):
    result = sslint(str(demo), "--statistics")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].split() == ["1", "SSL002", "error", "file-missing"]
    assert len(lines) == 9 and lines[-1] == "7 errors, 1 info in 8 TLS sites"
    assert sslint(str(demo), "--statistics", "--format", "json").exit_code == 2


def test_json_contract(demo):
    result = sslint(str(demo), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert set(report) == {"version", "findings", "summary"}
    finding = next(f for f in report["findings"] if f["rule"] == "SSL005")
    assert set(finding) >= {"rule", "name", "severity", "message", "file", "line", "server", "names", "fixable"}
    assert finding["name"] == "key-mismatch" and finding["severity"] == "error"
    assert finding["names"] == ["wrongkey.example.test"] and finding["server"] == "nginx"
    assert finding["file"].endswith("sites-enabled/wrongkey.conf") and finding["line"] == 7
    assert report["summary"]["error"] == len([f for f in report["findings"] if f["severity"] == "error"])


def test_a_lone_site_file_is_linted_with_its_tree_prefix(demo):
    result = sslint(str(demo / "sites-enabled" / "wrongkey.conf"), "--ca-file", str(demo / "ssl" / "ca" / "root.pem"))
    assert result.exit_code == 1
    assert "SSL005" in result.output and "1 error in 1 TLS site" in result.output


def test_clean_site_exits_zero(demo):
    result = sslint(str(demo / "sites-enabled" / "good.conf"), "--select", "SSL0")
    assert result.exit_code == 0, result.output


def test_select_ignore_and_fail_on(demo):
    only_keys = sslint(str(demo), "--select", "SSL005", "--format", "json")
    assert {f["rule"] for f in json.loads(only_keys.stdout)["findings"]} == {"SSL005"}
    ignored = sslint(str(demo), "--ignore", "SSL00", "--format", "json")
    assert not any(f["rule"].startswith("SSL00") for f in json.loads(ignored.stdout)["findings"])
    assert sslint(str(demo), "--select", "NOPE").exit_code == 2


def test_fail_on_error_lets_warnings_pass(tmp_path):
    from pki import build

    build({"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"]}},
           "files": {"a.pem": ["leaf"], "a.key": {"key": "leaf", "mode": "0644"}}}, tmp_path)
    site = tmp_path / "a.conf"
    site.write_text("server { listen 443 ssl; server_name a.test;\n"
                    "  ssl_certificate a.pem; ssl_certificate_key a.key; }\n")
    warned = sslint(str(site), "--select", "SSL007")
    assert warned.exit_code == 1 and "SSL007" in warned.output
    assert sslint(str(site), "--select", "SSL007", "--fail-on", "error").exit_code == 0


def test_a_directory_named_rules_is_still_lintable(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "nginx.conf").write_text("events {}\nhttp {}\n")
    result = sslint("./rules", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "no TLS site found in 1 configuration" in result.output  # linted: it has no server at all


@pytest.mark.parametrize("args,message", [
    (["/nonexistent/path"], "no such file or directory"),
    (["{empty}"], "no nginx.conf"),
    (["{demo}", "--now", "yesterday"], "not an ISO 8601 time"),
    (["{demo}", "--root", "/nonexistent"], "not a directory"),
])
def test_usage_errors_exit_2_with_a_message(args, message, tmp_path, demo):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [arg.format(empty=empty, demo=demo) for arg in args]
    result = sslint(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_syntax_error_is_a_finding_and_other_files_are_still_linted(demo):
    broken = demo / "sites-enabled" / "broken.conf"
    broken.write_text("server {\n    listen 443 ssl;\n    server_name broken.example.test;\n")
    result = sslint(str(demo), "--format", "json")
    findings = json.loads(result.stdout)["findings"]
    syntax = [f for f in findings if f["rule"] == "SSL001"]
    assert syntax and syntax[0]["file"].endswith("broken.conf") and syntax[0]["line"] == 3
    assert any(f["rule"] == "SSL005" for f in findings)


def test_root_maps_absolute_paths(tmp_path):
    from pki import build

    etc = tmp_path / "checkout" / "etc" / "nginx"
    build({"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"]}},
           "files": {"ssl/a.pem": ["leaf"]}}, etc)
    (etc / "sites-available").mkdir()
    (etc / "sites-enabled").mkdir()
    (etc / "nginx.conf").write_text("events {}\nhttp { include /etc/nginx/sites-enabled/*; }\n")
    (etc / "sites-available" / "a.conf").write_text(
        "server {\n  listen 443 ssl;\n  server_name a.test;\n"
        "  ssl_certificate /etc/nginx/ssl/a.pem;\n  ssl_certificate_key /etc/nginx/ssl/a.key;\n}\n")
    # an absolute symlink, as Debian's nginx_ensite makes: it must resolve under --root
    (etc / "sites-enabled" / "a.conf").symlink_to("/etc/nginx/sites-available/a.conf")
    result = sslint(str(etc), "--root", str(tmp_path / "checkout"), "--format", "json", "--select", "SSL0")
    findings = [f for f in json.loads(result.stdout)["findings"] if f["rule"].startswith("SSL00")]
    assert [f["rule"] for f in findings] == ["SSL002"], findings
    # a config repository holds no keys: one info, not an error per site
    assert findings[0]["severity"] == "info" and "not in the repository" in findings[0]["message"]
    assert "a.key" in findings[0]["message"] and findings[0]["line"] == 5
    strict = sslint(str(etc), "--root", str(tmp_path / "checkout"), "--require-keys", "--select", "SSL002",
                    "--format", "json")
    [error] = json.loads(strict.stdout)["findings"]
    assert error["severity"] == "error" and "does not exist" in error["message"]


def test_rules_and_explain():
    listing = sslint("rules")
    assert listing.exit_code == 0 and "SSL005  key-mismatch" in listing.output
    explained = sslint("explain", "ssl005")
    assert explained.exit_code == 0 and "key values mismatch" in explained.output
    assert sslint("explain", "SSL999").exit_code == 2


def test_version_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "nginxssl", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("sslint ")


def test_wheel_carries_the_rule_catalogue(tmp_path):
    """`sslint explain` must work after a plain `pip install .`, not only from a checkout."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("sslint-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    rules = sorted(name for name in names if name.startswith("nginxssl/rules/") and name.endswith(".yaml"))
    assert len(rules) == len(list((REPO / "rules").glob("*.yaml")))


def test_readme_test_command_is_what_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in readme


def test_readme_rule_table_is_the_catalogue():
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- rules:start")
    table = readme[readme.index("\n", start) + 1:readme.index("<!-- rules:end -->")]
    assert table == sslint("rules", "--markdown").stdout


def test_shell_completion_offers_options_and_their_values():
    import os as _os

    env = {**_os.environ, "_SSLINT_COMPLETE": "complete_bash", "COMP_WORDS": "sslint --format ", "COMP_CWORD": "2"}
    out = subprocess.run([sys.executable, "-m", "nginxssl"], env=env, capture_output=True, text=True)
    assert set(out.stdout.split()) == {"text", "concise", "json", "sarif", "github", "html"}
    script = subprocess.run([sys.executable, "-m", "nginxssl", "--show-completion", "bash"],
                            capture_output=True, text=True, env={**_os.environ, "SHELL": "/bin/bash"})
    assert "_SSLINT_COMPLETE" in script.stdout


def test_a_config_repository_without_root_stops_instead_of_linting_the_machine(tmp_path):
    """The checkout holds etc/nginx/...; its nginx.conf includes /etc/nginx/sites-enabled/*, which on
    this machine is the host's own /etc/nginx (or nothing): without --root, a silent pass before."""
    repo = tmp_path / "configs"
    sites = repo / "etc" / "nginx" / "sites-enabled"
    sites.mkdir(parents=True)
    (repo / "etc" / "nginx" / "nginx.conf").write_text(
        "events {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n")
    (sites / "a.conf").write_text("server {\n    listen 443 ssl;\n    server_name a.test;\n"
                                  "    ssl_certificate /etc/ssl/a.pem;\n    ssl_certificate_key /etc/ssl/a.key;\n}\n")
    stopped = sslint("etc/nginx", cwd=repo)
    assert stopped.exit_code == 2, stopped.output
    assert "/etc/nginx/sites-enabled/*" in stopped.output and "did you mean `--root .`?" in stopped.output
    from_elsewhere = sslint(str(repo / "etc" / "nginx"))
    assert from_elsewhere.exit_code == 2 and f"`--root {os.path.relpath(repo)}`" in from_elsewhere.output
    linted = sslint("etc/nginx", "--root", ".", "--select", "SSL002", cwd=repo)
    assert linted.exit_code == 1 and "a.conf:4: SSL002 error: " in linted.output and "1 TLS site" in linted.output
    (repo / ".sslint.yaml").write_text("root: .\n")  # the settings file's root is followed too
    assert sslint("etc/nginx", "--select", "SSL002", cwd=repo).exit_code == 1


def test_a_run_that_found_no_tls_site_says_so(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    include sites-enabled/*;\n}\n")  # a glob that matches nothing
    result = sslint(str(conf))
    assert result.exit_code == 0
    assert result.output.strip() == ("no TLS site found in 1 configuration: nothing checked "
                                     "(do its includes reach the site files?)")


def test_a_dsa_key_gives_findings_not_a_library_warning(tmp_path):
    """cryptography warns "DSA is deprecated" when such a key is loaded; with a DSA trust anchor
    the warning reached the user's stderr as two lines of Python. The rules judge the key (SSL502)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa
    from cryptography.x509.oid import NameOID

    key = dsa.generate_private_key(1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d.test")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=300))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("d.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (tmp_path / "nginx.conf").write_text(
        f"events {{}}\nhttp {{ server {{ listen 443 ssl; server_name d.test; ssl_certificate {tmp_path}/c.pem; "
        f"ssl_certificate_key {tmp_path}/k.pem; }} }}\n")
    for trust in ([], ["--ca-file", str(tmp_path / "c.pem")]):
        done = subprocess.run([sys.executable, "-m", "nginxssl", str(tmp_path / "nginx.conf"), *trust, "--now",
                               "2026-06-01T00:00:00Z", "--no-cache", "--format", "json"],
                              capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": ""})
        assert done.returncode == 1, done.stderr
        assert "SSL502" in {finding["rule"] for finding in json.loads(done.stdout)["findings"]}
        assert done.stderr == ""
