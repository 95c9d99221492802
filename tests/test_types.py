"""The package's typed contracts hold: mypy, with the project's own configuration (pyproject.toml
[tool.mypy]: disallow_untyped_defs, warn_unused_ignores), finds no error anywhere in nginxssl/.

The stages hand each other frozen, typed dataclasses (shared/STYLE.md, "Contracts a checker can
hold"); an Optional passed where a value is required, or a cryptography union used as one of its
members, is the bug this catches before a malformed certificate does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_error_in_the_package(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy-cache"), "--no-error-summary", "--no-color-output",
         str(ROOT / "nginxssl")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert not errors, f"mypy: {len(errors)} error(s)\n" + "\n".join(errors)
    # A crash or a configuration mypy refuses prints no "error:" line: only exit 0 proves it checked.
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_reads_the_project_configuration() -> None:
    """The test above means something only while the configuration it runs with is the strict one."""
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[tool\.mypy\]\n(.*?)(?=^\[|\Z)", config, re.MULTILINE | re.DOTALL)
    assert section is not None, "pyproject.toml has no [tool.mypy] section"
    settings = dict(re.findall(r"^(\w+)\s*=\s*(.+?)\s*$", section.group(1), re.MULTILINE))
    assert settings.get("disallow_untyped_defs") == "true"
    assert settings.get("warn_unused_ignores") == "true"
