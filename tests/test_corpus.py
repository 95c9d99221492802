"""Real configs written by others (shared/corpus): sslint never crashes on any of them."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import typer.testing

from nginxssl.cli import lint_app

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():  # CI lays shared/ beside the clone
    CORPUS = Path(os.environ.get("SSLINT_CORPUS", "/work/shared/corpus"))


def nginx_files() -> list[str]:
    oracle = CORPUS / "ORACLE-crossplane-0.5.8.tsv"
    if not oracle.is_file():
        return []
    with open(oracle, newline="") as handle:
        return [row["file"] for row in csv.DictReader(handle, delimiter="\t")]


FILES = nginx_files()


def test_corpus_is_present():
    assert len(FILES) > 500, f"shared/corpus not found at {CORPUS}"


@pytest.mark.parametrize("relative", FILES)
def test_every_nginx_file_lints_without_a_traceback(relative):
    result = typer.testing.CliRunner().invoke(
        lint_app, [str(CORPUS / relative), "--server", "nginx", "--now", "2026-12-01T00:00:00Z", "--format", "json"],
        catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
