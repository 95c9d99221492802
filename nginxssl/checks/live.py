"""SSL601: does the live endpoint serve the certificate the configuration names?

`sslint probe` puts what one handshake showed into Inputs.probe (engine/probe.py
reads it; this module reads nothing). Here: the site that answers the probed name
on the probed port (sites/routing.py: the way nginx and Apache pick a virtual
server), the chain that site's files make (the load stage's diagnosis:
ServedChain), compared with the chain that was sent. Without a probe, as in `sslint PATH`, nothing.

Same leaf, other certificates after it, is SSL601 too: browsers build their path
from what is sent, so every chain verdict on the file (SSL201-SSL204) speaks of
a chain nobody receives; the usual cause is the same as for a new leaf (a
fullchain written, `sslint --fix` applied, no reload), and so is the remedy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from cryptography import x509

from nginxssl.checks import Inputs, check
from nginxssl.checks.served import shown
from nginxssl.model.finding import Finding
from nginxssl.model.site import Site
from nginxssl.pki.analyse import served_key
from nginxssl.pki.chain import describe, label
from nginxssl.sites.routing import choose_site

if TYPE_CHECKING:  # probe.py imports ssl and socket, which only `sslint probe` needs
    from nginxssl.model.probe import Probe


# ---------------------------------------------------------------- comparing


def _short(chain: tuple[x509.Certificate, ...]) -> str:
    return "[" + ", ".join(label(cert) for cert in chain) + "]" if chain else "no certificate after the leaf"


def _reload(site: Site) -> str:
    if site.server == "apache":
        return "`apache2ctl configtest && systemctl reload apache2`"
    return "`nginx -t && systemctl reload nginx`"


def endpoint_text(probe: Probe) -> str:
    """Where the probe went and the name it sent: 'a.test:443 (192.0.2.1) with SNI a.test'."""
    endpoint = probe.endpoint
    at = f"{endpoint.shown} ({probe.address})" if probe.address and probe.address != endpoint.host else endpoint.shown
    sni = f"SNI {endpoint.servername}" if endpoint.servername else "no SNI"
    return f"{at} with {sni}"


def _causes(probe: Probe, site: Site, served: x509.Certificate, held: x509.Certificate | None) -> str:
    reload = _reload(site)
    host = probe.endpoint.host
    elsewhere = (f"a CDN, proxy or load balancer in front of {host} ends TLS with its own copy (upload the "
                 f"certificate there), or {host}" + (f" ({probe.address})" if probe.address not in ("", host) else "")
                 + " is another machine than the one this configuration is for (check DNS and the address)")
    if held is not None and served.not_valid_before_utc < held.not_valid_before_utc:
        return (f"the file is newer than what is served: most likely the server still holds the certificate it "
                f"loaded before the file changed (renewed or replaced without a reload): run {reload}; if a "
                f"reload changes nothing, {elsewhere}")
    if held is not None and served.not_valid_before_utc > held.not_valid_before_utc:
        return (f"what is served is newer than the file: the endpoint is not serving this file — {elsewhere}; "
                f"or the file was restored from an old copy (a reload would then serve the older one)")
    return f"likely causes: no reload since the file changed (run {reload}), or {elsewhere}"


@check("SSL601", needs={"probe", "chains"})
def served_cert_differs(inputs: Inputs) -> Iterator[Finding]:
    probe = inputs.probe
    if probe is None or not probe.chain:
        return
    choice = choose_site(inputs.sites, probe)
    site = choice.site
    if site is None:
        return  # the probe command says so and exits 2: this configuration does not describe the endpoint
    where = endpoint_text(probe)
    answers = f"the site that answers it, {choice.described}, chosen by {choice.reason},"
    sent = probe.chain
    readable = [(pair, chain) for pair in site.certs if pair.cert.path
                for chain in [inputs.chains.get(served_key(pair))] if chain is not None]
    if not readable:
        if any(pair.cert.dynamic for pair in site.certs):
            why = "names its certificate with variables resolved per handshake"
        elif site.certs:
            why = (f"names {shown(site.certs[0].cert)}, which sslint cannot read "
                   f"(`sslint {inputs.config.main}` says why)")
        else:
            why = "names no certificate"
        anchor = site.certs[0].cert.node if site.certs else site.node
        yield Finding("SSL601", anchor.file if anchor else site.file, anchor.line if anchor else site.line, (
            f"cannot compare: {where} serves {describe(sent[0])}; {answers} {why}"),
            site.name_list, site.server, severity="info")
        return
    for pair, chain in readable:
        held = tuple(chain.report.served)
        if held[0] != sent[0]:
            continue
        if held == sent or not probe.complete:
            return  # what the files make is what browsers get
        yield Finding.at("SSL601", pair.cert.node, (
            f"{where} serves the certificate {shown(pair.cert)} holds, {describe(sent[0])}, but another chain "
            f"after it: it sends {_short(sent[1:])}, the files make {_short(held[1:])} ({answers[:-1]}); "
            f"browsers build their path from what is sent, so the chain checks of the file do not describe it; "
            f"most likely the chain was changed (a new fullchain, `sslint --fix`) without a reload: "
            f"run {_reload(site)}"), site)
        return
    held_text = " and ".join(f"{shown(pair.cert)}, which holds {describe(chain.report.served[0])}"
                             for pair, chain in readable)
    partial = "" if probe.complete else " (this Python reads only the leaf of what is sent)"
    yield Finding.at("SSL601", readable[0][0].cert.node, (
        f"{where} serves {describe(sent[0])}{partial}; {answers} names {held_text}: browsers get the served "
        f"certificate, and nothing sslint checks in the file applies to it; "
        f"{_causes(probe, site, sent[0], readable[0][1].report.served[0])}"), site)
