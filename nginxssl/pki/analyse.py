"""The chain each served certificate file makes, and where missing intermediates were found.

Owns the load-stage half of chain analysis. For every distinct (certificate,
key, chain file) triple the sites serve, once per run however many sites share
it: the certificates the server sends, the public half of its key, and a pool
of intermediates gathered from disk in the order an admin would look —

1. the served file itself (chain.diagnose looks there first),
2. sibling files in the directory the config names the certificate in (for
   certbot's live/NAME/cert.pem link: live/NAME, not the archive), most
   specific first: chain.pem, `*intermediate*`, `*.ca-bundle`, `*bundle*`,
   fullchain.pem, `*chain*`,
3. nginx `ssl_trusted_certificate` (Apache `SSLCACertificateFile`) of the sites
   that serve it,
4. `--intermediates DIR` (every file below it),
5. other certificate files the same configuration serves,
6. the trust store (chain.diagnose's last tier),
7. AIA caIssuers downloads, only with `--fetch` (http only, short timeout);
   without it nothing here opens a network connection.

Then pki.chain.diagnose explains the chain. What is "served" follows the
server: nginx sends the file as it is; mod_ssl lets OpenSSL complete a
certificate file without intermediates from SSLCACertificateFile (proven
against a running apache2 by the SSL201 rule cases), and sends
SSLCertificateChainFile's certificates instead of any the certificate file
holds after its first (proven by tests/test_fix_e2e.py). Every file is read
through the Loader (cached by path, size and mtime); the checks only ever see
the results. Paths in messages are the config's own (without --root).

For the fullchain fix (checks/fullchain.py) the same pass prepares what needs
reading files: the chain to serve (`target`; for a bundle whose key is a CA's,
the real leaf's chain with the leaf's own key file, looked for beside the key
and the certificate), an existing sibling holding exactly that chain, and a
free `<stem>.fullchain[-N].pem` name beside the leaf.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID

from nginxssl.discover.sysroot import resolve_links, to_disk
from nginxssl.model.progress import Report, silent
from nginxssl.model.site import CertRef, PathRef, Site
from nginxssl.pki.chain import (
    MAX_PATH_LENGTH,
    Candidate,
    ChainReport,
    common_name,
    diagnose,
    is_ca,
    is_self_signed,
    issued,
    name_text,
)
from nginxssl.pki.load import Loader, Material, per_certificate
from nginxssl.pki.trust import (
    TrustStore,
    load_trust_store,
    public_key_der,
    system_bundle_path,
)

# Sibling files that commonly hold intermediates (matched case-insensitively on the name),
# most specific first: a file of intermediates is a better source to name than a fullchain.
SIBLING_PATTERNS = ("chain.pem", "*intermediate*", "*.ca-bundle", "*bundle*", "fullchain.pem", "*chain*")
MAX_SIBLINGS = 256  # per directory: a directory of thousands of bundles is not "siblings"
MAX_KEY_BYTES = 64 * 1024  # a private key file is a few KB; anything larger is not looked into
FULLCHAIN_SLOTS = 9  # <stem>.fullchain.pem, <stem>.fullchain-2.pem, ... <stem>.fullchain-9.pem
MAX_POOL_FILES = 20000  # per --intermediates DIR
FETCH_TIMEOUT = 5.0  # seconds per AIA download
FETCH_MAX_BYTES = 256 * 1024  # an issuer certificate (or a PKCS#7 bundle of a few) is a few KB
FETCH_ROUNDS = 4  # issuers fetched one above another, at most

# How an admin reads where a candidate came from.
SIBLING = "a sibling file"
TRUSTED_CERTIFICATE = "ssl_trusted_certificate, which nginx never sends"
APACHE_CA_FILE = "SSLCACertificateFile"
INTERMEDIATES_DIR = "--intermediates"
SERVED_ELSEWHERE = "served by another site of this configuration"
UNSENT = "the certificate file itself, whose chain mod_ssl replaces with SSLCertificateChainFile's"
AIA = "downloaded from the AIA caIssuers URL"

ServedKey = tuple[str | None, str | None, str | None]


def served_key(pair: CertRef) -> ServedKey:
    """What identifies one served chain: the certificate, key and chain files on disk."""
    return (
        pair.cert.path,
        pair.key.path if pair.key is not None else None,
        pair.chain.path if pair.chain is not None else None,
    )


@dataclass(frozen=True)
class ServedChain:
    """One served certificate file, diagnosed, with where its missing pieces were found."""

    cert_path: str
    key_path: str | None
    chain_path: str | None
    report: ChainReport
    origins: Mapping[str, str]  # Candidate.source (a path or URL) -> how it was found (SIBLING, ...)
    searched: tuple[str, ...]  # where issuers were looked for, in order, as an admin reads it
    ready_fullchain: str | None = None  # as the config would name it: a file holding exactly report.fullchain
    ready_chain: str | None = None  # on disk: an existing file holding exactly the missing intermediates
    aia_urls: tuple[str, ...] = ()  # caIssuers URLs of the certificate whose issuer was found nowhere
    fetch_notes: tuple[str, ...] = ()  # what --fetch tried and what came of it
    auto_chain: str | None = None  # apache2: the SSLCACertificateFile OpenSSL completed the sent chain from
    trust_sources: tuple[str, ...] = ()  # files the trust store was read from
    system_trust: bool = True
    public_anchor: bool = False  # the path ends at a root of the system bundle: a publicly trusted CA
    # For the fixer (checks/fullchain.py), prepared here because finding them means reading files:
    target: ChainReport | None = None  # the chain to serve instead: `report`, or the real leaf's own chain
    leaf_key: str | None = None  # on disk: the real leaf's key, found beside a bundle whose key is a CA's
    leaf_key_raw: str | None = None  # leaf_key as the config would name it
    ready_fullchain_disk: str | None = None  # ready_fullchain on disk
    fullchain_slot: str | None = None  # on disk: a free <stem>.fullchain.pem beside the leaf (never an existing file)
    cert_file_ready: bool = False  # the certificate file itself holds exactly target.fullchain (Apache: a chain file spoils it)

    def origin(self, source: str) -> str:
        return self.origins.get(source, "")


# ---------------------------------------------------------------- trust store, once per process

_TRUST_CACHE: dict[tuple, TrustStore] = {}


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
    except Exception:
        return ()


@per_certificate
def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class _Index:
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
            der = _der(cert)
            if der in self._seen:
                continue
            self._seen.add(der)
            self.by_subject.setdefault(_name_key(cert.subject), []).append((Candidate(cert, source), der))


def _relevant(served: tuple[x509.Certificate, ...], tiers: list[_Index],
              exclude: set[str | None]) -> tuple[tuple[Candidate, ...], dict[str, str]]:
    """The pool candidates that can lie on an issuer path above `served`, first source
    first, and how each source was found.

    Following issuer names upward through the indexes keeps the path builder's
    work proportional to the chain, not to the size of the pool.
    """
    wanted = [_name_key(cert.issuer) for cert in served]
    looked: set[tuple] = set()
    chosen: list[Candidate] = []
    origins: dict[str, str] = {}
    known = {_der(cert) for cert in served}
    while wanted:
        subject = wanted.pop(0)
        if subject in looked:
            continue
        looked.add(subject)
        for tier in tiers:
            for candidate, der in tier.by_subject.get(subject, ()):
                if candidate.source in exclude and tier.kind != UNSENT:
                    continue
                if der in known:
                    continue
                known.add(der)
                chosen.append(candidate)
                origins.setdefault(candidate.source, tier.kind)
                wanted.append(_name_key(candidate.cert.issuer))
    return tuple(chosen), origins


# ---------------------------------------------------------------- AIA


def ca_issuers_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """The caIssuers URLs of the Authority Information Access extension."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except Exception:
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
    from cryptography.hazmat.primitives.serialization import (
        pkcs7,  # only with --fetch: it imports email.*
    )

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


def http_fetch(url: str) -> bytes:
    """GET an http:// URL with a short timeout and a size cap. Raises OSError/ValueError."""
    if not url.lower().startswith("http://"):
        raise ValueError("only http:// caIssuers URLs are fetched (that is what CAs publish)")
    import urllib.request  # only with --fetch: importing it costs every run some 30 ms

    request = urllib.request.Request(url, headers={"User-Agent": "sslint (AIA caIssuers)"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 (http only, checked)
        data = response.read(FETCH_MAX_BYTES + 1)
    if len(data) > FETCH_MAX_BYTES:
        raise ValueError(f"larger than {FETCH_MAX_BYTES} bytes")
    return data


# ---------------------------------------------------------------- the analyser


@dataclass
class ChainAnalyser:
    """Diagnoses served chains for one run: trust store, pools and results shared by every target."""

    loader: Loader
    now: datetime
    ca_files: tuple[str, ...] = ()
    system_trust: bool = True
    intermediates: tuple[str, ...] = ()
    fetch: bool = False
    root: str | None = None  # --root: config paths live under it; messages name them as the config does
    fetcher: Callable[[str], bytes] = http_fetch  # replaced in tests; only called with fetch=True
    _trust: TrustStore | None = field(default=None, repr=False)
    _dir_index: _Index | None = field(default=None, repr=False)
    _siblings: dict[str, list[tuple[str, str]]] = field(default_factory=dict, repr=False)
    _disk: dict[str, str] = field(default_factory=dict, repr=False)  # source as shown -> file on disk
    _downloads: dict[str, tuple[list[x509.Certificate], str]] = field(default_factory=dict, repr=False)
    _results: dict[tuple, ServedChain] = field(default_factory=dict, repr=False)

    @property
    def trust(self) -> TrustStore:
        """The trust store (read on first use; TrustStoreError for a bad --ca-file)."""
        if self._trust is None:
            self._trust = trust_store(self.ca_files, self.system_trust)
        return self._trust

    # -- sources

    def shown(self, path: str) -> str:
        """A file as the configuration names it: under --root, without the root."""
        if self.root is not None:
            root = os.path.abspath(self.root)
            absolute = os.path.abspath(path)
            if absolute == root or absolute.startswith(root + os.sep):
                return "/" + os.path.relpath(absolute, root)
        return path

    def _source(self, disk: str) -> str:
        shown = self.shown(disk)
        self._disk.setdefault(shown, disk)
        return shown

    def _written_directory(self, ref: PathRef, prefix: str | None) -> str:
        """The directory the config names the certificate in: for certbot's live/NAME/cert.pem
        link, live/NAME (where fullchain.pem is), not the archive directory the link points into."""
        raw_directory = os.path.dirname(ref.raw)
        if prefix is not None and not ref.dynamic and not ref.inline:
            try:
                return to_disk(raw_directory or ".", prefix, self.root)
            except OSError:
                pass
        return os.path.dirname(ref.path) or "."

    def _sibling_files(self, directory: str, cert_path: str) -> list[tuple[str, str]]:
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

    def _certs_of(self, path: str) -> tuple[x509.Certificate, ...]:
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return ()
        except OSError:
            return ()
        material = self.loader.load(path)
        return material.certs if material.usable else ()

    def _intermediates_index(self) -> _Index:
        if self._dir_index is None:
            index = _Index(INTERMEDIATES_DIR)
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
                        index.add(self._certs_of(path), path)
            self._dir_index = index
        return self._dir_index

    def _download(self, url: str) -> tuple[list[x509.Certificate], str]:
        if url not in self._downloads:
            try:
                certs = parse_downloaded(self.fetcher(url))
                note = f"{url}: {len(certs)} certificate(s)" if certs else f"{url}: no certificate in the response"
            except Exception as error:  # the network's failures are a note in the finding, never a crash
                certs, note = [], f"{url}: {getattr(error, 'reason', None) or error or type(error).__name__}"
            self._downloads[url] = (certs, note)
        return self._downloads[url]

    # -- analysis

    def analyse(self, sites: tuple[Site, ...], material: Mapping[str, Material],
                prefix: str | None = None,
                share: Callable[[ServedKey], bool] | None = None,
                progress: Report = silent) -> dict[ServedKey, ServedChain]:
        """A ServedChain for every certificate pair the sites name whose certificate file loaded.

        `prefix` is the directory relative paths in the config resolve against (Config.prefix).
        `share`, when given, picks the pairs to diagnose now; the others are answered only if
        already diagnosed (lint.py splits the pairs between two processes with it, then hands
        each process's diagnoses to the other's analyser with `remember`). `progress(stage, done,
        total)` hears of each pair diagnosed.
        """
        pairs: dict[ServedKey, tuple[CertRef, list[Site]]] = {}
        for site in sites:
            for pair in site.certs:
                if pair.cert.path is None:
                    continue
                pairs.setdefault(served_key(pair), (pair, []))[1].append(site)

        served_elsewhere: _Index | None = None  # built when the first pair is diagnosed here

        results: dict[ServedKey, ServedChain] = {}
        for number, (key, (pair, users)) in enumerate(pairs.items(), start=1):
            progress("checking certificate chains", number, len(pairs))
            trusted = tuple(dict.fromkeys(
                site.trusted_certificate.path for site in users
                if site.trusted_certificate is not None and site.trusted_certificate.path
            ))
            cache_key = (key, trusted)
            if cache_key not in self._results:
                if share is not None and not share(key):
                    continue
                if served_elsewhere is None:
                    served_elsewhere = self._served_elsewhere(pairs, material)
                chain = self._analyse_pair(pair, users, material, trusted, served_elsewhere, prefix)
                if chain is None:
                    continue
                self._results[cache_key] = chain
            results[key] = self._results[cache_key]
        return results

    def _served_elsewhere(self, pairs: Mapping[ServedKey, tuple[CertRef, list[Site]]],
                          material: Mapping[str, Material]) -> _Index:
        """Every certificate the configuration serves, where a pair's missing issuer may be found."""
        index = _Index(SERVED_ELSEWHERE)
        for pair, _users in pairs.values():
            for path in (pair.cert.path, pair.chain.path if pair.chain else None):
                held = material.get(path) if path else None
                if held is not None and held.usable:
                    index.add(held.certs, self._source(path))
        return index

    def diagnosed(self) -> dict[tuple, ServedChain]:
        """Every diagnosis made so far, by (served key, trusted files): what `remember` takes."""
        return dict(self._results)

    def remember(self, diagnosed: Mapping[tuple, ServedChain]) -> None:
        """Take diagnoses made by another analyser with the same settings (a second process)."""
        for cache_key, chain in diagnosed.items():
            self._results.setdefault(cache_key, chain)

    def _served(self, pair: CertRef, material: Mapping[str, Material]) -> tuple[tuple[x509.Certificate, ...], object]:
        held = material.get(pair.cert.path)
        if held is None or not held.usable or not held.certs:
            return (), None
        served = held.certs
        if pair.chain is not None and pair.chain.path:
            chain = material.get(pair.chain.path)
            if chain is not None and chain.usable:
                # mod_ssl sends SSLCertificateChainFile's certificates instead of any the certificate
                # file brings after its first (proven against apache2 2.4 in tests/test_fix_e2e.py).
                served = served[:1] + chain.certs
        key_public = None
        if pair.key is not None:
            keys = material.get(pair.key.path) if pair.key.path else None
            if keys is not None and keys.usable and keys.keys:
                key_public = keys.keys[0].key
        elif held.keys:  # Apache: the key may sit in the certificate file
            key_public = held.keys[0].key
        return served, key_public

    def _analyse_pair(self, pair: CertRef, users: list[Site], material: Mapping[str, Material],
                      trusted: tuple[str, ...], served_elsewhere: _Index, prefix: str | None) -> ServedChain | None:
        served, key_public = self._served(pair, material)
        if not served:
            return None
        own = {self.shown(path) for path in (pair.cert.path, pair.chain.path if pair.chain else None) if path}
        auto_chain = None
        if len(served) == 1 and trusted and any(site.server == "apache" for site in users):
            # mod_ssl leaves OpenSSL's automatic chain building on: a certificate file
            # without intermediates is sent with the chain OpenSSL builds from
            # SSLCACertificateFile (root included). nginx turns it off: what
            # ssl_trusted_certificate holds is never sent.
            completed = _auto_chain(served[0], [cert for path in trusted for cert in self._certs_of(path)])
            if len(completed) > 1:
                served, auto_chain = completed, self.shown(trusted[0])

        searched: list[str] = []
        tiers: list[_Index] = []

        held = material.get(pair.cert.path)
        if held is not None and len(held.certs) > len(served[:1]) and served[1:] != held.certs[1:]:
            unsent = _Index(UNSENT)  # apache2: what the file holds after the leaf but is not sent
            unsent.add(held.certs[1:], self._source(pair.cert.path))
            tiers.append(unsent)
            searched.append(f"the rest of {self.shown(pair.cert.path)}")

        siblings = _Index(SIBLING)
        directory = self._written_directory(pair.cert, prefix)
        sibling_files = [entry for entry in self._sibling_files(directory, pair.cert.path) if entry[0] not in own]
        sibling_certs: dict[str, tuple[x509.Certificate, ...]] = {}
        for shown, disk in sibling_files:
            sibling_certs[shown] = self._certs_of(disk)
            siblings.add(sibling_certs[shown], shown)
        tiers.append(siblings)
        searched.append(f"sibling files in {self.shown(directory)}" if sibling_files
                        else f"{self.shown(directory)} (no chain or bundle files there)")

        if trusted:
            apache = any(site.server == "apache" for site in users)
            index = _Index(APACHE_CA_FILE if apache else TRUSTED_CERTIFICATE)
            for path in trusted:
                index.add(self._certs_of(path), self._source(path))
            tiers.append(index)
            searched.append(("SSLCACertificateFile " if apache else "ssl_trusted_certificate ")
                            + ", ".join(self.shown(path) for path in trusted))

        if self.intermediates:
            tiers.append(self._intermediates_index())
            searched.extend(f"--intermediates {directory}" for directory in self.intermediates)

        tiers.append(served_elsewhere)
        searched.append("the other certificate files this configuration serves")

        trust = self.trust
        store = ", ".join(trust.sources) if trust.sources else "no anchors"
        searched.append(f"the trust store ({store})" if self.system_trust else f"the --ca-file roots ({store})")

        pool, origins = _relevant(served, tiers, own)
        report = diagnose(served, key_public, pool, trust, self.now)

        aia_urls: tuple[str, ...] = ()
        fetch_notes: list[str] = []
        if report.unresolved_issuer is not None:
            aia_urls = ca_issuers_urls(report.unresolved_issuer.subject)
            if self.fetch:
                fetched = _Index(AIA)
                tiers.append(fetched)
                for _round in range(FETCH_ROUNDS):
                    unresolved = report.unresolved_issuer
                    if unresolved is None:
                        break
                    urls = ca_issuers_urls(unresolved.subject)
                    if not urls:
                        fetch_notes.append(f"{_label(unresolved.subject)} names no caIssuers URL to fetch")
                        break
                    added = False
                    for url in urls:
                        certs, note = self._download(url)
                        fetch_notes.append(note)
                        if certs:
                            fetched.add(certs, url)
                            added = True
                    if not added:
                        break
                    pool, origins = _relevant(served, tiers, own)
                    report = diagnose(served, key_public, pool, trust, self.now)
                searched.append("AIA caIssuers downloads (--fetch)")
                if report.unresolved_issuer is None:
                    aia_urls = ()

        target, leaf_key, leaf_key_raw = report, None, None
        if report.leaf_is_ca and report.key_matches_index is not None:
            # The key belongs to a CA of the bundle (badssl.com's reversed chain): the chain to
            # serve is the real leaf's, with the real leaf's own key, if one lies beside them.
            target = None
            found = self._leaf_key(served, pair, prefix)
            if found is not None:
                leaf, key_public, leaf_key, leaf_key_raw = found
                first = served.index(leaf)  # a bundle may hold the leaf twice: the other copy stays
                others = served[:first] + served[first + 1:]
                target = diagnose((leaf, *others), key_public, pool, trust, self.now)

        ready = ready_disk = slot = None
        cert_file_ready = False
        needs_fix = report.missing or not report.order_ok or report.extras or report.root_sent
        if needs_fix and target is not None:
            wanted = [_der(cert) for cert in target.fullchain]
            cert_file_ready = held is not None and [_der(cert) for cert in held.certs] == wanted
            for path, certs in sibling_certs.items():
                if certs and [_der(cert) for cert in certs] == wanted and self._only_certs(self._disk[path]):
                    ready, ready_disk = path, self._disk[path]
                    break
            if ready is None and not pair.cert.dynamic and not pair.cert.inline:
                slot = _free_slot(directory, os.path.basename(pair.cert.raw))

        ready_chain = None
        sources = list(dict.fromkeys(link.origin for link in report.missing))
        if len(sources) == 1 and sources[0] in self._disk:
            certs = sibling_certs.get(sources[0]) or self._certs_of(self._disk[sources[0]])
            if [_der(cert) for cert in certs] == [_der(link.cert) for link in report.missing]:
                ready_chain = self._disk[sources[0]]

        return ServedChain(
            cert_path=pair.cert.path,
            key_path=pair.key.path if pair.key is not None else None,
            chain_path=pair.chain.path if pair.chain is not None else None,
            report=report,
            origins=origins,
            searched=tuple(searched),
            ready_fullchain=ready,
            ready_chain=ready_chain,
            aia_urls=aia_urls,
            fetch_notes=tuple(fetch_notes),
            auto_chain=auto_chain,
            trust_sources=trust.sources,
            system_trust=self.system_trust,
            public_anchor=report.anchor is not None and trust.is_public(report.anchor),
            target=target,
            leaf_key=leaf_key,
            leaf_key_raw=leaf_key_raw,
            ready_fullchain_disk=ready_disk,
            fullchain_slot=slot,
            cert_file_ready=cert_file_ready,
        )

    def _only_certs(self, path: str) -> bool:
        """The file holds certificates and nothing else (no private key to serve by accident)."""
        held = self.loader.load(path)
        return held.usable and bool(held.certs) and not held.keys and not held.locked_keys and not held.broken_blocks

    def _leaf_key(self, served: tuple[x509.Certificate, ...], pair: CertRef,
                  prefix: str | None) -> tuple[x509.Certificate, object, str, str] | None:
        """(real leaf, its public key, key file on disk, as the config would name it) for a bundle
        whose configured key is a CA's: a key file in the key's directory or the certificate's
        whose public key is that of a non-CA certificate of the bundle."""
        wanted = {}
        for cert in served:
            if not is_ca(cert):
                spki = public_key_der(cert)
                if spki is not None:
                    wanted.setdefault(spki, cert)
        if not wanted:
            return None
        places = []
        for ref in (pair.key, pair.cert):
            if ref is not None and not ref.dynamic and not ref.inline:
                places.append((self._written_directory(ref, prefix), os.path.dirname(ref.raw)))
        seen: set[str] = set()
        for directory, raw_directory in places:
            try:
                entries = sorted(os.listdir(directory))[:MAX_SIBLINGS]
            except OSError:
                continue
            for entry in entries:
                path = os.path.join(directory, entry)
                real = os.path.realpath(path)
                if real in seen:
                    continue
                seen.add(real)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_KEY_BYTES:
                    continue
                held = self.loader.load(path)
                if not held.usable or held.certs or len(held.keys) != 1:
                    continue  # a key file holds one key and no certificate
                key = held.keys[0].key
                try:
                    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
                except Exception:
                    continue
                if spki in wanted:
                    return wanted[spki], key, path, os.path.join(raw_directory, entry)
        return None


def _free_slot(directory: str, name: str) -> str | None:
    """The first of <stem>.fullchain.pem, <stem>.fullchain-2.pem, ... that does not exist."""
    stem = os.path.splitext(name)[0] or name
    for number in range(1, FULLCHAIN_SLOTS + 1):
        suffix = "" if number == 1 else f"-{number}"
        candidate = os.path.join(directory, f"{stem}.fullchain{suffix}.pem")
        if not os.path.lexists(candidate):
            return candidate
    return None


def _auto_chain(leaf: x509.Certificate, store: list[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """The chain OpenSSL builds upward from `leaf` out of `store` (what mod_ssl then sends)."""
    chain = [leaf]
    while len(chain) <= MAX_PATH_LENGTH and not is_self_signed(chain[-1]):
        issuer = next((cert for cert in store if cert not in chain and issued(cert, chain[-1])), None)
        if issuer is None:
            break
        chain.append(issuer)
    return tuple(chain)


def _label(cert: x509.Certificate) -> str:
    return common_name(cert.subject) or name_text(cert.subject)

