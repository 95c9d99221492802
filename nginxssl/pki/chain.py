"""Certificate chains: what a server sends, what it should send, and why a browser balks.

`diagnose` takes the certificates of one `ssl_certificate` file in file order
(exactly what nginx sends), the public half of the configured key, a pool of
intermediates found elsewhere and the trust store, and explains the chain
structurally: which certificate is the leaf, the issuer path up to a trust
anchor, what is missing, misordered, extra, expired, weak. Issuers are matched
by key identifiers and signatures, never by name alone. Then cryptography's
X.509 verifier judges the completed chain; the structural fields explain its
verdict. Nothing here reads a file.
"""

from __future__ import annotations

import ipaddress
import itertools
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder

from nginxssl.pki import names
from nginxssl.pki.load import KEY_LOAD_ERRORS, der, describe_public, per_certificate
from nginxssl.pki.trust import TrustStore, authority_key_id, public_key_der, subject_key_id

MAX_PATH_LENGTH = 10  # longer than any public chain; stops loops between cross-signed CAs

SERVED = "served"
TRUST_STORE = "trust store"

# Signature algorithms browsers refuse, by OID so that even algorithms
# cryptography cannot parse (md2, md4) are named.
_WEAK_SIGNATURES = {
    "1.2.840.113549.1.1.2": "md2",
    "1.2.840.113549.1.1.3": "md4",
    "1.2.840.113549.1.1.4": "md5",
    "1.2.840.113549.1.1.5": "sha1",
    "1.3.14.3.2.29": "sha1",  # the old OIW sha1WithRSA
    "1.2.840.10045.4.1": "sha1",  # ecdsa-with-SHA1
    "1.2.840.10040.4.3": "sha1",  # dsa-with-sha1
}
# A signature algorithm as (the issuer key type that makes it, the hash): "RSA" is PKCS#1 v1.5,
# "EC" is ECDSA, "DSA" is DSA.
_Signature = tuple[str, type[hashes.HashAlgorithm]]

# cryptography's verify_directly_issued_by refuses SHA-1 and MD5 signatures
# ("unsupported"). The signature still decides who issued a certificate (the
# sha1 and sha256 BadSSL intermediates share one name), so check those by hand.
_MANUAL_SIGNATURES: dict[str, _Signature] = {
    "1.2.840.113549.1.1.4": ("RSA", hashes.MD5),
    "1.2.840.113549.1.1.5": ("RSA", hashes.SHA1),
    "1.3.14.3.2.29": ("RSA", hashes.SHA1),
    "1.2.840.10045.4.1": ("EC", hashes.SHA1),
    "1.2.840.10040.4.3": ("DSA", hashes.SHA1),
}

# The usual signature algorithms, checked with the issuer's key directly.
_DIRECT_SIGNATURES: dict[str, _Signature] = {
    "1.2.840.113549.1.1.11": ("RSA", hashes.SHA256),
    "1.2.840.113549.1.1.12": ("RSA", hashes.SHA384),
    "1.2.840.113549.1.1.13": ("RSA", hashes.SHA512),
    "1.2.840.10045.4.3.2": ("EC", hashes.SHA256),
    "1.2.840.10045.4.3.3": ("EC", hashes.SHA384),
    "1.2.840.10045.4.3.4": ("EC", hashes.SHA512),
}

MIN_RSA_BITS = 2048
MIN_EC_BITS = 256


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Candidate:
    """An intermediate found outside the served file, and where."""

    cert: x509.Certificate
    source: str  # a file path, "trust store", "--intermediates DIR/x.pem", ...


@dataclass(frozen=True)
class Link:
    """One certificate on the issuer path, and where it came from."""

    cert: x509.Certificate
    origin: str  # "served", a Candidate's source, or "trust store"
    served_index: int | None = None  # position in the served file when origin is "served"

    @property
    def served(self) -> bool:
        return self.origin == SERVED


@dataclass(frozen=True)
class Extra:
    """A served certificate that is not on the issuer path."""

    cert: x509.Certificate
    index: int
    # "duplicate" | "unrelated" | "subject-of-leaf" (issued by the leaf: a reversed chain) | "another-copy"
    # (another certificate for a CA on the path, same name and key: a cross-signed, renewed or expired one)
    reason: str


@dataclass(frozen=True)
class UnresolvedIssuer:
    """The issuer of the topmost certificate was found nowhere: the missing certificate is unknown."""

    subject: x509.Certificate  # the certificate whose issuer is missing
    issuer: x509.Name
    authority_key_id: bytes | None

    @property
    def issuer_text(self) -> str:
        return name_text(self.issuer)


@dataclass(frozen=True)
class InvalidCert:
    link: Link
    reason: str  # "expired" | "not yet valid" | "not a CA" | "no keyCertSign" | "path length exceeded"
    detail: str


@dataclass(frozen=True)
class WeakSignature:
    link: Link
    algorithm: str  # "sha1" | "md5" | "md2" | "md4"


@dataclass(frozen=True)
class WeakKey:
    link: Link
    kind: str  # "RSA" | "EC" | "DSA"
    bits: int


@dataclass(frozen=True)
class PurposeProblem:
    """Why the leaf may not serve a TLS site (SSL107)."""

    kind: str  # "extended key usage" | "key usage" | "CA certificate"
    detail: str  # what the certificate says, as an admin reads it


@dataclass(frozen=True)
class ConstraintViolation:
    """A name below a CA that the CA's nameConstraints exclude or do not permit (SSL108)."""

    ca: Link
    holder: x509.Certificate  # the certificate that carries the name (the leaf, or a lower CA)
    name: str  # "DNS:a.example" | "IP:192.0.2.1"
    constraint: str  # "excluded DNS:example.com" | "permitted only DNS:corp.example, IP:10.0.0.0/8"


@dataclass(frozen=True)
class ChainReport:
    served: tuple[x509.Certificate, ...]
    leaf: x509.Certificate
    leaf_index: int
    key_matches_index: int | None  # which served certificate the configured key belongs to
    leaf_is_first: bool
    leaf_is_ca: bool  # the key belongs to a CA certificate (badssl's reversed chain)
    path: tuple[Link, ...]  # leaf first, up to the anchor / self-signed root / last issuer found
    order_ok: bool
    missing: tuple[Link, ...]  # intermediates not served, with where they were found
    unresolved_issuer: UnresolvedIssuer | None
    anchor: x509.Certificate | None  # the trust-store certificate the path reached
    root_sent: bool
    root_index: int | None
    extras: tuple[Extra, ...]
    self_signed_leaf: bool
    untrusted_root: Link | None  # the self-signed top of the path, when no anchor stands for it
    invalid_intermediates: tuple[InvalidCert, ...]
    weak_signatures: tuple[WeakSignature, ...]
    weak_keys: tuple[WeakKey, ...]
    # What the file should hold: the leaf, then the intermediates in path order,
    # no root and nothing else. Partial when unresolved_issuer is set.
    fullchain: tuple[x509.Certificate, ...]
    verified: bool  # cryptography's verifier accepts leaf + path intermediates
    verify_error: str | None
    verify_name: str | None  # the name the verifier checked (hostname, or one taken from the leaf)
    served_verified: bool  # the same verifier on exactly what the server sends (no AIA, no pool)
    served_verify_error: str | None
    notes: tuple[str, ...] = ()  # signatures that could not be checked, odd certificates
    purpose_problems: tuple[PurposeProblem, ...] = ()  # the leaf's, for a TLS server
    constraint_violations: tuple[ConstraintViolation, ...] = ()  # along the issuer path
    # Served certificates named like the leaf's issuer whose key did not sign it (an old or
    # another CA's intermediate under the same name): what the admin believes is the issuer.
    impostors: tuple[Extra, ...] = ()

    @property
    def complete(self) -> bool:
        """The path ends at a trust anchor or a self-signed root (trusted or not)."""
        return self.unresolved_issuer is None

    # The verdicts of the chain rules, here once for the checks (checks/chain.py) and the
    # inventory (`sslint certs`), which must never disagree.

    @property
    def unknown_root(self) -> bool:
        """The path climbs through a CA certificate and stops at an issuer found nowhere.

        A CA's issuer that nobody has is, far more often than not, an internal root
        outside the trust store (the file holds leaf and intermediate, as it should):
        SSL105's case. An unknown issuer of the leaf itself is a missing intermediate
        as often as an internal root: SSL201 tells both readings.
        """
        unresolved = self.unresolved_issuer
        return unresolved is not None and len(self.path) > 1 and unresolved.subject is self.path[-1].cert

    @property
    def self_signed_untrusted(self) -> bool:
        """SSL104: a self-signed leaf that no anchor stands for."""
        return self.self_signed_leaf and self.anchor is None and not self.verified

    @property
    def incomplete(self) -> bool:
        """SSL201: what is sent does not verify, and an intermediate is missing from it (found
        elsewhere, or found nowhere above the leaf itself)."""
        if self.served_verified:
            return False
        return bool(self.missing) or (self.unresolved_issuer is not None and not self.unknown_root)

    @property
    def untrusted(self) -> bool:
        """SSL105: the chain ends at a root, or at a CA's issuer, that the trust store lacks."""
        if self.verified or self.served_verified or self.self_signed_leaf:
            return False
        return self.unknown_root or self.untrusted_root is not None


# ---------------------------------------------------------------- certificate facts


# A Name is parsed whole when the certificate's subject or issuer is read (where a malformed one
# raises, in the caller); formatting or searching it afterwards is plain Python over str and bytes
# values, which raises nothing.


def name_text(name: x509.Name) -> str:
    """A name as an admin reads it: 'CN=R11,O=Let's Encrypt,C=US', or '(empty)'."""
    return name.rfc4514_string() or "(empty)"


def common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


# The one way sslint names a certificate, in messages, reports and inventories alike.


def subject_label(name: x509.Name) -> str:
    """A subject or issuer as an admin names it: its CN, else the whole name."""
    return common_name(name) or name_text(name)


@per_certificate  # the same leaf and intermediates are named in thousands of messages
def label(cert: x509.Certificate) -> str:
    """A certificate in a message: its subject_label, quoted."""
    return f"'{subject_label(cert.subject)}'"


def describe(cert: x509.Certificate) -> str:
    """A certificate as `openssl x509 -noout -subject -serial -enddate -fingerprint` would let one find it."""
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    fingerprint = ":".join(digest[index:index + 2] for index in range(0, 16, 2)) + "…"
    return (f"{label(cert)} (serial {cert.serial_number:X}, issued by '{subject_label(cert.issuer)}', "
            f"SHA-256 {fingerprint}, not after {cert.not_valid_after_utc:%Y-%m-%d})")


def _utc(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


def _whole_second(now: datetime) -> datetime:
    # Certificate times have whole seconds; the verifier (cryptography, like OpenSSL) compares
    # the validation time at that granularity: a certificate whose notAfter is 00:00:00 is still
    # valid at 00:00:00.005 (x509-limbo rfc5280::validity::notafter-fractional).
    return _utc(now).replace(microsecond=0)


def is_expired(cert: x509.Certificate, now: datetime) -> bool:
    return _whole_second(now) > cert.not_valid_after_utc


def is_not_yet_valid(cert: x509.Certificate, now: datetime) -> bool:
    return _whole_second(now) < cert.not_valid_before_utc


def validity(cert: x509.Certificate, now: datetime) -> str:
    """"valid", "expired" or "not yet valid" at `now`."""
    if is_not_yet_valid(cert, now):
        return "not yet valid"
    if is_expired(cert, now):
        return "expired"
    return "valid"


def days_left(cert: x509.Certificate, now: datetime) -> float:
    """Days until notAfter (negative once expired)."""
    return (cert.not_valid_after_utc - _utc(now)).total_seconds() / 86400


_Extension = TypeVar("_Extension", bound=x509.ExtensionType)


def _extension(cert: x509.Certificate, kind: type[_Extension]) -> _Extension | None:
    """The certificate's extension of that kind; None when absent, duplicated or unparsable."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except Exception:  # noqa: BLE001
        # Reading one extension parses them all, building Python objects from the certificate's
        # DER: a malformed one raises ValueError, KeyError or TypeError from those constructors,
        # DuplicateExtension, UnsupportedGeneralNameType... whatever the bytes provoke. A browser
        # rejects such a certificate just the same; here it reads as "no such extension".
        return None


@per_certificate
def is_ca(cert: x509.Certificate) -> bool:
    constraints = _extension(cert, x509.BasicConstraints)
    return bool(constraints is not None and constraints.ca)


def signature_weakness(cert: x509.Certificate) -> str | None:
    """"sha1"/"md5"/... when the certificate is signed with a hash browsers refuse."""
    # The signature algorithm's OID is parsed with the certificate: reading it raises nothing.
    return _WEAK_SIGNATURES.get(cert.signature_algorithm_oid.dotted_string)


def key_description(cert: x509.Certificate) -> tuple[str, int] | None:
    """("RSA", 2048), ("EC", 256), ...; None when the key cannot be loaded."""
    try:
        return describe_public(cert.public_key())
    except KEY_LOAD_ERRORS:
        return None


def key_weakness(cert: x509.Certificate) -> tuple[str, int] | None:
    """(kind, bits) when the key is too small for OpenSSL 3 at level 2 and for browsers."""
    described = key_description(cert)
    if described is None:
        return None
    kind, bits = described
    if kind == "RSA" and bits < MIN_RSA_BITS:
        return described
    if kind == "EC" and bits < MIN_EC_BITS:
        return described
    if kind == "DSA":  # no browser accepts a DSA certificate at any size
        return described
    return None


class Signatures:
    """Signature verdicts for one run (or one rule's pass over the sites): an intermediate's
    signature by its root is checked once, not once for every leaf below it. Owned by whoever
    runs the diagnoses (pki/analyse.ChainAnalyser) or a rule's loop, and gone with it. Keyed by
    identity (comparing certificates compares their DER): each entry keeps both certificates,
    so neither id can be reused while the verdict is remembered."""

    __slots__ = ("_verdicts",)

    def __init__(self) -> None:
        self._verdicts: dict[tuple[int, int], tuple[x509.Certificate, x509.Certificate, bool | None]] = {}

    def signed_by(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
        """True/False when the signature was checked; None when it could not be."""
        key = (id(cert), id(issuer))
        hit = self._verdicts.get(key)
        if hit is not None:
            return hit[2]
        verdict = _check_signature(cert, issuer)
        self._verdicts[key] = (cert, issuer, verdict)
        return verdict

    def known(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        return (id(cert), id(issuer)) in self._verdicts

    def verified_elsewhere(self, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        """cryptography's verifier checked this signature on a chain it accepted: it holds."""
        self._verdicts[(id(cert), id(issuer))] = (cert, issuer, True)


def _issuer_key(issuer: x509.Certificate) -> PublicKeyTypes | None:
    try:
        return issuer.public_key()
    except KEY_LOAD_ERRORS:
        return None


def _verify_with(key: PublicKeyTypes, signature: _Signature, cert: x509.Certificate) -> bool:
    """Check the signature of `cert` with `key`: False when the key's type cannot have made it.

    Raises InvalidSignature when the signature does not verify, UnsupportedAlgorithm when
    OpenSSL refuses the hash (MD5 where it is disabled).
    """
    kind, hash_type = signature
    if kind == "RSA" and isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hash_type())
    elif kind == "EC" and isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hash_type()))
    elif kind == "DSA" and isinstance(key, dsa.DSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, hash_type())
    else:
        return False
    return True


def _check_signature(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """True/False when the signature was checked; None when it could not be."""
    # The signatures of nearly every certificate are checked with the issuer's key directly
    # (a third of the time of verify_directly_issued_by, which also compares the names that
    # every caller has compared already); anything else goes the long way.
    algorithm = cert.signature_algorithm_oid.dotted_string
    direct = _DIRECT_SIGNATURES.get(algorithm)
    key = _issuer_key(issuer) if direct is not None else None
    if direct is not None and key is not None:
        try:
            if _verify_with(key, direct, cert):
                return True
        except InvalidSignature:
            return False
        except UnsupportedAlgorithm:
            pass
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except InvalidSignature:
        return False
    except (ValueError, TypeError, *KEY_LOAD_ERRORS):
        # What verify_directly_issued_by raises for a signature algorithm it refuses (SHA-1,
        # MD5: ValueError), an issuer key type it does not support (TypeError) or an issuer
        # key it cannot load.
        pass
    manual = _MANUAL_SIGNATURES.get(algorithm)
    key = _issuer_key(issuer) if manual is not None else None
    if manual is None or key is None:
        return None
    try:
        # False: the issuer's key type cannot have made this signature.
        return _verify_with(key, manual, cert)
    except InvalidSignature:
        return False
    except UnsupportedAlgorithm:
        return None


def _may_issue(issuer: x509.Certificate, cert: x509.Certificate) -> bool:
    """Name and key identifiers allow `issuer` to have signed `cert` (the signature still decides)."""
    if issuer.subject != cert.issuer:
        return False
    authority = authority_key_id(cert)
    subject = subject_key_id(issuer)
    return authority is None or subject is None or authority == subject


@per_certificate
def is_self_signed(cert: x509.Certificate) -> bool:
    if not _may_issue(cert, cert):
        return False
    return _check_signature(cert, cert) is not False  # once per certificate (per_certificate)


def _self_issued(cert: x509.Certificate) -> bool:
    """Subject and issuer are the same name (RFC 5280 3.1: the same CA, maybe a new key)."""
    return cert.subject == cert.issuer


def issued(issuer: x509.Certificate, cert: x509.Certificate, signatures: Signatures | None = None) -> bool:
    """`issuer` signed `cert` (names, key identifiers and the signature agree). A caller that asks
    about the same pairs again and again passes the `signatures` it keeps for its run."""
    if not _may_issue(issuer, cert):
        return False
    verdict = signatures.signed_by(cert, issuer) if signatures is not None else _check_signature(cert, issuer)
    return verdict is True


# ---------------------------------------------------------------- purpose and name constraints


def purpose_problems(leaf: x509.Certificate) -> tuple[PurposeProblem, ...]:
    """What in the leaf forbids serving a TLS site with it.

    extendedKeyUsage without serverAuth (openssl: 'unsupported certificate purpose';
    cryptography: 'required EKU not found'); anyExtendedKeyUsage counts as serverAuth, as
    OpenSSL, cryptography and Chrome take it. keyUsage without what the handshake does with
    the key: an ECDSA (or EdDSA) key only signs, so digitalSignature; an RSA key signs (ECDHE,
    TLS 1.3) or decrypts (RSA key exchange), so digitalSignature or keyEncipherment. And a
    leaf that is a CA (basicConstraints CA:TRUE).
    """
    problems = []
    usages = _extension(leaf, x509.ExtendedKeyUsage)
    if usages is not None:
        purposes = list(usages)
        if ExtendedKeyUsageOID.SERVER_AUTH not in purposes and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in purposes:
            listed = ", ".join(_EKU_NAMES.get(oid.dotted_string, oid.dotted_string) for oid in purposes) or "nothing"
            problems.append(PurposeProblem("extended key usage", f"extendedKeyUsage lists {listed}, not serverAuth"))
    usage = _extension(leaf, x509.KeyUsage)
    if usage is not None:
        described = key_description(leaf)
        kind = described[0] if described else ""
        if kind == "RSA" and not (usage.digital_signature or usage.key_encipherment):
            problems.append(PurposeProblem(
                "key usage", "keyUsage allows neither digitalSignature nor keyEncipherment, one of which an RSA "
                "key needs in a TLS handshake"))
        elif kind in ("EC", "Ed25519", "Ed448") and not usage.digital_signature:
            problems.append(PurposeProblem(
                "key usage", f"keyUsage lacks digitalSignature, the only thing an {kind} key does in a TLS handshake"))
    if is_ca(leaf):
        problems.append(PurposeProblem("CA certificate", "basicConstraints CA:TRUE: it is a CA certificate"))
    return tuple(problems)


_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
}


def _general_text(name: x509.GeneralName) -> str | None:
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    return None


def _dns_within(name: str, constraint: str) -> bool:
    """RFC 5280 4.2.1.10: a DNS constraint covers the name itself and every name below it."""
    name = name.lower().rstrip(".")
    constraint = constraint.lower().rstrip(".")
    if not constraint:
        return True
    if name.startswith("*."):
        name = name[2:]  # a wildcard is below its remainder: *.a.example is within a.example
    return name == constraint or name.endswith("." + constraint)


def _within(name: x509.GeneralName, subtree: x509.GeneralName) -> bool | None:
    """Is `name` inside `subtree`? None when the two are of different kinds."""
    if isinstance(name, x509.DNSName) and isinstance(subtree, x509.DNSName):
        return _dns_within(name.value, subtree.value)
    if isinstance(name, x509.IPAddress) and isinstance(subtree, x509.IPAddress):
        network = subtree.value
        address = name.value
        if isinstance(network, (ipaddress.IPv4Network, ipaddress.IPv6Network)) and not isinstance(
                address, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return address.version == network.version and address in network
    return None


def _names_of(cert: x509.Certificate) -> list[x509.GeneralName]:
    sans = _extension(cert, x509.SubjectAlternativeName)
    if sans is None:
        return []
    return [name for name in sans if isinstance(name, (x509.DNSName, x509.IPAddress))]


def constraint_violations(path: list[Link]) -> tuple[ConstraintViolation, ...]:
    """Names of certificates below each constrained CA of the path that its nameConstraints refuse.

    Only DNS and IP names, the ones a TLS site has; self-issued intermediates are exempt (RFC 5280
    6.1.3 (b)), the leaf never is.
    """
    found = []
    for depth, link in enumerate(path[1:], start=1):
        constraints = _extension(link.cert, x509.NameConstraints)
        if constraints is None:
            continue
        excluded = list(constraints.excluded_subtrees or ())
        permitted = list(constraints.permitted_subtrees or ())
        for below_depth, below in enumerate(path[:depth]):
            if below_depth > 0 and _self_issued(below.cert):
                continue
            for name in _names_of(below.cert):
                text = _general_text(name) or ""
                hit = next((subtree for subtree in excluded if _within(name, subtree)), None)
                if hit is not None:
                    found.append(ConstraintViolation(link, below.cert, text, f"excluded {_general_text(hit)}"))
                    continue
                same_kind = [subtree for subtree in permitted if _within(name, subtree) is not None]
                if same_kind and not any(_within(name, subtree) for subtree in same_kind):
                    allowed = ", ".join(_general_text(subtree) or "" for subtree in same_kind[:4])
                    found.append(ConstraintViolation(link, below.cert, text, f"permitted only {allowed}"))
    return tuple(found)


# ---------------------------------------------------------------- path building


class _PathBuilder:
    def __init__(self, served: tuple[x509.Certificate, ...], pool: tuple[Candidate, ...],
                 trust: TrustStore, now: datetime, signatures: Signatures, defer: bool = False) -> None:
        self.served_links = tuple(Link(cert, SERVED, index) for index, cert in enumerate(served))
        self.pool_links = tuple(Link(candidate.cert, candidate.source) for candidate in pool)
        self.trust = trust
        self.now = now
        self.signatures = signatures
        self.notes: list[str] = []
        # With `defer`, the only possible issuer in a tier is taken before its signature is
        # checked: cryptography's verifier checks it anyway (_diagnose settles it, see _settled).
        self.defer = defer
        self.deferred: list[tuple[x509.Certificate, x509.Certificate]] = []

    def _rank(self, link: Link) -> tuple[int, int]:
        # Among certificates that all verify, an anchor ends the path soonest and
        # a currently valid one is what a browser would pick.
        anchor = 0 if self.trust.anchor_for(link.cert) is not None else 1
        valid = 0 if validity(link.cert, self.now) == "valid" else 1
        return anchor, valid

    def find_issuer(self, cert: x509.Certificate, seen: set[bytes]) -> Link | None:
        unchecked: Link | None = None
        for tier in (self.served_links, self.pool_links, None):
            if tier is None:  # the trust store, asked only when nothing served or pooled issued `cert`
                tier = tuple(Link(anchor, TRUST_STORE) for anchor in self.trust.issuer_candidates(cert))
            verified = []
            possible = [link for link in tier if der(link.cert) not in seen and _may_issue(link.cert, cert)]
            if self.defer and len(possible) == 1 and not self.signatures.known(cert, possible[0].cert):
                self.deferred.append((cert, possible[0].cert))
                return possible[0]
            for link in possible:
                result = self.signatures.signed_by(cert, link.cert)
                if result:
                    verified.append(link)
                elif result is None and unchecked is None:
                    unchecked = link
            if verified:
                return min(verified, key=self._rank)  # min is stable: ties keep the caller's order
        if unchecked is not None:
            # Matching name and key identifier, but a signature nobody can check:
            # take it rather than call the chain incomplete, and say so.
            self.notes.append(
                f"the signature of {name_text(cert.subject)} by {name_text(unchecked.cert.subject)} "
                "could not be checked (unsupported algorithm); issuer matched by name and key identifier"
            )
        return unchecked

    def build(self, leaf: Link) -> tuple[list[Link], x509.Certificate | None, UnresolvedIssuer | None]:
        path = [leaf]
        seen = {der(leaf.cert)}
        current = leaf
        while len(path) <= MAX_PATH_LENGTH:
            anchor = self.trust.anchor_for(current.cert)
            if anchor is not None:
                return path, anchor, None
            if is_self_signed(current.cert):
                return path, None, None
            issuer = self.find_issuer(current.cert, seen)
            if issuer is None:
                unresolved = UnresolvedIssuer(current.cert, current.cert.issuer, authority_key_id(current.cert))
                return path, None, unresolved
            path.append(issuer)
            seen.add(der(issuer.cert))
            current = issuer
        self.notes.append(f"issuer path longer than {MAX_PATH_LENGTH} certificates; stopped")
        top = path[-1].cert
        return path, None, UnresolvedIssuer(top, top.issuer, authority_key_id(top))


def _choose_leaf(served: tuple[x509.Certificate, ...], key_public: PublicKeyTypes | None) -> tuple[int, int | None]:
    key_matches_index = None
    if key_public is not None:
        try:
            wanted = key_public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        except ValueError:  # a key type SubjectPublicKeyInfo cannot carry: it matches no certificate
            wanted = None
        if wanted is not None:
            for index, cert in enumerate(served):
                if public_key_der(cert) == wanted:
                    key_matches_index = index
                    break
    if key_matches_index is not None:
        return key_matches_index, key_matches_index
    for index, cert in enumerate(served):
        if not is_ca(cert):
            return index, None
    return 0, None


MAX_ISSUER_KEYS = 4  # distinct keys under one issuer name that _order_ok tries for one certificate


def _order_ok(served: tuple[x509.Certificate, ...], leaf_index: int, signatures: Signatures) -> bool:
    """The leaf is first and no certificate comes before one it issued."""
    if leaf_index != 0:
        return False
    # Only an earlier certificate whose subject is the later one's issuer can have issued it:
    # looking those up by name keeps a bundle of thousands of certificates linear, not quadratic.
    # Whether one certificate issued another depends only on its subject, key and key identifier:
    # each of those is tried once per later certificate, and no more of them than any real chain
    # holds (a bundle of a thousand look-alike CAs would otherwise cost a million signature checks).
    ders = [der(cert) for cert in served]
    earlier_by_subject: dict[x509.Name, list[int]] = {}
    for later, cert in enumerate(served):
        tried: set[tuple[bytes | None, bytes | None]] = set()
        for earlier in earlier_by_subject.get(cert.issuer, ()):
            issuer = served[earlier]
            identity = (public_key_der(issuer), subject_key_id(issuer))
            if ders[earlier] == ders[later] or identity in tried:
                continue
            if len(tried) >= MAX_ISSUER_KEYS:
                break
            tried.add(identity)
            if issued(issuer, cert, signatures):
                return False
        earlier_by_subject.setdefault(cert.subject, []).append(later)
    return True


def _is_root_like(link: Link, trust: TrustStore) -> bool:
    return trust.anchor_for(link.cert) is not None or is_self_signed(link.cert)


def _invalid(path: list[Link], trust: TrustStore, now: datetime) -> list[InvalidCert]:
    problems = []
    for depth, link in enumerate(path[1:], start=1):
        cert = link.cert
        if trust.anchor_for(cert) is not None:
            continue  # an anchor's own dates and flags are the trust store's business
        if is_expired(cert, now):
            problems.append(InvalidCert(link, "expired", f"expired {cert.not_valid_after_utc:%Y-%m-%d}"))
        elif is_not_yet_valid(cert, now):
            problems.append(InvalidCert(link, "not yet valid", f"valid from {cert.not_valid_before_utc:%Y-%m-%d}"))
        constraints = _extension(cert, x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            detail = "no basicConstraints extension" if constraints is None else "basicConstraints CA:FALSE"
            problems.append(InvalidCert(link, "not a CA", detail))
        else:
            # The intermediates between this CA and the leaf, but not the self-issued ones (a CA's
            # key rollover certificate): RFC 5280 6.1.4 (l) counts only the others.
            below = sum(1 for lower in path[1:depth] if not _self_issued(lower.cert))
            if constraints.path_length is not None and below > constraints.path_length:
                problems.append(InvalidCert(
                    link, "path length exceeded",
                    f"pathlen:{constraints.path_length} but {below} intermediate(s) below it"))
        usage = _extension(cert, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            problems.append(InvalidCert(link, "no keyCertSign", "keyUsage lacks keyCertSign"))
    return problems


def _rollover_refused(path: list[Link], anchor: x509.Certificate | None, invalid: tuple[InvalidCert, ...],
                      violations: tuple[ConstraintViolation, ...], problems: tuple[PurposeProblem, ...],
                      now: datetime) -> bool:
    """The served path reaches an anchor through a self-issued intermediate, every link served,
    signed and valid: what cryptography's builder wrongly refuses."""
    leaf = path[0].cert
    return (anchor is not None and not invalid and not violations and not problems
            and validity(leaf, now) == "valid"
            and all(link.served or _is_root_like_cert(link.cert, anchor) for link in path[1:])
            and any(_self_issued(link.cert) and not is_self_signed(link.cert) for link in path[1:]))


def _is_root_like_cert(cert: x509.Certificate, anchor: x509.Certificate) -> bool:
    return cert is anchor or is_self_signed(cert)


def copy_on_path(cert: x509.Certificate, path: list[Link] | tuple[Link, ...]) -> Link | None:
    """The certificate of `path` for the same CA as `cert`: the same name and key, so whatever one
    signed the other did (a CA's cross-signed, renewed or expired certificate beside the one the
    chain goes through)."""
    key = public_key_der(cert)
    if key is None:
        return None
    return next((link for link in path if link.cert.subject == cert.subject and der(link.cert) != der(cert)
                 and public_key_der(link.cert) == key), None)


def _judged_links(path: list[Link], trust: TrustStore) -> list[Link]:
    """Path certificates whose signature and key a browser actually relies on.

    An anchor's self-signature and a self-signed root's key are never used to
    trust anything, so neither is judged; a self-signed leaf is.
    """
    judged = [path[0]]
    for link in path[1:]:
        if not _is_root_like(link, trust):
            judged.append(link)
    return judged


# ---------------------------------------------------------------- verification

def _require_ca(policy: object, cert: x509.Certificate, constraints: x509.BasicConstraints) -> None:
    if not constraints.ca:
        raise ValueError("basicConstraints CA:FALSE on an issuing certificate")


def _may_sign_certificates(policy: object, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError("keyUsage.keyCertSign must be asserted in a CA certificate")


# cryptography's web-PKI profile follows the CA/Browser Forum rules for what
# CAs must issue; browsers (and OpenSSL) enforce less when they verify, and a
# private CA, or badssl.com, is held to what browsers enforce. Relaxed here:
# - basicConstraints criticality: RFC 5280 says a CA MUST mark it critical,
#   badssl.com's whole hierarchy does not, and no browser refuses that. Kept:
#   it must be present and say CA:TRUE.
# - authorityKeyIdentifier (all certificates) and subjectKeyIdentifier (CAs):
#   required for issuance, not checked by Chrome, Firefox or OpenSSL, and
#   absent from many internal CAs' certificates. Kept: present, they must not
#   be critical (OpenSSL: 'unhandled critical extension').
# - keyUsage of a CA: required for issuance; OpenSSL and browsers take a CA
#   without one (x509-limbo crl::issuer-no-keyusage-extension). Kept: present,
#   it must allow keyCertSign.
# Everything else (signature algorithms, RSA >= 2048 for signing keys, SAN
# required on the leaf, EKU, validity, path length) stays the verifier's default.
_CA_POLICY = (
    ExtensionPolicy.webpki_defaults_ca()
    .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _require_ca)
    .may_be_present(x509.AuthorityKeyIdentifier, Criticality.NON_CRITICAL, None)
    .may_be_present(x509.SubjectKeyIdentifier, Criticality.NON_CRITICAL, None)
    .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _may_sign_certificates)
)
_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.AuthorityKeyIdentifier, Criticality.NON_CRITICAL, None
)
_NO_NAME = "invalid"  # RFC 2606: never a real name; the verifier then reports the missing SAN


def verification_name(leaf: x509.Certificate) -> str:
    """A name to verify the leaf for when the config gives none.

    The first non-wildcard DNS SAN; else a wildcard SAN with its `*` filled in;
    else the first IP SAN; else a reserved name, so that the verifier reports
    what a browser would: the certificate names no host at all.
    """
    dns = names.dns_names(leaf)
    for name in dns:
        if not name.startswith("*."):
            return name
    for name in dns:
        return "wildcard-probe" + name[1:]
    ips = names.ip_addresses(leaf)
    if ips:
        return ips[0]
    return _NO_NAME


def _subject(name: str) -> x509.DNSName | x509.IPAddress:
    if ":" in name or name.replace(".", "").isdigit():  # an IP address can only look like this
        try:
            return x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            pass
    return x509.DNSName(names.to_ascii(name) or name)


def verification_names(leaf: x509.Certificate) -> tuple[str, ...]:
    """verification_name first, then every other name of the leaf that could stand for it."""
    first = verification_name(leaf)
    others = [name for name in (*names.dns_names(leaf), *names.ip_addresses(leaf))
              if not name.startswith("*.") and name != first]
    return (first, *others)


def verify(leaf: x509.Certificate, intermediates: list[x509.Certificate], trust: TrustStore,
           now: datetime, name: str, fallbacks: tuple[str, ...] = ()) -> tuple[bool, str | None]:
    """cryptography's server verifier (web-PKI profile) with the given trust and time (see
    _verified_chain)."""
    verified, error, _chain = _verified_chain(leaf, intermediates, trust, now, name, fallbacks)
    return verified, error


def _verified_chain(leaf: x509.Certificate, intermediates: list[x509.Certificate], trust: TrustStore,
                    now: datetime, name: str, fallbacks: tuple[str, ...] = (),
                    ) -> tuple[bool, str | None, list[x509.Certificate]]:
    """cryptography's server verifier (web-PKI profile) with the given trust and time, and the
    chain it accepted (leaf first, anchor last; empty when it accepted none).

    `fallbacks` are other names to verify for when the verifier refuses `name` itself as a
    host name (a SAN such as foo_bar.example): the chain is judged for a name the leaf
    holds, whether the site's names match is SSL301's question. Whatever the name, the chain
    is verified once.
    """
    if not trust.anchors:
        return False, "the trust store is empty", []
    # Self-signed certificates are only ever useful as anchors, which come from
    # the store; given as intermediates they make the verifier loop on them
    # until "chain construction exceeds max depth", which explains nothing.
    intermediates = [cert for cert in intermediates if not is_self_signed(cert)]
    builder = (
        PolicyBuilder()
        .store(trust.verification_store())
        .time(_utc(now))
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
    )
    refused: ValueError | None = None
    for candidate in (name, *fallbacks):
        try:
            verifier = builder.build_server_verifier(_subject(candidate))
        except ValueError as error:  # a name the verifier cannot take as a host name ("invalid domain name")
            refused = refused or error
            continue
        try:
            chain = verifier.verify(leaf, intermediates)
        except Exception as error:  # noqa: BLE001
            # VerificationError, or whatever a certificate it cannot process provokes: the verifier
            # parses every extension of every candidate certificate (see _extension) and runs
            # _CA_POLICY's callbacks; any of it means the chain does not verify, and why.
            return False, str(error) or type(error).__name__, []
        return True, None, chain
    return False, f"no usable host name in the certificate ({refused})", []


# ---------------------------------------------------------------- diagnose


def diagnose(served: tuple[x509.Certificate, ...], key_public: PublicKeyTypes | None,
             pool: tuple[Candidate, ...], trust: TrustStore, now: datetime,
             hostname: str | None = None, signatures: Signatures | None = None) -> ChainReport:
    """Explain the chain nginx would send for `served` and the configured key (`signatures`: the
    verdicts the run keeps across its diagnoses; without it, this diagnosis keeps its own).

    `served` must hold at least one certificate (an empty file is the loader's
    finding, SSL003). Odd certificates never raise: a signature that cannot be
    checked is noted and decided by name and key identifier.
    """
    if not served:
        raise ValueError("diagnose() needs at least one served certificate")
    with warnings.catch_warnings():
        # Real certificates carry serials cryptography deems non-positive (badssl's DSDTestProvider
        # leaf, in its AKI); cryptography warns on every parse of them.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _diagnose(tuple(served), key_public, tuple(pool), trust, now, hostname,
                         signatures if signatures is not None else Signatures())


def _settled(served: tuple[x509.Certificate, ...], leaf_index: int, pool: tuple[Candidate, ...],
             trust: TrustStore, now: datetime, signatures: Signatures, name: str, fallbacks: tuple[str, ...],
             ) -> tuple[_PathBuilder, list[Link], x509.Certificate | None, UnresolvedIssuer | None, bool, str | None]:
    """The issuer path from the leaf and the verifier's verdict on it, each signature checked once.

    Path building checks a signature only to choose between issuers; where a tier offers one
    possible issuer, it is taken unchecked and the verifier, which checks every signature of the
    chain it accepts, settles it. A signature the verifier did not vouch for is checked here;
    when one fails (or cannot be checked), the path is built again the ordinary way, as if
    nothing had been deferred.
    """
    leaf = served[leaf_index]
    builder = _PathBuilder(served, pool, trust, now, signatures, defer=True)
    path, anchor, unresolved = builder.build(builder.served_links[leaf_index])
    verified, verify_error, chain = _verified_chain(leaf, [link.cert for link in path[1:]], trust, now, name,
                                                    fallbacks)
    vouched = set(itertools.pairwise(chain))
    for cert, issuer in builder.deferred:
        if (cert, issuer) in vouched:
            signatures.verified_elsewhere(cert, issuer)
    if all(signatures.signed_by(cert, issuer) is True for cert, issuer in builder.deferred):
        return builder, path, anchor, unresolved, verified, verify_error
    builder = _PathBuilder(served, pool, trust, now, signatures)
    path, anchor, unresolved = builder.build(builder.served_links[leaf_index])
    verified, verify_error = verify(leaf, [link.cert for link in path[1:]], trust, now, name, fallbacks)
    return builder, path, anchor, unresolved, verified, verify_error


def _diagnose(served: tuple[x509.Certificate, ...], key_public: PublicKeyTypes | None,
              pool: tuple[Candidate, ...], trust: TrustStore, now: datetime,
              hostname: str | None, signatures: Signatures) -> ChainReport:
    now = _utc(now)
    leaf_index, key_matches_index = _choose_leaf(served, key_public)
    leaf = served[leaf_index]
    fallbacks = () if hostname else verification_names(leaf)[1:]
    name = hostname if hostname else verification_name(leaf)
    builder, path, anchor, unresolved, verified, verify_error = _settled(
        served, leaf_index, pool, trust, now, signatures, name, fallbacks)

    missing = tuple(
        link for link in path[1:]
        if not link.served and not _is_root_like(link, trust)
    )
    root_index = next(
        (link.served_index for link in path[1:] if link.served and _is_root_like(link, trust)), None
    )
    top = path[-1]
    self_signed_leaf = is_self_signed(leaf)
    untrusted_root = (
        top if len(path) > 1 and anchor is None and unresolved is None and is_self_signed(top.cert) else None
    )

    fullchain = [leaf]
    for link in path[1:]:
        if _is_root_like(link, trust):
            break
        fullchain.append(link.cert)

    on_path = {link.served_index for link in path if link.served}
    path_der = {der(link.cert) for link in path}
    extras = []
    served_der = [der(cert) for cert in served]
    first_index: dict[bytes, int] = {}
    for index, encoded in enumerate(served_der):
        first_index.setdefault(encoded, index)
    for index, cert in enumerate(served):
        if index in on_path:
            continue
        encoded = served_der[index]
        if encoded in path_der or first_index[encoded] < index:
            reason = "duplicate"
        elif issued(leaf, cert, signatures):
            reason = "subject-of-leaf"
        elif copy_on_path(cert, path) is not None:
            reason = "another-copy"
        else:
            reason = "unrelated"
        extras.append(Extra(cert, index, reason))

    judged = _judged_links(path, trust)
    weak_signatures = tuple(
        WeakSignature(link, algorithm) for link in judged
        if (algorithm := signature_weakness(link.cert)) is not None
    )
    weak_keys = tuple(
        WeakKey(link, weakness[0], weakness[1]) for link in judged
        if (weakness := key_weakness(link.cert)) is not None
    )

    served_name = hostname if hostname else verification_name(served[0])
    # verify() drops self-signed certificates from the intermediates, so a served chain that is
    # the path less its trust-store root (the usual, correct chain) asks the same question: once.
    if (served[0] is leaf and served_name == name
            and [cert for cert in served[1:] if not is_self_signed(cert)]
            == [link.cert for link in path[1:] if not is_self_signed(link.cert)]):
        served_verified, served_verify_error = verified, verify_error
    else:
        served_fallbacks = () if hostname else verification_names(served[0])[1:]
        served_verified, served_verify_error = verify(served[0], list(served[1:]), trust, now, served_name,
                                                      served_fallbacks)

    invalid = tuple(_invalid(path, trust, now))
    violations = constraint_violations(path)
    problems = purpose_problems(leaf)
    notes = list(builder.notes)
    if not served_verified and _rollover_refused(path, anchor, invalid, violations, problems, now):
        # cryptography's path builder gives up on a path through a self-issued intermediate (a
        # CA's key rollover certificate: same name, new key) with "signature does not match",
        # where RFC 5280 and OpenSSL accept it (x509-limbo pathlen::self-issued-certs-pathlen);
        # every signature of sslint's own path verified, so that path decides.
        notes.append(f"cryptography's verifier refused the path through the self-issued intermediate "
                     f"({served_verify_error}); every signature on it verifies, as OpenSSL agrees")
        served_verified, served_verify_error = True, None
        if served[0] is leaf:
            verified, verify_error = True, None

    # A served certificate that carries the name of an issuer on the path, yet is not on it:
    # its key did not sign (the names match, the signature does not) -- the admin's "issuer".
    wanted_issuers = [link.cert.issuer for link in path if not is_self_signed(link.cert)]
    impostors = tuple(extra for extra in extras if extra.reason == "unrelated"
                      and any(extra.cert.subject == issuer for issuer in wanted_issuers))

    return ChainReport(
        served=served,
        leaf=leaf,
        leaf_index=leaf_index,
        key_matches_index=key_matches_index,
        leaf_is_first=leaf_index == 0,
        leaf_is_ca=is_ca(leaf),
        path=tuple(path),
        order_ok=_order_ok(served, leaf_index, signatures),
        missing=missing,
        unresolved_issuer=unresolved,
        anchor=anchor,
        root_sent=root_index is not None,
        root_index=root_index,
        extras=tuple(extras),
        self_signed_leaf=self_signed_leaf,
        untrusted_root=untrusted_root,
        invalid_intermediates=invalid,
        weak_signatures=weak_signatures,
        weak_keys=weak_keys,
        fullchain=tuple(fullchain),
        verified=verified,
        verify_error=verify_error,
        verify_name=name,
        served_verified=served_verified,
        served_verify_error=served_verify_error,
        notes=tuple(notes),
        purpose_problems=problems,
        constraint_violations=violations,
        impostors=impostors,
    )
