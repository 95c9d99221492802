"""SSL110 and SSL506: certificates nginx serves and openssl verifies, which browsers refuse.

The real nginx and `openssl s_client -verify_return_error` are the judges of
what the server side does: both accept these certificates, so the findings are
about browsers alone (rules/SSL110.yaml and SSL506.yaml cite their policies).
The public/internal distinction of SSL110 needs a root the trust store counts as
the system's, which a rule case (trusting --ca-file roots only) cannot give.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nginxssl.catalogue import catalogue
from nginxssl.checks.strength import browser_refusal
from nginxssl.checks.validity import lifetime_refusal
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.model.settings import Settings
from nginxssl.pki.analyse import ChainAnalyser
from nginxssl.pki.load import Loader
from nginxssl.pki.trust import TrustStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from pki import build  # noqa: E402

UTC = timezone.utc


def _leaf(tmp_path: Path, name: str, **fields: object) -> x509.Certificate:
    spec = {"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"], **fields}},
            "files": {"a.pem": ["leaf"]}}
    return build(spec, tmp_path / name).cert("leaf")


@pytest.mark.parametrize("not_before,not_after,public,expected", [
    ("2020-09-01", "2021-10-05", True, 398),  # 399 days from a public CA, on the first day of the limit
    ("2020-09-01", "2021-10-04", True, None),  # exactly 398 days
    ("2020-08-31", "2022-08-31", True, None),  # 730 days, issued the day before: the 825-day era
    ("2018-03-01", "2020-06-05", True, 825),  # 827 days from a public CA: Chrome's older limit
    ("2020-09-01", "2022-06-01", False, None),  # 638 days from an internal CA: only Apple's 825 applies
    ("2019-07-02", "2021-10-05", False, 825),  # 826 days from an internal CA, issued after 2019-07-01
    ("2019-07-01", "2021-10-05", False, None),  # issued on 2019-07-01: not *after* it (Apple's wording)
])
def test_lifetime_limits(tmp_path, not_before, not_after, public, expected):
    leaf = _leaf(tmp_path, "l", not_before=not_before, not_after=not_after)
    refused = lifetime_refusal(leaf, public)
    assert (refused[0] if refused else None) == expected, refused


def _site(tmp_path: Path, leaf_fields: dict) -> tuple[Path, object]:
    spec = {"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"], **leaf_fields}},
            "files": {"root.pem": ["root"], "a.pem": ["leaf"], "a.key": {"key": "leaf"}}}
    pki = build(spec, tmp_path)
    (tmp_path / "site.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name a.test;\n"
        "    ssl_certificate a.pem;\n    ssl_certificate_key a.key;\n}\n")
    return tmp_path / "site.conf", pki


def _lint_trusting(config: Path, root: x509.Certificate, public: bool, now: datetime) -> set[str]:
    """Lint with `root` as the only anchor, counted as the system's (public) or a --ca-file's."""
    der = root.public_bytes(serialization.Encoding.DER)
    store = TrustStore((root,), ("test",), public=frozenset({der}) if public else frozenset())
    settings = Settings(now=now, system_trust=public)
    loader = Loader()
    analyser = ChainAnalyser(loader, now, system_trust=public, _trust=store)
    result = lint(discover(str(config)), settings, tuple(catalogue()), loader=loader, analyser=analyser)
    return {finding.rule for finding in result.findings if finding.severity == "error"}


def test_398_days_counts_only_under_a_public_root(tmp_path):
    config, pki = _site(tmp_path, {"not_before": "2026-01-01", "not_after": "2027-06-01"})  # 516 days
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert "SSL110" in _lint_trusting(config, pki.cert("root"), public=True, now=now)
    assert "SSL110" not in _lint_trusting(config, pki.cert("root"), public=False, now=now)


def test_browser_refusals(tmp_path):
    assert "Ed25519" in (browser_refusal(_leaf(tmp_path, "e", key="ed25519")) or "")
    assert "P-521" in (browser_refusal(_leaf(tmp_path, "p", key="ec521")) or "")
    for key in ("ec256", "ec384", "rsa2048"):
        assert browser_refusal(_leaf(tmp_path, key, key=key)) is None


def test_rsa_pss_public_key_is_refused(tmp_path):
    """An RSA-PSS key (id-RSASSA-PSS in the certificate) made by the openssl binary:
    cryptography cannot write that form."""
    import subprocess

    from judges import require

    openssl = require("openssl")
    key, cert = tmp_path / "pss.key", tmp_path / "pss.pem"
    subprocess.run([openssl, "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(key)], check=True, capture_output=True)
    subprocess.run([openssl, "req", "-x509", "-new", "-key", str(key), "-subj", "/CN=a.test",
                    "-addext", "subjectAltName=DNS:a.test", "-days", "30", "-out", str(cert)],
                   check=True, capture_output=True)
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    assert leaf.public_key_algorithm_oid.dotted_string == "1.2.840.113549.1.1.10"
    assert "RSA-PSS" in (browser_refusal(leaf) or "")


@pytest.mark.parametrize("leaf_fields,rule", [
    ({"not_before": "2026-01-01", "not_after": "2028-08-01"}, "SSL110"),  # 943 days, internal CA
    ({"key": "ed25519"}, "SSL506"),
    ({"key": "ec521"}, "SSL506"),
])
def test_nginx_serves_and_openssl_verifies_what_browsers_refuse(tmp_path, leaf_fields, rule):
    from judges import free_port, require, running_nginx, s_client_verify

    require("nginx")
    require("openssl")
    config, pki = _site(tmp_path, leaf_fields)
    port = free_port()
    site = config.read_text().replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    conf = f"events {{}}\nhttp {{\n{site}}}\n"
    with running_nginx(conf, tmp_path, port) as server:
        verdict = s_client_verify(server.port, "a.test", pki.path("root.pem"))
    assert verdict.ok, verdict.output  # the server side accepts it: only browsers refuse
    now = datetime.now(UTC)
    raised = _lint_trusting(config, pki.cert("root"), public=False, now=now)
    assert rule in raised


def test_a_passing_leaf_raises_neither(tmp_path):
    config, pki = _site(tmp_path, {"not_before": "2026-01-01", "not_after": "2026-12-31", "key": "ec384"})
    raised = _lint_trusting(config, pki.cert("root"), public=True, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert not raised & {"SSL110", "SSL506"}, raised
