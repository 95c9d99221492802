"""The real-world corpus (tests/data/realworld: 20 public projects, 24 trees) linted with a valid PKI,
every finding compared with a judged table (tests/data/realworld/EXPECTED.tsv).

Each tree is copied to a temporary --root, every certificate, key and chain file its configuration
names is written there by fixtures/pki.py (one private root CA, given with --ca-file; one
intermediate; a leaf per certificate file covering the names of the sites that serve it, valid
nine months around the pinned --now), and the tree is linted through the command line. A finding
that is not in the table, or a judged finding that is gone, fails the test until someone judges it:
rewrite the table with `python tests/test_realworld.py --write` and read the diff.

The table's verdicts: `true-positive` (the configuration really has that problem) or
`expected-info` (an info that holds but that an expert may not care for: the noise the issue
counts). A false alarm is never written down: it is fixed.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REALWORLD = HERE / "data" / "realworld"
EXPECTED = REALWORLD / "EXPECTED.tsv"
NOW = "2026-12-01T00:00:00Z"
COLUMNS = ("tree", "file", "line", "rule", "severity", "verdict", "why")
VERDICTS = ("true-positive", "expected-info")

for path in (str(HERE), str(HERE.parent / "fixtures")):
    if path not in sys.path:
        sys.path.insert(0, path)

import pki

# A name a certificate can hold: not nginx's `_`, a regex, a `suffix.*` or a name built from variables.
_DNS_NAME = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")


@dataclass(frozen=True)
class Tree:
    folder: str
    entry: str
    server: str

    @property
    def name(self) -> str:
        return f"{self.folder}/{self.entry}"


def trees() -> list[Tree]:
    rows = (line.split("\t") for line in (REALWORLD / "PROJECTS.tsv").read_text().splitlines()
            if line.strip() and not line.startswith("#"))
    return [Tree(*row) for row in rows]


def _referenced(copy: Path, tree: Tree) -> dict[str, dict[str, object]]:
    """Every file the configuration names that a PKI provides, by its path relative to `copy`:
    {"certificate": names...} / {"key": certificate path} / {"chain": True} / {"trusted": True}."""
    from nginxssl.discover import discover
    from nginxssl.engine.lint import parse
    from nginxssl.sites import sites_of

    target = discover(str(copy / tree.entry), tree.server)
    sites = sites_of(parse(target, str(copy)))
    wanted: dict[str, dict[str, object]] = {}

    def relative(path: str | None) -> str | None:
        if path is None or not os.path.abspath(path).startswith(str(copy) + os.sep):
            return None
        return os.path.relpath(path, copy)

    for site in sites:
        names = [name.lstrip(".") for name in site.name_list if _DNS_NAME.match(name.lstrip("."))]
        for pair in site.certs:
            cert = relative(pair.cert.path)
            if cert is None:
                continue
            entry = wanted.setdefault(cert, {"certificate": []})
            entry["certificate"] = list(dict.fromkeys([*entry["certificate"], *names]))  # type: ignore[misc]
            key = relative(pair.key.path) if pair.key is not None else None
            if key is not None and key != cert:
                wanted.setdefault(key, {"key": cert})
            elif key == cert:
                entry["with_key"] = True
            chain = relative(pair.chain.path) if pair.chain is not None else None
            if chain is not None:
                wanted.setdefault(chain, {"chain": True})
        trusted = relative(site.trusted_certificate.path) if site.trusted_certificate is not None else None
        if trusted is not None:
            wanted.setdefault(trusted, {"trusted": True})
    return wanted


def lay_pki(copy: Path, tree: Tree, ca_file: Path) -> None:
    """Write a valid PKI at every path the configuration names (again after each round: a file
    that now exists can change what is included, as FreedomBox's <IfFile> does)."""
    laid: dict[str, dict[str, object]] = {}
    for _round in range(4):
        wanted = _referenced(copy, tree)
        if all(path in laid for path in wanted):
            break
        laid.update({path: role for path, role in wanted.items() if path not in laid})
        spec = _spec(laid)
        pki.build(spec, copy)
    pki.build({"pki": {"root": {"ca": True, "cn": "sslint realworld root"}}, "files": {ca_file.name: ["root"]}},
              ca_file.parent)


def _spec(laid: dict[str, dict[str, object]]) -> dict:
    entities: dict[str, dict] = {
        "root": {"ca": True, "cn": "sslint realworld root"},
        "inter": {"ca": True, "issuer": "root", "cn": "sslint realworld intermediate"},
    }
    files: dict[str, object] = {}
    leaves: dict[str, str] = {}
    for path, role in sorted(laid.items()):
        if "certificate" in role:
            leaf = f"leaf{len(leaves)}"
            leaves[path] = leaf
            names = role["certificate"] or [f"{Path(path).stem}.test"]
            entities[leaf] = {"issuer": "inter", "names": names, "not_before": "2026-09-01",
                              "not_after": "2027-06-01"}
            files[path] = [leaf, "inter", *([{"key": leaf}] if role.get("with_key") else [])]
    for path, role in laid.items():
        if "key" in role:
            files[path] = {"key": leaves[str(role["key"])]}
        elif "chain" in role:
            files[path] = ["inter"]
        elif "trusted" in role:
            files[path] = ["inter", "root"]
    return {"pki": entities, "files": files}


# The builds the table was judged for (the ones installed here): a tree's defaults (ssl_protocols,
# what OpenSSL 3 refuses) depend on them, and the table must not change with the machine.
BUILDS = {"nginx": "nginx/1.22.1 OpenSSL/3.0.22", "apache": "Apache/2.4.71 OpenSSL/3.0.22"}


def lint_tree(tree: Tree, workdir: Path) -> list[dict]:
    """The findings of one tree with its PKI, as the JSON report gives them, file paths relative
    to the tree."""
    import typer.testing

    from nginxssl.cli import lint_app

    copy = workdir / tree.folder
    if not copy.exists():
        shutil.copytree(REALWORLD / tree.folder, copy)
    ca_file = workdir / f"{tree.folder}-ca.pem"
    lay_pki(copy, tree, ca_file)
    arguments = [str(copy / tree.entry), "--root", str(copy), "--now", NOW, "--ca-file", str(ca_file),
                 "--no-system-trust", "--server-version", BUILDS[tree.server], "--format", "json"]
    if tree.server == "apache":
        arguments += ["--server", "apache"]
    result = typer.testing.CliRunner().invoke(lint_app, arguments, catch_exceptions=False)
    assert result.exit_code in (0, 1), f"{tree.name}: exit {result.exit_code}\n{result.output}"
    findings = json.loads(result.stdout)["findings"]
    for finding in findings:
        finding["file"] = os.path.relpath(finding["file"], copy) if finding["file"] else ""
    return findings


def read_expected() -> dict[tuple[str, str, int, str], dict[str, str]]:
    with EXPECTED.open(newline="") as handle:
        rows = list(csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"))
    return {(row["tree"], row["file"], int(row["line"]), row["rule"]): row for row in rows}


def _key(tree: Tree, finding: dict) -> tuple[str, str, int, str]:
    return (tree.name, finding["file"], int(finding["line"]), finding["rule"])


def _all_findings(workdir: Path) -> dict[Tree, list[dict]]:
    return {tree: lint_tree(tree, workdir) for tree in trees()}


@pytest.fixture(scope="module")
def realworld(tmp_path_factory: pytest.TempPathFactory) -> dict[Tree, list[dict]]:
    return _all_findings(tmp_path_factory.mktemp("realworld"))


def test_every_finding_is_judged(realworld: dict[Tree, list[dict]]) -> None:
    expected = read_expected()
    found: dict[tuple, dict] = {}
    for tree, findings in realworld.items():
        for finding in findings:
            key = _key(tree, finding)
            assert key not in found, f"reported twice: {key}"
            found[key] = finding
    new = [f"{' '.join(map(str, key))} {found[key]['severity']}: {found[key]['message'][:160]}"
           for key in found if key not in expected]
    gone = [" ".join(map(str, key)) for key in expected if key not in found]
    assert not new, "findings nobody has judged (python tests/test_realworld.py --write, then judge them):\n" + \
        "\n".join(new)
    assert not gone, "judged findings no longer reported:\n" + "\n".join(gone)
    changed = [f"{' '.join(map(str, key))}: {expected[key]['severity']} -> {found[key]['severity']}"
               for key in found if found[key]["severity"] != expected[key]["severity"]]
    assert not changed, "severities changed:\n" + "\n".join(changed)


def test_the_table_meets_the_targets() -> None:
    """The issue's targets, on the judged table: no false alarm is written down, no warning or
    error that is not a true positive, and less noise than true positives."""
    rows = list(read_expected().values())
    assert all(row["verdict"] in VERDICTS and row["why"].strip() for row in rows)
    assert all(row["verdict"] == "true-positive" for row in rows if row["severity"] in ("error", "warning"))
    assert all(row["severity"] == "info" for row in rows if row["verdict"] == "expected-info")
    true_positives = sum(row["verdict"] == "true-positive" for row in rows)
    noise = sum(row["verdict"] == "expected-info" for row in rows)
    assert noise < true_positives, (noise, true_positives)


def _write(workdir: Path) -> None:
    """Rewrite the table: judged rows keep their verdict and reason; new findings get `?`."""
    expected = read_expected() if EXPECTED.exists() else {}
    rows = []
    for tree, findings in _all_findings(workdir).items():
        for finding in findings:
            key = _key(tree, finding)
            judged = expected.get(key, {})
            if judged.get("verdict", "?") == "?":
                judged = {}
            rows.append({"tree": tree.name, "file": finding["file"], "line": str(finding["line"]),
                         "rule": finding["rule"], "severity": finding["severity"],
                         "verdict": judged.get("verdict", "?"),
                         "why": judged.get("why", "? " + finding["message"].replace("\t", " ")[:300])})
    with EXPECTED.open("w", newline="") as handle:
        handle.write("# Every finding of tests/test_realworld.py, judged: true-positive | expected-info (see there)\n")
        writer = csv.DictWriter(handle, COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        _write(Path(scratch))
