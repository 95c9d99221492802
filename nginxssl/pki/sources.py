"""Where the issuers a served chain lacks are looked for, in the order an admin would look.

The tiers of shared/DESIGN.md "Fixes", each an Index of certificates by subject:

1. the served file itself (pki.chain.diagnose looks there first; with apache2, what the
   certificate file holds after the leaf when SSLCertificateChainFile replaces it: UNSENT),
2. sibling files in the directory the config names the certificate in (for certbot's
   live/NAME/cert.pem link: live/NAME, not the archive), most specific first: chain.pem,
   `*intermediate*`, `*.ca-bundle`, `*bundle*`, fullchain.pem, `*chain*`,
3. nginx `ssl_trusted_certificate` (Apache `SSLCACertificateFile`) of the sites that serve it,
4. `--intermediates DIR` (every file below it),
5. other certificate files the same configuration serves,
6. the trust store (pki.chain.diagnose's last tier; read once per process here),
7. AIA caIssuers downloads, only with `--fetch` (http only, a deadline per download and per
   run, capped size);
   without it nothing here opens a network connection.

Every file is read through the Loader (cached by path, size and mtime). A source is named
as the configuration names it (without --root); `disk` maps it back to the file.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID

from nginxssl.discover.sysroot import resolve_links, to_disk
from nginxssl.model.site import PathRef
from nginxssl.pki.chain import Candidate
from nginxssl.pki.load import Loader, Material, der
from nginxssl.pki.trust import TrustStore, load_trust_store, system_bundle_path

# Sibling files that commonly hold intermediates (matched case-insensitively on the name),
# most specific first: a file of intermediates is a better source to name than a fullchain.
SIBLING_PATTERNS = ("chain.pem", "*intermediate*", "*.ca-bundle", "*bundle*", "fullchain.pem", "*chain*")
MAX_SIBLINGS = 256  # per directory: a directory of thousands of bundles is not "siblings"
MAX_POOL_FILES = 20000  # per --intermediates DIR
FETCH_TIMEOUT = 5.0  # seconds: connecting, and each read, of an AIA download
FETCH_DEADLINE = 15.0  # seconds: one AIA download, whole
FETCH_RUN_DEADLINE = 60.0  # seconds: every AIA download of one run together
FETCH_REDIRECTS = 3
FETCH_MAX_BYTES = 256 * 1024  # an issuer certificate (or a PKCS#7 bundle of a few) is a few KB

# How an admin reads where a candidate came from.
SIBLING = "a sibling file"
TRUSTED_CERTIFICATE = "ssl_trusted_certificate, which nginx never sends"
APACHE_CA_FILE = "SSLCACertificateFile"
INTERMEDIATES_DIR = "--intermediates"
SERVED_ELSEWHERE = "served by another site of this configuration"
UNSENT = "the certificate file itself, whose chain mod_ssl replaces with SSLCertificateChainFile's"
AIA = "downloaded from the AIA caIssuers URL"


# ---------------------------------------------------------------- trust store, once per process

_TRUST_CACHE: dict[tuple, TrustStore] = {}  # keyed by the files' names, sizes and mtimes


def _stamp(path: str) -> tuple:
    try:
        info = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL byte in the name; load_trust_store says so
        return (path, None)
    return (path, info.st_size, info.st_mtime_ns)


def trust_store(ca_files: tuple[str, ...], system: bool) -> TrustStore:
    """pki.trust.load_trust_store, read once per process while the files are unchanged.

    Raises TrustStoreError for a --ca-file that cannot serve as an anchor.
    """
    bundle = system_bundle_path() if system else None
    key = (system, _stamp(bundle) if bundle else None, tuple(_stamp(path) for path in ca_files))
    store = _TRUST_CACHE.get(key)
    if store is None:
        store = _TRUST_CACHE[key] = load_trust_store(tuple(ca_files), system=system)
    return store


# ---------------------------------------------------------------- candidate indexes


def _name_key(name: x509.Name) -> tuple:
    # Equal under x509.Name's own equality (what the chain builder compares), so
    # a PrintableString and a UTF8String spelling of one name share a bucket.
    try:
        return tuple((attribute.oid.dotted_string, attribute.value) for attribute in name)
    except Exception:  # a malformed attribute raises whatever its decoder raises: such a name matches nothing
        return ()


class Index:
    """Certificates from one kind of source (SIBLING, ...), looked up by subject name."""

    __slots__ = ("kind", "by_subject", "_seen")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.by_subject: dict[tuple, list[tuple[Candidate, bytes]]] = {}
        self._seen: set[bytes] = set()

    def add(self, certs: Iterable[x509.Certificate], source: str) -> None:
        # One entry per certificate: the same intermediate in a thousand fullchains
        # is one candidate, named by the first file it was found in.
        for cert in certs:
            encoded = der(cert)
            if encoded in self._seen:
                continue
            self._seen.add(encoded)
            self.by_subject.setdefault(_name_key(cert.subject), []).append((Candidate(cert, source), encoded))


def relevant(served: tuple[x509.Certificate, ...], tiers: list[Index],
             exclude: set[str]) -> tuple[tuple[Candidate, ...], dict[str, str]]:
    """The pool candidates that can lie on an issuer path above `served`, first source
    first, and how each source was found (`exclude`: the served files themselves).

    Following issuer names upward through the indexes keeps the path builder's
    work proportional to the chain, not to the size of the pool.
    """
    wanted = [_name_key(cert.issuer) for cert in served]
    looked: set[tuple] = set()
    chosen: list[Candidate] = []
    origins: dict[str, str] = {}
    known = {der(cert) for cert in served}
    while wanted:
        subject = wanted.pop(0)
        if subject in looked:
            continue
        looked.add(subject)
        for tier in tiers:
            for candidate, encoded in tier.by_subject.get(subject, ()):
                if candidate.source in exclude and tier.kind != UNSENT:
                    continue
                if encoded in known:
                    continue
                known.add(encoded)
                chosen.append(candidate)
                origins.setdefault(candidate.source, tier.kind)
                wanted.append(_name_key(candidate.cert.issuer))
    return tuple(chosen), origins


# ---------------------------------------------------------------- AIA


def ca_issuers_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """The caIssuers URLs of the Authority Information Access extension."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except Exception:  # absent (ExtensionNotFound) or malformed (ValueError, or the decoder's own): no URL
        return ()
    urls = []
    for description in access:
        if description.access_method == AuthorityInformationAccessOID.CA_ISSUERS and isinstance(
            description.access_location, x509.UniformResourceIdentifier
        ):
            urls.append(description.access_location.value)
    return tuple(urls)


def parse_downloaded(data: bytes) -> list[x509.Certificate]:
    """Certificates in an AIA download: DER, PEM, or a PKCS#7 bundle (.p7c) of either."""
    from cryptography.hazmat.primitives.serialization import pkcs7  # only with --fetch: it imports email.*

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        if b"-----BEGIN" in data:
            try:
                return list(x509.load_pem_x509_certificates(data))
            except ValueError:
                try:
                    return list(pkcs7.load_pem_pkcs7_certificates(data))
                except ValueError:
                    return []
        try:
            return [x509.load_der_x509_certificate(data)]
        except ValueError:
            pass
        try:
            return list(pkcs7.load_der_pkcs7_certificates(data))
        except ValueError:
            return []


def http_fetch(url: str, deadline: float = FETCH_DEADLINE) -> bytes:
    """GET an http:// URL: at most `deadline` seconds from connecting to the last byte, however
    slowly the server sends (a per-read timeout alone lets one byte every few seconds go on for
    ever), at most FETCH_MAX_BYTES, at most FETCH_REDIRECTS redirects to http:// URLs.
    Raises OSError (TimeoutError past the deadline) or ValueError."""
    import http.client  # only with --fetch
    import socket
    import threading
    from urllib.parse import urljoin, urlsplit

    end = time.monotonic() + deadline
    for _redirect in range(FETCH_REDIRECTS + 1):
        if not url.lower().startswith("http://"):
            raise ValueError("only http:// caIssuers URLs are fetched (that is what CAs publish)")
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"{url}: no host")
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete answer within {deadline:g} s")
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                                timeout=min(FETCH_TIMEOUT, remaining))
        expired = threading.Event()

        def cut(connection: http.client.HTTPConnection = connection, expired: threading.Event = expired) -> None:
            # Shutting the socket down ends whatever read is blocked on it, header or body.
            expired.set()
            if connection.sock is not None:
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        watchdog = threading.Timer(remaining, cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                               headers={"User-Agent": "sslint (AIA caIssuers)"})
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                url = urljoin(url, response.getheader("Location", ""))
                continue
            if response.status != 200:
                raise OSError(f"HTTP {response.status} {response.reason}")
            data = bytearray()
            while chunk := response.read1(64 * 1024):
                data += chunk
                if len(data) > FETCH_MAX_BYTES:
                    raise ValueError(f"larger than {FETCH_MAX_BYTES} bytes")
            if expired.is_set():
                raise TimeoutError(f"no complete answer within {deadline:g} s")
            return bytes(data)
        except (OSError, http.client.HTTPException) as error:
            if expired.is_set():
                raise TimeoutError(f"no complete answer within {deadline:g} s") from None
            if isinstance(error, OSError):
                raise
            raise OSError(f"not an HTTP answer ({type(error).__name__})") from None
        finally:
            watchdog.cancel()
            connection.close()
    raise OSError(f"more than {FETCH_REDIRECTS} redirects")


# ---------------------------------------------------------------- the files of one run


@dataclass
class Sources:
    """The files around the served certificates, read once per run and shared by every pair."""

    loader: Loader
    root: str | None = None  # --root: config paths live under it; sources are named as the config does
    intermediates: tuple[str, ...] = ()
    fetcher: Callable[[str], bytes] = http_fetch  # replaced in tests; only called with --fetch
    _dir_index: Index | None = field(default=None, repr=False)
    _siblings: dict[str, list[tuple[str, str]]] = field(default_factory=dict, repr=False)
    _disk: dict[str, str] = field(default_factory=dict, repr=False)  # source as shown -> file on disk
    _downloads: dict[str, tuple[list[x509.Certificate], str]] = field(default_factory=dict, repr=False)
    _fetch_started: float | None = field(default=None, repr=False)  # time.monotonic() of the run's first download

    def shown(self, path: str) -> str:
        """A file as the configuration names it: under --root, without the root."""
        if self.root is not None:
            root = os.path.abspath(self.root)
            absolute = os.path.abspath(path)
            if absolute == root or absolute.startswith(root + os.sep):
                return "/" + os.path.relpath(absolute, root)
        return path

    def source(self, disk: str) -> str:
        """`disk` as a candidate's source names it (remembered, so `disk` finds the file again)."""
        shown = self.shown(disk)
        self._disk.setdefault(shown, disk)
        return shown

    def disk(self, source: str) -> str | None:
        """The file a source (as shown) was read from; None for a URL or an unknown name."""
        return self._disk.get(source)

    def written_directory(self, ref: PathRef, prefix: str | None) -> str:
        """The directory the config names the file in: for certbot's live/NAME/cert.pem
        link, live/NAME (where fullchain.pem is), not the archive directory the link points into."""
        raw_directory = os.path.dirname(ref.raw)
        if prefix is not None and not ref.dynamic and not ref.inline:
            try:
                return to_disk(raw_directory or ".", prefix, self.root)
            except OSError:
                pass
        return os.path.dirname(ref.path or "") or "."

    def sibling_files(self, directory: str, cert_path: str) -> list[tuple[str, str]]:
        """(as shown, on disk) for the files beside the certificate that may hold intermediates."""
        found = self._siblings.get(directory)
        if found is None:
            ranked = []
            try:
                entries = os.listdir(directory)
            except OSError:
                entries = []
            for entry in entries:
                lowered = entry.lower()
                rank = next((index for index, pattern in enumerate(SIBLING_PATTERNS)
                             if fnmatch.fnmatchcase(lowered, pattern)), None)
                if rank is not None:
                    ranked.append((rank, entry))
            found = []
            for _rank, entry in sorted(ranked)[:MAX_SIBLINGS]:
                path = os.path.join(directory, entry)
                disk = path
                if self.root is not None:
                    try:
                        disk = resolve_links(path, self.root)  # absolute link targets stay under --root
                    except OSError:
                        continue
                shown = self.shown(path)
                self._disk.setdefault(shown, disk)
                found.append((shown, disk))
            self._siblings[directory] = found
        if not found:
            return []
        own = os.path.realpath(cert_path)
        return [(shown, disk) for shown, disk in found if os.path.realpath(disk) != own]

    def listed_directories(self) -> tuple[str, ...]:
        """Every directory looked into so far (for sibling files; the --intermediates ones): what a
        cached result watches, since a file added there may change a diagnosis."""
        return (*self._siblings, *self.intermediates)

    def certs_of(self, path: str) -> tuple[x509.Certificate, ...]:
        """The certificates a regular file holds (none for anything else)."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return ()
        except OSError:
            return ()
        material = self.loader.load(path)
        return material.certs if material.usable else ()

    def only_certs(self, path: str) -> bool:
        """The file holds certificates and nothing else (no private key to serve by accident)."""
        held = self.loader.load(path)
        return held.usable and bool(held.certs) and not held.keys and not held.locked_keys and not held.broken_blocks

    def intermediates_index(self) -> Index:
        """Every certificate below the --intermediates directories, read on first use."""
        if self._dir_index is None:
            index = Index(INTERMEDIATES_DIR)
            for directory in self.intermediates:
                count = 0  # files under --intermediates are named as found: they are not config paths
                for base, dirs, files in os.walk(directory):
                    if count >= MAX_POOL_FILES:
                        break  # and walk no further: `--intermediates /` would otherwise visit every directory
                    dirs.sort()
                    for name in sorted(files):
                        count += 1
                        if count > MAX_POOL_FILES:
                            break
                        path = os.path.join(base, name)
                        self._disk.setdefault(path, path)
                        index.add(self.certs_of(path), path)
            self._dir_index = index
        return self._dir_index

    def served_elsewhere(self, paths: Iterable[str], material: Mapping[str, Material]) -> Index:
        """Every certificate of the files the configuration serves, where a pair's missing issuer may be."""
        index = Index(SERVED_ELSEWHERE)
        for path in paths:
            held = material.get(path)
            if held is not None and held.usable:
                index.add(held.certs, self.source(path))
        return index

    def download(self, url: str) -> tuple[list[x509.Certificate], str]:
        """The certificates at a caIssuers URL, and a note of what came of it (once per URL and run)."""
        if url not in self._downloads:
            now = time.monotonic()
            if self._fetch_started is None:
                self._fetch_started = now
            if now - self._fetch_started >= FETCH_RUN_DEADLINE:
                # Each download has its own deadline; this one bounds a run that meets many slow servers.
                return [], f"{url}: not fetched: this run's {FETCH_RUN_DEADLINE:g} s for AIA downloads are spent"
            try:
                certs = parse_downloaded(self.fetcher(url))
                note = f"{url}: {len(certs)} certificate(s)" if certs else f"{url}: no certificate in the response"
            except Exception as error:  # the network's failures are a note in the finding, never a crash
                certs, note = [], f"{url}: {getattr(error, 'reason', None) or error or type(error).__name__}"
            self._downloads[url] = (certs, note)
        return self._downloads[url]
