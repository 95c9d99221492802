"""nginxssl.pki.chain and nginxssl.pki.trust: structural diagnosis, judged by `openssl verify`.

Each chain case is built by fixtures/pki.py, diagnosed, and the verdict
compared with what `openssl verify` says about the same completed chain (and
about exactly the served list). The badssl.com test set is the benchmark.
"""

from __future__ import annotations

import csv
import datetime
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nginxssl.pki.chain import Candidate, ChainReport, days_left, diagnose, is_expired, is_not_yet_valid, validity
from nginxssl.pki.trust import TrustStore, TrustStoreError, load_trust_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from pki import build  # noqa: E402

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
OPENSSL = shutil.which("openssl")

SPEC = {
    "pki": {
        "root": {"ca": True, "cn": "Chain Test Root"},
        "inter": {"ca": True, "issuer": "root", "cn": "Chain Test Inter"},
        "leaf": {"issuer": "inter", "names": ["a.test", "www.a.test"]},
        # The same subject DN as inter, another key (badssl's sha1 intermediate).
        "twin": {"ca": True, "issuer": "root", "cn": "Chain Test Inter", "key": "ec384"},
        "twin_leaf": {"issuer": "twin", "names": ["twin.test"]},
        "expired_inter": {"ca": True, "issuer": "root", "cn": "Expired Inter",
                          "not_before": "2020-01-01", "not_after": "2021-01-01"},
        "expired_inter_leaf": {"issuer": "expired_inter", "names": ["e.test"]},
        "expired_leaf": {"issuer": "inter", "names": ["old.test"],
                         "not_before": "2020-01-01", "not_after": "2021-01-01"},
        "future_leaf": {"issuer": "inter", "names": ["future.test"],
                        "not_before": "2030-01-01", "not_after": "2031-01-01"},
        "noca_inter": {"issuer": "root", "cn": "Not A CA"},
        "noca_leaf": {"issuer": "noca_inter", "names": ["n.test"]},
        "pathlen0": {"ca": True, "issuer": "root", "cn": "Pathlen Zero", "pathlen": 0},
        "sub_inter": {"ca": True, "issuer": "pathlen0", "cn": "Below Pathlen Zero"},
        "deep_leaf": {"issuer": "sub_inter", "names": ["deep.test"]},
        "rsa_inter": {"ca": True, "issuer": "root", "cn": "RSA Inter", "key": "rsa2048"},
        "sha1_leaf": {"issuer": "rsa_inter", "names": ["sha1.test"], "signature": "sha1", "key": "rsa2048"},
        "md5_leaf": {"issuer": "rsa_inter", "names": ["md5.test"], "signature": "md5", "key": "rsa2048"},
        "ec_sha1_leaf": {"issuer": "inter", "names": ["ecsha1.test"], "signature": "sha1"},
        "rsa1024_leaf": {"issuer": "inter", "names": ["weak.test"], "key": "rsa1024"},
        "bare_inter": {"ca": True, "issuer": "root", "cn": "No Key Ids", "ski": False},
        "bare_leaf": {"issuer": "bare_inter", "names": ["bare.test"], "ski": False, "aki": False},
        "selfsigned": {"names": ["self.test"]},
        "other_root": {"ca": True, "cn": "Untrusted Root"},
        "other_inter": {"ca": True, "issuer": "other_root", "cn": "Untrusted Inter"},
        "other_leaf": {"issuer": "other_inter", "names": ["u.test"]},
    },
    "files": {"root.pem": ["root"]},
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return build(SPEC, tmp_path_factory.mktemp("chain-pki"))


@pytest.fixture(scope="module")
def trust(pki) -> TrustStore:
    return load_trust_store((str(pki.path("root.pem")),), system=False)


def public(pki, name):
    return pki.key(name).public_key()


def run(pki, trust, served, key=None, pool=(), hostname=None) -> ChainReport:
    certs = tuple(pki.cert(name) for name in served)
    candidates = tuple(Candidate(pki.cert(name), f"pool/{name}.pem") for name in pool)
    key_public = public(pki, key) if key else None
    return diagnose(certs, key_public, candidates, trust, NOW, hostname)


def subjects(links) -> list[str]:
    return [link.cert.subject.rfc4514_string() for link in links]


# ---------------------------------------------------------------- the judge


def openssl_verify(tmp_path: Path, anchors, leaf, intermediates, hostname=None) -> tuple[bool, str]:
    """`openssl verify` on leaf + intermediates, trusting only `anchors`, at NOW."""
    pem = serialization.Encoding.PEM
    root_file = tmp_path / "anchors.pem"
    root_file.write_bytes(b"".join(cert.public_bytes(pem) for cert in anchors))
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes(leaf.public_bytes(pem))
    command = [OPENSSL, "verify", "-CAfile", str(root_file), "-attime", str(int(NOW.timestamp()))]
    if intermediates:
        untrusted = tmp_path / "untrusted.pem"
        untrusted.write_bytes(b"".join(cert.public_bytes(pem) for cert in intermediates))
        command += ["-untrusted", str(untrusted)]
    if hostname:
        command += ["-verify_hostname", hostname]
    command.append(str(leaf_file))
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    return result.returncode == 0, (result.stdout + result.stderr).strip()


# Where sslint (cryptography's web-PKI verifier) and `openssl verify` part ways
# on purpose: OpenSSL 3.0's `verify` checks no signature-hash strength unless
# given -auth_level, so it accepts SHA-1 and MD5 certificates that every browser
# refuses; sslint sides with the browsers.
OPENSSL_ACCEPTS_BUT_BROWSERS_DO_NOT = {"sha1 leaf", "md5 leaf", "ecdsa-sha1 leaf"}

# name: (served, key, pool, hostname)
CASES = {
    "complete": (["leaf", "inter"], "leaf", [], "a.test"),
    "complete, no hostname": (["leaf", "inter"], "leaf", [], None),
    "leaf only, intermediate in pool": (["leaf"], "leaf", ["twin", "inter"], "a.test"),
    "leaf only, intermediate nowhere": (["leaf"], "leaf", [], "a.test"),
    "wrong order": (["inter", "leaf"], "leaf", [], "a.test"),
    "key of the CA (reversed chain)": (["inter", "leaf"], "inter", [], "a.test"),
    "root included": (["leaf", "inter", "root"], "leaf", [], "a.test"),
    "unrelated extra": (["leaf", "inter", "other_leaf"], "leaf", [], "a.test"),
    "duplicate": (["leaf", "inter", "inter"], "leaf", [], "a.test"),
    "self-signed leaf": (["selfsigned"], "selfsigned", [], "self.test"),
    "untrusted root sent": (["other_leaf", "other_inter", "other_root"], "other_leaf", [], "u.test"),
    "untrusted root not sent": (["other_leaf", "other_inter"], "other_leaf", [], "u.test"),
    "expired intermediate": (["expired_inter_leaf", "expired_inter"], "expired_inter_leaf", [], "e.test"),
    "expired leaf": (["expired_leaf", "inter"], "expired_leaf", [], "old.test"),
    "not yet valid leaf": (["future_leaf", "inter"], "future_leaf", [], "future.test"),
    "intermediate not a CA": (["noca_leaf", "noca_inter"], "noca_leaf", [], "n.test"),
    "same DN, other key": (["twin_leaf"], "twin_leaf", ["inter", "twin"], "twin.test"),
    "same DN, wrong one served": (["leaf", "twin"], "leaf", ["inter"], "a.test"),
    "path length exceeded": (["deep_leaf", "sub_inter", "pathlen0"], "deep_leaf", [], "deep.test"),
    "sha1 leaf": (["sha1_leaf", "rsa_inter"], "sha1_leaf", [], "sha1.test"),
    "md5 leaf": (["md5_leaf", "rsa_inter"], "md5_leaf", [], "md5.test"),
    "ecdsa-sha1 leaf": (["ec_sha1_leaf", "inter"], "ec_sha1_leaf", [], "ecsha1.test"),
    "rsa1024 leaf": (["rsa1024_leaf", "inter"], "rsa1024_leaf", [], "weak.test"),
    "no key identifiers": (["bare_leaf", "bare_inter"], "bare_leaf", [], "bare.test"),
    "key unknown": (["inter", "leaf"], None, [], "a.test"),
    "wrong hostname": (["leaf", "inter"], "leaf", [], "b.test"),
    "wildcard depth": (["leaf", "inter"], "leaf", [], "x.www.a.test"),
}


@pytest.fixture(scope="module")
def reports(pki, trust) -> dict[str, ChainReport]:
    return {name: run(pki, trust, *case) for name, case in CASES.items()}


@pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
@pytest.mark.parametrize("case", list(CASES))
def test_verifier_agrees_with_openssl(case, reports, pki, tmp_path):
    report = reports[case]
    hostname = CASES[case][3]
    completed = [link.cert for link in report.path[1:] if link.origin != "trust store"]
    openssl_ok, output = openssl_verify(tmp_path, [pki.cert("root")], report.leaf, completed, hostname)
    if case in OPENSSL_ACCEPTS_BUT_BROWSERS_DO_NOT:
        assert openssl_ok and not report.verified, output
        assert report.weak_signatures
        return
    assert report.verified == openssl_ok, (report.verify_error, output)
    # ... and on exactly what the server sends: no pool, served[0] as the leaf.
    served = report.served
    openssl_ok, output = openssl_verify(tmp_path, [pki.cert("root")], served[0], list(served[1:]), hostname)
    assert report.served_verified == openssl_ok, (report.served_verify_error, output)


# ---------------------------------------------------------------- structure


def test_complete_chain(reports, pki):
    report = reports["complete"]
    assert report.leaf == pki.cert("leaf")
    assert report.leaf_index == 0 and report.key_matches_index == 0 and report.leaf_is_first
    assert [link.origin for link in report.path] == ["served", "served", "trust store"]
    assert report.anchor == pki.cert("root")
    assert report.order_ok and report.complete
    assert not (report.missing or report.extras or report.root_sent or report.unresolved_issuer)
    assert not (report.self_signed_leaf or report.untrusted_root or report.invalid_intermediates)
    assert not (report.weak_keys or report.weak_signatures)
    assert report.verified and report.verify_error is None
    assert report.served_verified
    assert report.fullchain == (pki.cert("leaf"), pki.cert("inter"))


def test_no_hostname_verifies_for_a_name_from_the_leaf(reports):
    report = reports["complete, no hostname"]
    assert report.verify_name == "a.test"
    assert report.verified


def test_missing_intermediate_found_in_pool(reports, pki):
    report = reports["leaf only, intermediate in pool"]
    # The twin comes first in the pool and shares inter's name: the signature decides.
    assert [(link.cert, link.origin) for link in report.missing] == [(pki.cert("inter"), "pool/inter.pem")]
    assert report.unresolved_issuer is None and report.anchor == pki.cert("root")
    assert report.verified  # the completed chain
    assert not report.served_verified  # what the server sends today
    assert report.fullchain == (pki.cert("leaf"), pki.cert("inter"))


def test_missing_intermediate_found_nowhere(reports, pki):
    report = reports["leaf only, intermediate nowhere"]
    assert report.missing == ()
    unresolved = report.unresolved_issuer
    assert unresolved is not None
    assert unresolved.subject == pki.cert("leaf")
    assert unresolved.issuer == pki.cert("inter").subject
    assert unresolved.issuer_text == "CN=Chain Test Inter"
    ski = pki.cert("inter").extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert unresolved.authority_key_id == ski
    assert not report.complete and report.anchor is None
    assert not report.verified


def test_wrong_order_key_matches_leaf(reports, pki):
    report = reports["wrong order"]
    assert report.key_matches_index == 1 and report.leaf_index == 1 and not report.leaf_is_first
    assert not report.order_ok
    assert [link.served_index for link in report.path[:2]] == [1, 0]
    assert report.extras == () and report.missing == ()
    assert report.verified  # the certificates are all there, only the order is wrong
    assert report.fullchain == (pki.cert("leaf"), pki.cert("inter"))


def test_key_matches_the_ca(reports, pki):
    report = reports["key of the CA (reversed chain)"]
    assert report.key_matches_index == 0 and report.leaf_index == 0
    assert report.leaf == pki.cert("inter") and report.leaf_is_ca
    assert not report.order_ok  # the CA comes before the certificate it issued
    assert [(extra.index, extra.reason) for extra in report.extras] == [(1, "subject-of-leaf")]
    assert not report.verified


def test_key_unknown_takes_first_non_ca(reports, pki):
    report = reports["key unknown"]
    assert report.key_matches_index is None
    assert report.leaf == pki.cert("leaf") and report.leaf_index == 1
    assert not report.order_ok


def test_root_included(reports, pki):
    report = reports["root included"]
    assert report.root_sent and report.root_index == 2
    assert report.path[-1].served_index == 2 and report.anchor == pki.cert("root")
    assert report.order_ok and not report.extras
    assert report.fullchain == (pki.cert("leaf"), pki.cert("inter"))


def test_unrelated_extra(reports):
    report = reports["unrelated extra"]
    assert [(extra.index, extra.reason) for extra in report.extras] == [(2, "unrelated")]
    assert report.order_ok and report.verified


def test_duplicate(reports):
    report = reports["duplicate"]
    assert [(extra.index, extra.reason) for extra in report.extras] == [(2, "duplicate")]
    assert report.order_ok


def test_self_signed_leaf(reports, pki):
    report = reports["self-signed leaf"]
    assert report.self_signed_leaf
    assert report.untrusted_root is None  # SSL104, not SSL105
    assert report.complete and report.anchor is None and len(report.path) == 1
    assert not report.root_sent
    assert not report.verified


def test_untrusted_root_sent(reports, pki):
    report = reports["untrusted root sent"]
    assert report.untrusted_root is not None and report.untrusted_root.cert == pki.cert("other_root")
    assert report.root_sent and report.anchor is None and report.complete
    assert not report.self_signed_leaf
    assert report.fullchain == (pki.cert("other_leaf"), pki.cert("other_inter"))


def test_untrusted_root_not_sent_is_unresolved(reports, pki):
    # Without the root anywhere, "untrusted private CA" and "intermediate not
    # sent" look the same: the issuer is simply unknown.
    report = reports["untrusted root not sent"]
    assert report.untrusted_root is None
    assert report.unresolved_issuer.issuer == pki.cert("other_root").subject


def test_expired_intermediate(reports, pki):
    report = reports["expired intermediate"]
    assert [(bad.link.cert, bad.reason) for bad in report.invalid_intermediates] == [
        (pki.cert("expired_inter"), "expired")
    ]
    assert "2021-01-01" in report.invalid_intermediates[0].detail


def test_leaf_validity_helpers(reports, pki):
    expired = pki.cert("expired_leaf")
    future = pki.cert("future_leaf")
    good = pki.cert("leaf")
    assert is_expired(expired, NOW) and validity(expired, NOW) == "expired" and days_left(expired, NOW) < 0
    assert is_not_yet_valid(future, NOW) and validity(future, NOW) == "not yet valid"
    assert validity(good, NOW) == "valid" and days_left(good, NOW) > 365
    assert validity(good, NOW.replace(tzinfo=None)) == "valid"  # naive times are UTC
    assert not reports["expired leaf"].verified and not reports["not yet valid leaf"].verified
    assert reports["expired leaf"].invalid_intermediates == ()  # the leaf is SSL101's business


def test_intermediate_not_a_ca(reports, pki):
    report = reports["intermediate not a CA"]
    reasons = {bad.reason for bad in report.invalid_intermediates}
    assert "not a CA" in reasons and "no keyCertSign" in reasons
    assert not report.verified


def test_same_dn_picks_the_issuer_whose_signature_verifies(reports, pki):
    report = reports["same DN, other key"]
    assert [link.cert for link in report.missing] == [pki.cert("twin")]
    assert report.missing[0].origin == "pool/twin.pem"
    assert report.verified


def test_same_dn_wrong_intermediate_served(reports, pki):
    report = reports["same DN, wrong one served"]
    assert [(extra.index, extra.reason) for extra in report.extras] == [(1, "unrelated")]
    assert [link.cert for link in report.missing] == [pki.cert("inter")]
    assert not report.served_verified and report.verified


def test_path_length(reports, pki):
    report = reports["path length exceeded"]
    assert [(bad.link.cert, bad.reason) for bad in report.invalid_intermediates] == [
        (pki.cert("pathlen0"), "path length exceeded")
    ]
    assert not report.verified  # the relaxed basicConstraints policy still enforces pathlen


def test_weak_signatures(reports, pki):
    assert [(weak.link.cert, weak.algorithm) for weak in reports["sha1 leaf"].weak_signatures] == [
        (pki.cert("sha1_leaf"), "sha1")
    ]
    assert [weak.algorithm for weak in reports["md5 leaf"].weak_signatures] == ["md5"]
    assert [weak.algorithm for weak in reports["ecdsa-sha1 leaf"].weak_signatures] == ["sha1"]
    for case in ("sha1 leaf", "md5 leaf", "ecdsa-sha1 leaf"):
        # The issuer is still found: by checking the legacy signature by hand.
        report = reports[case]
        assert report.anchor == pki.cert("root") and report.notes == (), case
        assert "Forbidden signature algorithm" in report.verify_error


def test_weak_key(reports, pki):
    report = reports["rsa1024 leaf"]
    assert [(weak.link.cert, weak.kind, weak.bits) for weak in report.weak_keys] == [
        (pki.cert("rsa1024_leaf"), "RSA", 1024)
    ]
    # cryptography's minimum RSA modulus applies to keys that verify signatures,
    # not to the leaf's key: the verifier accepts; weak_keys (SSL502) explains.
    assert report.verified


def test_no_key_identifiers_falls_back_to_name_and_signature(reports, pki):
    report = reports["no key identifiers"]
    assert [link.cert for link in report.path] == [pki.cert("bare_leaf"), pki.cert("bare_inter"), pki.cert("root")]


def test_hostname_mismatch_and_wildcard_depth(reports):
    assert not reports["wrong hostname"].verified
    assert not reports["wildcard depth"].verified
    assert reports["wrong hostname"].verify_name == "b.test"
    assert reports["complete"].verified  # the same chain, for a name it covers


def test_empty_served_is_a_programming_error(trust):
    with pytest.raises(ValueError):
        diagnose((), None, (), trust, NOW)


def test_cross_chain_through_served_anchor_copy(pki, trust):
    # A served copy of the root is the anchor itself: reached, and reported as sent.
    report = run(pki, trust, ["root"], None, [], None)
    assert report.anchor == pki.cert("root") and report.path[0].cert == pki.cert("root")


# ---------------------------------------------------------------- trust store


def test_trust_store_only_ca_files(pki, trust):
    assert trust.anchors == (pki.cert("root"),)
    assert trust.sources == (str(pki.path("root.pem")),)
    assert trust.anchor_for(pki.cert("root")) == pki.cert("root")
    assert trust.anchor_for(pki.cert("inter")) is None
    assert trust.issuer_candidates(pki.cert("inter")) == (pki.cert("root"),)


def test_trust_store_errors(tmp_path):
    with pytest.raises(TrustStoreError) as missing:
        load_trust_store((str(tmp_path / "nope.pem"),), system=False)
    assert missing.value.path.endswith("nope.pem") and "no such file" in missing.value.message
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    with pytest.raises(TrustStoreError):
        load_trust_store((str(empty),), system=False)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(TrustStoreError):
        load_trust_store((str(garbage),), system=False)
    with pytest.raises(TrustStoreError):
        load_trust_store((str(tmp_path),), system=False)


def test_trust_store_skips_one_bad_block(pki, tmp_path):
    bundle = tmp_path / "bundle.pem"
    good = pki.cert("root").public_bytes(serialization.Encoding.PEM)
    bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + good)
    store = load_trust_store((str(bundle),), system=False)
    assert store.anchors == (pki.cert("root"),)
    assert len(store.skipped) == 1 and "certificate 1" in store.skipped[0]


def test_trust_store_der_ca_file(pki, tmp_path):
    der = tmp_path / "root.der"
    der.write_bytes(pki.cert("root").public_bytes(serialization.Encoding.DER))
    assert load_trust_store((str(der),), system=False).anchors == (pki.cert("root"),)


def test_system_trust_store_loads():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # serial-0 roots must not leak warnings
        store = load_trust_store()
    assert len(store) > 50 and store.sources


def test_system_plus_ca_file(pki):
    store = load_trust_store((str(pki.path("root.pem")),))
    assert store.anchor_for(pki.cert("root")) is not None
    assert store.sources[-1] == str(pki.path("root.pem"))


# ---------------------------------------------------------------- badssl.com

BADSSL = Path("/work/shared/corpus/badssl.com")
GEN = BADSSL / "certs/sets/test/gen"
needs_badssl = pytest.mark.skipif(not GEN.is_dir(), reason="badssl.com corpus not present")


def _expected_rows() -> list[dict[str, str]]:
    with open(BADSSL / "EXPECTED-sslint.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="module")
def badssl_trust() -> TrustStore:
    return load_trust_store((str(GEN / "crt/ca-root.crt"),), system=False)


@pytest.fixture(scope="module")
def badssl_keys() -> dict[str, object]:
    """Public keys by bundle, from the ssl_certificate_key each config pairs with it."""
    keys = {}
    for row in _expected_rows():
        bundle, key_path = row["ssl_certificate(test-set path)"], row["ssl_certificate_key"]
        if bundle not in keys:
            # Skipping the RSA consistency check keeps the 8192-bit key from costing seconds.
            private = serialization.load_pem_private_key(
                (GEN / key_path).read_bytes(), None, unsafe_skip_rsa_key_validation=True
            )
            keys[bundle] = private.public_key()
    return keys


@pytest.fixture(scope="module")
def badssl(badssl_trust, badssl_keys) -> dict[str, ChainReport]:
    reports = {}
    for bundle in sorted((GEN / "chain").glob("*.pem")):
        relative = f"chain/{bundle.name}"
        served = tuple(x509.load_pem_x509_certificates(bundle.read_bytes()))
        reports[bundle.stem] = diagnose(served, badssl_keys.get(relative), (), badssl_trust, NOW)
    return reports


@needs_badssl
def test_badssl_every_bundle_diagnosed(badssl):
    assert len(badssl) == len(list((GEN / "chain").glob("*.pem")))


@needs_badssl
@pytest.mark.parametrize("bundle", [
    "wildcard-rsa2048", "wildcard-rsa3072", "wildcard-rsa4096", "wildcard-rsa8192",
    "wildcard-ecc256", "wildcard-ecc384", "wildcard-sha384", "wildcard-sha512",
    "subdomain-xn--n1aae7f7o", "subdomain-1000-sans", "subdomain-10000-sans",
    "subdomain-extended-validation", "subdomain-no-common-name", "subdomain-no-subject",
    "subdomain-revoked",  # revocation is not a chain property
])
def test_badssl_good_chains_verify(badssl, bundle):
    report = badssl[bundle]
    assert report.verified and report.served_verified, report.verify_error
    assert report.order_ok and report.complete and not report.missing and not report.extras
    assert not (report.weak_keys or report.weak_signatures or report.invalid_intermediates)


@needs_badssl
def test_badssl_incomplete_chain(badssl, badssl_trust, badssl_keys):
    report = badssl["wildcard-incomplete-chain"]
    assert report.unresolved_issuer is not None
    assert report.unresolved_issuer.issuer_text.startswith("CN=BadSSL Intermediate Certificate Authority")
    assert not report.verified
    # With badssl's intermediates in the pool (the sha1 twin first: same DN,
    # other key), the right one is found and named as missing.
    served = tuple(x509.load_pem_x509_certificates((GEN / "chain/wildcard-incomplete-chain.pem").read_bytes()))
    pool = tuple(
        Candidate(x509.load_pem_x509_certificate((GEN / f"crt/{name}").read_bytes()), f"crt/{name}")
        for name in ("ca-sha1-intermediate.crt", "ca-intermediate.crt")
    )
    completed = diagnose(served, badssl_keys["chain/wildcard-incomplete-chain.pem"], pool, badssl_trust, NOW)
    assert [link.origin for link in completed.missing] == ["crt/ca-intermediate.crt"]
    assert completed.verified and not completed.served_verified


@needs_badssl
def test_badssl_fallback_is_incomplete_too(badssl):
    assert badssl["fallback"].unresolved_issuer is not None


@needs_badssl
def test_badssl_reversed_chain(badssl):
    report = badssl["subdomain-reversed-chain"]
    assert report.key_matches_index == 0 and report.leaf_is_ca
    assert not report.order_ok
    assert [(extra.index, extra.reason) for extra in report.extras] == [(1, "subject-of-leaf")]
    assert not report.verified and not report.served_verified


@needs_badssl
def test_badssl_self_signed(badssl):
    report = badssl["wildcard-self-signed"]
    assert report.self_signed_leaf and not report.verified


@needs_badssl
def test_badssl_untrusted_root(badssl):
    report = badssl["wildcard-untrusted-root"]
    assert report.untrusted_root is not None and report.root_sent
    assert "Untrusted Root" in report.untrusted_root.cert.subject.rfc4514_string()
    assert not report.verified


@needs_badssl
@pytest.mark.parametrize("bundle", [
    "subdomain-dsdtestprovider", "subdomain-edellroot", "subdomain-mitm-software",
    "subdomain-preact-cli", "subdomain-superfish", "subdomain-webpack-dev-server",
])
def test_badssl_known_bad_roots_not_shipped(badssl, bundle):
    report = badssl[bundle]
    assert report.unresolved_issuer is not None and not report.verified


@needs_badssl
def test_badssl_expired_leaf(badssl):
    report = badssl["wildcard-expired"]
    assert is_expired(report.leaf, NOW) and not report.verified
    assert "not valid at validation time" in report.verify_error


@needs_badssl
def test_badssl_weak_signatures(badssl):
    sha1 = badssl["wildcard-sha1-intermediate"]
    assert [(weak.link.served_index, weak.algorithm) for weak in sha1.weak_signatures] == [(1, "sha1")]
    assert sha1.anchor is not None and not sha1.verified
    assert [weak.algorithm for weak in badssl["wildcard-md5"].weak_signatures] == ["md5"]
    for bundle in ("wildcard-sha1-2016", "wildcard-sha1-2017"):
        assert [(w.link.served_index, w.algorithm) for w in badssl[bundle].weak_signatures] == [(0, "sha1")]


@needs_badssl
@pytest.mark.parametrize("bundle,bits", [("wildcard-rsa512", 512), ("wildcard-rsa1024", 1024)])
def test_badssl_weak_keys(badssl, bundle, bits):
    assert [(weak.kind, weak.bits) for weak in badssl[bundle].weak_keys] == [("RSA", bits)]


@needs_badssl
def test_badssl_no_san(badssl):
    report = badssl["subdomain-no-san"]
    assert report.complete and report.anchor is not None
    assert not report.verified and "subjectAltName" in report.verify_error
    assert report.verify_name == "invalid"


@needs_badssl
@pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
def test_badssl_openssl_agrees(badssl, badssl_trust, tmp_path):
    """For every bundle: sslint's verdict on the completed chain is openssl's,
    except where browsers and `openssl verify` disagree (see below)."""
    disagreements = {}
    for bundle, report in badssl.items():
        completed = [link.cert for link in report.path[1:] if link.origin != "trust store"]
        openssl_ok, output = openssl_verify(
            tmp_path, badssl_trust.anchors, report.leaf, completed, report.verify_name
        )
        if openssl_ok != report.verified:
            disagreements[bundle] = (openssl_ok, report.verify_error)
    # SHA-1 and MD5: openssl verify (no -auth_level) accepts; browsers refuse.
    assert set(disagreements) == {
        "wildcard-sha1-2016", "wildcard-sha1-2017", "wildcard-sha1-intermediate", "wildcard-md5",
    }, disagreements
    assert all(openssl_ok for openssl_ok, _ in disagreements.values())


# ---------------------------------------------------------------- odd certificates


def _bare_cert(subject: str, issuer: str, public_key, signing_key, extensions=(), algorithm="sha256"):
    """A certificate fixtures/pki.py cannot describe (DSA, no extensions at all)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2025, 1, 1))
        .not_valid_after(datetime.datetime(2030, 1, 1))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, None if algorithm is None else hashes.SHA256())


def test_odd_certificates_never_raise(trust, pki):
    from cryptography.hazmat.primitives.asymmetric import dsa, ed25519

    ed_ca = ed25519.Ed25519PrivateKey.generate()
    dsa_key = dsa.generate_private_key(2048)
    ca = _bare_cert("Odd CA", "Odd CA", ed_ca.public_key(), ed_ca, algorithm=None)  # no extensions at all
    leaf = _bare_cert("odd.test", "Odd CA", dsa_key.public_key(), ed_ca, algorithm=None,
                      extensions=[(x509.SubjectAlternativeName([x509.DNSName("odd.test")]), False)])
    # The same names, signed by another key: the signature must not verify.
    forged = _bare_cert("odd.test", "Odd CA", dsa_key.public_key(), ed25519.Ed25519PrivateKey.generate(),
                        algorithm=None)
    report = diagnose((leaf, ca), dsa_key.public_key(), (), trust, NOW, "odd.test")
    assert [link.cert for link in report.path] == [leaf, ca]
    assert report.untrusted_root is not None and report.untrusted_root.cert == ca
    assert [(bad.reason) for bad in report.invalid_intermediates] == ["not a CA"]
    assert [(weak.kind) for weak in report.weak_keys] == ["DSA"]
    assert not report.verified
    forged_report = diagnose((forged, ca), None, (), trust, NOW)
    assert forged_report.unresolved_issuer is not None
    assert [(extra.index, extra.reason) for extra in forged_report.extras] == [(1, "unrelated")]
    # A private key of another type than any served certificate's.
    mismatched = diagnose((pki.cert("leaf"),), dsa_key.public_key(), (), trust, NOW)
    assert mismatched.key_matches_index is None and mismatched.leaf_index == 0


@needs_badssl
def test_badssl_idn_hostname_verifies_as_a_label(badssl_trust):
    served = tuple(x509.load_pem_x509_certificates((GEN / "chain/subdomain-xn--n1aae7f7o.pem").read_bytes()))
    assert diagnose(served, None, (), badssl_trust, NOW, "ѕрооғ.badssl.test").verified
    assert not diagnose(served, None, (), badssl_trust, NOW, "spoof.badssl.test").verified


# ---------------------------------------------------------------- issue 16: purpose, constraints, rollover


def _diagnosed(spec: dict, tmp_path: Path, served: list[str], now: datetime.datetime | None = None):
    from nginxssl.pki.chain import diagnose

    made = build(spec, tmp_path)
    trust = TrustStore((made.cert("root"),), ("root",))
    moment = now or datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    return diagnose(tuple(made.cert(name) for name in served), None, (), trust, moment)


def test_purpose_problems_name_eku_key_usage_and_ca(tmp_path):
    report = _diagnosed({"pki": {"root": {"ca": True}, "leaf": {
        "issuer": "root", "names": ["a.test"], "eku": ["clientAuth"], "key_usage": ["keyEncipherment"]}}},
        tmp_path, ["leaf"])
    assert [problem.kind for problem in report.purpose_problems] == ["extended key usage", "key usage"]
    assert "clientAuth, not serverAuth" in report.purpose_problems[0].detail
    assert not report.served_verified and "EKU" in report.served_verify_error
    rsa = _diagnosed({"pki": {"root": {"ca": True}, "leaf": {
        "issuer": "root", "names": ["a.test"], "key": "rsa2048", "key_usage": ["keyEncipherment"],
        "eku": ["anyExtendedKeyUsage"]}}}, tmp_path / "rsa", ["leaf"])
    assert rsa.purpose_problems == ()  # RSA key exchange decrypts with the key; anyEKU covers serverAuth


def test_constraint_violation_names_the_ca_the_constraint_and_the_name(tmp_path):
    report = _diagnosed({"pki": {
        "root": {"ca": True},
        "inter": {"ca": True, "issuer": "root", "cn": "Corp CA", "name_constraints": {"permitted": ["corp.test"],
                                                                                    "excluded": ["x.corp.test"]}},
        "leaf": {"issuer": "inter", "names": ["www.corp.test", "a.test", "x.corp.test"]}}}, tmp_path, ["leaf", "inter"])
    found = {(violation.name, violation.constraint) for violation in report.constraint_violations}
    assert found == {("DNS:a.test", "permitted only DNS:corp.test"), ("DNS:x.corp.test", "excluded DNS:x.corp.test")}
    assert all(violation.ca.cert.subject.rfc4514_string() == "CN=Corp CA" for violation in report.constraint_violations)
    assert not report.served_verified and "name constraint" in report.served_verify_error


def test_self_issued_intermediates_do_not_count_against_path_length(tmp_path):
    """RFC 5280 6.1.4 (l): root -> CA (pathlen:0) -> CA rollover (same name, new key) -> leaf is valid;
    OpenSSL agrees; cryptography's builder refuses it, and sslint's own verified path decides."""
    report = _diagnosed({"pki": {
        "root": {"ca": True},
        "ca_old": {"ca": True, "issuer": "root", "cn": "Rolling CA", "pathlen": 0},
        "ca_new": {"ca": True, "issuer": "ca_old", "cn": "Rolling CA", "key": "ec384", "pathlen": 0},
        "leaf": {"issuer": "ca_new", "names": ["a.test"]}}}, tmp_path, ["leaf", "ca_new", "ca_old"])
    assert report.invalid_intermediates == ()
    assert report.served_verified, report.served_verify_error


def test_not_after_is_compared_at_whole_seconds_as_the_verifier_does(tmp_path):
    from nginxssl.pki.chain import is_expired

    made = build({"pki": {"root": {"ca": True, "not_after": "2030-01-01T00:00:00"}}}, tmp_path)
    root = made.cert("root")
    at = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    assert not is_expired(root, at + datetime.timedelta(milliseconds=5))
    assert is_expired(root, at + datetime.timedelta(seconds=1))
