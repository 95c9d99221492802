"""`--format sarif`: a SARIF 2.1.0 log that the official schema accepts, with the
catalogue's rule metadata and fixes that, applied as the spec says, give what `--fix` writes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest
import typer.testing

from nginxssl.catalogue import catalogue
from nginxssl.cli import lint_app
from nginxssl.fix.plan import plan
from nginxssl.model.edits import DeleteLine, InsertLine, NewFile, ReplaceArgs
from nginxssl.model.finding import Finding, Fix
from nginxssl.report import sarif

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = DATA / "sarif-schema-2.1.0.json"
NOW = "2030-01-01T00:00:00Z"
PKI = {"root": {"ca": True},
       "swapped": {"issuer": "root", "names": ["swapped.test"]},
       "readable": {"issuer": "root", "names": ["readable.test"]},
       "nokey": {"issuer": "root", "names": ["nokey.test"]}}
FILES = {"ssl/swapped.pem": ["swapped"], "ssl/swapped.key": {"key": "swapped"},
         "ssl/readable.pem": ["readable"], "ssl/readable.key": {"key": "readable", "mode": "0644"},
         "ssl/nokey.pem": ["nokey"]}
SITES = {
    "swapped.conf": "server {\n    listen 443 ssl;\n    server_name swapped.test;\n"
                    "    ssl_certificate     ssl/swapped.key;   # swapped by mistake\n"
                    "    ssl_certificate_key ssl/swapped.pem;\n}\n",
    "nokey.conf": "server {\n    listen 443 ssl;\n    server_name nokey.test;\n"
                  "    ssl_certificate ssl/nokey.pem;\n    ssl_certificate_key ssl/nokey.key;\n}\n",
    "readable.conf": "server {\n    listen 443 ssl;\n    server_name readable.test;\n"
                     "    ssl_certificate ssl/readable.pem;\n    ssl_certificate_key ssl/readable.key;\n}\n",
    "dynamic.conf": "server {\n    listen 443 ssl;\n    server_name dyn.test;\n"
                    "    ssl_certificate ssl/$ssl_server_name.pem;\n"
                    "    ssl_certificate_key ssl/$ssl_server_name.key;\n}\n",
}


def validate(log: dict) -> dict:
    """Every SARIF the suite produces must satisfy the official schema (draft-04)."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    return log


def sslint(*args: str) -> typer.testing.Result:
    return typer.testing.CliRunner().invoke(lint_app, list(args), catch_exceptions=False)


def build_tree(directory: Path, sites: dict[str, str] = SITES) -> Path:
    from pki import build

    build({"pki": PKI, "files": FILES}, directory)
    (directory / "sites").mkdir()
    for name, text in sites.items():
        (directory / "sites" / name).write_text(text)
    (directory / "nginx.conf").write_text("events {}\nhttp {\n    include sites/*.conf;\n}\n")
    return directory


@pytest.fixture
def tree(tmp_path: Path, monkeypatch) -> Path:
    """A tree in a directory whose name needs percent-encoding, linted from its parent."""
    monkeypatch.chdir(tmp_path)
    return build_tree(tmp_path / "conf dir#1")


def sarif_of(*args: str) -> dict:
    result = sslint(*args, "--format", "sarif", "--now", NOW, "--select", "SSL0")
    assert result.exit_code == 1, result.output
    return validate(json.loads(result.stdout))


def result_for(log: dict, rule: str) -> dict:
    return next(r for r in log["runs"][0]["results"] if r["ruleId"] == rule)


# The spec's application of a fix, written from SARIF 2.1.0 §3.30 (text regions) and §3.57
# (replacement): lines end at CR, LF or CRLF; a missing endColumn means the end of the line
# without its newline; every deletedRegion refers to the unmodified artifact; replacements
# take effect in order. Independent of nginxssl.report.sarif on purpose.

def _offset(text: str, line: int, column: int) -> int:
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    assert 1 <= line <= len(starts), f"line {line} outside the artifact"
    offset = starts[line - 1] + column - 1
    assert offset <= len(text)
    return offset


def _span(text: str, region: dict) -> tuple[int, int]:
    start_line = region["startLine"]
    start = _offset(text, start_line, region.get("startColumn", 1))
    end_line = region.get("endLine", start_line)
    if "endColumn" in region:
        end = _offset(text, end_line, region["endColumn"])
    else:
        line_text = re.split(r"\r\n|\r|\n", text)[end_line - 1]
        end = _offset(text, end_line, len(line_text) + 1)
    return start, end


def apply_change(original: bytes, change: dict) -> bytes:
    """Apply one artifactChange to the bytes of the unmodified artifact (b"" for a new file)."""
    pieces, position = [], 0
    binary = "byteOffset" in change["replacements"][0]["deletedRegion"]
    base: bytes | str = original if binary else original.decode("utf-8")
    for replacement in change["replacements"]:
        region = replacement["deletedRegion"]
        if binary:
            start, end = region["byteOffset"], region["byteOffset"] + region.get("byteLength", 0)
            inserted: bytes | str = base64.b64decode(replacement.get("insertedContent", {}).get("binary", ""))
        else:
            start, end = _span(base, region)
            inserted = replacement.get("insertedContent", {}).get("text", "")
        assert start >= position, "replacements overlap or are out of order"
        pieces += [base[position:start], inserted]
        position = end
    pieces.append(base[position:])
    joined = (b"" if binary else "").join(pieces)
    return joined if binary else joined.encode("utf-8")


def path_of(location: dict, cwd: Path) -> Path:
    uri = location["uri"]
    if location.get("uriBaseId") == "%SRCROOT%":
        assert not urlsplit(uri).scheme and not uri.startswith("/")
        return cwd / unquote(uri)
    assert uri.startswith("file:///")
    return Path(unquote(urlsplit(uri).path))


def apply_fix(fix: dict, cwd: Path) -> None:
    for change in fix["artifactChanges"]:
        path = path_of(change["artifactLocation"], cwd)
        original = path.read_bytes() if path.exists() else b""
        path.write_bytes(apply_change(original, change))


# --- tests -------------------------------------------------------------------------------------

def test_the_schema_copy_is_the_official_one():
    expected = (DATA / "sarif-schema-2.1.0.json.sha256").read_text().split()[0]
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == expected
    assert expected == "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def test_findings_of_every_severity_validate_and_carry_their_rule(tree):
    log = sarif_of(str(tree))
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["columnKind"] == "unicodeCodePoints"
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "sslint"
    levels = {}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        levels[result["ruleId"]] = result["level"]
    assert levels == {"SSL002": "error", "SSL004": "error", "SSL007": "warning", "SSL008": "note"}

    missing = result_for(log, "SSL002")
    location = missing["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "conf%20dir%231/sites/nokey.conf", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 5}
    assert "nokey.key" in missing["message"]["text"]
    assert missing["properties"]["names"] == ["nokey.test"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == Path.cwd().as_uri() + "/"
    assert "fixes" not in missing and "fixes" not in result_for(log, "SSL007")


def test_rule_metadata_come_from_the_catalogue(tree):
    log = sarif_of(str(tree))
    descriptors = log["runs"][0]["tool"]["driver"]["rules"]
    assert [d["id"] for d in descriptors] == list(catalogue())
    for descriptor in descriptors:
        rule = catalogue()[descriptor["id"]]
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"]["text"] == rule.summary
        assert descriptor["fullDescription"]["text"] == (rule.why or rule.summary)
        assert rule.fix in descriptor["help"]["text"] and (rule.why or rule.summary) in descriptor["help"]["text"]
        assert rule.fix in descriptor["help"]["markdown"]
        level = {"error": "error", "warning": "warning", "info": "note"}[rule.severity]
        assert descriptor["defaultConfiguration"]["level"] == level


def test_the_fix_applied_as_sarif_says_equals_what_fix_writes(tree, tmp_path):
    log = sarif_of(str(tree))
    swapped = result_for(log, "SSL004")
    [fix] = swapped["fixes"]
    [change] = fix["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "conf%20dir%231/sites/swapped.conf", "uriBaseId": "%SRCROOT%"}
    assert fix["description"]["text"].startswith("swap the paths")

    by_fix = tmp_path / "by-fix"
    shutil.copytree(tree, by_fix, symlinks=True)
    fixed = sslint(str(by_fix), "--fix", "--no-validate", "--now", NOW, "--select", "SSL004")
    assert fixed.exit_code == 0, fixed.output
    original = (tree / "sites" / "swapped.conf").read_bytes()
    apply_fix(fix, Path.cwd())
    assert (tree / "sites" / "swapped.conf").read_bytes() == (by_fix / "sites" / "swapped.conf").read_bytes()
    assert (tree / "sites" / "swapped.conf").read_bytes() != original
    assert b"ssl_certificate     ssl/swapped.pem;   # swapped by mistake" in (tree / "sites" / "swapped.conf").read_bytes()


def test_real_nginx_accepts_the_tree_the_sarif_fix_produces(tmp_path, monkeypatch):
    from judges import nginx_test, require

    require("nginx")
    monkeypatch.chdir(tmp_path)
    tree = build_tree(tmp_path / "site", {"swapped.conf": SITES["swapped.conf"]})
    assert not nginx_test(tree / "nginx.conf", prefix=tree).ok
    log = sarif_of(str(tree))
    apply_fix(result_for(log, "SSL004")["fixes"][0], tmp_path)
    assert nginx_test(tree / "nginx.conf", prefix=tree).ok
    assert sslint(str(tree), "--now", NOW, "--select", "SSL0").exit_code == 0


def test_paths_outside_the_working_directory_are_absolute_file_uris(tmp_path, monkeypatch):
    tree = build_tree(tmp_path / "a b")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    log = sarif_of(str(tree))
    location = result_for(log, "SSL002")["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": (tree / "sites" / "nokey.conf").as_uri()}
    assert "%20" in location["uri"]


def test_sarif_after_fix_reports_the_findings_without_stale_fixes(tree):
    result = sslint(str(tree), "--format", "sarif", "--fix", "--no-validate", "--now", NOW, "--select", "SSL004")
    log = validate(json.loads(result.stdout))
    # After --fix the report is what remains (issue 19): the swapped pair was fixed.
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == []
    assert "1 fixed, 0 remaining" in result.stderr


# Edge cases of the region arithmetic, each checked against the plan the fixer itself applies.

def _finding(path: Path, *edits, safe: bool = True) -> Finding:
    return Finding("SSL004", str(path), 1, "m", severity="error", name="cert-key-swapped",
                   fix=Fix("edit", tuple(edits), safe))


@pytest.mark.parametrize("content,edits", [
    # no newline at the end of the file: the replaced last line has none either
    (b"server {\n    ssl_certificate a.key;\n}", [ReplaceArgs("{f}", 2, "ssl_certificate", ("a.pem",))]),
    (b"server { ssl_certificate a.key; }", [ReplaceArgs("{f}", 1, "ssl_certificate", ("a.pem",))]),
    # CRLF line endings, an insertion after the opening line, a deletion of the last line
    (b"server {\r\n    listen 443;\r\n    ssl on;\r\n}\r\n",
     [InsertLine("{f}", 1, "add_header X-A 1 always;"), DeleteLine("{f}", 3, "ssl")]),
    (b"server {\n    listen 443;\n}\n    ssl_stapling on;\n", [DeleteLine("{f}", 4, "ssl_stapling")]),
    # non-ASCII text before the edit (columns count code points) and a BOM
    (b"\xef\xbb\xbf# caf\xc3\xa9 \xe2\x82\xac\nserver { ssl_certificate a.key; }",
     [ReplaceArgs("{f}", 2, "ssl_certificate", ("d\xe9j\xe0.pem",))]),
    # not UTF-8: exact byte regions instead of text regions
    (b"# caf\xe9\nserver {\n    ssl_certificate a.key;\n}\n", [ReplaceArgs("{f}", 3, "ssl_certificate", ("a.pem",))]),
])
def test_replacements_reproduce_the_fixers_plan(tmp_path, content, edits):
    site = tmp_path / "site.conf"
    site.write_bytes(content)
    edits = [replace(edit, file=str(site)) for edit in edits]
    expected = plan(edits)[str(site)].new
    log = validate(sarif.log([_finding(site, *edits)], cwd=str(tmp_path), planner=plan))
    [change] = log["runs"][0]["results"][0]["fixes"][0]["artifactChanges"]
    assert apply_change(content, change) == expected


def test_a_new_file_is_an_insertion_at_the_start_of_an_empty_artifact(tmp_path):
    chain = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    site = tmp_path / "site.conf"
    site.write_text("server {\n    ssl_certificate a.pem;\n}\n")
    finding = _finding(site, NewFile(str(tmp_path / "a.fullchain.pem"), chain),
                       ReplaceArgs(str(site), 2, "ssl_certificate", ("a.fullchain.pem",)))
    log = validate(sarif.log([finding], cwd=str(tmp_path), planner=plan))
    changes = log["runs"][0]["results"][0]["fixes"][0]["artifactChanges"]
    assert [c["artifactLocation"]["uri"] for c in changes] == ["a.fullchain.pem", "site.conf"]
    assert changes[0]["replacements"] == [{"deletedRegion": {"startLine": 1, "startColumn": 1, "endColumn": 1},
                                           "insertedContent": {"text": chain.decode()}}]
    apply_fix(log["runs"][0]["results"][0]["fixes"][0], tmp_path)
    assert (tmp_path / "a.fullchain.pem").read_bytes() == chain
    assert b"ssl_certificate a.fullchain.pem;" in site.read_bytes()


def test_key_material_never_enters_the_log(tmp_path):
    secret = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
    finding = _finding(tmp_path / "site.conf", NewFile(str(tmp_path / "a.fullchain.pem"), secret))
    log = validate(sarif.log([finding], cwd=str(tmp_path), planner=plan))
    assert "fixes" not in log["runs"][0]["results"][0]
    assert "c2VjcmV0" not in json.dumps(log)


def test_a_fix_that_no_longer_applies_is_left_out(tmp_path):
    site = tmp_path / "site.conf"
    site.write_text("server {\n}\n")
    finding = _finding(site, ReplaceArgs(str(site), 2, "ssl_certificate", ("a.pem",)))
    log = validate(sarif.log([finding], cwd=str(tmp_path), planner=plan))
    assert "fixes" not in log["runs"][0]["results"][0]


def test_unsafe_fixes_say_so(tmp_path):
    site = tmp_path / "site.conf"
    site.write_text("server {\n    ssl_protocols TLSv1 TLSv1.2;\n}\n")
    finding = _finding(site, ReplaceArgs(str(site), 2, "ssl_protocols", ("TLSv1.2",)), safe=False)
    [fix] = validate(sarif.log([finding], cwd=str(tmp_path), planner=plan))["runs"][0]["results"][0]["fixes"]
    assert fix["properties"]["safe"] is False and "--unsafe-fixes" in fix["description"]["text"]


def test_odd_paths_are_percent_encoded_uris(tmp_path):
    odd = tmp_path / "x:y" / "50% [a]"
    odd.mkdir(parents=True)
    location = sarif.artifact_location(str(odd / "ä.conf"), str(tmp_path))
    assert location == {"uri": "x%3Ay/50%25%20%5Ba%5D/%C3%A4.conf", "uriBaseId": "%SRCROOT%"}
    assert path_of(location, tmp_path) == odd / "ä.conf"
    latin1 = os.fsdecode(b"caf\xe9.conf")
    assert sarif.artifact_location(os.path.join(str(tmp_path), latin1), str(tmp_path))["uri"] == "caf%E9.conf"
    # a sibling whose name starts with ".." is still under the working directory
    assert sarif.artifact_location(str(tmp_path / "..x.conf"), str(tmp_path))["uriBaseId"] == "%SRCROOT%"


# ---------------------------------------------------------------- GitHub code scanning
# What GitHub's "SARIF support for code scanning" reads: rules with help (text and markdown) and
# helpUri, properties.tags and properties.security-severity (a number 0.0-10.0 as a string, shown
# for rules tagged "security"); results with a message, a location relative to the repository root,
# and partialFingerprints that stay the same when lines move (not primaryLocationLineHash, which
# GitHub computes itself and overwrites).


def fingerprints(log: dict) -> dict[str, tuple[str, int]]:
    return {r["partialFingerprints"]["sslint/v1"]: (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]
                                                      ["startLine"]) for r in log["runs"][0]["results"]}


def test_rules_carry_what_github_shows(tree, monkeypatch):
    # The home page comes from the installed package's Project-URL metadata; where it has none (a
    # checkout with no public home yet), the log names none rather than a made-up one.
    home = sarif.project_url()
    log = sarif_of(str(tree))
    driver = log["runs"][0]["tool"]["driver"]
    assert driver.get("informationUri") == home
    assert all(("helpUri" in rule) == (home is not None) for rule in driver["rules"])
    monkeypatch.setattr(sarif, "project_url", lambda: "https://example.org/mirror/sslint")
    log = sarif_of(str(tree))
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == "https://example.org/mirror/sslint"
    for rule in driver["rules"]:
        assert rule["help"]["text"] and rule["help"]["markdown"].startswith(f"**{rule['id']} ")
        assert rule["helpUri"] == f"{driver['informationUri']}/blob/main/rules/{rule['id']}.yaml"
        assert "security" in rule["properties"]["tags"]
        score = float(rule["properties"]["security-severity"])
        assert 0.0 <= score <= 10.0 and rule["properties"]["security-severity"] == f"{score:.1f}"
        # the catalogue's severity decides the band: error high (7.0-8.9), warning medium, info low
        band = {"error": (7.0, 8.9), "warning": (4.0, 6.9), "note": (0.1, 3.9)}[rule["defaultConfiguration"]["level"]]
        assert band[0] <= score <= band[1], rule["id"]
    for result in log["runs"][0]["results"]:
        assert set(result["partialFingerprints"]) == {"sslint/v1"}
        assert result["message"]["text"]


def test_fingerprints_survive_lines_added_above(tree):
    before = fingerprints(sarif_of(str(tree)))
    for site in (tree / "sites").iterdir():
        site.write_text("# moved down by a comment\n\n" + site.read_text())
    after = fingerprints(sarif_of(str(tree)))
    assert before.keys() == after.keys() and len(before) >= 3
    assert all(after[key] == (rule, line + 2) for key, (rule, line) in before.items())
    # A change to the flagged line itself is a change to what the alert is about: a new fingerprint
    # for that one finding, the others untouched.
    swapped = tree / "sites" / "swapped.conf"
    swapped.write_text(swapped.read_text().replace("ssl/swapped.key;", "ssl/./swapped.key;"))
    changed = fingerprints(sarif_of(str(tree)))
    [new] = set(changed) - set(after)
    assert changed[new][0] == "SSL004" and len(set(after) - set(changed)) == 1


def test_paths_are_relative_to_the_repository_root_wherever_sslint_runs(tmp_path, monkeypatch):
    """A config repository checked out at tmp_path/repo, linted from repo/etc: GitHub needs
    `etc/nginx/...`, the path in the repository, not `nginx/...`."""
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    repo = tmp_path / "repo"
    build_tree(repo / "etc" / "nginx")
    (repo / ".git").mkdir()  # what makes a checkout's root (git itself is not needed for the report)
    monkeypatch.chdir(repo / "etc")
    log = sarif_of("nginx")
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.as_uri() + "/"
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris and all(uri.startswith("etc/nginx/sites/") for uri in uris), uris
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
               for r in run["results"])
    # In a workflow, $GITHUB_WORKSPACE is the checkout, whatever directory the step runs in.
    monkeypatch.setenv("GITHUB_WORKSPACE", str(repo / "etc"))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in sarif_of("nginx")["runs"][0]["results"]}
    assert all(uri.startswith("nginx/sites/") for uri in uris), uris
