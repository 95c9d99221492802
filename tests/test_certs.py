"""`sslint certs`: every certificate file a configuration serves, once, with its sites, expiry and chain.

Expectations are derived without sslint: the certificate files named in the demo's
site files (read with a regular expression) and badssl.com's EXPECTED-sslint.tsv
say which files and sites there are; cryptography reads each file for names,
issuer, key and expiry (the leaf is the certificate the configured key belongs
to, as nginx pairs them); `openssl verify` judges the chain status; the csv and
json modules read the output. Everything is evaluated at a pinned --now.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pty
import re
import subprocess
import sys
import warnings
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest
import typer.testing
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from judges import needs_openssl, openssl_verify
from test_badssl import BADSSL, sysroot

from nginxssl.cli import commands_app

NOW = "2026-12-01T00:00:00Z"
NOW_TIME = datetime(2026, 12, 1, tzinfo=timezone.utc)
RUNNER = typer.testing.CliRunner()
BADSSL_GEN = BADSSL / "certs" / "sets" / "test" / "gen"
BADSSL_ROOT_CA = BADSSL_GEN / "crt" / "ca-root.crt"
BADSSL_CERT_DIR = "/var/www/badssl/_site/certs/sets/current/gen/"  # how badssl's configs name the test set

# What each demo certificate was made to show (fixtures/demo.yaml and the site files' comments).
DEMO_CHAIN = {
    "expired.pem": "complete",  # expired, but leaf and intermediate in order
    "good.fullchain.pem": "complete",
    "incomplete.pem": "incomplete",  # the leaf alone
    "mismatch.pem": "complete",  # a name problem, not a chain problem
    "nokey.pem": "complete",  # the key file is missing, the chain is fine
    "selfsigned.pem": "self-signed",
    "wrong-order.pem": "wrong-order",  # intermediate first
    "wrongkey.pem": "complete",  # the key belongs to another certificate
}
TRUST_ERRORS = {2, 18, 19, 20, 21}  # openssl: issuer not found, self-signed leaf/in chain, unable to verify


def certs(*args: str) -> typer.testing.Result:
    return RUNNER.invoke(commands_app, ["certs", *args], catch_exceptions=False)


def as_json(result: typer.testing.Result) -> dict:
    return json.loads(result.stdout)


# ---------------------------------------------------------------- independent readings


def read_certs(path: Path) -> list[x509.Certificate]:
    return list(x509.load_pem_x509_certificates(path.read_bytes()))


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def leaf_of(cert_file: Path, key_file: Path | None) -> x509.Certificate:
    """The certificate nginx presents: the one the configured key belongs to, else the first non-CA."""
    chain = read_certs(cert_file)
    if key_file is not None and key_file.is_file():
        key = serialization.load_pem_private_key(key_file.read_bytes(), None).public_key()
        wanted = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        for cert in chain:
            if cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo) == wanted:
                return cert
    return next((cert for cert in chain if not _is_ca(cert)), chain[0])


def san_names(cert: x509.Certificate) -> list[str]:
    try:
        with warnings.catch_warnings():  # badssl's DSDTestProvider leaf has a serial RFC 5280 forbids
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([name.lower() for name in san.get_values_for_type(x509.DNSName)]
            + [str(address) for address in san.get_values_for_type(x509.IPAddress)])


def key_of(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    if hasattr(key, "curve"):
        return "EC", key.curve.key_size
    return "RSA", key.key_size


def days_left(cert: x509.Certificate) -> int:
    return math.floor((cert.not_valid_after_utc - NOW_TIME).total_seconds() / 86400)


def assert_certificate(row: dict, leaf: x509.Certificate) -> None:
    assert row["status"] == "ok", row
    assert row["not_after"] == f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}", row["path"]
    assert row["days_left"] == days_left(leaf), row["path"]
    assert row["names"] == san_names(leaf), row["path"]
    assert row["san_count"] == len(san_names(leaf))
    assert row["issuer"] == leaf.issuer.rfc4514_string(), row["path"]
    assert (row["key_type"], row["key_bits"]) == key_of(leaf), row["path"]


def openssl_chain_verdict(served_file: Path, cafile: Path, tmp_path: Path) -> int:
    """`openssl verify` on the first served certificate with the rest of the file as the
    only intermediates (what a browser without AIA gets); 0 when it verifies."""
    chain = read_certs(served_file)
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(chain[0].public_bytes(serialization.Encoding.PEM))
    rest = tmp_path / "rest.pem"
    rest.write_bytes(b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain[1:]))
    verdict = openssl_verify(leaf, cafile, untrusted=rest if chain[1:] else None,
                             attime=int(NOW_TIME.timestamp()), purpose=None)
    return verdict.code if verdict.code is not None else (0 if verdict.ok else -1)


# ---------------------------------------------------------------- the demo tree


def demo_args(tree: Path, *extra: str) -> list[str]:
    return [str(tree), "--now", NOW, "--ca-file", str(tree / "ssl" / "ca" / "root.pem"), *extra]


def demo_sites(tree: Path) -> dict[str, dict]:
    """Certificate file -> the site files, names and key that name it, read from the site files."""
    found: dict[str, dict] = defaultdict(lambda: {"names": set(), "files": [], "key": None})
    for conf in sorted((tree / "sites-enabled").glob("*.conf")):
        text = conf.read_text()
        cert = re.search(r"^\s*ssl_certificate\s+(\S+);", text, re.M)[1]
        key = re.search(r"^\s*ssl_certificate_key\s+(\S+);", text, re.M)[1]
        entry = found[str(tree / cert)]
        entry["names"] |= set(re.search(r"^\s*server_name\s+([^;]+);", text, re.M)[1].split())
        entry["files"].append(str(conf))
        entry["key"] = tree / key
    return found


def test_demo_lists_every_certificate_file_once_with_its_sites(demo):
    result = certs(*demo_args(demo), "--format", "json")
    report = as_json(result)
    rows = report["certificates"]
    expected = demo_sites(demo)
    assert Counter(row["path"] for row in rows) == Counter({path: 1 for path in expected})
    for row in rows:
        wanted = expected[row["path"]]
        assert {name for site in row["sites"] for name in site["names"]} == wanted["names"]
        assert sorted(site["file"] for site in row["sites"]) == sorted(wanted["files"])
        assert all(site["line"] >= 1 and site["tls"] and site["server"] == "nginx" for site in row["sites"])
        assert_certificate(row, leaf_of(Path(row["path"]), wanted["key"]))
        assert row["chain"]["status"] == DEMO_CHAIN[Path(row["path"]).name], row["path"]
    assert [row["days_left"] for row in rows] == sorted(row["days_left"] for row in rows)


@needs_openssl
def test_demo_chain_status_agrees_with_openssl_verify(demo, tmp_path):
    rows = as_json(certs(*demo_args(demo), "--format", "json"))["certificates"]
    cafile = demo / "ssl" / "ca" / "root.pem"
    for row in rows:
        status = row["chain"]["status"]
        if status == "wrong-order":
            continue  # nginx refuses to start: there is no served chain to verify
        code = openssl_chain_verdict(Path(row["path"]), cafile, tmp_path)
        if status == "complete":
            assert code not in TRUST_ERRORS, (row["path"], code)
        elif status == "incomplete":
            assert code in (2, 20), (row["path"], code)
        elif status == "self-signed":
            assert code == 18, (row["path"], code)


def test_exit_code_follows_expiry_days(demo):
    # The demo serves a certificate that expired in 2020: exit 1 at any threshold.
    assert certs(*demo_args(demo), "--expiry-days", "0").exit_code == 1
    (demo / "sites-enabled" / "expired.conf").unlink()
    # Every other leaf ends 2045-01-01T00:00:00Z: 6606 days after --now, to the second.
    assert certs(*demo_args(demo)).exit_code == 0
    assert certs(*demo_args(demo, "--expiry-days", "6605")).exit_code == 0
    soon = certs(*demo_args(demo, "--expiry-days", "6606", "--format", "json"))
    assert soon.exit_code == 1
    assert all(row["expiring"] for row in as_json(soon)["certificates"])
    assert as_json(soon)["summary"]["expiring"] == 7


def test_csv_has_a_header_and_one_row_per_certificate(demo):
    (demo / "sites-enabled" / "good-www.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name www.good.example.test;\n"
        "    ssl_certificate     ssl/good.fullchain.pem;\n    ssl_certificate_key ssl/good.key;\n}\n")
    result = certs(*demo_args(demo), "--format", "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and set(rows[0]) == {"path", "status", "names", "san_count", "subject", "issuer", "key_type",
                                     "key_bits", "not_before", "not_after", "days_left", "expiring", "chain",
                                     "chain_problems", "sites", "detail"}
    assert Counter(row["path"] for row in rows) == Counter({path: 1 for path in demo_sites(demo)})
    good = next(row for row in rows if row["path"].endswith("good.fullchain.pem"))
    sites = good["sites"].split(";")
    assert len(sites) == 2, good["sites"]
    assert {site.strip().split(" ", 1)[1] for site in sites} == {"good.example.test", "www.good.example.test"}
    assert good["chain"] == "complete" and good["expiring"] == "false" and good["days_left"] == "6606"
    expired = next(row for row in rows if row["path"].endswith("expired.pem"))
    assert expired["expiring"] == "true" and int(expired["days_left"]) < 0


def test_json_schema(demo):
    report = as_json(certs(*demo_args(demo), "--format", "json"))
    assert set(report) == {"version", "certificates", "summary"}
    assert set(report["summary"]) >= {"certificates", "expiring", "expired", "unreadable", "not_checked",
                                      "chain", "expiry_days", "now", "configs"}
    assert report["summary"]["certificates"] == len(report["certificates"]) == 8
    assert report["summary"]["expired"] == 1 and report["summary"]["now"] == NOW
    row = report["certificates"][0]
    assert set(row) >= {"path", "resolved", "status", "detail", "subject", "names", "san_count", "issuer",
                        "key_type", "key_bits", "not_before", "not_after", "days_left", "validity", "expiring",
                        "fingerprint_sha256", "serial", "chain", "sites"}
    assert set(row["chain"]) == {"status", "problems", "served"}
    assert set(row["chain"]["served"][0]) >= {"status", "problems", "key_file", "chain_file", "certificates",
                                              "order_ok", "missing", "unresolved_issuer", "anchor",
                                              "untrusted_root", "key_matches", "verified"}
    assert set(row["sites"][0]) >= {"file", "line", "names", "server", "tls", "directive_file", "directive_line"}
    incomplete = next(r for r in report["certificates"] if r["path"].endswith("incomplete.pem"))
    assert incomplete["chain"]["served"][0]["missing"] == ["sslint Demo Intermediate R1"]
    wrongkey = next(r for r in report["certificates"] if r["path"].endswith("wrongkey.pem"))
    assert wrongkey["chain"]["served"][0]["key_matches"] is False


def test_unreadable_and_dynamic_files_get_a_row_without_expiry(demo):
    der = demo / "ssl" / "good.der"
    der.write_bytes(read_certs(demo / "ssl" / "good.fullchain.pem")[0].public_bytes(serialization.Encoding.DER))
    (demo / "sites-enabled" / "odd.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name der.example.test;\n"
        "    ssl_certificate ssl/good.der;\n    ssl_certificate_key ssl/good.key;\n}\n"
        "server {\n    listen 443 ssl;\n    server_name gone.example.test;\n"
        "    ssl_certificate ssl/gone.pem;\n    ssl_certificate_key ssl/good.key;\n}\n"
        "server {\n    listen 443 ssl;\n    server_name swapped.example.test;\n"
        "    ssl_certificate ssl/good.key;\n    ssl_certificate_key ssl/good.fullchain.pem;\n}\n"
        "server {\n    listen 443 ssl;\n    server_name ~^(?<host>.+)$;\n"
        "    ssl_certificate ssl/$ssl_server_name.pem;\n    ssl_certificate_key ssl/$ssl_server_name.key;\n}\n")
    (demo / "sites-enabled" / "expired.conf").unlink()
    result = certs(*demo_args(demo), "--format", "json")
    assert result.exit_code == 0, result.output  # unreadable is the lint's business; nothing expires
    rows = {row["path"]: row for row in as_json(result)["certificates"]}
    der_row, gone_row = rows[str(der)], rows[str(demo / "ssl" / "gone.pem")]
    dynamic_row = rows["ssl/$ssl_server_name.pem"]
    assert der_row["status"] == "der" and "DER" in der_row["detail"]
    assert gone_row["status"] == "missing"
    assert dynamic_row["status"] == "dynamic"
    assert rows[str(demo / "ssl" / "good.key")]["status"] == "no-certificate"  # SSL004's swapped paths
    for row in (der_row, gone_row, dynamic_row):
        assert row["not_after"] is None and row["days_left"] is None and row["chain"] is None
        assert not row["expiring"]
    assert [site["names"] for site in der_row["sites"]] == [["der.example.test"]]
    order = [row["path"] for row in as_json(result)["certificates"]]
    assert set(order[:3]) == {str(der), str(demo / "ssl" / "gone.pem"), str(demo / "ssl" / "good.key")}
    # (what stops the server leads)
    assert order[-1] == "ssl/$ssl_server_name.pem"  # what cannot be judged closes the list
    summary = as_json(result)["summary"]
    assert summary["unreadable"] == 3 and summary["not_checked"] == 1
    table = certs(*demo_args(demo)).stdout
    assert "der: a DER certificate" in table and "missing: no such file" in table


def test_a_file_named_by_several_paths_and_contexts_is_one_row(demo):
    # An http-level certificate: the TLS server serves it, the plain one only inherits it.
    (demo / "nginx.conf").write_text(
        "events {}\nhttp {\n    ssl_certificate ssl/good.fullchain.pem;\n    ssl_certificate_key ssl/good.key;\n"
        "    server {\n        listen 80;\n        server_name plain.example.test;\n    }\n"
        "    server {\n        listen 443 ssl;\n        server_name tls.example.test;\n    }\n"
        "    include sites-enabled/good.conf;\n}\n")
    # The same tree twice, and a site file of it on its own: still one row per file.
    result = certs(*demo_args(demo), str(demo / "sites-enabled" / "good.conf"), str(demo), "--format", "json")
    assert result.exit_code == 0, result.output
    rows = as_json(result)["certificates"]
    assert [row["path"] for row in rows] == [str(demo / "ssl" / "good.fullchain.pem")]
    sites = rows[0]["sites"]
    assert sorted(name for site in sites for name in site["names"]) == ["good.example.test", "tls.example.test"]
    assert {(Path(site["directive_file"]).name, site["directive_line"]) for site in sites} == \
        {("nginx.conf", 3), ("good.conf", 6)}


def test_table_colours_only_a_terminal(demo):
    plain = certs(*demo_args(demo))
    assert "\x1b[" not in plain.stdout
    header, *lines, summary = [line for line in plain.stdout.splitlines() if not line.startswith("       ")]
    assert header.split() == ["DAYS", "EXPIRES", "CHAIN", "KEY", "CERTIFICATE"]
    assert len(lines) == 8 and summary.startswith("8 certificate files, 1 expired")
    # Cron mail and narrow terminals: every line within 100 columns (it was 216 for the demo).
    assert max(len(line) for line in plain.stdout.splitlines()) <= 100
    assert lines[0].split()[:3] == [str(days_left(read_certs(demo / "ssl" / "expired.pem")[0])), "2020-01-01",
                                    "complete"]

    def on_a_terminal(env: dict) -> str:
        controller, terminal = pty.openpty()
        try:
            process = subprocess.run([sys.executable, "-m", "nginxssl", "certs", *demo_args(demo)],
                                     stdout=terminal, stderr=subprocess.PIPE, env=env, timeout=120)
        finally:
            os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        os.close(controller)
        assert process.returncode == 1, process.stderr
        return output.decode()

    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    coloured = on_a_terminal(env)
    expired_line = next(line for line in coloured.splitlines() if "expired.pem" in line)
    assert expired_line.startswith("\x1b[31m")
    assert not any(line.startswith("\x1b[") for line in coloured.splitlines() if "good.fullchain.pem" in line)
    assert "\x1b[" not in on_a_terminal({**env, "NO_COLOR": "1"})


def test_usage_errors_exit_2(demo, tmp_path):
    assert certs(str(tmp_path / "nowhere")).exit_code == 2
    assert certs(str(demo), "--now", "yesterday").exit_code == 2
    (demo / ".sslint.yaml").unlink()  # it names a CA, which would satisfy --no-system-trust
    assert certs(str(demo), "--no-system-trust").exit_code == 2
    assert certs(str(demo), "--format", "xml").exit_code == 2
    # A --ca-file with no certificate is skipped (said on stderr); only trusting nothing is a usage error.
    key_as_ca = certs(str(demo), "--ca-file", str(demo / "ssl" / "good.key"))
    assert key_as_ca.exit_code != 2 and "good.key" in key_as_ca.stderr
    assert certs(str(demo), "--no-system-trust", "--ca-file", str(demo / "ssl" / "good.key")).exit_code == 2


# ---------------------------------------------------------------- badssl.com


def expected_badssl() -> dict[str, dict]:
    """Certificate path as the configs name it -> its TSV rows (one per TLS server block)."""
    table: dict[str, dict] = defaultdict(lambda: {"rows": []})
    with open(BADSSL / "EXPECTED-sslint.tsv", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            entry = table[BADSSL_CERT_DIR + row["ssl_certificate(test-set path)"]]
            entry["rows"].append(row)
            entry["file"] = BADSSL_GEN / row["ssl_certificate(test-set path)"]
            entry["key"] = BADSSL_GEN / row["ssl_certificate_key"]
    return table


def expected_chain(rows: list[dict]) -> str:
    """The chain status EXPECTED-sslint.tsv describes, worst first."""
    row = rows[0]
    other = row["other_expected_findings"] or ""
    if "self-signed leaf" in other:
        return "self-signed"
    if row["chain_order"].startswith("WRONG"):
        return "wrong-order"
    if row["missing_intermediate"].startswith("MISSING"):
        return "incomplete"
    if row["missing_intermediate"].startswith("n/a"):
        # "issuer X is an untrusted root, not shipped in file": the leaf's issuer is found
        # nowhere, which sslint cannot tell from a missing intermediate; like SSL201 it says
        # incomplete and names the issuer (checked below).
        return "incomplete"
    if "untrusted root" in other:
        return "untrusted"
    return "complete"


needs_badssl = pytest.mark.skipif(not (BADSSL / "EXPECTED-sslint.tsv").is_file(), reason="badssl.com corpus absent")


@pytest.fixture(scope="module")
def badssl_root(tmp_path_factory) -> Path:
    return sysroot(tmp_path_factory.mktemp("badssl-certs"))


def badssl_args(root: Path, *extra: str) -> list[str]:
    return [str(root / "etc/nginx"), "--root", str(root), "--now", NOW, "--no-system-trust",
            "--ca-file", str(BADSSL_ROOT_CA), *extra]


@pytest.fixture(scope="module")
def badssl_report(badssl_root) -> dict:
    result = certs(*badssl_args(badssl_root, "--format", "json"))
    assert result.exit_code == 1, result.output
    return as_json(result)


@needs_badssl
def test_badssl_lists_every_certificate_once_with_the_right_sites(badssl_report):
    expected = expected_badssl()
    rows = badssl_report["certificates"]
    assert Counter(row["path"] for row in rows) == Counter({path: 1 for path in expected})
    for row in rows:
        wanted = expected[row["path"]]["rows"]
        assert Counter(site["file"].split("/_site/", 1)[1] for site in row["sites"]) == \
            Counter(entry["conf"] for entry in wanted), row["path"]
        names = {name for site in row["sites"] for name in site["names"]}
        assert {entry["server_name"] for entry in wanted if entry["server_name"] != "*.badssl.test"} <= names


@needs_badssl
def test_badssl_names_issuer_key_and_expiry_match_the_files(badssl_report):
    expected = expected_badssl()
    for row in badssl_report["certificates"]:
        wanted = expected[row["path"]]
        assert_certificate(row, leaf_of(wanted["file"], wanted["key"]))
    by_name = {Path(row["path"]).name: row for row in badssl_report["certificates"]}
    assert by_name["subdomain-10000-sans.pem"]["san_count"] == 10000
    assert by_name["wildcard-sha1-2016.pem"]["not_after"].startswith("2026-12-07")
    assert by_name["wildcard-sha1-2016.pem"]["days_left"] == 6


@needs_badssl
def test_badssl_chain_status_matches_expected(badssl_report):
    expected = expected_badssl()
    for row in badssl_report["certificates"]:
        rows = expected[row["path"]]["rows"]
        assert row["chain"]["status"] == expected_chain(rows), (row["path"], row["chain"])
        missing = rows[0]["missing_intermediate"]
        if missing.startswith("n/a"):
            issuer = re.search(r"issuer (\S+=.+?) is an untrusted root", missing)[1]
            assert issuer.replace("\\", "") in row["chain"]["served"][0]["unresolved_issuer"].replace("\\", "")
        if missing.startswith("MISSING"):
            assert row["chain"]["served"][0]["missing"] == [re.search(r"CN=([^)]+)\)", missing)[1]]


@needs_badssl
@needs_openssl
def test_badssl_chain_status_agrees_with_openssl_verify(badssl_report, tmp_path):
    expected = expected_badssl()
    for row in badssl_report["certificates"]:
        status = row["chain"]["status"]
        if status == "wrong-order":
            continue
        code = openssl_chain_verdict(expected[row["path"]]["file"], BADSSL_ROOT_CA, tmp_path)
        if status == "complete":
            assert code not in TRUST_ERRORS, (row["path"], code)
        else:
            assert code in TRUST_ERRORS, (row["path"], status, code)


@needs_badssl
def test_badssl_exit_code_follows_expiry_days(badssl_root):
    # wildcard-expired expired in 2020; wildcard-sha1-2016 ends 2026-12-07, 6 days after --now.
    def expiring(days: str) -> tuple[int, set[str]]:
        result = certs(*badssl_args(badssl_root, "--expiry-days", days, "--format", "json"))
        return result.exit_code, {Path(row["path"]).name for row in as_json(result)["certificates"]
                                  if row["expiring"]}

    assert expiring("7") == (1, {"wildcard-expired.pem", "wildcard-sha1-2016.pem"})
    assert expiring("5") == (1, {"wildcard-expired.pem"})  # expired counts at any threshold


@needs_badssl
def test_badssl_site_without_expired_certificates_exits_0(badssl_root):
    # One badssl site on its own: its leaf lives until 2028-11-26.
    alone = badssl_root / "etc/nginx-rsa2048"
    alone.mkdir(exist_ok=True)
    (alone / "nginx.conf").write_text(
        "events {}\nhttp {\n    include /var/www/badssl/_site/domains/cert/rsa2048.conf;\n}\n")
    args = [str(alone), "--root", str(badssl_root), "--now", NOW, "--no-system-trust", "--ca-file", str(BADSSL_ROOT_CA)]
    assert certs(*args).exit_code == 0
    assert certs(*args, "--expiry-days", "725").exit_code == 0
    assert certs(*args, "--expiry-days", "727").exit_code == 1


@needs_badssl
def test_badssl_csv_and_table_abbreviate_long_name_lists(badssl_root):
    result = certs(*badssl_args(badssl_root, "--format", "csv"))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(expected_badssl())
    many = next(row for row in rows if row["path"].endswith("subdomain-10000-sans.pem"))
    assert many["san_count"] == "10000" and many["names"].endswith("(+9950 more)")
    shared = next(row for row in rows if row["path"].endswith("wildcard-rsa2048.pem"))
    wanted = expected_badssl()[BADSSL_CERT_DIR + "chain/wildcard-rsa2048.pem"]["rows"]
    assert len(shared["sites"].split(";")) == len(wanted)
    table = certs(*badssl_args(badssl_root)).stdout.splitlines()
    assert max(len(line) for line in table) <= 100
    first = next(index for index, line in enumerate(table) if line.endswith("subdomain-10000-sans.pem"))
    names = table[first + 1]
    assert names.split()[0] == "names" and names.endswith(" more") and "+9,99" in names, names


# ---------------------------------------------------------------- one story with the lint

# The lint rule that names each chain status (inventory.py derives both from one ChainReport).
STATUS_RULES = {"SSL104": "self-signed", "SSL202": "wrong-order", "SSL201": "incomplete", "SSL105": "untrusted"}


def chain_cases() -> list:
    from cases import all_cases, case_id

    return [pytest.param(case, id=case_id(rule_id, case)) for rule_id, case in all_cases()
            if case.get("pki") or case.get("files")]


@pytest.mark.parametrize("case", chain_cases())
def test_chain_status_tells_the_lints_story(case, tmp_path):
    """On every rule case with certificates: a file's chain problems are exactly the
    chain rules the lint reports at the directive naming it."""
    from cases import PINNED_NOW, materialise, run_case

    config = materialise(case, tmp_path)
    findings = run_case(case, config).findings
    args = [str(config), "--format", "json", "--now", str(case.get("now") or PINNED_NOW.isoformat())]
    if "apache" in case:
        args += ["--server", "apache"]
    for name in case.get("trust") or ():
        args += ["--ca-file", str(tmp_path / name)]
    if case.get("trust"):
        args.append("--no-system-trust")
    result = certs(*args)
    assert result.exit_code in (0, 1), result.output
    for row in as_json(result)["certificates"]:
        if row["chain"] is None or not any(site["tls"] for site in row["sites"]):
            continue
        directives = {(site["directive_file"], site["directive_line"]) for site in row["sites"]}
        rules = {finding.rule for finding in findings if (finding.file, finding.line) in directives}
        assert set(row["chain"]["problems"]) == {STATUS_RULES[rule] for rule in rules & set(STATUS_RULES)}, \
            (row["path"], rules, row["chain"])


# ---------------------------------------------------------------- monitoring


def test_warning_and_critical_days(demo):
    (demo / "sites-enabled" / "expired.conf").unlink()
    # Every other leaf ends 6606 days after --now; four of them serve a chain browsers refuse.
    def verdicts(*extra: str) -> dict[str, str]:
        report = as_json(certs(*demo_args(demo, *extra, "--format", "json")))
        return {Path(row["path"]).name: row["verdict"] for row in report["certificates"]}

    calm = verdicts("--warning-days", "6605", "--critical-days", "100")
    assert calm["good.fullchain.pem"] == "ok" and calm["incomplete.pem"] == "warning"
    assert set(verdicts("--warning-days", "6606")["good.fullchain.pem"]) and \
        verdicts("--warning-days", "6606")["good.fullchain.pem"] == "warning"
    assert set(verdicts("--warning-days", "7000", "--critical-days", "6606").values()) == {"critical"}
    assert certs(*demo_args(demo, "--warning-days", "5", "--critical-days", "6")).exit_code == 2
    assert certs(*demo_args(demo, "--expiry-days", "6606")).exit_code == 1  # the old spelling still works


# The monitoring plugin guidelines: `SERVICE STATUS - text | 'label'=value[UOM];warn;crit;min;max`,
# exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
NAGIOS_STATUS = re.compile(r"SSLINT (OK|WARNING|CRITICAL|UNKNOWN) - [^|]+( \| ('([^']|'')+'=-?\d+;\d+:;\d+:;;)"
                           r"( '([^']|'')+'=-?\d+;\d+:;\d+:;;)*)?")


def test_nagios_plugin_output(demo, tmp_path):
    checked = certs(*demo_args(demo, "--format", "nagios"))
    status, *long_text = checked.stdout.splitlines()
    assert NAGIOS_STATUS.fullmatch(status), status
    assert checked.exit_code == 2 and status.startswith("SSLINT CRITICAL - 8 certificate files, 1 critical")
    assert any(line.startswith("CRITICAL: ") and "expired.pem (expired)" in line for line in long_text)
    perfdata = dict(item.rsplit("=", 1) for item in status.split(" | ")[1].split(" "))
    assert perfdata[f"'{demo}/ssl/good.fullchain.pem'"] == "6606;30:;7:;;"
    # Only what the thresholds say: no expired file, chains aside, nothing within 30 days: OK.
    for name in ("expired", "incomplete", "selfsigned", "wrong-order"):
        (demo / "sites-enabled" / f"{name}.conf").unlink()
    quiet = certs(*demo_args(demo, "--format", "nagios"))
    assert quiet.exit_code == 0 and NAGIOS_STATUS.fullmatch(quiet.stdout.splitlines()[0])
    assert quiet.stdout.startswith("SSLINT OK - 4 certificate files, next expiry 2045-01-01")
    assert certs(*demo_args(demo, "--format", "nagios", "--warning-days", "6606")).exit_code == 1
    unknown = certs(str(tmp_path / "nowhere"), "--format", "nagios")
    assert unknown.exit_code == 3 and unknown.stdout.startswith("SSLINT UNKNOWN - ")


def test_prometheus_textfile_parses(demo, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    target = tmp_path / "textfile" / "sslint.prom"
    target.parent.mkdir()
    result = certs(*demo_args(demo, "--format", "prometheus", "-o", str(target)))
    assert result.exit_code == 1 and result.stdout == ""
    families = {family.name: family for family in text_string_to_metric_families(target.read_text())}
    assert set(families) == {"sslint_certificate_expiry_timestamp_seconds", "sslint_certificate_days_left",
                             "sslint_certificate_verdict", "sslint_certificates_checked_timestamp_seconds"}
    assert all(family.type == "gauge" and family.documentation for family in families.values())
    expiry = {Path(s.labels["path"]).name: s for s in families["sslint_certificate_expiry_timestamp_seconds"].samples}
    assert expiry["expired.pem"].value == datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp()
    assert expiry["mismatch.pem"].labels["sites"] == "mismatch.example.test"
    verdicts = {Path(s.labels["path"]).name: s.value for s in families["sslint_certificate_verdict"].samples}
    assert verdicts["expired.pem"] == 2 and verdicts["good.fullchain.pem"] == 0 and verdicts["incomplete.pem"] == 1
    days = {Path(s.labels["path"]).name: s.value for s in families["sslint_certificate_days_left"].samples}
    assert days["good.fullchain.pem"] == 6606
    [checked] = families["sslint_certificates_checked_timestamp_seconds"].samples
    assert checked.value == NOW_TIME.timestamp()
    # Label values that need escaping (a double quote, a backslash) still parse, to the JSON's paths.
    odd = demo / "ssl" / 'we"ird\\name.pem'
    odd.write_bytes((demo / "ssl" / "good.fullchain.pem").read_bytes())
    site = (demo / "sites-enabled" / "good.conf").read_text().replace("ssl/good.fullchain.pem", f"'{odd}'")
    (demo / "sites-enabled" / "odd.conf").write_text(site.replace("good.example.test", "odd.example.test"))
    text = certs(*demo_args(demo, "--format", "prometheus")).stdout
    paths = {s.labels["path"] for f in text_string_to_metric_families(text) for s in f.samples if "path" in s.labels}
    listed = {row["path"] for row in as_json(certs(*demo_args(demo, "--format", "json")))["certificates"]}
    assert paths == listed and any('"' in path and "\\" in path for path in paths), paths
