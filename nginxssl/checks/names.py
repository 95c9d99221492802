"""SSL301-SSL304: does the certificate a browser gets name the host it asked for?

SSL301/SSL302 compare every name of a TLS site with the subjectAltName of
each certificate it serves (pki.names: RFC 6125, nginx's server_name forms;
what cannot be decided is not reported). SSL303/SSL304 ask sites/routing.py
which server block answers a name on an address:port, and so which
certificate the browser gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from cryptography import x509

from nginxssl.checks import Inputs, check
from nginxssl.checks.served import served, shown
from nginxssl.model.finding import Finding
from nginxssl.model.node import Node
from nginxssl.model.site import Listen, ServerName, Site
from nginxssl.pki.analyse import served_key
from nginxssl.pki.chain import common_name, label
from nginxssl.pki.names import (
    Identities,
    check_server_name,
    dns_names,
    has_san,
    identities,
    san_names,
    to_ascii,
    wildcard_over_public_suffix,
)
from nginxssl.sites.nginx import parse_listen
from nginxssl.sites.routing import Socket, dual_stack, listen_socket, reached, routes, tls_listens, tls_sockets

WRONG_NAME = "NET::ERR_CERT_COMMON_NAME_INVALID (Firefox: SSL_ERROR_BAD_CERT_DOMAIN)"
_SHOWN_SANS = 6
_SPELLING = {"servername": "ServerName", "serveralias": "ServerAlias"}


def _sans_text(sans: tuple[str, ...]) -> str:
    if not sans:
        return "no host at all"
    shown = ", ".join(sans[:_SHOWN_SANS])
    return shown if len(sans) <= _SHOWN_SANS else f"{shown}, … ({len(sans):,} names in all)"


def _name_site(site: Site) -> bool:
    """A site browsers reach by name: speaks TLS, in the http context (not stream, mail, a snippet)."""
    return site.tls and site.context not in ("stream", "mail", "snippet")


def _directive(entry: ServerName) -> str:
    if entry.node is None:
        return "server_name"
    return _SPELLING.get(entry.node.directive, entry.node.directive)


def _hint(missing: str, presented: Identities) -> str:
    """Why a near-miss is a miss: www vs apex, wildcard depth, a name of the wrong kind or spelling."""
    if missing in presented.dns:  # only an IP address misses a DNS entry spelled as it is
        return (f" (the certificate lists {missing} as a DNS name: browsers match an IP address only against "
                f"IP address entries, so it needs IP:{missing} in subjectAltName)")
    for san in presented.dns:
        if not san.isascii() and to_ascii(san) == missing:
            return (f" (the certificate spells {san} in Unicode: browsers compare the xn-- form {missing} and "
                    f"never convert the certificate's side, so it needs DNS:{missing})")
        if wildcard_over_public_suffix(san) and "." in san[2:] and missing.endswith(san[1:]):
            return (f" ({san} covers no name at all: {san[2:]} is a public suffix, under which anyone registers "
                    f"names, and Chrome takes no wildcard over one)")
        if missing == "www." + san or san == "www." + missing:
            return f" (the certificate has {san} but not {missing}: www and the bare domain are two names)"
        if san.startswith("*.") and missing == san[2:]:
            return f" ({san} does not cover the bare domain {missing})"
        if san.startswith("*.") and "." not in san[2:] and missing.endswith(san[1:]):
            return f" ({san} covers no name at all: browsers take no wildcard right above a top-level domain)"
        if san.startswith("*.") and missing.endswith(san[1:]) and not missing.startswith("*."):
            return f" ({san} covers exactly one label: not {missing})"
    if missing.startswith("*."):
        return (f" (server_name {missing} routes every subdomain here; only a certificate for {missing} "
                "covers them)")
    return ""


def _reissue(site: Site, missing: str, sans: tuple[str, ...]) -> str:
    """How to get a certificate naming what it has plus what is missing."""
    # Not a name that covers nothing (a wildcard over a public suffix): no CA issues it again.
    wanted = list(dict.fromkeys([*(san for san in sans if not wildcard_over_public_suffix(san)), missing]))
    if len(wanted) > 8 or any("*" in name or "." not in name or name.startswith(("~", "_")) for name in wanted):
        return f"reissue it for {', '.join(wanted[:8])}{', …' if len(wanted) > 8 else ''}"
    plugin = "--apache" if site.server == "apache" else "--nginx"
    return f"`certbot {plugin} --expand {' '.join(['-d ' + name for name in wanted])}`"


def _site_chains(inputs: Inputs, site: Site) -> Iterator[tuple[x509.Certificate, str]]:
    """(leaf, path as shown) for each certificate of the site that the load stage diagnosed."""
    for pair in site.certs:
        chain = inputs.chains.get(served_key(pair)) if pair.cert.path else None
        if chain is not None:
            yield chain.report.leaf, shown(pair.cert)


@check("SSL301", needs={"chains"})
def name_mismatch(inputs: Inputs) -> Iterator[Finding]:
    for site in inputs.sites:
        if not _name_site(site):
            continue
        for leaf, path in _site_chains(inputs, site):
            sans = san_names(leaf)
            if not sans:
                continue  # SSL302: the certificate names no host at all
            presented = identities(leaf)
            for entry in site.names:
                if not entry.name:
                    continue
                verdict = check_server_name(entry.name, presented)
                if not verdict.not_covered:
                    continue
                missing = ", ".join(verdict.missing)
                hint = _hint(verdict.missing[0], presented)
                yield Finding.at("SSL301", entry.node, (
                    f"{_directive(entry)} {entry.name} is not covered by the certificate {label(leaf)} in {path}, "
                    f"which names {_sans_text(sans)}{hint}; browsers show {WRONG_NAME} for https://{missing}/; "
                    f"fix: get a certificate that also names {missing} "
                    f"({_reissue(site, verdict.missing[0], dns_names(leaf))}) "
                    f"or move the name to a server block whose certificate covers it"), site)


@check("SSL302", needs={"chains"})
def cert_no_san(inputs: Inputs) -> Iterator[Finding]:
    for item in served(inputs):
        if not any(_name_site(site) for site in item.sites):
            continue
        report = item.chain.report
        leaf = report.leaf
        if has_san(leaf):
            continue
        common = common_name(leaf.subject) or ""
        cn_text = f" (its CN is {common})" if common else ""
        ca_text = (" It is a CA certificate served as the site's own (see SSL202)." if report.leaf_is_ca else "")
        for_names = ", ".join(item.names[:6]) or "any host"
        example = next((name for name in item.names if name and not name.startswith(("~", "."))), "your.site")
        yield item.finding("SSL302", (
            f"certificate {label(leaf)} in {item.shown} has no subjectAltName: browsers ignore the subject "
            f"CN{cn_text} and so match no host against it, and show {WRONG_NAME} for {for_names}.{ca_text} "
            f"fix: reissue it with the names in subjectAltName (every public CA does; by hand: "
            f"`openssl req -new -key site.key -subj /CN={example} -addext 'subjectAltName=DNS:{example}'`)"))


# ---------------------------------------------------------------- nginx virtual-server selection


def _http_sites(inputs: Inputs) -> list[Site]:
    """nginx's http server blocks that name certificates or speak TLS (the ones routing can place)."""
    return [site for site in inputs.sites if site.server == "nginx" and site.context == "http"]


@dataclass(frozen=True)
class _PlainServer:
    node: Node
    names: tuple[ServerName, ...]
    listens: tuple[Listen, ...]


def _plain_servers(inputs: Inputs, tls_nodes: set[int]) -> Iterator[_PlainServer]:
    """http server blocks that speak no TLS at all, with their names and listens."""
    config = inputs.config
    blocks = [node.children for node in config.nodes if node.directive == "http" and node.is_block]
    if config.fragment:
        blocks.append(config.nodes)  # a lone site file is the inside of `http { }`
    for body in blocks:
        http_ssl_on = any(node.directive == "ssl" and node.args[:1] == ("on",) for node in body)
        for server in (node for node in body if node.directive == "server"):
            if id(server) in tls_nodes or not server.is_block:
                continue
            listens = tuple(parse_listen(node, "http") for node in server.each("listen")) or (Listen(None, "*", 80),)
            own_ssl = server.last("ssl")
            if any(listen.ssl for listen in listens) or (own_ssl.args[:1] == ("on",) if own_ssl else http_ssl_on):
                continue
            names = tuple(ServerName(arg.lower(), node) for node in server.each("server_name") for arg in node.args)
            yield _PlainServer(server, names, listens)


@check("SSL303", needs={"chains"})
def name_falls_to_default(inputs: Inputs) -> Iterator[Finding]:
    if inputs.config.server != "nginx":
        return
    http_sites = _http_sites(inputs)
    table = routes(http_sites)
    tls_nodes = {id(site.node) for servers in table.values() for site in servers.sites}
    plain_servers = list(_plain_servers(inputs, tls_nodes))
    if not plain_servers or not table:
        return  # no plain-HTTP server block, or no TLS socket: no name can fall to a TLS default
    taking_ipv4 = dual_stack(http_sites)
    leaves_of: dict[int, list[x509.Certificate]] = {}
    for plain in plain_servers:
        for listen in plain.listens:
            # https://<name>/ for a name served on <address>:80 reaches the TLS socket <address>:443
            tls = reached(table, listen.address, 443, taking_ipv4) if listen.port == 80 else None
            if tls is None:
                continue  # also: a wildcard plain listen with TLS only on specific addresses (cannot tell which)
            default = tls.default
            if id(default) not in leaves_of:
                leaves_of[id(default)] = [leaf for leaf, _path in _site_chains(inputs, default)]
            leaves = leaves_of[id(default)]
            if not leaves:
                continue  # no certificate to fall back to (ssl_reject_handshake, or SSL002-SSL004)
            for entry in plain.names:
                name = entry.name
                if (not name or name == "_" or name.startswith(("~", ".")) or name.endswith(".*") or "$" in name
                        or name == "localhost" or name.endswith(".localhost")):
                    # localhost: internal plumbing (ONLYOFFICE's docservice), never a name visitors are
                    # sent to over https:// and one no CA issues a certificate for
                    continue
                if tls.answers(name):
                    continue
                if any(check_server_name(name, san_names(leaf)).covered for leaf in leaves):
                    continue
                leaf = leaves[0]
                yield Finding(
                    "SSL303", entry.node.file if entry.node else plain.node.file,
                    entry.node.line if entry.node else plain.node.line, (
                        f"{name} is served only over plain HTTP ({listen.socket}); https://{name}/ — where a "
                        f"redirect, HSTS or a typed https:// sends visitors — is answered by the default TLS "
                        f"server for {tls.socket} ({default.label} at {default.file}:{default.line}), whose "
                        f"certificate {label(leaf)} names {_sans_text(san_names(leaf))}, not {name}: browsers "
                        f"show {WRONG_NAME}; fix: serve {name} from a TLS server block with a certificate that "
                        f"covers it, or stop sending visitors to https://{name}/"),
                    tuple(entry.name for entry in plain.names if entry.name), "nginx")


@check("SSL304", needs=())
def server_name_conflict(inputs: Inputs) -> Iterator[Finding]:
    if inputs.config.server != "nginx":
        return
    claimed: dict[tuple[Socket, str], Site] = {}
    reported: set[tuple[int, Socket, str]] = set()
    http_sites = _http_sites(inputs)
    shared = tls_sockets(http_sites)  # a plain `listen 443` on a socket another block made TLS counts
    for site in http_sites:
        sockets = list(dict.fromkeys(listen_socket(listen) for listen in tls_listens(site, shared)
                                     if not listen.address.startswith("unix:")))
        for entry in site.names:
            name = entry.name
            if name.startswith("~"):
                continue  # nginx does not compare regular expressions
            for socket in sockets:
                first = claimed.setdefault((socket, name), site)
                if first is site or (id(site), socket, name) in reported:
                    continue
                reported.add((id(site), socket, name))
                shown = f'"{name}"' if name else '"" (no server_name: requests without a Host header)'
                yield Finding.at("SSL304", entry.node, (
                    f'server_name {shown} on {socket} is already claimed by the TLS server block at '
                    f'{first.file}:{first.line}; nginx warns \'conflicting server name "{name}" on {socket}, '
                    f"ignored' and sends every request for it to that first block, with its certificate and "
                    f"content: this block never serves it; fix: remove the name from one of the two blocks, or "
                    f"merge them"), site)
