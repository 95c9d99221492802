"""Certificate and key files -> Material, each file read once.

The loader knows PEM bundles, DER, PKCS#12, private keys (RSA, EC, Ed25519,
encrypted or not) and what is wrong with a file that holds none of them. It
never knows a rule. Private keys are reduced to their public half at once:
nothing downstream holds or can print key material.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import hashlib
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypedDict, TypeVar

from cryptography import x509
from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from nginxssl.discover.sysroot import read_nonblocking

MAX_PKI_BYTES = 16 * 1024 * 1024  # a certificate bundle larger than this is not a certificate bundle

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)
# OpenSSL's PEM reader takes "-----END X-----" only with nothing but white space after it on its line;
# anything else there fails the whole file ('PEM routines::bad end line': nginx 1.22.1 and apache2 2.4 on
# OpenSSL 3.0 refuse to start), where cryptography reads it. `cat cert.pem chain.pem` writes it when
# cert.pem lacks its final line break: "-----END CERTIFICATE----------BEGIN CERTIFICATE-----".
_CROWDED_END = re.compile(rb"^(-----END [A-Z0-9 ]+-----)[ \t]*([^\s][^\r\n]*)", re.MULTILINE)
_KEY_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY",
               b"DSA PRIVATE KEY", b"OPENSSH PRIVATE KEY"}
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")
_REMEMBERED = 100_000  # certificates per_certificate remembers before starting afresh
T = TypeVar("T")

# What Certificate.public_key() raises for a key it cannot load: ValueError for a malformed
# SubjectPublicKeyInfo (or a point off its curve), UnsupportedAlgorithm for a key type
# cryptography does not know (GOST, ...), InternalError when OpenSSL refuses the parameters
# of a DSA or DH key. Such a key matches, signs and verifies nothing.
KEY_LOAD_ERRORS = (ValueError, UnsupportedAlgorithm, InternalError)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """The public half of a private key found in a file, and what kind of key it is."""

    key: PublicKeyTypes  # only the public half (the RSA check is skipped: nothing signs)
    kind: str  # "RSA" | "EC" | "Ed25519" | "Ed448" | "DSA"
    bits: int
    fingerprint: str  # sha256 of the SubjectPublicKeyInfo, to compare keys cheaply
    encrypted: bool = False  # it was encrypted and a configured password opened it


class _Owner(TypedDict):
    """Material's mode, uid and gid, as os.stat gave them."""

    mode: int
    uid: int
    gid: int


@dataclass(frozen=True)
class Material:
    """What one file holds, or why it holds nothing usable."""

    path: str
    # ok | missing | unreadable | not-regular | too-large | empty | der | pkcs12 | garbage | bad-version
    # (certificates with a version field above v3: the server loads them, no client accepts them)
    status: str
    detail: str = ""
    certs: tuple[x509.Certificate, ...] = ()
    keys: tuple[PublicKey, ...] = ()
    locked_keys: int = 0  # encrypted keys no configured password opens
    broken_blocks: tuple[str, ...] = ()  # PEM blocks that did not parse (label: reason)
    # Where an END line goes on after its marker, which OpenSSL refuses ('bad end line'; see _CROWDED_END):
    # (line number, the marker, what follows it); None when every END line is clean.
    bad_end_line: tuple[int, str, str] | None = None
    mode: int = 0
    uid: int = -1
    gid: int = -1

    @property
    def usable(self) -> bool:
        return self.status == "ok"


def per_certificate(function: Callable[[x509.Certificate], T]) -> Callable[[x509.Certificate], T]:
    """Remember `function(cert)` for as long as the run holds the certificate.

    A leaf shared by a hundred sites is asked for its names, key identifiers and
    DER by every check and every chain step; each answer is computed once. Keyed
    by identity (hashing a certificate hashes its DER, which costs as much as some
    of the answers), with the certificate kept so its id cannot be reused.
    """
    cache: dict[int, tuple[x509.Certificate, T]] = {}

    @functools.wraps(function)
    def remembered(cert: x509.Certificate) -> T:
        hit = cache.get(id(cert))
        if hit is not None and hit[0] is cert:
            return hit[1]
        if len(cache) >= _REMEMBERED:
            cache.clear()
        value = function(cert)
        cache[id(cert)] = (cert, value)
        return value

    return remembered


@per_certificate
def der(cert: x509.Certificate) -> bytes:
    """The certificate's DER: what identifies one certificate across files (the loader's table is
    keyed by this same object, which every later question of the run shares)."""
    return cert.public_bytes(serialization.Encoding.DER)


def fingerprint_public(public_key: PublicKeyTypes) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def describe_public(public_key: PublicKeyTypes) -> tuple[str, int]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC", public_key.curve.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size
    return type(public_key).__name__, 0


def _public_key(private_key: PrivateKeyTypes, encrypted: bool) -> PublicKey:
    public = private_key.public_key()
    kind, bits = describe_public(public)
    return PublicKey(public, kind, bits, fingerprint_public(public), encrypted)


def cert_fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@per_certificate
def cert_key_fingerprint(cert: x509.Certificate) -> str | None:
    try:
        return fingerprint_public(cert.public_key())
    except KEY_LOAD_ERRORS:  # such a key matches no private key
        return None


def _decode_pem(data: bytes, passwords: tuple[bytes, ...],
                known: dict[bytes, x509.Certificate]) -> tuple[list[x509.Certificate], list[PublicKey], int, list[str]]:
    """Certificates, keys, locked keys and broken blocks of a PEM file. A certificate already
    read from another file (`known`, by its DER) is that same object: the intermediate in a
    thousand fullchains is one certificate, whose facts are computed once."""
    certs: list[x509.Certificate] = []
    keys: list[PublicKey] = []
    locked = 0
    broken: list[str] = []
    for match in _PEM_BLOCK.finditer(data):
        label = match.group(1)
        block = match.group(0)
        if label in _CERT_LABELS:
            cert = known.get(_body(match.group(2)))
            if cert is None:
                try:
                    cert = _certificate_of_block(block)
                except x509.InvalidVersion as error:
                    broken.append(f"{label.decode()}: version field {error.parsed_version} (v{error.parsed_version + 1}: only v1, v2 and v3 exist)")
                    continue
                except (ValueError, TypeError) as error:
                    broken.append(f"{label.decode()}: {error}")
                    continue
                cert = known.setdefault(der(cert), cert)
            certs.append(cert)
        elif label in _KEY_LABELS:
            key, was_locked, problem = _decode_key(block, passwords)
            if key is not None:
                keys.append(key)
            elif was_locked:
                locked += 1
            else:
                broken.append(f"{label.decode()}: {problem}")
    return certs, keys, locked, broken


def _bad_end_line(data: bytes) -> tuple[int, str, str] | None:
    """The first END line with more than its marker on it, as OpenSSL reads lines (see _CROWDED_END)."""
    match = _CROWDED_END.search(data)
    if match is None:
        return None
    after = match.group(2).decode("ascii", "replace")
    return (data.count(b"\n", 0, match.start()) + 1, match.group(1).decode("ascii"),
            after if len(after) <= 40 else after[:40] + "...")


def _body(base64: bytes) -> bytes:
    """A PEM block's bytes: the certificate's DER, for a block of one certificate (a TRUSTED
    CERTIFICATE's has OpenSSL's trust settings after it, and finds nothing). Only where to look:
    the loader's table is keyed by the DER of what it read, as the certificate gives it."""
    try:
        return binascii.a2b_base64(base64)
    except binascii.Error:  # broken padding: the block will not load either
        return b""


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """Decoding without the warnings cryptography gives about what it decodes: a common name over
    64 characters printed "UserWarning: Attribute's length must be >= 1 and <= 64" on the user's
    stderr. The verdict on such a name is the rules' (SSL3xx), not a library's warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _certificate_of_block(block: bytes) -> x509.Certificate:
    """The certificate of a PEM block, or ValueError/TypeError/InvalidVersion. cryptography decodes
    the names only when they are first read: a name that does not decode (nginx: 'PEM_read_bio_X509_AUX()
    failed ... Field=subject') is refused here, as OpenSSL refuses it when it loads the file, not deep
    inside the chain analysis. A version field above v3 never loads (InvalidVersion): nginx and
    apache2 serve such a file, browsers refuse it. The names and extensions are decoded here, quietly
    (cryptography keeps what it decoded: later reads warn no more)."""
    try:
        with _quietly():
            if block.startswith(b"-----BEGIN"):
                cert = x509.load_pem_x509_certificate(block.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE"))
            else:  # a DER Loader.block_of gave
                cert = x509.load_der_x509_certificate(block)
            cert.subject, cert.issuer  # noqa: B018 (decoded for the exceptions, see above)
    except (x509.InvalidVersion, ValueError, TypeError):
        raise
    except Exception as error:  # hostile DER reaches cryptography's Rust parser, whose
        # exception types are not part of its API: whatever it raises, the file is SSL003, not a traceback
        raise ValueError(f"does not decode ({type(error).__name__}: {error})") from error
    try:
        with _quietly():
            cert.extensions  # noqa: B018 (decoded quietly now; one that does not decode is judged where read)
    except Exception:  # noqa: BLE001, S110 (as above; the verdict on a bad extension is not the loader's)
        pass
    return cert


def _decode_key(block: bytes, passwords: tuple[bytes, ...]) -> tuple[PublicKey | None, bool, str]:
    """(public key, locked, problem): locked when encrypted and no configured password opens it."""
    if b"OPENSSH PRIVATE KEY" in block[:40]:
        # ssh-keygen's own format: OpenSSL's PEM reader, so nginx and apache2, cannot load it (nginx -t:
        # 'PEM_read_bio_PrivateKey() failed ... DECODER routines::unsupported', measured with nginx 1.22.1).
        return None, False, ("an OpenSSH private key (ssh-keygen's format), which nginx and apache2 cannot read; "
                             "convert it to PEM: `ssh-keygen -p -m PKCS8 -f FILE` (on a copy)")
    try:
        with _quietly():
            return _public_key(serialization.load_pem_private_key(block, None, unsafe_skip_rsa_key_validation=True), False), False, ""
    except TypeError:  # encrypted, and no password was given
        pass
    except (ValueError, UnsupportedAlgorithm) as error:
        return None, False, str(error)
    except Exception as error:  # noqa: BLE001 (hostile bytes reach cryptography's parsers, whose exception
        # types are not part of its API: whatever they raise, the block is broken, not a traceback)
        return None, False, f"does not decode ({type(error).__name__})"
    for password in passwords:
        try:
            with _quietly():
                return _public_key(serialization.load_pem_private_key(block, password, unsafe_skip_rsa_key_validation=True), True), False, ""
        except Exception:  # noqa: BLE001, S112 (as above: a password that does not open it, or bytes that do not decode)
            continue
    return None, True, "encrypted"


def _decode_binary(data: bytes) -> tuple[str, str]:
    """Name what a non-PEM file is, so the message can say what to convert it with."""
    try:
        with _quietly():
            cert = x509.load_der_x509_certificate(data)
            return "der", f"a DER certificate ({cert.subject.rfc4514_string() or 'no subject'})"
    except x509.InvalidVersion as error:
        return "der", f"a DER certificate with version field {error.parsed_version}"
    except Exception:  # noqa: BLE001, S110 (hostile bytes: any exception of cryptography's means "not this")
        pass
    try:
        with _quietly():
            serialization.load_der_private_key(data, None, unsafe_skip_rsa_key_validation=True)
        return "der", "a DER private key"
    except TypeError:
        return "der", "an encrypted DER private key"
    except Exception:  # noqa: BLE001, S110 (as above)
        pass
    if data[:1] == b"\x30" and _PKCS7_DATA_OID in data[:64]:
        return "pkcs12", "a PKCS#12 (.p12/.pfx) archive"
    return "garbage", "no PEM certificate or key"


class Loader:
    """Reads each file once per (path, size, mtime); passwords come from ssl_password_file."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, tuple[bytes, ...]], tuple[tuple[int, int], Material]] = {}
        # By DER: one object per certificate. (Keyed by its PEM block, the table held the text of
        # every certificate beside the DER the chain analysis asks for: 10 MiB of 10,000 certificates.)
        self._certificates: dict[bytes, x509.Certificate] = {}
        self._blocks: dict[int, bytes] = {}  # id(certificate) -> its DER, rebuilt when asked after reads

    def load(self, path: str, passwords: tuple[bytes, ...] = ()) -> Material:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return Material(path, "missing", "no such file")
        except OSError as error:
            return Material(path, "unreadable", error.strerror or str(error))
        stamp = (info.st_size, info.st_mtime_ns)
        cached = self._cache.get((path, passwords))
        if cached and cached[0] == stamp:
            return cached[1]
        material = self._read(path, info, passwords)
        self._cache[(path, passwords)] = (stamp, material)
        return material

    def _read(self, path: str, info: os.stat_result, passwords: tuple[bytes, ...]) -> Material:
        owner = _Owner(mode=stat.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid)
        if stat.S_ISDIR(info.st_mode):
            return Material(path, "not-regular", "is a directory", **owner)
        if not stat.S_ISREG(info.st_mode):
            return Material(path, "not-regular", "is not a regular file (a FIFO, socket or device)", **owner)
        if info.st_size > MAX_PKI_BYTES:
            return Material(path, "too-large", f"is {info.st_size} bytes; no certificate bundle is that large", **owner)
        try:
            data = read_nonblocking(path, MAX_PKI_BYTES + 1)
        except OSError as error:
            return Material(path, "unreadable", error.strerror or str(error), **owner)
        if not data.strip():
            return Material(path, "empty", "is empty", **owner)
        if b"-----BEGIN" not in data:
            status, detail = _decode_binary(data)
            return Material(path, status, detail, **owner)
        certs, keys, locked, broken = _decode_pem(data, passwords, self._certificates)
        if not certs and not keys and not locked:
            detail = "; ".join(broken) if broken else "holds PEM blocks but no certificate or private key"
            status = "bad-version" if broken and all(" version field " in entry for entry in broken) else "garbage"
            return Material(path, status, detail, broken_blocks=tuple(broken), **owner)
        return Material(path, "ok", "", tuple(certs), tuple(keys), locked, tuple(broken), _bad_end_line(data),
                        **owner)

    def block_of(self, cert: object) -> bytes | None:
        """The DER of a certificate this loader read (what `certificate` takes), or None (for any
        other object too: engine/parallel asks without importing cryptography). A
        second process names the certificates of its answers so (workers.py): the parent, which
        reads the same files, finds its own object, whose facts it may have computed already."""
        if len(self._blocks) != len(self._certificates):
            self._blocks = {id(cert): block for block, cert in self._certificates.items()}
        return self._blocks.get(id(cert))

    def certificate(self, block: bytes) -> x509.Certificate:
        """The certificate of a DER (block_of's) or of a PEM block: the object this loader holds for
        it, read now if need be."""
        cert = self._certificates.get(block)
        if cert is None:
            cert = _certificate_of_block(block)
            cert = self._certificates.setdefault(der(cert), cert)
        return cert

    def paths_read(self) -> tuple[str, ...]:
        """Every file read so far (what a cached result must find unchanged: engine/cache.py)."""
        return tuple(dict.fromkeys(path for path, _passwords in self._cache))

    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Every certificate read so far, once each (whose dates bound a cached result's clock)."""
        return tuple(self._certificates.values())

    def read_lines(self, path: str) -> tuple[bytes, ...] | None:
        """Passwords of an ssl_password_file, one per line; None when unreadable."""
        try:
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode) or info.st_size > 1024 * 1024:
                return None
            return tuple(line.rstrip(b"\r\n") for line in read_nonblocking(path, 1024 * 1024).splitlines() if line)
        except OSError:
            return None
