"""The diagnosis of each distinct chain the sites serve.

For every distinct (certificate, key, chain file) triple the sites serve, once per
run however many sites share it: the certificates the server sends, the public half
of its key, the issuers found in the sources of pki.sources (in their order), and
pki.chain.diagnose's explanation of the chain. What is "served" follows the server:
nginx sends the file as it is; mod_ssl lets OpenSSL complete a certificate file
without intermediates from SSLCACertificateFile (proven against a running apache2 by
the SSL201 rule cases), and sends SSLCertificateChainFile's certificates instead of
any the certificate file holds after its first (proven by tests/test_fix_e2e.py).
The checks only ever see the results. Paths in messages are the config's own
(without --root).

Where a fix would write the chain is not decided here: nginxssl/fix/fullchain.py
plans it from this diagnosis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from nginxssl.model.progress import Report, silent
from nginxssl.model.site import CertRef, Site
from nginxssl.pki.chain import (
    MAX_PATH_LENGTH,
    ChainReport,
    Signatures,
    diagnose,
    is_ca,
    is_self_signed,
    issued,
    subject_label,
)
from nginxssl.pki.load import Loader, Material
from nginxssl.pki.sources import (
    AIA,
    APACHE_CA_FILE,
    SIBLING,
    TRUSTED_CERTIFICATE,
    UNSENT,
    Index,
    Sources,
    ca_issuers_urls,
    der,
    http_fetch,
    relevant,
    trust_store,
)
from nginxssl.pki.trust import TrustStore, public_key_der

FETCH_ROUNDS = 4  # issuers fetched one above another, at most

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
    origins: Mapping[str, str]  # Candidate.source (a path or URL) -> how it was found (pki.sources.SIBLING, ...)
    searched: tuple[str, ...]  # where issuers were looked for, in order, as an admin reads it
    ready_chain: str | None = None  # on disk: the one source of the missing intermediates, holding exactly them
    aia_urls: tuple[str, ...] = ()  # caIssuers URLs of the certificate whose issuer was found nowhere
    fetch_notes: tuple[str, ...] = ()  # what --fetch tried and what came of it
    auto_chain: str | None = None  # apache2: the SSLCACertificateFile OpenSSL completed the sent chain from
    trust_sources: tuple[str, ...] = ()  # files the trust store was read from
    system_trust: bool = True
    # The key is a CA's (report.leaf_is_ca, badssl.com's reversed chain): the chain each
    # certificate of the bundle that is not a CA would make as the leaf, in served order,
    # one per public key. The fix serves the one whose own key file lies beside the bundle.
    real_leaf_chains: tuple[ChainReport, ...] = ()
    public_anchor: bool = False  # the path ends at a root of the system bundle: a publicly trusted CA

    def origin(self, source: str) -> str:
        return self.origins.get(source, "")


@dataclass
class ChainAnalyser:
    """Diagnoses served chains for one run: trust store, sources and results shared by every target."""

    loader: Loader
    now: datetime
    ca_files: tuple[str, ...] = ()
    system_trust: bool = True
    intermediates: tuple[str, ...] = ()
    fetch: bool = False
    root: str | None = None  # --root: config paths live under it; messages name them as the config does
    fetcher: Callable[[str], bytes] = http_fetch  # replaced in tests; only called with fetch=True
    sources: Sources = field(init=False, repr=False)
    _trust: TrustStore | None = field(default=None, repr=False)
    _results: dict[tuple, ServedChain] = field(default_factory=dict, repr=False)
    # every diagnosis of the run asks about the same intermediates and roots: their signatures are checked once
    _signatures: Signatures = field(default_factory=Signatures, repr=False)
    # What another analyser read for the diagnoses `remember` took (a second process): files, directories.
    _read_elsewhere: tuple[dict[str, None], dict[str, None]] = field(default_factory=lambda: ({}, {}), repr=False)

    def __post_init__(self) -> None:
        self.sources = Sources(self.loader, self.root, self.intermediates, self.fetcher)

    @property
    def trust(self) -> TrustStore:
        """The trust store (read on first use; TrustStoreError for a bad --ca-file)."""
        if self._trust is None:
            self._trust = trust_store(self.ca_files, self.system_trust)
        return self._trust

    def shown(self, path: str) -> str:
        """A file as the configuration names it: under --root, without the root."""
        return self.sources.shown(path)

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
        pairs = _served_pairs(sites)
        served_elsewhere: Index | None = None  # built when the first pair is diagnosed here

        results: dict[ServedKey, ServedChain] = {}
        for number, (key, (pair, users)) in enumerate(pairs.items(), start=1):
            progress("checking certificate chains", number, len(pairs))
            trusted = _trusted(users)
            cache_key = (key, trusted)
            if cache_key not in self._results:
                if share is not None and not share(key):
                    continue
                if served_elsewhere is None:
                    served_elsewhere = self.sources.served_elsewhere(
                        (path for pair, _users in pairs.values()
                         for path in (pair.cert.path, pair.chain.path if pair.chain else None) if path),
                        material)
                chain = self._analyse_pair(pair, users, material, trusted, served_elsewhere, prefix)
                if chain is None:
                    continue
                self._results[cache_key] = chain
            results[key] = self._results[cache_key]
        return results

    def diagnosed(self) -> dict[tuple, ServedChain]:
        """Every diagnosis made so far, by (served key, trusted files): what `remember` takes."""
        return dict(self._results)

    def knows_all(self, sites: tuple[Site, ...]) -> bool:
        """Every chain the sites serve is diagnosed already (kept from an earlier run): analyse()
        will read no file for them."""
        return all((key, _trusted(users)) in self._results for key, (_pair, users) in _served_pairs(sites).items())

    def remember(self, diagnosed: Mapping[tuple, ServedChain],
                 read: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())) -> None:
        """Take diagnoses made by another analyser with the same settings (a second process), and
        what it read to make them (`read`: its inputs_read()), which a cached result must watch too."""
        for cache_key, chain in diagnosed.items():
            self._results.setdefault(cache_key, chain)
        files, directories = read
        self._read_elsewhere[0].update(dict.fromkeys(files))
        self._read_elsewhere[1].update(dict.fromkeys(directories))

    def question(self, sites: tuple[Site, ...], prefix: str | None) -> str:
        """What the diagnoses of these sites answer besides the bytes of the files they read (a
        digest): each served pair's files as written and on disk, the server, trusted file and
        password files of each site that serves it, and where relative paths resolve. Diagnoses
        kept from another run (engine/cache.py) stand only for the same question."""
        asked = [(site.server, tuple((ref.raw, ref.path) if ref is not None else None
                                     for ref in (pair.cert, pair.key, pair.chain)),
                  site.trusted_certificate.path if site.trusted_certificate is not None else None,
                  tuple(ref.path for ref in site.password_files))
                 for site in sites for pair in site.certs if pair.cert.path is not None]
        text = repr((prefix, self.root, self.intermediates, self.system_trust, self.ca_files, asked))
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    def inputs_read(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Every file read and every directory looked into for the diagnoses, here and by the
        analysers whose diagnoses this one took: what a cached result must find unchanged."""
        files = dict.fromkeys(self.loader.paths_read())
        files.update(self._read_elsewhere[0])
        directories = dict.fromkeys(self.sources.listed_directories())
        directories.update(self._read_elsewhere[1])
        return tuple(files), tuple(directories)

    def _served(self, pair: CertRef, material: Mapping[str, Material]
                ) -> tuple[tuple[x509.Certificate, ...], PublicKeyTypes | None]:
        held = material.get(pair.cert.path) if pair.cert.path else None
        if held is None or not held.usable or not held.certs:
            return (), None
        served = held.certs
        if pair.chain is not None and pair.chain.path:
            chain = material.get(pair.chain.path)
            if chain is not None and chain.usable:
                # mod_ssl sends SSLCertificateChainFile's certificates instead of any the certificate
                # file brings after its first (proven against apache2 2.4 in tests/test_fix_e2e.py).
                served = served[:1] + chain.certs
        key_public: PublicKeyTypes | None = None
        if pair.key is not None:
            keys = material.get(pair.key.path) if pair.key.path else None
            if keys is not None and keys.usable and keys.keys:
                key_public = keys.keys[0].key
        elif held.keys:  # Apache: the key may sit in the certificate file
            key_public = held.keys[0].key
        return served, key_public

    def _analyse_pair(self, pair: CertRef, users: list[Site], material: Mapping[str, Material],
                      trusted: tuple[str, ...], served_elsewhere: Index, prefix: str | None) -> ServedChain | None:
        cert_path = pair.cert.path
        served, key_public = self._served(pair, material)
        if not served or cert_path is None:
            return None
        sources = self.sources
        own = {self.shown(path) for path in (cert_path, pair.chain.path if pair.chain else None) if path}
        auto_chain = None
        if len(served) == 1 and trusted and any(site.server == "apache" for site in users):
            # mod_ssl leaves OpenSSL's automatic chain building on: a certificate file
            # without intermediates is sent with the chain OpenSSL builds from
            # SSLCACertificateFile (root included). nginx turns it off: what
            # ssl_trusted_certificate holds is never sent.
            completed = _auto_chain(served[0], [cert for path in trusted for cert in sources.certs_of(path)],
                                    self._signatures)
            if len(completed) > 1:
                served, auto_chain = completed, self.shown(trusted[0])

        searched: list[str] = []
        tiers: list[Index] = []

        held = material.get(cert_path)
        if held is not None and len(held.certs) > len(served[:1]) and served[1:] != held.certs[1:]:
            unsent = Index(UNSENT)  # apache2: what the file holds after the leaf but is not sent
            unsent.add(held.certs[1:], sources.source(cert_path))
            tiers.append(unsent)
            searched.append(f"the rest of {self.shown(cert_path)}")

        siblings = Index(SIBLING)
        directory = sources.written_directory(pair.cert, prefix)
        sibling_files = [entry for entry in sources.sibling_files(directory, cert_path) if entry[0] not in own]
        sibling_certs: dict[str, tuple[x509.Certificate, ...]] = {}
        for shown, disk in sibling_files:
            sibling_certs[shown] = sources.certs_of(disk)
            siblings.add(sibling_certs[shown], shown)
        tiers.append(siblings)
        searched.append(f"sibling files in {self.shown(directory)}" if sibling_files
                        else f"{self.shown(directory)} (no chain or bundle files there)")

        if trusted:
            apache = any(site.server == "apache" for site in users)
            index = Index(APACHE_CA_FILE if apache else TRUSTED_CERTIFICATE)
            for path in trusted:
                index.add(sources.certs_of(path), sources.source(path))
            tiers.append(index)
            searched.append(("SSLCACertificateFile " if apache else "ssl_trusted_certificate ")
                            + ", ".join(self.shown(path) for path in trusted))

        if self.intermediates:
            tiers.append(sources.intermediates_index())
            searched.extend(f"--intermediates {directory}" for directory in self.intermediates)

        tiers.append(served_elsewhere)
        searched.append("the other certificate files this configuration serves")

        trust = self.trust
        store = ", ".join(trust.sources) if trust.sources else "no anchors"
        searched.append(f"the trust store ({store})" if self.system_trust else f"the --ca-file roots ({store})")

        pool, origins = relevant(served, tiers, own)
        report = diagnose(served, key_public, pool, trust, self.now, signatures=self._signatures)

        aia_urls: tuple[str, ...] = ()
        fetch_notes: list[str] = []
        if report.unresolved_issuer is not None:
            aia_urls = ca_issuers_urls(report.unresolved_issuer.subject)
            if self.fetch:
                fetched = Index(AIA)
                tiers.append(fetched)
                for _round in range(FETCH_ROUNDS):
                    unresolved = report.unresolved_issuer
                    if unresolved is None:
                        break
                    urls = ca_issuers_urls(unresolved.subject)
                    if not urls:
                        fetch_notes.append(f"{subject_label(unresolved.subject.subject)} names no caIssuers URL to fetch")
                        break
                    added = False
                    for url in urls:
                        certs, note = sources.download(url)
                        fetch_notes.append(note)
                        if certs:
                            fetched.add(certs, url)
                            added = True
                    if not added:
                        break
                    pool, origins = relevant(served, tiers, own)
                    report = diagnose(served, key_public, pool, trust, self.now, signatures=self._signatures)
                searched.append("AIA caIssuers downloads (--fetch)")
                if report.unresolved_issuer is None:
                    aia_urls = ()

        real_leaf_chains: list[ChainReport] = []
        if report.leaf_is_ca and report.key_matches_index is not None:
            # The key belongs to a CA of the bundle: each certificate that is not a CA, put first
            # with its own key, makes the chain the site may have meant.
            keys_seen: set[bytes] = set()
            for leaf in served:
                spki = public_key_der(leaf) if not is_ca(leaf) else None
                if spki is None or spki in keys_seen:
                    continue
                keys_seen.add(spki)
                first = served.index(leaf)  # a bundle may hold the leaf twice: the other copy stays
                others = served[:first] + served[first + 1:]
                real_leaf_chains.append(diagnose((leaf, *others), leaf.public_key(), pool, trust, self.now,
                                                 signatures=self._signatures))

        ready_chain = None
        missing_from = list(dict.fromkeys(link.origin for link in report.missing))
        if len(missing_from) == 1 and sources.disk(missing_from[0]) is not None:
            disk = sources.disk(missing_from[0]) or ""
            held_certs = sibling_certs.get(missing_from[0]) or sources.certs_of(disk)
            if [der(cert) for cert in held_certs] == [der(link.cert) for link in report.missing]:
                ready_chain = disk

        return ServedChain(
            cert_path=cert_path,
            key_path=pair.key.path if pair.key is not None else None,
            chain_path=pair.chain.path if pair.chain is not None else None,
            report=report,
            origins=origins,
            searched=tuple(searched),
            ready_chain=ready_chain,
            aia_urls=aia_urls,
            fetch_notes=tuple(fetch_notes),
            auto_chain=auto_chain,
            trust_sources=trust.sources,
            system_trust=self.system_trust,
            real_leaf_chains=tuple(real_leaf_chains),
            public_anchor=report.anchor is not None and trust.is_public(report.anchor),
        )


def _served_pairs(sites: tuple[Site, ...]) -> dict[ServedKey, tuple[CertRef, list[Site]]]:
    """Each served chain (by its files) once, with the sites that serve it, in config order."""
    pairs: dict[ServedKey, tuple[CertRef, list[Site]]] = {}
    for site in sites:
        for pair in site.certs:
            if pair.cert.path is not None:
                pairs.setdefault(served_key(pair), (pair, []))[1].append(site)
    return pairs


def _trusted(users: list[Site]) -> tuple[str, ...]:
    """The ssl_trusted_certificate (SSLCACertificateFile) files of the sites serving one chain."""
    return tuple(dict.fromkeys(site.trusted_certificate.path for site in users
                               if site.trusted_certificate is not None and site.trusted_certificate.path))


def _auto_chain(leaf: x509.Certificate, store: list[x509.Certificate],
                signatures: Signatures) -> tuple[x509.Certificate, ...]:
    """The chain OpenSSL builds upward from `leaf` out of `store` (what mod_ssl then sends)."""
    chain = [leaf]
    while len(chain) <= MAX_PATH_LENGTH and not is_self_signed(chain[-1]):
        issuer = next((cert for cert in store if cert not in chain and issued(cert, chain[-1], signatures)), None)
        if issuer is None:
            break
        chain.append(issuer)
    return tuple(chain)

