"""fixtures/pki.py, judged by openssl and nginx rather than by itself."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
sys.path.insert(0, str(FIXTURES))

import pki  # noqa: E402
from pki import PKI, SpecError, build  # noqa: E402

OPENSSL = shutil.which("openssl")
NGINX = shutil.which("nginx")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx binary not installed")

SPEC = {
    "pki": {
        # Declared leaf-first on purpose: issuers are resolved by name.
        "leaf": {"issuer": "inter", "names": ["a.test", "www.a.test", "127.0.0.1"]},
        "inter": {"ca": True, "issuer": "root", "cn": "Test Intermediate R1", "pathlen": 0},
        "root": {"ca": True},
        "rsaca": {"ca": True, "issuer": "root", "key": "rsa1024"},
        "sha1": {"issuer": "inter", "names": ["a.test"], "signature": "sha1"},
        "md5": {"issuer": "rsaca", "names": ["a.test"], "signature": "md5"},
        "weak": {"issuer": "inter", "names": ["a.test"], "key": "rsa512"},
        "edleaf": {"issuer": "inter", "names": ["ed.test"], "key": "ed25519"},
        "old": {"issuer": "inter", "names": ["a.test"], "not_before": "2019-01-01", "not_after": "2020-01-01"},
        "nosan": {"issuer": "inter", "cn": "a.test", "names": []},
        "twin": {"issuer": "inter", "names": ["a.test"], "key_of": "leaf"},
        "bare": {"issuer": "inter", "names": ["a.test"], "ski": False, "aki": False, "serial": 123,
                 "eku": ["serverAuth", "clientAuth"], "aia_ca_issuers": "http://ca.test/inter.der"},
        "dupdn": {"ca": True, "issuer": "root", "cn": "Test Intermediate R1", "key": "ec384"},
    },
    "files": {
        "root.pem": ["root"],
        "inter.pem": ["inter"],
        "leaf.pem": ["leaf"],
        "rsaca.pem": ["rsaca"],
        "sha1.pem": ["sha1"],
        "md5.pem": ["md5"],
        "weak.pem": ["weak"],
        "a.pem": ["leaf", "inter"],
        "a.key": {"key": "leaf"},
        "a-trad.key": {"key": "leaf", "format": "traditional"},
        "enc.key": {"key": "leaf", "password": "secret"},
        "a.der": {"der": "leaf"},
        "a.p12": {"pkcs12": "leaf", "password": "x", "chain": ["inter"]},
        "combined.pem": ["leaf", "inter", {"key": "leaf"}],
        "world.key": {"key": "leaf", "mode": "0644"},
        "empty.pem": "",
        "garbage.pem": "not a certificate\n",
        "dir/nested.pem": ["inter"],
    },
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return build(SPEC, tmp_path_factory.mktemp("pki"))


def openssl(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *arguments], capture_output=True, text=True, timeout=30)


def private_der(key: object) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType:
    return cert.extensions.get_extension_for_class(kind).value


# --------------------------------------------------------------------------
# The real judge: openssl


@needs_openssl
def test_openssl_verifies_root_inter_leaf_chain(made: PKI) -> None:
    result = openssl(
        "verify", "-CAfile", str(made.path("root.pem")), "-untrusted", str(made.path("inter.pem")),
        "-verify_hostname", "www.a.test", str(made.path("leaf.pem")),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": OK")


@needs_openssl
def test_openssl_refuses_leaf_without_its_intermediate(made: PKI) -> None:
    result = openssl("verify", "-CAfile", str(made.path("root.pem")), str(made.path("leaf.pem")))
    assert result.returncode != 0
    assert "unable to get local issuer certificate" in result.stdout + result.stderr


@needs_openssl
@pytest.mark.parametrize(
    ("name", "issuer_file", "algorithm", "openssl_name"),
    [("sha1", "inter.pem", hashes.SHA1, "ecdsa-with-SHA1"), ("md5", "rsaca.pem", hashes.MD5, "md5WithRSAEncryption")],
)
def test_legacy_signatures_are_real(made: PKI, name: str, issuer_file: str, algorithm: type, openssl_name: str) -> None:
    assert isinstance(made.cert(name).signature_hash_algorithm, algorithm)
    text = openssl("x509", "-in", str(made.path(f"{name}.pem")), "-noout", "-text").stdout
    assert text.count(f"Signature Algorithm: {openssl_name}") == 2  # in the TBS and outside it

    chain = ["-CAfile", str(made.path("root.pem")), "-untrusted", str(made.path(issuer_file))]
    # With security checks off the signature is valid: it was really made with that hash ...
    lenient = openssl("verify", "-auth_level", "0", *chain, str(made.path(f"{name}.pem")))
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    # ... and at level 1 OpenSSL 3 rejects it for exactly that reason.
    strict = openssl("verify", "-auth_level", "1", *chain, str(made.path(f"{name}.pem")))
    assert "signature digest algorithm too weak" in strict.stdout + strict.stderr


@needs_openssl
def test_rsa512_key_is_512_bits_and_openssl_calls_it_weak(made: PKI) -> None:
    assert made.key("weak").key_size == 512
    assert made.cert("weak").public_key().key_size == 512
    chain = ["-CAfile", str(made.path("root.pem")), "-untrusted", str(made.path("inter.pem"))]
    strict = openssl("verify", "-auth_level", "1", *chain, str(made.path("weak.pem")))
    assert "EE certificate key too weak" in strict.stdout + strict.stderr


@needs_openssl
def test_openssl_reads_pkcs12_with_password(made: PKI) -> None:
    result = openssl("pkcs12", "-in", str(made.path("a.p12")), "-passin", "pass:x", "-nodes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("BEGIN CERTIFICATE") == 2
    assert "BEGIN PRIVATE KEY" in result.stdout


# --------------------------------------------------------------------------
# What the spec asked for


def test_key_identifiers_link_leaf_to_issuer(made: PKI) -> None:
    leaf_aki = extension(made.cert("leaf"), x509.AuthorityKeyIdentifier)
    inter_ski = extension(made.cert("inter"), x509.SubjectKeyIdentifier)
    inter_aki = extension(made.cert("inter"), x509.AuthorityKeyIdentifier)
    root_ski = extension(made.cert("root"), x509.SubjectKeyIdentifier)
    assert leaf_aki.key_identifier == inter_ski.digest
    assert inter_aki.key_identifier == root_ski.digest
    with pytest.raises(x509.ExtensionNotFound):  # self-signed: no AKI by default
        made.cert("root").extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_defaults(made: PKI) -> None:
    root, inter, leaf = made.cert("root"), made.cert("inter"), made.cert("leaf")
    assert root.issuer == root.subject
    assert root.subject.rfc4514_string() == "CN=sslint Test Root CA"
    assert inter.issuer == root.subject
    assert leaf.subject.rfc4514_string() == "CN=a.test"  # the first SAN
    assert leaf.not_valid_before_utc.isoformat() == "2019-06-01T00:00:00+00:00"
    assert leaf.not_valid_after_utc.isoformat() == "2045-01-01T00:00:00+00:00"

    ca_constraints = inter.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ca_constraints.critical and ca_constraints.value.ca and ca_constraints.value.path_length == 0
    ca_usage = extension(inter, x509.KeyUsage)
    assert ca_usage.key_cert_sign and ca_usage.crl_sign and not ca_usage.digital_signature

    assert not extension(leaf, x509.BasicConstraints).ca
    leaf_usage = extension(leaf, x509.KeyUsage)
    assert leaf_usage.digital_signature and not leaf_usage.key_encipherment  # EC key
    assert extension(made.cert("weak"), x509.KeyUsage).key_encipherment  # RSA key
    assert list(extension(leaf, x509.ExtendedKeyUsage)) == [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
    sans = extension(leaf, x509.SubjectAlternativeName)
    assert sans.get_values_for_type(x509.DNSName) == ["a.test", "www.a.test"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert isinstance(made.key("leaf"), ec.EllipticCurvePrivateKey)
    assert made.key("leaf").curve.name == "secp256r1"
    assert isinstance(made.key("edleaf"), ed25519.Ed25519PrivateKey)


def test_overrides(made: PKI) -> None:
    bare = made.cert("bare")
    assert bare.serial_number == 123
    for absent in (x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier):
        with pytest.raises(x509.ExtensionNotFound):
            bare.extensions.get_extension_for_class(absent)
    assert len(extension(bare, x509.ExtendedKeyUsage)) == 2
    (access,) = extension(bare, x509.AuthorityInformationAccess)
    assert access.access_location.value == "http://ca.test/inter.der"

    old = made.cert("old")
    assert old.not_valid_after_utc.year == 2020

    nosan = made.cert("nosan")
    assert nosan.subject.rfc4514_string() == "CN=a.test"
    with pytest.raises(x509.ExtensionNotFound):
        nosan.extensions.get_extension_for_class(x509.SubjectAlternativeName)

    # Same subject DN as `inter`, told apart only by its key identifier.
    dupdn = made.cert("dupdn")
    assert dupdn.subject == made.cert("inter").subject
    assert extension(dupdn, x509.SubjectKeyIdentifier) != extension(made.cert("inter"), x509.SubjectKeyIdentifier)
    assert made.key("dupdn").curve.name == "secp384r1"


def test_key_of_reuses_the_key(made: PKI) -> None:
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    leaf_key = made.cert("leaf").public_key().public_bytes(serialization.Encoding.DER, public)
    twin_key = made.cert("twin").public_key().public_bytes(serialization.Encoding.DER, public)
    assert twin_key == leaf_key
    assert made.cert("twin").serial_number != made.cert("leaf").serial_number


def test_key_files(made: PKI) -> None:
    plain = made.path("a.key").read_bytes()
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert made.path("a-trad.key").read_bytes().startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert made.path("a.key").stat().st_mode & 0o777 == 0o600
    assert made.path("world.key").stat().st_mode & 0o777 == 0o644
    assert made.path("a.pem").stat().st_mode & 0o777 == 0o644

    encrypted = made.path("enc.key").read_bytes()
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # a password is needed
        serialization.load_pem_private_key(encrypted, password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(encrypted, password=b"wrong")
    loaded = serialization.load_pem_private_key(encrypted, password=b"secret")
    assert private_der(loaded) == private_der(made.key("leaf"))


def test_der_pkcs12_and_bundles(made: PKI) -> None:
    assert x509.load_der_x509_certificate(made.path("a.der").read_bytes()) == made.cert("leaf")
    with pytest.raises(ValueError):
        x509.load_pem_x509_certificates(made.path("a.der").read_bytes())

    key, cert, extra = pkcs12.load_key_and_certificates(made.path("a.p12").read_bytes(), b"x")
    assert cert == made.cert("leaf") and extra == [made.cert("inter")]
    assert private_der(key) == private_der(made.key("leaf"))

    assert x509.load_pem_x509_certificates(made.path("a.pem").read_bytes()) == [made.cert("leaf"), made.cert("inter")]
    combined = made.path("combined.pem").read_bytes()
    assert combined.count(b"BEGIN CERTIFICATE") == 2 and combined.index(b"BEGIN PRIVATE KEY") > combined.rindex(
        b"END CERTIFICATE"
    )
    assert made.path("empty.pem").read_bytes() == b""
    assert made.path("garbage.pem").read_text() == "not a certificate\n"
    assert made.path("dir/nested.pem") == made.outdir / "dir" / "nested.pem"
    assert set(made.files) == set(SPEC["files"])


def test_unknown_names_are_key_errors(made: PKI) -> None:
    with pytest.raises(KeyError, match="leaff"):
        made.cert("leaff")
    with pytest.raises(KeyError, match="nope.pem"):
        made.path("nope.pem")


# --------------------------------------------------------------------------
# Determinism


def test_same_spec_same_bytes(tmp_path: Path) -> None:
    first = build(SPEC, tmp_path / "first")
    second = build(SPEC, tmp_path / "second")
    for name in SPEC["pki"]:
        assert private_der(first.key(name)) == private_der(second.key(name)), name
    salted = {"enc.key", "a.p12"}  # encryption salts are random by design
    for relative in set(SPEC["files"]) - salted:
        assert first.path(relative).read_bytes() == second.path(relative).read_bytes(), relative


def test_seed_changes_keys(tmp_path: Path) -> None:
    spec = {"pki": {"leaf": {"names": ["a.test"]}}}
    plain = private_der(build(spec, tmp_path / "plain").key("leaf"))
    seeded = private_der(build({**spec, "seed": "other"}, tmp_path / "seeded").key("leaf"))
    assert plain != seeded


def test_rsa_disk_cache_returns_the_derived_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"pki": {"cached": {"key": "rsa512"}}}
    monkeypatch.setenv(pki.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(pki, "_RSA_KEYS", {})
    derived = build(spec, tmp_path / "one").key("cached")
    assert len(list((tmp_path / "cache").glob("rsa512-*.pem"))) == 1

    monkeypatch.setattr(pki, "_RSA_KEYS", {})
    from_disk = build(spec, tmp_path / "two").key("cached")
    assert isinstance(from_disk, rsa.RSAPrivateKey)
    assert private_der(from_disk) == private_der(derived)


# --------------------------------------------------------------------------
# Spec errors name the culprit


def leaf_spec(**fields: object) -> dict:
    return {"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"], **fields}}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"pki": {"leaf": {"isuer": "root"}}}, "entity 'leaf': unknown field 'isuer' (did you mean 'issuer'?)"),
        ({"pki": {"leaf": {"issuer": "intr"}}}, "entity 'leaf': issuer 'intr' is not defined"),
        ({"pki": {"a": {"issuer": "b"}, "b": {"issuer": "a"}}}, "issuer cycle a -> b -> a"),
        (leaf_spec(key="rsa999"), "entity 'leaf': unknown key type 'rsa999'"),
        (leaf_spec(signature="sha3"), "entity 'leaf': unknown signature 'sha3'"),
        (leaf_spec(signature="md5"), "entity 'leaf': no md5 signature exists for a ec issuer key"),
        (leaf_spec(key_of="ghost"), "entity 'leaf': key_of 'ghost' is not defined"),
        (leaf_spec(key="rsa2048", key_of="root"), "entity 'leaf': give either key or key_of"),
        (leaf_spec(pathlen=0), "entity 'leaf': pathlen needs ca: true"),
        (leaf_spec(ca="yes"), "entity 'leaf': field 'ca' must be bool"),
        (leaf_spec(serial=True), "entity 'leaf': field 'serial' must be int"),
        (leaf_spec(not_before="2030-01-01", not_after="2020-01-01"), "is not later than not_before"),
        (leaf_spec(not_before="soon"), "entity 'leaf': not_before 'soon' is not an ISO 8601"),
        (leaf_spec(eku=["serverauth"]), "entity 'leaf': unknown eku 'serverauth'"),
        ({"pki": {}, "file": {}}, "spec: unknown field 'file' (did you mean 'files'?)"),
        ({"pki": {}, "files": {"a.pem": ["ghost"]}}, "file 'a.pem': entity 'ghost' is not defined"),
        ({**leaf_spec(), "files": {"a.key": {"key": "leaf", "fromat": "der"}}}, "file 'a.key': unknown field 'fromat'"),
        ({**leaf_spec(), "files": {"a.key": {"key": "leaf", "format": "pkcs1"}}}, "unknown key format 'pkcs1'"),
        ({**leaf_spec(), "files": {"a.der": {"der": "leaf", "password": "x"}}}, "password does not apply to der"),
        ({**leaf_spec(), "files": {"a.key": {"key": "leaf", "mode": 644}}}, 'quote it, e.g. mode: "0640"'),
        ({**leaf_spec(), "files": {"../a.pem": ["leaf"]}}, "must be relative and stay inside"),
        ({**leaf_spec(), "files": {"a.pem": None}}, 'write "" for an empty file'),
        ({**leaf_spec(key="ed25519"), "files": {"a.key": {"key": "leaf", "format": "traditional"}}},
         "ed25519 keys have no traditional format"),
    ],
)
def test_spec_errors(tmp_path: Path, spec: dict, message: str) -> None:
    with pytest.raises(SpecError) as raised:
        build(spec, tmp_path)
    assert message in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # nothing written before the spec is known good


# --------------------------------------------------------------------------
# Command line


def test_command_line(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("pki:\n  root: {ca: true}\n  leaf: {issuer: root, names: [a.test], not_after: 2040-01-01}\n"
                    "files:\n  a.pem: [leaf, root]\n")
    script = [sys.executable, str(FIXTURES / "pki.py")]
    done = subprocess.run([*script, str(spec), str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(x509.load_pem_x509_certificates((tmp_path / "out" / "a.pem").read_bytes())) == 2

    spec.write_text("pki:\n  leaf: {isuer: root}\n")
    failed = subprocess.run([*script, str(spec), str(tmp_path / "bad")], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2
    assert f"{spec}: entity 'leaf': unknown field 'isuer'" in failed.stderr
    assert "Traceback" not in failed.stderr


# --------------------------------------------------------------------------
# The demo tree


DEMO_NGINX = FIXTURES / "demo" / "nginx"


def demo_spec() -> dict:
    return YAML(typ="safe").load((FIXTURES / "demo.yaml").read_text())


def test_demo_certificates_are_what_the_spec_generates(tmp_path: Path) -> None:
    fresh = build(demo_spec(), tmp_path)
    for relative, path in fresh.files.items():
        committed = DEMO_NGINX / "ssl" / relative
        assert committed.read_bytes() == path.read_bytes(), f"regenerate fixtures/demo: {relative} differs"


@needs_openssl
def test_demo_chains_judged_by_openssl(tmp_path: Path) -> None:
    ssl = DEMO_NGINX / "ssl"
    root = ["-CAfile", str(ssl / "ca" / "root.pem")]

    def verify(name: str, *extra: str) -> str:
        result = openssl("verify", *root, "-verify_hostname", f"{name}.example.test", *extra, str(tmp_path / name))
        return result.stdout + result.stderr

    fresh = build(demo_spec(), tmp_path / "fresh")
    for name in ("good", "incomplete", "expired", "mismatch", "selfsigned"):
        (tmp_path / name).write_bytes(fresh.cert(name).public_bytes(serialization.Encoding.PEM))
    intermediate = ["-untrusted", str(ssl / "intermediate.pem")]
    assert verify("good", *intermediate).strip().endswith(": OK")
    assert "unable to get local issuer certificate" in verify("incomplete")
    assert verify("incomplete", *intermediate).strip().endswith(": OK")
    assert "certificate has expired" in verify("expired", *intermediate)
    assert "hostname mismatch" in verify("mismatch", *intermediate)
    assert "self-signed certificate" in verify("selfsigned")


@needs_nginx
@pytest.mark.parametrize(
    ("site", "nginx_error"),
    [
        ("good", None),
        ("incomplete", None),  # nginx serves it; browsers fail
        ("expired", None),
        ("mismatch", None),
        ("selfsigned", None),
        ("wrong-order", "key values mismatch"),
        ("wrongkey", "key values mismatch"),
        ("nokey", "cannot load certificate key"),
    ],
)
def test_demo_sites_judged_by_nginx(tmp_path: Path, site: str, nginx_error: str | None) -> None:
    prefix = tmp_path / "nginx"
    shutil.copytree(DEMO_NGINX, prefix, ignore=shutil.ignore_patterns("sites-enabled"))
    (prefix / "sites-enabled").mkdir()
    shutil.copy(DEMO_NGINX / "sites-enabled" / f"{site}.conf", prefix / "sites-enabled")
    result = subprocess.run(
        [NGINX, "-t", "-e", "stderr", "-p", f"{prefix}/", "-c", "nginx.conf"],
        capture_output=True, text=True, timeout=30,
    )
    if nginx_error is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert nginx_error in result.stderr
