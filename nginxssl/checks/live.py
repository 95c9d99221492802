"""SSL601: does the live endpoint serve the certificate the configuration names?

`sslint probe` puts what one handshake showed into Inputs.probe (nginxssl.probe
reads it; this module reads nothing). Here: which site answers the probed name
on the probed port, the way nginx and Apache pick a virtual server, and the
chain that site's files make (the load stage's diagnosis: ServedChain), compared
with the chain that was sent. Without a probe, as in `sslint PATH`, nothing.

Same leaf, other certificates after it, is SSL601 too: browsers build their path
from what is sent, so every chain verdict on the file (SSL201-SSL204) speaks of
a chain nobody receives; the usual cause is the same as for a new leaf (a
fullchain written, `sslint --fix` applied, no reload), and so is the remedy.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from nginxssl.checks import Inputs, check
from nginxssl.checks.names import tls_listens
from nginxssl.checks.served import day, label, shown
from nginxssl.model.finding import Finding
from nginxssl.model.site import Listen, Site
from nginxssl.pki.analyse import served_key
from nginxssl.pki.chain import common_name, name_text
from nginxssl.sites.routing import listen_socket, tls_sockets

if TYPE_CHECKING:  # probe.py imports ssl and socket, which only `sslint probe` needs
    from nginxssl.model.probe import Probe


@dataclass(frozen=True)
class Choice:
    """The site that answers the probe, and why that one (as an admin reads it)."""

    site: Site | None
    reason: str
    socket: str = ""

    @property
    def described(self) -> str:
        site = self.site
        if site is None:
            return "no site"
        kind = "<VirtualHost>" if site.server == "apache" and site.context == "virtualhost" else (
            "the Apache server config" if site.server == "apache" else "server block")
        names = site.name_list
        title = f" {names[0]}" if names and kind != "the Apache server config" else ""
        return f"{kind}{title} ({site.file}:{site.line})"


# ---------------------------------------------------------------- which site answers


def _address_key(address: str) -> str:
    if address in ("*", "0.0.0.0", "_default_", ""):
        return "*"
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address.lower()  # a host name in `listen`: nginx resolves it at start-up
    if parsed.version == 6:
        return "[::]" if parsed == ipaddress.IPv6Address("::") else f"[{parsed.compressed}]"
    return str(parsed)


def _tls_listens_on(sites: tuple[Site, ...], port: int) -> list[tuple[Site, Listen]]:
    """(site, listen) for every TCP listen on `port` that speaks TLS, in config order."""
    tls_socket = tls_sockets(sites)  # nginx: `ssl` on one listen makes the whole socket TLS
    found = []
    for site in sites:
        if site.context == "snippet":
            continue
        if site.server == "nginx":
            listens = [listen for listen in site.listens
                       if listen in tls_listens(site) or listen_socket(listen) in tls_socket]
        else:
            listens = [listen for listen in site.listens if listen.ssl]
        for listen in listens:
            tcp = not listen.address.startswith("unix:") and not (listen.quic and not listen.ssl)
            if listen.port == port and tcp:
                found.append((site, listen))
    return found


def answers_on(sites: tuple[Site, ...], port: int) -> bool:
    """Some site speaks TLS on `port`: the configuration can describe an endpoint there."""
    return bool(_tls_listens_on(sites, port))


def tls_ports(sites: tuple[Site, ...]) -> list[int]:
    """The TCP ports some site speaks TLS on, to say what could be probed instead."""
    ports = {listen.port for site in sites for listen in site.listens
             if listen.port is not None and listen.ssl and not listen.address.startswith("unix:")}
    ports |= {listen.port for site in sites if site.server == "nginx"
              for listen in tls_listens(site) if listen.port is not None}
    return sorted(ports)


def _socket_group(on_port: list[tuple[Site, Listen]], address: str,
                  port: int) -> tuple[str, list[tuple[Site, Listen]]]:
    """The listening socket the connection reached: the exact address, else the wildcard."""
    groups: dict[str, list[tuple[Site, Listen]]] = {}
    for site, listen in on_port:
        groups.setdefault(_address_key(listen.address), []).append((site, listen))
    connected = _address_key(address) if address else ""
    wildcard = "[::]" if connected.startswith("[") else "*"
    for key in (connected, wildcard, "*", "[::]"):
        if key and key in groups:
            return f"{key}:{port}", groups[key]
    if len(groups) == 1:
        key = next(iter(groups))
        return f"{key}:{port}", groups[key]
    # The config's addresses are not the one connected to (NAT, a proxy): every socket on the port.
    return f"port {port} (any address)", on_port


def _nginx_name_match(sites: list[Site], name: str) -> tuple[Site, str] | None:
    """nginx's order: exact name, longest `*.`/`.` wildcard, longest `.*` wildcard, first regex."""
    for site in sites:
        if name in site.name_list:
            return site, f"server_name {name}"
    best: tuple[int, Site, str] | None = None
    for site in sites:
        for pattern in site.name_list:
            if pattern.startswith("*."):
                suffix = pattern[1:]
                matched = name.endswith(suffix) and len(name) > len(suffix)
            elif pattern.startswith(".") and len(pattern) > 1:
                suffix = pattern
                matched = name == pattern[1:] or name.endswith(pattern)
            else:
                continue
            if matched and (best is None or len(suffix) > best[0]):
                best = (len(suffix), site, f"server_name {pattern} (the longest wildcard matching {name})")
    if best is not None:
        return best[1], best[2]
    for site in sites:
        for pattern in site.name_list:
            if pattern.endswith(".*") and not pattern.startswith("~") and name.startswith(pattern[:-1]):
                if best is None or len(pattern) > best[0]:
                    best = (len(pattern), site, f"server_name {pattern} (the longest trailing wildcard "
                                                f"matching {name})")
    if best is not None:
        return best[1], best[2]
    for site in sites:
        for pattern in site.name_list:
            if not pattern.startswith("~"):
                continue
            try:
                if re.search(pattern[1:], name):
                    return site, f"server_name {pattern} (the first regular expression matching {name})"
            except re.error:
                continue
    return None


def _apache_name_match(sites: list[Site], name: str) -> tuple[Site, str] | None:
    """mod_ssl: the first virtual host, in config order, whose ServerName or ServerAlias matches."""
    for site in sites:
        for entry in site.names:
            if entry.name and fnmatch.fnmatchcase(name, entry.name.lower()):
                directive = "ServerAlias" if entry.node is not None and entry.node.directive == "serveralias" \
                    else "ServerName"
                return site, f"{directive} {entry.name}"
    return None


def choose_site(sites: tuple[Site, ...], probe: Probe) -> Choice:
    """The site that answers `probe.endpoint.servername` on its port; Choice(None, why) when none can."""
    port = probe.endpoint.port
    on_port = _tls_listens_on(sites, port)
    if not on_port:
        return Choice(None, f"no site speaks TLS on port {port}")
    socket, group = _socket_group(on_port, probe.address, port)
    if any(site.context == "virtualhost" for site, _listen in group):
        # Apache's main server answers an address only when no virtual host is named for it.
        group = [(site, listen) for site, listen in group if site.context != "server"]
    ordered = list({id(site): site for site, _listen in group}.values())  # Site holds a dict: not hashable
    name = probe.endpoint.servername
    if name:
        match = (_apache_name_match if ordered[0].server == "apache" else _nginx_name_match)(ordered, name)
        if match is not None:
            return Choice(match[0], match[1], socket)
    flagged = next((site for site, listen in group if listen.default_server), None)
    default = flagged or ordered[0]
    how = "marked default_server" if flagged and default.server == "nginx" else (
        "the first named for it" if default.server == "apache" else "the first for it")
    if name:
        return Choice(default, f"the default server for {socket} ({how}): no server name there matches {name}",
                      socket)
    return Choice(default, f"the default server for {socket} ({how}): no SNI name was sent", socket)


# ---------------------------------------------------------------- comparing


def _fingerprint(cert: x509.Certificate) -> str:
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[index:index + 2] for index in range(0, 16, 2)) + "…"


def describe(cert: x509.Certificate) -> str:
    """A certificate as `openssl x509 -noout -subject -serial -enddate -fingerprint` would let one find it."""
    issuer = common_name(cert.issuer) or name_text(cert.issuer)
    return (f"{label(cert)} (serial {cert.serial_number:X}, issued by '{issuer}', "
            f"SHA-256 {_fingerprint(cert)}, not after {day(cert.not_valid_after_utc)})")


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
