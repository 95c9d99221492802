"""The certificate pairs the sites serve, each once, with the chain the load stage diagnosed.

Shared by the certificate families (validity, chain, names, strength): a
finding about a certificate file sits at the directive that names it, once,
with the names of every site that shares that directive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

from nginxssl.checks.references import spelled
from nginxssl.model.finding import Finding, Fix
from nginxssl.model.site import CertRef, PathRef, Site
from nginxssl.pki.analyse import ServedChain, served_key
from nginxssl.sites import names_of

if TYPE_CHECKING:  # Inputs holds the grouping (Inputs.served): the package imports this module
    from nginxssl.checks import Inputs


@dataclass(frozen=True)
class Served:
    """One certificate directive (and its key/chain partners) and the sites that use it."""

    pair: CertRef
    sites: tuple[Site, ...]
    chain: ServedChain
    # Worked out once when grouping: a dozen checks ask each of thousands of items.
    names: tuple[str, ...]  # the server names of every site, each once
    shown: str  # the certificate's path as messages write it
    tls: bool  # at least one site speaks TLS with it (a plain server may only inherit the directive)
    # at least one of those TLS sites answers some request (Inputs.reached): else no client ever
    # receives the certificate, though the server loads it at start-up
    answered: bool

    @property
    def server(self) -> str:
        return self.sites[0].server

    @property
    def directive(self) -> str:
        return directive_name(self.pair.cert)

    def finding(self, rule: str, message: str, fix: Fix | None = None, summary: str = "",
                at: PathRef | None = None) -> Finding:
        """`summary`: the text report's first line, where the message's first clause runs long; `at`:
        the directive the finding is about, when not the certificate's (Apache's chain file)."""
        node = (at or self.pair.cert).node
        return Finding(rule, node.file, node.line, message, self.names, self.server, fix=fix, summary=summary)


def served(inputs: Inputs) -> Iterator[Served]:
    """Each certificate directive once, in config order, with every site that uses it
    (grouped once per run: Inputs.served)."""
    return iter(inputs.served)


def in_use(inputs: Inputs) -> Iterator[Served]:
    """The certificates clients receive: served over TLS by a site some request reaches. The
    verdicts of what a browser sees (validity, chain, names) judge these; what the server refuses
    at start-up (a key that does not match, a key OpenSSL calls weak) is judged of every item."""
    for item in served(inputs):
        if item.tls and item.answered:
            yield item


def grouped_served(sites: tuple[Site, ...], chains: Mapping[tuple, ServedChain],
                   reached: Callable[[Site], bool] = lambda site: True) -> Iterator[Served]:
    grouped: dict[tuple, tuple[CertRef, list[Site]]] = {}
    for site in sites:
        for pair in site.certs:
            if pair.cert.path is None:
                continue
            key = (pair.cert.node.file, pair.cert.node.line, served_key(pair))
            grouped.setdefault(key, (pair, []))[1].append(site)
    for pair, users in grouped.values():
        chain = chains.get(served_key(pair))
        if chain is not None:
            yield Served(pair, tuple(users), chain, names_of(users), shown(pair.cert),
                         any(site.tls for site in users), any(site.tls and reached(site) for site in users))


# ---------------------------------------------------------------- wording

def directive_name(ref: PathRef) -> str:
    return spelled(ref.node.directive)


def shown(ref: PathRef) -> str:
    """"raw" as written, with the on-disk path when --root or a relative path changes it."""
    if ref.path and os.path.normpath(ref.raw) != os.path.normpath(ref.path):
        return f'"{ref.raw}" ({ref.path})'
    return f'"{ref.raw}"'


def day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def days(count: float) -> str:
    whole = int(abs(count))
    return f"{whole:,} day" + ("" if whole == 1 else "s")


def position(index: int | None, total: int) -> str:
    if index is None:
        return ""
    return f"certificate {index + 1} of {total}"


def browser_reloads(server: str) -> str:
    return "`systemctl reload apache2`" if server == "apache" else "`nginx -s reload`"
