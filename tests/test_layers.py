"""The pipeline flows one way (shared/DESIGN.md, "Package layout"): a stage imports only the stages
above it. Every import of the package is read from the source, including those inside functions and
under TYPE_CHECKING, so a lazy import cannot hide a dependency against the flow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nginxssl"

# Lowest first. A module may import its own layer and the layers before it; fix/ and report/ share
# a rank but must not import each other. `nginxssl` itself (the version) may be read by anyone.
LAYERS: list[tuple[str, ...]] = [
    ("model",),
    ("catalogue", "settings", "shipped"),
    ("discover",),
    ("parse",),
    ("sites",),
    ("pki",),
    ("checks",),
    ("fix", "report"),
    ("engine",),
    ("cli", "__main__"),
]
SIBLINGS_APART = {("fix", "report"), ("report", "fix")}


def stage_of(module: str) -> str | None:
    """`nginxssl.sites.headers.nginx` -> "sites"; None for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def rank(stage: str) -> int:
    for index, layer in enumerate(LAYERS):
        if stage in layer:
            return index
    raise AssertionError(f"nginxssl.{stage} is in no layer of LAYERS: place it in the flow")


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the package in a file, wherever it is written."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names if alias.name.startswith("nginxssl"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("nginxssl"):
                continue
            if stage_of(target) is None:  # `from nginxssl import x`: x may be a stage
                found.extend((node.lineno, f"nginxssl.{alias.name}") for alias in node.names
                             if alias.name != "__version__")
            else:
                found.append((node.lineno, target))
    return found


def violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = stage_of(module_name(path))
        if own is None:
            continue
        for line, target in imported(path):
            other = stage_of(target)
            if other is None or other == own:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if (own, other) in SIBLINGS_APART:
                problems.append(f"{where}: {own}/ imports {target} (fix/ and report/ stay apart)")
            elif rank(other) > rank(own):
                problems.append(f"{where}: {own} imports {target}, a later stage")
    return problems


def test_every_module_is_in_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        stage = stage_of(module_name(path))
        if stage is not None:
            rank(stage)


def test_no_import_against_the_flow() -> None:
    assert violations() == []


def test_model_imports_nothing_of_the_package_but_itself() -> None:
    for path in sorted((PACKAGE / "model").rglob("*.py")):
        for line, target in imported(path):
            assert target.startswith("nginxssl.model"), f"{path.name}:{line} imports {target}"


@pytest.mark.parametrize("source, expected", [
    ("from nginxssl.engine.lint import lint\n", ["nginxssl/pki/x.py:1: pki imports nginxssl.engine.lint, a later stage"]),
    ("def f():\n    from nginxssl.fix import plan\n", ["nginxssl/pki/x.py:2: pki imports nginxssl.fix, a later stage"]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nginxssl.checks import Inputs\n",
     ["nginxssl/pki/x.py:3: pki imports nginxssl.checks, a later stage"]),
    ("from ..report import text\n", ["nginxssl/pki/x.py:1: pki imports nginxssl.report, a later stage"]),
    ("from nginxssl.model.node import Node\nfrom nginxssl.sites import sites_of\n", []),
])
def test_the_checker_sees_every_kind_of_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               source: str, expected: list[str]) -> None:
    """The checker itself: a lazy import, one under TYPE_CHECKING and a relative one are all seen."""
    fake = tmp_path / "nginxssl"
    (fake / "pki").mkdir(parents=True)
    (fake / "pki" / "x.py").write_text(source)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert violations() == expected


def test_fix_and_report_stay_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nginxssl"
    (fake / "report").mkdir(parents=True)
    (fake / "report" / "sarif.py").write_text("from nginxssl.fix.plan import plan\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert violations() == ["nginxssl/report/sarif.py:1: report/ imports nginxssl.fix.plan (fix/ and report/ stay apart)"]
