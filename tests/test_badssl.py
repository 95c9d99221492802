"""badssl.com as a benchmark: every name, chain, expiry, key and signature defect its
EXPECTED-sslint.tsv lists is reported at the right server block, and none of its
negative controls (the rows saying ok) gets one.

Run through the command line as a user would (`python -m nginxssl ... --format
json`), at 2026-12-01T00:00:00Z, trusting only badssl's own test root. The
configs name absolute paths (/var/www/badssl/_site/..., /etc/keys/...): they are
laid out in a --root sysroot built in tmp_path, with symlinks as
shared/corpus/README.md describes, over a copy of the corpus (a sysroot's
symlinks resolve inside it, so they cannot point at the read-only original).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import CORPUS

BADSSL = CORPUS / "badssl.com"
NOW = "2026-12-01T00:00:00Z"

pytestmark = pytest.mark.skipif(not (BADSSL / "EXPECTED-sslint.tsv").is_file(), reason="badssl.com corpus absent")

# The rule families a row's columns speak about.
NAME_RULES = {"SSL301", "SSL302", "SSL303"}
ORDER_RULES = {"SSL202"}
MISSING_RULES = {"SSL201"}
CERT_RULES = {"SSL101", "SSL102", "SSL103", "SSL104", "SSL105", "SSL106", "SSL502", "SSL503"}

# other_expected_findings text -> the rule that reports it (None: not a certificate finding).
OTHER = (
    ("EXPIRED", "SSL101"),
    ("self-signed leaf", "SSL104"),
    ("untrusted root", "SSL105"),
    ("md5WithRSAEncryption", "SSL503"),
    ("sha1WithRSAEncryption", "SSL503"),
    ("RSA 1024-bit leaf key", "SSL502"),
    ("RSA 512-bit leaf key", "SSL502"),
    ("matches first PEM block", "SSL202"),
    ("SANs", None),  # 1000/10000 SANs: a size curiosity, nothing a browser refuses
    ("ssl_dhparam", None),  # a missing dhparam file: not a certificate finding
)


@dataclass
class Row:
    conf: str
    name: str
    listen: str
    name_column: str
    order_column: str
    missing_column: str
    other: str

    @property
    def expected(self) -> set[str]:
        rules = set()
        if self.name_column.startswith("MISMATCH"):
            rules.add("NAME")
        if self.order_column.startswith("WRONG"):
            rules.add("SSL202")
        if self.missing_column.startswith("MISSING"):
            rules.add("SSL201")
        for text, rule in OTHER:
            if text in self.other and rule:
                rules.add(rule)
        return rules

    @property
    def forbidden(self) -> set[str]:
        """Rules this row is a negative control for."""
        rules = set()
        if self.name_column == "ok":
            rules |= NAME_RULES
        if self.order_column == "ok" and "matches first PEM block" not in self.other:
            rules |= ORDER_RULES
        if self.missing_column == "ok":
            rules |= MISSING_RULES
        if not any(rule in CERT_RULES for rule in self.expected):
            rules |= CERT_RULES
        return rules


def rows() -> list[Row]:
    with open(BADSSL / "EXPECTED-sslint.tsv", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        return [
            Row(row["conf"], row["server_name"], row["listen"], row["server_name_vs_SAN"], row["chain_order"],
                row["missing_intermediate"], row["other_expected_findings"] or "")
            for row in reader
        ]


def sysroot(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    copy = root / "corpus" / "badssl.com"
    shutil.copytree(BADSSL, copy, symlinks=True)
    site = root / "var/www/badssl/_site"
    (site / "certs/sets/current").mkdir(parents=True)
    # The corpus README's mapping, as absolute links inside the sysroot.
    (site / "certs/sets/current/gen").symlink_to("/corpus/badssl.com/certs/sets/test/gen")
    (root / "etc").mkdir()
    (root / "etc/keys").symlink_to("/corpus/badssl.com/certs/sets/test/gen/key")
    for entry in (BADSSL / "_site").iterdir():
        if entry.name != "certs":
            (site / entry.name).symlink_to(f"/corpus/badssl.com/_site/{entry.name}")
    (root / "etc/nginx").mkdir()
    # _site/nginx.conf is an http-context fragment.
    (root / "etc/nginx/nginx.conf").write_text(
        "events {}\nhttp {\n    include /var/www/badssl/_site/nginx.conf;\n}\n")
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    root = sysroot(tmp_path_factory.mktemp("badssl"))
    argv = [
        sys.executable, "-m", "nginxssl", str(root / "etc/nginx"), "--root", str(root), "--now", NOW,
        "--no-system-trust", "--ca-file", str(BADSSL / "certs/sets/test/gen/crt/ca-root.crt"),
        "--select", "SSL1", "--select", "SSL2", "--select", "SSL3", "--select", "SSL502", "--select", "SSL503",
        "--format", "json",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    return json.loads(result.stdout)


def got_for(row: Row, findings: list[dict]) -> set[str]:
    """Rules reported at a server block answering the row's name (a finding at a shared
    include carries the names of every server block that uses it)."""
    return {finding["rule"] for finding in findings if row.name in finding["names"]}


def judge(row: Row, got: set[str]) -> tuple[list[str], list[str]]:
    missing = []
    for rule in sorted(row.expected):
        wanted = {rule} if rule != "NAME" else {"SSL301", "SSL302"}
        if not wanted & got:
            missing.append(rule)
    false_alarms = sorted(got & row.forbidden)
    return missing, false_alarms


def test_badssl_table(report):
    findings = report["findings"]
    table = rows()
    assert len(table) == 97
    lines, failures, matched = [], [], 0
    for row in table:
        got = got_for(row, findings) & (NAME_RULES | ORDER_RULES | MISSING_RULES | CERT_RULES)
        missing, false_alarms = judge(row, got)
        verdict = "ok" if not missing and not false_alarms else "MISMATCH"
        matched += verdict == "ok"
        shown_expected = ",".join(sorted(row.expected)) or "-"
        lines.append(f"{verdict:8} {row.name:<60} {row.listen:>5}  expected {shown_expected:<24} "
                     f"got {','.join(sorted(got)) or '-'}"
                     + (f"  missing {missing}" if missing else "")
                     + (f"  false {false_alarms}" if false_alarms else ""))
        if verdict != "ok":
            failures.append(lines[-1])
    print("\n".join(lines))
    print(f"{matched}/{len(table)} rows match")
    assert not failures, "\n".join(failures)


def test_badssl_every_finding_belongs_to_a_server_block(report):
    for finding in report["findings"]:
        assert finding["names"], finding
        assert finding["file"] and finding["line"] > 0, finding


def test_badssl_messages_name_where_the_fix_is(report):
    by_rule: dict[str, list[str]] = {}
    for finding in report["findings"]:
        by_rule.setdefault(finding["rule"], []).append(finding["message"])
    # The incomplete chain: the missing intermediate is named and found on disk.
    incomplete = [m for m in by_rule["SSL201"] if "wildcard-incomplete-chain.pem" in m]
    assert incomplete and "'BadSSL Intermediate Certificate Authority'" in incomplete[0]
    assert "found in" in incomplete[0]
    # The reversed chain: nginx starts but serves a CA; reordering alone is not enough.
    reversed_chain = [m for m in by_rule["SSL202"] if "subdomain-reversed-chain.pem" in m]
    assert reversed_chain and "nginx starts" in reversed_chain[0] and "reordering alone" in reversed_chain[0]
    # The expired leaf: date and days.
    assert any("expired on 2020-01-02" in m and "days ago" in m for m in by_rule["SSL101"])
