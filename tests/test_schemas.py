"""Every machine format of every corpus tree against its schema: the JSON report against the schema the
package ships (nginxssl/report/schemas/), SARIF against SARIF 2.1.0's (shared/schemas), GitHub's
workflow commands and the text formats against their line grammar."""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import typer.testing

from nginxssl.cli import lint_app

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.is_dir():  # CI lays shared/ beside the clone
    SHARED = Path(os.environ.get("SSLINT_CORPUS", "/work/shared/corpus")).parent
CORPUS = SHARED / "corpus"
SARIF_SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"
MAIN_NAMES = ("nginx.conf", "apache2.conf", "httpd.conf")
NOW = "2026-12-01T00:00:00Z"


def report_schema() -> dict:
    """The schema as an installed package holds it."""
    return json.loads(resources.files("nginxssl.report").joinpath("schemas/report.schema.json").read_text("utf-8"))


def corpus_trees() -> list[str]:
    """Each project of shared/corpus that holds main configurations (nginx.conf, apache2.conf, httpd.conf)."""
    if not CORPUS.is_dir():
        return []
    return sorted(project.name for project in CORPUS.iterdir()
                  if project.is_dir() and any(path.name in MAIN_NAMES for path in project.rglob("*")))


def mains(project: str) -> list[list[str]]:
    """The project's main configurations as runs: one for all of them, but a copy of a server's file
    system (Debian's packages hold etc/nginx/...) with its own --root, as sslint asks for it."""
    from nginxssl.settings import mirrored_root

    found = sorted(str(path) for path in (CORPUS / project).rglob("*") if path.name in MAIN_NAMES and path.is_file())
    plain = [main for main in found if mirrored_root(main) is None]
    mirrored = [[main, "--root", mirror[0]] for main in found if (mirror := mirrored_root(main)) is not None]
    return ([plain] if plain else []) + mirrored


def run(paths: list[str], *args: str, cwd: Path | None = None) -> typer.testing.Result:
    previous = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return typer.testing.CliRunner().invoke(lint_app, [*paths, "--now", NOW, *args], catch_exceptions=False)
    finally:
        os.chdir(previous)


@pytest.fixture(params=["demo", *corpus_trees()] if CORPUS.is_dir() else ["demo"])
def trees(request, demo) -> list[list[str]]:
    return [[str(demo)]] if request.param == "demo" else mains(request.param)


def test_the_schema_is_a_valid_schema_and_ships_in_the_package():
    jsonschema.Draft202012Validator.check_schema(report_schema())
    assert corpus_trees(), f"shared/corpus not found at {CORPUS}"


def test_json(trees):
    for tree in trees:
        check_json(tree)


def check_json(tree):
    result = run(tree, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    jsonschema.validate(report, report_schema(), cls=jsonschema.Draft202012Validator)
    assert report["summary"]["findings"] == len(report["findings"])


def test_sarif(trees):
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"no SARIF schema at {SARIF_SCHEMA} (shared/schemas is not beside this checkout)")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    for tree in trees:
        result = run(tree, "--format", "sarif")
        assert result.exit_code in (0, 1), result.output
        errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(json.loads(result.stdout)))
        assert not errors, "\n".join(f"{list(error.path)}: {error.message}" for error in errors[:10])


# GitHub's workflow command: ::error|warning|notice key=value,...::message, values escaped.
ANNOTATION = re.compile(r"::(error|warning|notice) (file=[^,:]*,(line=\d+,)?)?title=SSL\d{3} [a-z0-9-]+::[^\r\n]*")
FIRST_LINE = re.compile(r"\S.*:\d+: SSL\d{3} (error|warning|info): \S.*")
SUMMARY = re.compile(r"(no problems|\d+ errors?(, \d+ warnings?)?(, \d+ info)?|\d+ warnings?(, \d+ info)?|\d+ info)"
                     r" in \d+ TLS sites?|no TLS site found in \d+ configurations?: nothing checked \(.*\)")


def test_github_and_text(trees):
    for tree in trees:
        check_github_and_text(tree)


def check_github_and_text(tree):
    json_report = json.loads(run(tree, "--format", "json").stdout)
    github = run(tree, "--format", "github").stdout.splitlines()
    annotations = [line for line in github if line.startswith("::")]
    assert len(annotations) == len(json_report["findings"])
    for line in annotations:
        assert ANNOTATION.fullmatch(line), line
    concise = run(tree, "--format", "concise").stdout.splitlines()
    assert len(concise) == len(json_report["findings"]) + 1 and SUMMARY.fullmatch(concise[-1]), concise[-1]
    for line in concise[:-1]:
        assert FIRST_LINE.fullmatch(line), line
    text = run(tree).stdout.splitlines()
    assert [line for line in text if not line.startswith("    ")] == concise
    assert github[len(annotations):] == text  # the log's plain report after the annotations


def test_output_file_holds_what_stdout_would(tmp_path, demo):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "report.sarif"
    written = run([str(demo)], "--format", "sarif", "-o", str(target))
    assert written.exit_code == 1 and written.stdout == ""
    assert json.loads(target.read_text()) == json.loads(run([str(demo)], "--format", "sarif").stdout)
    assert [path.name for path in target.parent.iterdir()] == ["report.sarif"]  # no temporary file left
