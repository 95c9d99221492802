"""nginxssl.pki.names: RFC 6125 host matching and nginx server_name forms."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from nginxssl.pki.names import (
    CANNOT_CHECK,
    COVERED,
    NOT_COVERED,
    Identities,
    check_server_name,
    covers,
    dns_names,
    has_san,
    identities,
    ip_addresses,
    san_names,
    to_ascii,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from pki import build  # noqa: E402

GEN = Path("/work/shared/corpus/badssl.com/certs/sets/test/gen")
OPENSSL = shutil.which("openssl")

SPEC = {
    "pki": {
        "root": {"ca": True},
        "multi": {"issuer": "root", "names": ["A.Test", "*.a.test", "192.0.2.7", "2001:db8::1"]},
        "cn_only": {"issuer": "root", "cn": "cn-only.test"},
    },
    "files": {"root.pem": ["root"], "multi.pem": ["multi"]},
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return build(SPEC, tmp_path_factory.mktemp("names-pki"))


def badssl_leaf(bundle: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates((GEN / "chain" / f"{bundle}.pem").read_bytes())[0]


needs_badssl = pytest.mark.skipif(not GEN.is_dir(), reason="badssl.com corpus not present")


# ---------------------------------------------------------------- certificate side


def test_dns_and_ip_sans(pki):
    cert = pki.cert("multi")
    assert dns_names(cert) == ("a.test", "*.a.test")  # lower-cased
    assert ip_addresses(cert) == ("192.0.2.7", "2001:db8::1")
    assert san_names(cert) == ("a.test", "*.a.test", "192.0.2.7", "2001:db8::1")
    assert has_san(cert)


def test_cn_only_certificate_has_no_san(pki):
    cert = pki.cert("cn_only")
    assert not has_san(cert) and dns_names(cert) == ()
    # Browsers ignore the CN: the name it holds is not covered.
    assert check_server_name("cn-only.test", san_names(cert)).status == NOT_COVERED


@needs_badssl
def test_badssl_no_san():
    assert not has_san(badssl_leaf("subdomain-no-san"))
    assert has_san(badssl_leaf("subdomain-no-common-name"))  # SAN without CN is fine


@needs_badssl
def test_badssl_idn():
    sans = dns_names(badssl_leaf("subdomain-xn--n1aae7f7o"))
    assert sans == ("xn--n1aae7f7o.badssl.test",)
    # "ѕрооғ" (Cyrillic look-alikes of "spoof") is the U-label of that A-label.
    assert check_server_name("ѕрооғ.badssl.test", sans).status == COVERED
    assert check_server_name("xn--n1aae7f7o.badssl.test", sans).status == COVERED
    assert check_server_name("spoof.badssl.test", sans).status == NOT_COVERED


@needs_badssl
def test_badssl_wildcard_cert_names():
    sans = dns_names(badssl_leaf("wildcard-rsa2048"))
    assert check_server_name("rsa2048.badssl.test", sans).covered
    assert check_server_name("badssl.test", sans).covered
    # EXPECTED-sslint.tsv: subdomain.preloaded-hsts is one label too deep.
    verdict = check_server_name("subdomain.preloaded-hsts.badssl.test", sans)
    assert verdict.not_covered and verdict.missing == ("subdomain.preloaded-hsts.badssl.test",)
    # fallback.conf's server_name *.badssl.test against the fallback certificate.
    fallback = dns_names(badssl_leaf("fallback"))
    assert check_server_name("*.badssl.test", fallback).missing == ("*.badssl.test",)


# ---------------------------------------------------------------- covers


@pytest.mark.parametrize("pattern,host,expected", [
    ("a.test", "a.test", True),
    ("A.TEST", "a.test", True),  # case
    ("a.test", "A.Test", True),
    ("a.test.", "a.test", False),  # a SAN ending in a dot: Firefox, OpenSSL, cryptography never match it
    ("a.test.", "a.test.", False),
    ("a.test", "a.test.", True),  # the host's own trailing dot: every client drops it
    ("*.a.test.", "x.a.test", False),
    ("a.test", "b.test", False),
    ("*.a.test", "x.a.test", True),
    ("*.a.test", "X.A.TEST.", True),
    ("*.a.test", "a.test", False),  # never the apex
    ("*.a.test", "x.y.a.test", False),  # exactly one label
    ("*.a.test", ".a.test", False),  # an empty label is no label
    ("w*.a.test", "www.a.test", False),  # partial-label wildcards: browsers refuse
    ("*w.a.test", "www.a.test", False),
    ("x.*.test", "x.a.test", False),  # wildcard not left-most
    ("*.*.test", "a.b.test", False),
    ("*.test", "a.test", False),  # too broad: at least two labels under the wildcard
    ("*", "a", False),
    ("*.xn--bcher-kva.example", "shop.bücher.example", True),  # IDN: A-labels compared
    ("xn--bcher-kva.example", "BÜCHER.example", True),
    ("*.a.test", "xn--bcher-kva.a.test", True),  # a wildcard covers a whole A-label
    ("192.0.2.7", "192.0.2.7", True),
    ("2001:db8::1", "2001:0db8:0:0::1", True),  # IPs by value
    ("*.0.2.7", "192.0.2.7", False),  # no wildcards for IPs
    ("192.0.2.7", "192.0.2.8", False),
    ("", "a.test", False),
    ("a.test", "", False),
])
def test_covers(pattern, host, expected):
    assert covers(pattern, host) is expected


def test_to_ascii():
    assert to_ascii("Bücher.Example.") == "xn--bcher-kva.example"
    assert to_ascii("") is None and to_ascii(".") is None
    assert to_ascii("a" * 64 + "ü.test") is None  # label too long for IDNA


# Letters first: all-digit labels would make IP addresses, which wildcards never match.
labels = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(st.lists(labels, min_size=1, max_size=4), labels)
def test_wildcard_covers_one_label_and_never_the_apex(parent, label):
    # Under .test: a random TLD can make the wildcard's remainder a public suffix (`*.a.mm`: the list
    # has `*.mm`), where a wildcard covers nothing at all (test_wildcards_over_public_suffixes_cover_nothing).
    base = ".".join(parent) + ".test"
    assert covers(f"*.{base}", f"{label}.{base}")
    assert covers(f"*.{base}", f"{label.upper()}.{base}.")
    assert not covers(f"*.{base}", base)
    assert not covers(f"*.{base}", f"{label}.{label}.{base}")
    assert covers(base, base) and covers(base.upper(), base + ".")


# ---------------------------------------------------------------- nginx forms


SANS = ("a.test", "*.a.test", "b.test", "192.0.2.7")


@pytest.mark.parametrize("server_name,status,missing", [
    ("a.test", COVERED, ()),
    ("A.Test.", COVERED, ()),
    ("www.a.test", COVERED, ()),
    ("x.www.a.test", NOT_COVERED, ("x.www.a.test",)),
    ("c.test", NOT_COVERED, ("c.test",)),
    ("www.b.test", NOT_COVERED, ("www.b.test",)),  # www. vs apex
    ("*.a.test", COVERED, ()),
    ("*.b.test", NOT_COVERED, ("*.b.test",)),  # sub-names of b.test are not covered
    (".a.test", COVERED, ()),  # a.test plus *.a.test
    (".b.test", NOT_COVERED, ("*.b.test",)),
    (".c.test", NOT_COVERED, ("c.test", "*.c.test")),
    ("192.0.2.7", COVERED, ()),
    ("192.0.2.8", NOT_COVERED, ("192.0.2.8",)),
    ("~^www\\.a\\.test$", COVERED, ()),  # an anchored literal regex is one name
    ("~^www\\.c\\.test$", NOT_COVERED, ("www.c.test",)),
    ("~^(?<user>.+)\\.a\\.test$", CANNOT_CHECK, ()),  # never a false alarm
    ("~^www\\d+\\.c\\.test$", CANNOT_CHECK, ()),
    ("~www\\.c\\.test", CANNOT_CHECK, ()),  # unanchored: matches longer names too
    ("a.*", CANNOT_CHECK, ()),  # trailing wildcard
    ("www.*.test", CANNOT_CHECK, ()),  # nginx refuses it
    ("_", CANNOT_CHECK, ()),
    ("", CANNOT_CHECK, ()),
    ('""', CANNOT_CHECK, ()),
    ("$host", CANNOT_CHECK, ()),
    ("www.$domain", CANNOT_CHECK, ()),
])
def test_check_server_name(server_name, status, missing):
    verdict = check_server_name(server_name, SANS)
    assert (verdict.status, verdict.missing) == (status, missing), verdict
    assert verdict.name == server_name
    if status == CANNOT_CHECK:
        assert verdict.reason
    if status == COVERED:
        assert verdict.covered_by


def test_check_server_name_reports_what_covered_it():
    verdict = check_server_name("www.a.test", SANS)
    assert verdict.covered and verdict.covered_by == ("*.a.test",)
    partial = check_server_name(".b.test", SANS)
    assert partial.covered_by == ("b.test",) and partial.missing == ("*.b.test",)


# ---------------------------------------------------------------- the judge


@pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
@pytest.mark.parametrize("host", [
    "a.test", "A.TEST", "x.a.test", "x.y.a.test", "b.test", "192.0.2.7", "192.0.2.8", "2001:db8::1",
])
def test_openssl_agrees_on_host_matching(pki, host):
    """`openssl verify -verify_hostname / -verify_ip` decides as covers() does."""
    cert = pki.cert("multi")
    try:
        ipaddress.ip_address(host)
        option = "-verify_ip"
    except ValueError:
        option = "-verify_hostname"
    result = subprocess.run(
        [OPENSSL, "verify", "-CAfile", str(pki.path("root.pem")), option, host, str(pki.path("multi.pem"))],
        capture_output=True, text=True, timeout=30,
    )
    ours = any(covers(san, host) for san in san_names(cert))
    assert ours == (result.returncode == 0), result.stdout + result.stderr


@needs_badssl
def test_badssl_expected_name_verdicts():
    """EXPECTED-sslint.tsv's server_name_vs_SAN column, for every TLS server block."""
    import csv

    with open(GEN.parents[3] / "EXPECTED-sslint.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert rows
    for row in rows:
        # What nginx sends first is what the browser matches the name against.
        leaf = badssl_leaf(Path(row["ssl_certificate(test-set path)"]).stem)
        verdict = check_server_name(row["server_name"], san_names(leaf))
        expected_mismatch = row["server_name_vs_SAN"].startswith("MISMATCH")
        assert verdict.not_covered == expected_mismatch, (row["conf"], row["server_name"], verdict)
        assert verdict.status != CANNOT_CHECK


# ---------------------------------------------------------------- as browsers judge names


def test_a_dns_san_spelled_as_an_ip_address_never_covers_that_address():
    """rfc5280::san::ip-in-dns of x509-limbo: DNS:8.8.8.8 is no IP address entry."""
    presented = Identities(dns=("192.0.2.7",))
    assert check_server_name("192.0.2.7", presented).not_covered
    assert check_server_name("192.0.2.7", Identities(ips=("192.0.2.7",))).covered


def test_an_ip_san_never_covers_a_host_name():
    assert check_server_name("a.test", Identities(ips=("192.0.2.7",))).not_covered


@pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
def test_openssl_agrees_an_ip_in_a_dns_san_covers_no_ip(tmp_path):
    from datetime import datetime, timezone

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ip-in-dns")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime(2025, 1, 1, tzinfo=timezone.utc))
            .not_valid_after(datetime(2045, 1, 1, tzinfo=timezone.utc))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("192.0.2.7")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path / "c.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run([OPENSSL, "verify", "-CAfile", str(path), "-verify_ip", "192.0.2.7", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0, result.stdout  # openssl: "IP address mismatch"
    assert check_server_name("192.0.2.7", identities(cert)).not_covered


@pytest.mark.parametrize("san,host,expected", [
    ("bücher.example", "bücher.example", False),  # raw UTF-8 in an IA5String matches nothing
    ("bücher.example", "xn--bcher-kva.example", False),
    ("xn--bcher-kva.example", "bücher.example", True),  # the host side is converted
    ("😜.example.com", "xn--628h.example.com", False),  # x509-limbo webpki::san::unicode-emoji-san
])
def test_non_ascii_dns_sans_are_never_converted(san, host, expected):
    assert check_server_name(host, Identities(dns=(san,))).covered is expected


@pytest.mark.parametrize("pattern,host,expected", [
    ("*.co.uk", "example.co.uk", False),  # a public suffix (ICANN section)
    ("*.com", "example.com", False),
    ("*.example.co.uk", "www.example.co.uk", True),
    ("*.appspot.com", "x.appspot.com", True),  # the private section: Chrome accepts it
    ("*.github.io", "someone.github.io", True),
    ("*.intranet", "a.intranet", False),  # an unknown top-level domain counts as public
    ("*.corp.intranet", "a.corp.intranet", True),
])
def test_wildcards_over_public_suffixes_cover_nothing(pattern, host, expected):
    assert covers(pattern, host) is expected


def test_a_wildcard_server_name_is_not_covered_by_a_public_suffix_wildcard():
    assert check_server_name("*.co.uk", ("*.co.uk",)).not_covered
    assert check_server_name("*.example.co.uk", ("*.example.co.uk",)).covered
