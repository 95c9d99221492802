"""Real configs written by others (shared/corpus): sslint never crashes on any of them."""

from __future__ import annotations

import csv

import pytest
import typer.testing
from conftest import CORPUS, needs_corpus

from nginxssl.cli import lint_app


def nginx_files() -> list[str]:
    oracle = CORPUS / "ORACLE-crossplane-0.5.8.tsv"
    if not oracle.is_file():
        return []
    with open(oracle, newline="") as handle:
        return [row["file"] for row in csv.DictReader(handle, delimiter="\t")]


FILES = nginx_files()


@needs_corpus
def test_corpus_is_present():
    assert len(FILES) > 500, f"shared/corpus not found at {CORPUS}"


@pytest.mark.parametrize("relative", FILES)
def test_every_nginx_file_lints_without_a_traceback(relative):
    result = typer.testing.CliRunner().invoke(
        lint_app, [str(CORPUS / relative), "--server", "nginx", "--now", "2026-12-01T00:00:00Z", "--format", "json"],
        catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
