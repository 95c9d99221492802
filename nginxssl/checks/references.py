"""The files a configuration names, each once, with every site that uses it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from nginxssl.model.site import PathRef, Site
from nginxssl.sites import names_of

# Apache directives are stored lower-cased; messages use the documented spelling.
_SPELLING = {
    "sslcertificatefile": "SSLCertificateFile",
    "sslcertificatekeyfile": "SSLCertificateKeyFile",
    "sslcertificatechainfile": "SSLCertificateChainFile",
    "sslcacertificatefile": "SSLCACertificateFile",
    "sslpassphrasedialog": "SSLPassPhraseDialog",
}


def spelled(directive: str) -> str:
    return _SPELLING.get(directive, directive)


@dataclass(frozen=True)
class Reference:
    role: str  # "certificate" | "key" | "chain" | "password file" | "trusted certificate"
    ref: PathRef
    sites: tuple[Site, ...]
    partner: PathRef | None = None  # the key of a certificate, the certificate of a key

    @property
    def names(self) -> tuple[str, ...]:
        return names_of(self.sites)

    @property
    def directive(self) -> str:
        return spelled(self.ref.node.directive)


def grouped_references(sites: tuple[Site, ...]) -> Iterator[Reference]:
    """Each (directive, path) pair once, in config order, with the sites that share it
    (grouped once per run: Inputs.references)."""
    grouped: dict[tuple, tuple[str, PathRef, list[Site], PathRef | None]] = {}
    for site in sites:
        entries: list[tuple[str, PathRef | None, PathRef | None]] = []
        for pair in site.certs:
            entries.append(("certificate", pair.cert, pair.key))
            entries.append(("key", pair.key, pair.cert))
            entries.append(("chain", pair.chain, pair.cert))
        for password_file in site.password_files:
            entries.append(("password file", password_file, None))
        entries.append(("trusted certificate", site.trusted_certificate, None))
        for role, ref, partner in entries:
            if ref is None:
                continue
            key = (role, ref.node.file, ref.node.line, ref.raw,
                   partner.path if partner is not None else None)
            group = grouped.get(key)
            if group is None:
                group = grouped[key] = (role, ref, [], partner)
            group[2].append(site)
    for role, ref, users, partner in grouped.values():
        yield Reference(role, ref, tuple(users), partner)
