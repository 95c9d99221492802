"""Lint every tree sslint is measured on and keep each JSON report, to compare two commits.

    python benchmarks/snapshot.py OUT            # one JSON report per tree in OUT/
    python benchmarks/snapshot.py --compare A B  # list every tree whose report differs

The trees: every main file of shared/corpus (nginx.conf, apache2.conf, httpd.conf), every
nginx file crossplane's oracle lists (linted on its own, as a pre-commit hook would), the
badssl.com tree under the sysroot its README describes, the demo tree, and a 400-block nginx
and a 400-host Apache tree from gen_tree.py (the size at which the lint forks a second
process, so both paths are compared). Every run is pinned to 2026-12-01. A restructure that
changes no behaviour must leave every report identical; the version field is left out.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SSLINT_CORPUS", REPO.parent / "shared" / "corpus"))
NOW = "2026-12-01T00:00:00Z"
MAIN_NAMES = ("nginx.conf", "apache2.conf", "httpd.conf")
# A fixed place, so that the paths inside two snapshots' reports are the same.
WORK = Path(tempfile.gettempdir()) / "sslint-snapshot-trees"


def _badssl_root() -> Path:
    """badssl.com's configuration under the sysroot its corpus README describes: a copy of the corpus
    inside the root, and the README's mappings as absolute links inside it (read with --root)."""
    badssl = CORPUS / "badssl.com"
    root = WORK / "badssl"
    if root.exists():
        return root
    shutil.copytree(badssl, root / "corpus" / "badssl.com", symlinks=True)
    site = root / "var/www/badssl/_site"
    (site / "certs/sets/current").mkdir(parents=True)
    (site / "certs/sets/current/gen").symlink_to("/corpus/badssl.com/certs/sets/test/gen")
    (root / "etc").mkdir()
    (root / "etc/keys").symlink_to("/corpus/badssl.com/certs/sets/test/gen/key")
    for entry in (badssl / "_site").iterdir():
        if entry.name != "certs":
            (site / entry.name).symlink_to(f"/corpus/badssl.com/_site/{entry.name}")
    (root / "etc/nginx").mkdir()
    (root / "etc/nginx/nginx.conf").write_text("events {}\nhttp {\n    include /var/www/badssl/_site/nginx.conf;\n}\n")
    return root


def _generated(server: str) -> Path:
    out = WORK / f"gen-{server}"
    if not out.exists():
        subprocess.run([sys.executable, str(REPO / "benchmarks/gen_tree.py"), str(out), "--blocks", "400",
                        "--files", "40", "--certs", "80", "--server", server], check=True, capture_output=True)
    return out


def runs() -> list[tuple[str, list[str]]]:
    """(report name, sslint arguments) for every tree."""
    found: list[tuple[str, list[str]]] = []
    for main in sorted(CORPUS.rglob("*")):
        if main.name in MAIN_NAMES and main.is_file() and "x509-limbo" not in main.parts:
            found.append((f"corpus/{main.relative_to(CORPUS)}", [str(main)]))
    oracle = CORPUS / "ORACLE-crossplane-0.5.8.tsv"
    if oracle.is_file():
        with open(oracle, newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                found.append((f"file/{row['file']}", [str(CORPUS / row["file"]), "--server", "nginx"]))
    if (CORPUS / "badssl.com").is_dir():
        root = _badssl_root()
        found.append(("badssl", [str(root / "etc/nginx"), "--root", str(root), "--no-system-trust",
                                 "--ca-file", str(CORPUS / "badssl.com/certs/sets/test/gen/crt/ca-root.crt")]))
    demo = WORK / "demo"
    if not demo.exists():
        shutil.copytree(REPO / "fixtures/demo/nginx", demo, symlinks=True)
        for key in demo.rglob("*.key"):
            key.chmod(0o600)
    found.append(("demo", [str(demo)]))
    for server in ("nginx", "apache"):
        tree = _generated(server)
        main = next(path for path in sorted(tree.rglob("*")) if path.name in MAIN_NAMES)
        ca = sorted(tree.rglob("root*.pem")) or sorted(tree.rglob("*root*"))
        trust = ["--no-system-trust", "--ca-file", str(ca[0])] if ca else []
        found.append((f"gen-{server}", [str(main), *trust]))
    return found


def snapshot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, arguments in runs():
        result = subprocess.run([sys.executable, "-m", "nginxssl", *arguments, "--now", NOW, "--format", "json",
                                 "--no-cache"] if _has_no_cache() else
                                [sys.executable, "-m", "nginxssl", *arguments, "--now", NOW, "--format", "json"],
                                capture_output=True, text=True, timeout=600, cwd=REPO)
        try:
            report = json.loads(result.stdout)
            report.pop("version", None)
            text = json.dumps(report, indent=1, sort_keys=True)
        except json.JSONDecodeError:
            text = result.stdout
        target = out / (name.replace("/", "__") + ".json")
        target.write_text(f"exit {result.returncode}\n{result.stderr}\n{text}\n")


_NO_CACHE: list[bool] = []


def _has_no_cache() -> bool:
    if not _NO_CACHE:
        helptext = subprocess.run([sys.executable, "-m", "nginxssl", "--help"], capture_output=True, text=True,
                                  cwd=REPO).stdout
        _NO_CACHE.append("--no-cache" in helptext)
    return _NO_CACHE[0]


def compare(before: Path, after: Path) -> int:
    names = sorted({path.name for path in before.iterdir()} | {path.name for path in after.iterdir()})
    differing = [name for name in names
                 if not (before / name).is_file() or not (after / name).is_file()
                 or (before / name).read_bytes() != (after / name).read_bytes()]
    for name in differing:
        print(name)
    print(f"{len(differing)} of {len(names)} reports differ")
    return 1 if differing else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    options = parser.parse_args()
    if options.compare:
        return compare(*options.compare)
    if options.out is None:
        parser.error("OUT or --compare BEFORE AFTER")
    snapshot(options.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
