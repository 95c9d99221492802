"""Proves the judges harness (tests/judges.py) against the real programs.

Each judge is shown both to accept good material and to reject bad material
for the reason a browser would: a harness that always says "ok" would make
every end-to-end test worthless.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import judges
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from judges import (
    apache_test,
    free_port,
    http_get,
    needs_apache,
    needs_nginx,
    needs_openssl,
    nginx_test,
    openssl_verify,
    require,
    running_apache,
    running_nginx,
    s_client_verify,
    served_chain_pem,
)

NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
NOT_AFTER = dt.datetime(2045, 1, 1, tzinfo=dt.timezone.utc)
# Verification happens at a pinned instant, never today.
AT = int(dt.datetime(2030, 6, 1, tzinfo=dt.timezone.utc).timestamp())
AFTER_EXPIRY = int(dt.datetime(2046, 1, 1, tzinfo=dt.timezone.utc).timestamp())

# X509_V_ERR_* numbers as openssl prints them.
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21  # "unable to verify the first certificate"
CERT_HAS_EXPIRED = 10
HOSTNAME_MISMATCH = 62


# --------------------------------------------------------------------------
# Material


@dataclasses.dataclass(frozen=True)
class Pki:
    root: Path
    inter: Path
    leaf: Path
    leaf_key: Path
    other_key: Path  # the intermediate's key: belongs to another certificate
    fullchain: Path  # leaf + intermediate, as nginx and Apache 2.4.8+ want
    stranger: Path  # a root that issued none of the above


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, subject_key, issuer, issuer_key, serial, *, ca, path_length=None, san=None):
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(subject_key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        ).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ).add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in san]), critical=False
        )  # fmt: skip
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    out = tmp_path_factory.mktemp("pki")
    root_key, inter_key, leaf_key, stranger_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    root = _certificate("Judges Test Root", root_key, "Judges Test Root", root_key, 1, ca=True)
    inter = _certificate(
        "Judges Test Intermediate", inter_key, "Judges Test Root", root_key, 2, ca=True, path_length=0
    )
    leaf = _certificate("a.test", leaf_key, "Judges Test Intermediate", inter_key, 3, ca=False, san=["a.test"])
    files = {
        "root": (out / "root.pem", _pem(root)),
        "inter": (out / "inter.pem", _pem(inter)),
        "leaf": (out / "leaf.pem", _pem(leaf)),
        "leaf_key": (out / "leaf.key", _key_pem(leaf_key)),
        "other_key": (out / "other.key", _key_pem(inter_key)),
        "fullchain": (out / "fullchain.pem", _pem(leaf) + _pem(inter)),
        "stranger": (
            out / "stranger.pem",
            _pem(_certificate("Stranger Root", stranger_key, "Stranger Root", stranger_key, 4, ca=True)),
        ),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return Pki(**{name: path for name, (path, _data) in files.items()})


LEAF_SUBJECT = "CN=a.test"
INTER_SUBJECT = "CN=Judges Test Intermediate"


def nginx_conf(port: int, cert: Path, key: Path, extra: str = "") -> str:
    return f"""
events {{ worker_connections 64; }}
worker_processes 1;
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name a.test;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {extra}
    }}
}}
"""


def apache_site(port: int, cert: Path, key: Path) -> str:
    return f"""
<VirtualHost 127.0.0.1:{port}>
    ServerName a.test
    SSLEngine on
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
    Header always set X-Test yes
</VirtualHost>
"""


# --------------------------------------------------------------------------
# nginx -t


@needs_nginx
def test_nginx_test_accepts_a_good_config(tmp_path: Path, pki: Pki) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(free_port(), pki.fullchain, pki.leaf_key))
    result = nginx_test(conf)
    assert result.ok, result.output


@needs_nginx
def test_nginx_test_reports_a_key_of_another_certificate(tmp_path: Path, pki: Pki) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(free_port(), pki.fullchain, pki.other_key))
    result = nginx_test(conf)
    assert not result.ok
    assert "key values mismatch" in result.output


@needs_nginx
def test_nginx_test_reports_a_missing_certificate(tmp_path: Path, pki: Pki) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(free_port(), tmp_path / "absent.pem", pki.leaf_key))
    result = nginx_test(conf)
    assert not result.ok
    assert "absent.pem" in result.output


@needs_nginx
def test_nginx_test_keeps_the_configs_own_pid(tmp_path: Path, pki: Pki) -> None:
    # nginx refuses a duplicate pid: the harness must not add its own then.
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/own.pid;\n" + nginx_conf(free_port(), pki.fullchain, pki.leaf_key))
    result = nginx_test(conf, prefix=tmp_path)
    assert result.ok, result.output


# --------------------------------------------------------------------------
# running nginx, judged by s_client


@needs_nginx
@needs_openssl
def test_nginx_serving_the_full_chain_verifies(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    with running_nginx(nginx_conf(port, pki.fullchain, pki.leaf_key), tmp_path) as server:
        assert server.port == port
        result = s_client_verify(port, "a.test", pki.root, attime=AT)
        served = served_chain_pem(port, "a.test")
    assert result.ok, result.output
    assert result.code == 0
    assert result.chain_subjects == [LEAF_SUBJECT, INTER_SUBJECT]
    assert served == [pki.leaf.read_bytes().strip(), pki.inter.read_bytes().strip()]


@needs_nginx
@needs_openssl
def test_nginx_serving_only_the_leaf_fails_with_21(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    with running_nginx(nginx_conf(port, pki.leaf, pki.leaf_key), tmp_path):
        result = s_client_verify(port, "a.test", pki.root, attime=AT)
    assert not result.ok
    assert result.code == UNABLE_TO_VERIFY_LEAF_SIGNATURE, result.output
    assert "unable to verify the first certificate" in result.text
    assert [(depth, code) for depth, code, _text in result.errors] == [
        (0, UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
        (0, UNABLE_TO_VERIFY_LEAF_SIGNATURE),
    ]
    assert result.chain_subjects == [LEAF_SUBJECT]


@needs_nginx
@needs_openssl
def test_nginx_serving_a_chain_to_an_untrusted_root_fails_with_20(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    with running_nginx(nginx_conf(port, pki.fullchain, pki.leaf_key), tmp_path):
        result = s_client_verify(port, "a.test", pki.stranger, attime=AT)
    assert not result.ok
    assert result.code == UNABLE_TO_GET_ISSUER_CERT_LOCALLY, result.output
    assert [(depth, code) for depth, code, _text in result.errors] == [(1, UNABLE_TO_GET_ISSUER_CERT_LOCALLY)]


@needs_nginx
@needs_openssl
def test_nginx_serving_another_name_fails_with_62(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    with running_nginx(nginx_conf(port, pki.fullchain, pki.leaf_key), tmp_path):
        result = s_client_verify(port, "b.test", pki.root, attime=AT)
    assert not result.ok
    assert result.code == HOSTNAME_MISMATCH, result.output
    assert "hostname mismatch" in result.text


@needs_nginx
@needs_openssl
def test_s_client_verify_honours_attime(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    with running_nginx(nginx_conf(port, pki.fullchain, pki.leaf_key), tmp_path):
        result = s_client_verify(port, "a.test", pki.root, attime=AFTER_EXPIRY)
    assert not result.ok
    assert result.code == CERT_HAS_EXPIRED, result.output


@needs_nginx
def test_http_get_sees_add_header_always_on_200_and_404(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    extra = """
        add_header X-Test yes always;
        location = / { return 200 "ok\\n"; }
        location / { return 404; }
    """
    with running_nginx(nginx_conf(port, pki.fullchain, pki.leaf_key, extra), tmp_path):
        ok_status, ok_headers = http_get(port, "/", "a.test", cafile=pki.root)
        missing_status, missing_headers = http_get(port, "/missing", "a.test")
    assert (ok_status, ok_headers.get("x-test")) == (200, "yes")
    assert (missing_status, missing_headers.get("x-test")) == (404, "yes")


@needs_nginx
def test_http_get_verifies_against_cafile_and_host(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    with running_nginx(nginx_conf(port, pki.fullchain, pki.leaf_key), tmp_path):
        with pytest.raises(RuntimeError, match="CERTIFICATE_VERIFY_FAILED"):
            http_get(port, "/", "b.test", cafile=pki.root)


@needs_nginx
def test_running_nginx_stops_the_server_and_its_workers(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    with running_nginx(nginx_conf(port, pki.fullchain, pki.leaf_key), tmp_path) as server:
        pgid = os.getpgid(server.pid)
        assert judges.listening_addresses(server.pid) in (None, {("127.0.0.1", port)})
    assert not judges._accepts(port)
    assert _group_vanishes(pgid)


@needs_nginx
def test_running_nginx_reports_why_it_did_not_start(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(RuntimeError, match="key values mismatch"):
        with running_nginx(nginx_conf(free_port(), pki.fullchain, pki.other_key), tmp_path):
            pass  # pragma: no cover - never reached


@pytest.mark.parametrize(
    "server_block",
    [
        "server { listen 8443 ssl; }",
        "server { listen 0.0.0.0:8443; }",
        "server { listen [::]:8443; }",
        "server { server_name a.test; }",  # no listen: *:80 or *:8000
    ],
)
def test_running_nginx_refuses_to_listen_beyond_loopback(tmp_path: Path, server_block: str) -> None:
    conf = f"events {{}}\nhttp {{\n    {server_block}\n}}\n"
    with pytest.raises(AssertionError, match="127.0.0.1:PORT only"):
        with running_nginx(conf, tmp_path, port=free_port()):
            pass  # pragma: no cover - never reached


# --------------------------------------------------------------------------
# Apache


@needs_apache
@needs_openssl
def test_apache_serving_the_bundle_verifies_and_fails_for_the_right_reasons(tmp_path: Path, pki: Pki) -> None:
    full, leaf_only = free_port(), free_port()
    site = apache_site(full, pki.fullchain, pki.leaf_key) + apache_site(leaf_only, pki.leaf, pki.leaf_key)
    site = f"Listen 127.0.0.1:{full}\nListen 127.0.0.1:{leaf_only}\n{site}"
    with running_apache(site, tmp_path) as server:
        assert server.ports == (full, leaf_only)
        good = s_client_verify(full, "a.test", pki.root, attime=AT)
        short = s_client_verify(leaf_only, "a.test", pki.root, attime=AT)
        wrong_name = s_client_verify(full, "b.test", pki.root, attime=AT)
        status, headers = http_get(full, "/index.html", "a.test", cafile=pki.root)
        missing_status, missing_headers = http_get(full, "/missing", "a.test")
    assert good.ok, good.output
    assert good.chain_subjects == [LEAF_SUBJECT, INTER_SUBJECT]
    assert short.code == UNABLE_TO_VERIFY_LEAF_SIGNATURE, short.output
    assert short.chain_subjects == [LEAF_SUBJECT]
    assert wrong_name.code == HOSTNAME_MISMATCH, wrong_name.output
    # 200 proves the children (User www-data/nobody when root) can read the docroot.
    assert (status, headers.get("x-test")) == (200, "yes")
    assert (missing_status, missing_headers.get("x-test")) == (404, "yes")


@needs_apache
def test_apache_test_checks_syntax_and_files_but_not_key_match(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    good = apache_test(apache_site(port, pki.fullchain, pki.leaf_key), tmp_path)
    assert good.ok, good.output
    missing = apache_test(apache_site(port, tmp_path / "absent.pem", pki.leaf_key), tmp_path)
    assert not missing.ok
    assert "absent.pem" in missing.output
    # mod_ssl compares key and certificate only at start-up, not under -t.
    mismatch = apache_site(port, pki.fullchain, pki.other_key)
    assert apache_test(mismatch, tmp_path).ok
    with pytest.raises(RuntimeError, match="AH02565"):
        with running_apache(mismatch, tmp_path):
            pass  # pragma: no cover - never reached


def test_running_apache_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="127.0.0.1:PORT only"):
        with running_apache("Listen 8443\n<VirtualHost *:8443>\n</VirtualHost>\n", tmp_path):
            pass  # pragma: no cover - never reached


# --------------------------------------------------------------------------
# openssl verify


@needs_openssl
def test_openssl_verify_judges_files(pki: Pki) -> None:
    good = openssl_verify(pki.leaf, pki.root, untrusted=pki.inter, hostname="a.test", attime=AT)
    assert good.ok and good.code == 0, good.output
    without_inter = openssl_verify(pki.leaf, pki.root, attime=AT)
    assert (without_inter.ok, without_inter.code) == (False, UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    other_name = openssl_verify(pki.leaf, pki.root, untrusted=pki.inter, hostname="b.test", attime=AT)
    assert (other_name.ok, other_name.code) == (False, HOSTNAME_MISMATCH)
    expired = openssl_verify(pki.leaf, pki.root, untrusted=pki.inter, attime=AFTER_EXPIRY)
    assert (expired.ok, expired.code) == (False, CERT_HAS_EXPIRED)


# --------------------------------------------------------------------------
# Skip or fail


def test_require_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "sslint-no-such-program"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI"):
        require(missing)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require(missing)


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    assert 0 < port < 65536
    assert not judges._accepts(port)


def test_commands_have_time_limits() -> None:
    # A hung judge must become an error that says what hung, not a stuck suite.
    with pytest.raises(RuntimeError, match="did not finish within"):
        judges._run(["sleep", "5"], timeout=0.2)


def test_stop_ends_a_process_that_ignores_the_polite_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(judges, "STOP_TIMEOUT", 0.2)
    # A "master" that ignores SIGQUIT and has a "worker" in its group.
    script = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGQUIT, signal.SIG_IGN); "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    )
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    time.sleep(0.2)  # let it install the handler and start the worker
    judges._stop(process, signal.SIGQUIT)
    assert process.returncode == -signal.SIGKILL
    assert _group_vanishes(process.pid)


def _group_vanishes(pgid: int, timeout: float = 3.0) -> bool:
    # Killed orphans stay zombies (still group members) until init reaps them.
    deadline = time.monotonic() + timeout
    for _attempt in range(int(timeout / 0.05) + 1):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return False
