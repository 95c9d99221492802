"""The trust store: which root certificates a browser on this machine trusts.

Owns loading the anchors (the system bundle, else certifi's, plus any
`--ca-file`) and the lookups the chain builder needs: anchors by subject key
identifier, by subject name, and "is this certificate an anchor" by subject and
public key (a cross-signed or re-issued copy of a root counts as the root).

It also knows which anchors are publicly trusted: those of the system bundle (or
certifi's), the roots a browser ships with. Browsers hold certificates from
those CAs to rules they waive for a CA someone installed by hand (Chrome's 398-day
limit, for one); a --ca-file root is such a hand-installed CA, unless the system
bundle holds it too.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from typing import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import Store

from nginxssl.discover.sysroot import read_nonblocking
from nginxssl.pki.load import KEY_LOAD_ERRORS, MAX_PKI_BYTES, per_certificate

# Debian/Ubuntu, then Fedora/RHEL, then Alpine/macOS-style locations.
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)

_PEM_CERT = re.compile(
    rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----.*?-----END (?:X509 |TRUSTED )?CERTIFICATE-----",
    re.DOTALL,
)


@dataclass(frozen=True)
class SkippedAnchor:
    """A certificate of a --ca-file that could not serve as a trust anchor, and why."""

    path: str
    line: int  # where its PEM block starts (1 for a DER file or a file with no certificate at all)
    number: int  # the how-manieth certificate of the file (0: the file as a whole)
    reason: str


class TrustStoreError(Exception):
    """A --ca-file the user named cannot serve as a trust anchor (the CLI exits 2)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@per_certificate
def subject_key_id(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None
    except Exception:  # noqa: BLE001
        # A malformed extension block: reading one extension parses them all, and a malformed
        # certificate may raise anything from cryptography's constructors (pki/chain.py
        # _extension). Either way "no identifier".
        return None


@per_certificate
def public_key_der(cert: x509.Certificate) -> bytes | None:
    """SubjectPublicKeyInfo DER: compares keys of any type without loading them twice."""
    try:
        with warnings.catch_warnings():
            # Loading a DSA key warns "DSA is deprecated" (cryptography 51): a trust anchor or
            # certificate with one would print that on the user's stderr; SSL502 judges the key.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
    except KEY_LOAD_ERRORS:  # such a key can match nothing
        return None


@dataclass(frozen=True)
class TrustStore:
    anchors: tuple[x509.Certificate, ...]
    sources: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # "path: certificate N: reason" for blocks that did not load
    public: frozenset[bytes] = frozenset()  # DER of the anchors that came from the system bundle
    unloadable: tuple[SkippedAnchor, ...] = ()  # certificates that did not load, for the report
    ca_files: tuple[str, ...] = ()  # the --ca-file paths, as given
    # Lookups built once in __post_init__; not part of the value.
    _by_key_id: dict[bytes, tuple[x509.Certificate, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _by_subject: dict[bytes, tuple[x509.Certificate, ...]] = field(  # by the subject's DER
        default_factory=dict, init=False, repr=False, compare=False)
    _by_subject_and_key: dict[tuple[bytes, bytes], x509.Certificate] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _der: frozenset[bytes] = field(default_factory=frozenset, init=False, repr=False, compare=False)
    _store: list[Store] = field(default_factory=list, init=False, repr=False, compare=False)  # built on first use
    # anchor_for answers by id(cert) (with the certificate, so the id stays its own): a chain
    # builder asks about the same intermediate once for every leaf below it.
    _anchor_of: dict[int, tuple[x509.Certificate, x509.Certificate | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key_id: dict[bytes, list[x509.Certificate]] = {}
        by_subject: dict[bytes, list[x509.Certificate]] = {}
        by_subject_and_key: dict[tuple[bytes, bytes], x509.Certificate] = {}
        der: set[bytes] = set()
        for anchor in self.anchors:
            der.add(anchor.public_bytes(serialization.Encoding.DER))
            key_id = subject_key_id(anchor)
            if key_id is not None:
                by_key_id.setdefault(key_id, []).append(anchor)
            subject = anchor.subject.public_bytes()
            by_subject.setdefault(subject, []).append(anchor)
            spki = public_key_der(anchor)
            if spki is not None:
                by_subject_and_key.setdefault((subject, spki), anchor)
        object.__setattr__(self, "_by_key_id", {k: tuple(v) for k, v in by_key_id.items()})
        object.__setattr__(self, "_by_subject", {k: tuple(v) for k, v in by_subject.items()})
        object.__setattr__(self, "_by_subject_and_key", by_subject_and_key)
        object.__setattr__(self, "_der", frozenset(der))

    def verification_store(self) -> Store:
        """The anchors as cryptography's verifier wants them (built once; needs >= 1 anchor)."""
        if not self._store:
            self._store.append(Store(list(self.anchors)))
        return self._store[0]

    def __len__(self) -> int:
        return len(self.anchors)

    def by_key_id(self, key_id: bytes) -> tuple[x509.Certificate, ...]:
        return self._by_key_id.get(key_id, ())

    def by_subject(self, name: x509.Name) -> tuple[x509.Certificate, ...]:
        try:
            return self._by_subject.get(name.public_bytes(), ())
        except ValueError:  # a parsed name cryptography cannot encode again: it names no anchor
            return ()

    def issuer_candidates(self, cert: x509.Certificate) -> tuple[x509.Certificate, ...]:
        """Anchors that may have issued `cert`: by key identifier, then by issuer name."""
        found: list[x509.Certificate] = []
        key_id = authority_key_id(cert)
        if key_id is not None:
            found.extend(self.by_key_id(key_id))
        for anchor in self.by_subject(cert.issuer):
            if anchor not in found:
                found.append(anchor)
        return tuple(found)

    def anchor_for(self, cert: x509.Certificate) -> x509.Certificate | None:
        """The anchor `cert` stands for: the same certificate, or the same subject and key.

        A served copy of a root, or a cross-signed certificate carrying a root's
        subject and key, ends the path exactly as the root itself would.
        """
        hit = self._anchor_of.get(id(cert))
        if hit is not None and hit[0] is cert:
            return hit[1]
        if len(self._anchor_of) >= 100_000:
            self._anchor_of.clear()
        anchor = self._find_anchor(cert)
        self._anchor_of[id(cert)] = (cert, anchor)
        return anchor

    def _find_anchor(self, cert: x509.Certificate) -> x509.Certificate | None:
        try:
            subject = cert.subject.public_bytes()
        except (ValueError, TypeError):
            # The subject is parsed here: malformed DER raises ValueError, a BIT STRING value under
            # another attribute than x500UniqueIdentifier TypeError (NameAttribute's check).
            return None
        spki = public_key_der(cert)
        if spki is None:
            return None
        return self._by_subject_and_key.get((subject, spki))

    def contains(self, cert: x509.Certificate) -> bool:
        return cert.public_bytes(serialization.Encoding.DER) in self._der

    def is_public(self, anchor: x509.Certificate) -> bool:
        """`anchor` (one of this store's) came with the system: a publicly trusted CA."""
        return anchor.public_bytes(serialization.Encoding.DER) in self.public


@per_certificate
def authority_key_id(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None
    except Exception:  # noqa: BLE001 (a malformed extension block, as in subject_key_id: "no identifier")
        return None


def _split_pem(data: bytes, path: str) -> tuple[list[x509.Certificate], list[SkippedAnchor]]:
    """One PEM block at a time, so one odd root is skipped instead of failing the bundle."""
    certs: list[x509.Certificate] = []
    skipped: list[SkippedAnchor] = []
    # Some public roots carry serial 0, which cryptography warns about. Silenced once for the
    # bundle: entering catch_warnings for each of 150 roots cost more than reading them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for number, match in enumerate(_PEM_CERT.finditer(data), start=1):
            block = match.group(0)
            if b"TRUSTED CERTIFICATE" in block[:40]:
                # OpenSSL's "trusted" form appends trust settings after the certificate;
                # the certificate itself is the first DER element.
                block = block.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE")
            elif b"X509 CERTIFICATE" in block[:40]:
                block = block.replace(b"X509 CERTIFICATE", b"CERTIFICATE")
            try:
                cert = x509.load_pem_x509_certificate(block)
                cert.extensions  # parsed lazily; parse now, where the warning is silenced
                certs.append(cert)
            except Exception as error:  # noqa: BLE001
                # ValueError for a block that is no certificate; parsing its extensions (done here) may
                # raise anything a malformed certificate provokes (pki/chain.py _extension). Either way
                # one odd root is skipped, with the reason, and the bundle's others still load.
                line = data.count(b"\n", 0, match.start()) + 1
                skipped.append(SkippedAnchor(path, line, number, f"not a valid X.509 certificate: {error}"))
    if not certs and not skipped:
        skipped.append(SkippedAnchor(path, 1, 0, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"))
    return certs, skipped


def _read_bundle(path: str) -> tuple[list[x509.Certificate], list[SkippedAnchor]]:
    """Certificates in a PEM bundle (or one DER certificate), and what did not load. OSError propagates.

    Stat before opening: a FIFO or /dev/zero named by --ca-file (or a settings
    file anyone can commit) must not block sslint or fill its memory.
    """
    try:
        info = os.stat(path)
    except ValueError:  # a NUL byte (a settings file can hold one): no file has that name
        raise FileNotFoundError(errno.ENOENT, "no such file", path) from None
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, "is not a regular file (a FIFO, socket or device)", path)
    if info.st_size > MAX_PKI_BYTES:
        raise OSError(errno.EFBIG, f"is {info.st_size} bytes; no CA bundle is that large", path)
    data = read_nonblocking(path, MAX_PKI_BYTES + 1)
    if b"-----BEGIN" in data:
        return _split_pem(data, path)
    if not data.strip():
        return [], [SkippedAnchor(path, 1, 0, "is empty")]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(data)
            cert.extensions
            return [cert], []
    except Exception as error:  # noqa: BLE001
        # As in _split_pem: any parse failure, of any kind, means "not a certificate".
        return [], [SkippedAnchor(path, 1, 0, f"holds neither a PEM certificate (-----BEGIN CERTIFICATE-----) "
                                              f"nor a DER one ({error})")]


def _system_candidates() -> Iterator[str]:
    """The system bundle, then certifi's: certifi (and the zipfile machinery its lookup
    imports) is only imported on a machine without a bundle of its own."""
    path = system_bundle_path()
    if path:
        yield path
    try:
        import certifi
    except ImportError:
        return
    yield certifi.where()


def system_bundle_path() -> str | None:
    for path in SYSTEM_BUNDLES:
        if os.path.isfile(path):
            return path
    return None


def load_trust_store(ca_files: tuple[str, ...] = (), *, system: bool = True) -> TrustStore:
    """Anchors from the system bundle (else certifi's) plus `ca_files`.

    `system=False` trusts only `ca_files`. A certificate that does not load, in
    a --ca-file or the system bundle, is skipped and listed in `unloadable` (the
    report names it; the run goes on). TrustStoreError (the CLI exits 2) for a
    --ca-file that is absent or cannot be read, and when no anchor at all is left.
    """
    anchors: list[x509.Certificate] = []
    sources: list[str] = []
    unloadable: list[SkippedAnchor] = []
    seen: set[bytes] = set()
    public: set[bytes] = set()

    def add(certs: list[x509.Certificate], from_system: bool) -> None:
        for cert in certs:
            der = cert.public_bytes(serialization.Encoding.DER)
            if from_system:
                public.add(der)
            if der not in seen:
                seen.add(der)
                anchors.append(cert)

    if system:
        for path in _system_candidates():
            try:
                certs, broken = _read_bundle(path)
            except OSError:
                continue  # the next candidate (certifi's) stands in for an unreadable system bundle
            if certs:
                unloadable.extend(broken)
                add(certs, from_system=True)
                sources.append(path)
                break  # the first bundle that yields roots is the system's trust

    for path in ca_files:
        try:
            certs, broken = _read_bundle(path)
        except FileNotFoundError:
            raise TrustStoreError(path, "no such file") from None
        except IsADirectoryError:
            raise TrustStoreError(path, "is a directory, not a PEM file") from None
        except OSError as error:
            raise TrustStoreError(path, f"cannot read: {error.strerror or error}") from None
        unloadable.extend(broken)
        if certs:
            add(certs, from_system=False)
            sources.append(path)

    if not anchors and ca_files:
        # Nothing trusted at all: every verdict would be "untrusted root". A usage error.
        reasons = "; ".join(_described(skipped) for skipped in unloadable) or "holds no certificate"
        raise TrustStoreError(ca_files[0], f"no certificate in it can serve as a trust anchor ({reasons})")
    skipped = tuple(_described(item) for item in unloadable)
    return TrustStore(tuple(anchors), tuple(sources), skipped, frozenset(public), tuple(unloadable),
                      tuple(ca_files))


def _described(skipped: SkippedAnchor) -> str:
    if skipped.number == 0:
        return f"{skipped.path}: {skipped.reason}"
    return f"{skipped.path}: certificate {skipped.number} (line {skipped.line}): {skipped.reason}"
