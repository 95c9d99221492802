"""SSL301-SSL304: does the certificate a browser gets name the host it asked for?

SSL301/SSL302 compare every name of a TLS site with the subjectAltName of
each certificate it serves (pki.names: RFC 6125, nginx's server_name forms;
what cannot be decided is not reported). SSL303/SSL304 ask sites/routing.py
which server block answers a name on an address:port, and so which
certificate the browser gets.
"""

from __future__ import annotations

from typing import Iterator

from cryptography import x509

from nginxssl.checks import Inputs, check
from nginxssl.checks.served import served, shown
from nginxssl.model.finding import Finding
from nginxssl.model.site import Listen, ServerName, Site
from nginxssl.pki.analyse import served_key
from nginxssl.pki.chain import common_name, label
from nginxssl.pki.names import (
    Identities,
    absolute_san,
    check_server_name,
    dns_names,
    has_san,
    identities,
    san_names,
    to_ascii,
    wildcard_over_public_suffix,
)
from nginxssl.sites.routing import (
    Conflict,
    Landing,
    Servers,
    Socket,
    dual_stack,
    internal,
    is_browser_name,
    landings,
    listen_socket,
    reached,
    socket_address,
    tls_listens,
    who,
)

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
    if _taken_from_server_config(entry):
        return "ServerName"
    return _SPELLING.get(entry.node.directive, entry.node.directive)


def _taken_from_server_config(entry: ServerName) -> bool:
    """sites/apache.py: a vhost without a ServerName of its own answers to the server config's,
    kept with the <VirtualHost> node, where the missing line belongs."""
    return entry.node is not None and entry.node.directive == "virtualhost"


def _hint(missing: str, presented: Identities) -> str:
    """Why a near-miss is a miss: www vs apex, wildcard depth, a name of the wrong kind or spelling."""
    if missing in presented.dns:  # only an IP address misses a DNS entry spelled as it is
        return (f" (the certificate lists {missing} as a DNS name: browsers match an IP address only against "
                f"IP address entries, so it needs IP:{missing} in subjectAltName)")
    for san in presented.dns:
        if not san.isascii() and to_ascii(san) == missing:
            return (f" (the certificate spells {san} in Unicode: browsers compare the xn-- form {missing} and "
                    f"never convert the certificate's side, so it needs DNS:{missing})")
        if absolute_san(san) and to_ascii(san) == missing:
            return (f" (the certificate lists {san} with a trailing dot, which Firefox, OpenSSL (curl, "
                    f"`s_client -verify_hostname`) and other clients never match; Chrome alone drops it: "
                    f"it needs DNS:{missing})")
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
    # Not a name that covers nothing (a wildcard over a public suffix, a name ending in a dot): the
    # reissued certificate should not carry it again.
    wanted = list(dict.fromkeys([*(san for san in sans if not wildcard_over_public_suffix(san) and not absolute_san(san)),
                                 missing]))
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
        if not _name_site(site) or not inputs.reached(site):
            continue  # no request reaches the block: no client ever gets its certificate (SSL304 says so)
        for leaf, path in _site_chains(inputs, site):
            sans = san_names(leaf)
            if not sans:
                continue  # SSL302: the certificate names no host at all
            presented = identities(leaf)
            for entry in site.names:
                if not entry.name or entry.node is None:  # only nginx's implicit "" has no node
                    continue
                if inputs.refused(site, entry):
                    continue  # another block answers the name, with its certificate (SSL304 says so)
                verdict = check_server_name(entry.name, presented)
                if not verdict.not_covered:
                    continue
                missing = ", ".join(verdict.missing)
                hint = _hint(verdict.missing[0], presented)
                inherited = _taken_from_server_config(entry)
                aside = (" (the server config's, which this <VirtualHost> answers to for want of a ServerName of "
                         "its own)") if inherited else ""
                move = ("give this <VirtualHost> a ServerName its certificate covers" if inherited
                        else "move the name to a server block whose certificate covers it")
                yield Finding.at("SSL301", entry.node, (
                    f"{_directive(entry)} {entry.name}{aside} is not covered by the certificate {label(leaf)} in "
                    f"{path}, which names {_sans_text(sans)}{hint}; browsers show {WRONG_NAME} for https://{missing}/; "
                    f"fix: get a certificate that also names {missing} "
                    f"({_reissue(site, verdict.missing[0], dns_names(leaf))}) or {move}"), site,
                    summary=f"the certificate does not name {entry.name}")


@check("SSL302", needs={"chains"})
def cert_no_san(inputs: Inputs) -> Iterator[Finding]:
    for item in served(inputs):
        if not any(_name_site(site) and inputs.reached(site) for site in item.sites):
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


# ---------------------------------------------------------------- which server answers a name


def _http_sites(inputs: Inputs) -> list[Site]:
    """nginx's http server blocks that name certificates or speak TLS (the ones routing can place)."""
    return [site for site in inputs.sites if site.server == "nginx" and site.context == "http"]


def _routed_sites(inputs: Inputs) -> list[Site]:
    """The sites browsers reach by name: nginx's http server blocks, Apache's vhosts and main server."""
    return [site for site in inputs.sites if site.context in ("http", "virtualhost", "server")]


class _Leaves:
    """The leaf certificates each site serves, looked up once per site."""

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs
        self.by_site: dict[int, list[x509.Certificate]] = {}

    def __call__(self, site: Site) -> list[x509.Certificate]:
        if id(site) not in self.by_site:
            self.by_site[id(site)] = [leaf for leaf, _path in _site_chains(self.inputs, site)]
        return self.by_site[id(site)]


def _wrongly_answered(servers: Servers, names: Iterator[str] | list[str], leaves: _Leaves) -> list[str]:
    """The names no site on the socket answers by name and whose certificate there (the default
    server's) does not cover; a default with no certificate (ssl_reject_handshake) is left out."""
    default_leaves = leaves(servers.default)
    if not default_leaves:
        return []
    return [name for name in names if not servers.answers(name)
            and not any(check_server_name(name, san_names(leaf)).covered for leaf in default_leaves)]


def _answered_by(servers: Servers, leaves: _Leaves) -> str:
    default = servers.default
    how = ("marked default_server" if servers.flagged else "the first for it") if default.server == "nginx" \
        else "the first <VirtualHost> named for it"
    leaf = leaves(default)[0]
    return (f"the default server there ({how}), {who(default)}, answers with the certificate {label(leaf)}, which "
            f"names {_sans_text(san_names(leaf))}")


def _add_socket(site: Site, landing: Landing, port: int) -> str:
    """The edit that puts the site on the socket its clients land on."""
    socket = landing.servers.socket
    if site.server == "apache":
        address = socket.address if not socket.wildcard else ("[::]" if landing.family == 6 else "0.0.0.0")
        if socket.address == "*":
            return f"name the virtual host for *:{port} like the vhosts answering there (`<VirtualHost *:{port}>`)"
        written = " ".join(site.node.args) if site.node is not None else ""
        return f"add {address}:{port} to its address list (`<VirtualHost {written} {address}:{port}>`)"
    if socket.wildcard:
        target = f"[::]:{port}" if landing.family == 6 else f"{port}"
    else:
        target = f"{socket.address}:{port}"
    return f"add `listen {target} ssl;` to this server block"


def _twin_findings(inputs: Inputs, sites: list[Site], table: dict[Socket, Servers], leaves: _Leaves) -> Iterator[Finding]:
    """A TLS site's names on the sockets where its clients land but it does not listen."""
    taking_ipv4 = dual_stack(sites)
    shared = inputs.tls_sockets
    for site in sites:
        if not _name_site(site) or not inputs.reached(site):
            continue  # its names are another block's: their clients land where that block's do
        names = [name for name in site.name_list if is_browser_name(name)]
        if not names:
            continue
        ports = sorted({listen.port for listen in tls_listens(site, shared) if listen.port is not None})
        for port in ports:
            for landing in landings(site, table, port, taking_ipv4, shared):
                missing = _wrongly_answered(landing.servers, names, leaves)
                if not missing:
                    continue
                anchor = next((listen.node for listen in tls_listens(site, shared) if listen.port == port
                               and listen.node is not None), site.node)
                shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
                yield Finding(
                    "SSL303", anchor.file if anchor else site.file, anchor.line if anchor else site.line, (
                        f"{landing.clients(shown)} arrive on {landing.servers.socket}, where {who(site)} does "
                        f"not listen: {_answered_by(landing.servers, leaves)}, not {missing[0]}; browsers show "
                        f"{WRONG_NAME}; fix: {_add_socket(site, landing, port)}"),
                    tuple(missing), site.server)


def _plain_findings(inputs: Inputs, table: dict[Socket, Servers], sites: list[Site],
                    leaves: _Leaves) -> Iterator[Finding]:
    """Names served over http:// only: https://NAME/ reaches the TLS socket of port 443 of the same
    address, whose default server answers."""
    placed = {id(site.node) for servers in table.values() for site in servers.sites}
    served_over_tls = {name for servers in table.values() for site in servers.sites for name in site.name_list}
    taking_ipv4 = dual_stack(sites)
    for plain in inputs.plain_sites:
        if id(plain.node) in placed:
            continue
        names = [name for name in plain.name_list if is_browser_name(name) and name not in served_over_tls]
        if not names:
            continue
        by_socket: dict[Socket, tuple[Servers, Listen]] = {}
        for listen in plain.listens:
            tls = reached(table, listen.address, 443, taking_ipv4) if listen.port == 80 else None
            if tls is None or (internal(socket_address(listen.address, plain.server))
                               and not internal(tls.socket.address)):
                continue  # a plain listen only this machine reaches lands on a public TLS socket: internal
            by_socket.setdefault(tls.socket, (tls, listen))
        for tls, listen in by_socket.values():
            missing = _wrongly_answered(tls, names, leaves)
            if not missing:
                continue
            entry = next(entry for entry in plain.names if entry.name == missing[0])
            node = entry.node or plain.node
            shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
            yield Finding(
                "SSL303", node.file if node else plain.file, node.line if node else plain.line, (
                    f"{shown} {'is' if len(missing) == 1 else 'are'} served only over plain HTTP ({listen.socket}); "
                    f"https://{missing[0]}/ — where a redirect, HSTS or a typed https:// sends visitors — arrives on "
                    f"{tls.socket}: {_answered_by(tls, leaves)}, not {missing[0]}: browsers show {WRONG_NAME}; "
                    f"fix: serve {shown} from a TLS {'<VirtualHost>' if plain.server == 'apache' else 'server block'} "
                    f"with a certificate that covers {'it' if len(missing) == 1 else 'them'}, or stop sending "
                    f"visitors to https://"),
                tuple(missing), plain.server)


def _unheard_findings(sites: list[Site]) -> Iterator[Finding]:
    """Apache: a TLS vhost named for an address:port no `Listen` binds never answers."""
    for site in sites:
        unheard = [listen for listen in site.listens if listen.ssl and not listen.heard]
        if not unheard or site.node is None:
            continue
        sockets = ", ".join(f"{listen.address}:{listen.port if listen.port is not None else '*'}" for listen in unheard)
        port = next((listen.port for listen in unheard if listen.port is not None), 443)
        answered = "; its names are answered by no TLS vhost of its own" if len(unheard) == len(site.listens) else ""
        yield Finding.at("SSL303", site.node, (
            f"{who(site)} is named for {sockets}, but no `Listen` binds {'it' if len(unheard) == 1 else 'them'}: "
            f"apache2 starts without a word and never answers this virtual host there{answered} (a connection to "
            f"port {port} is refused, or answered by the vhosts of a socket that is bound); fix: add "
            f"`Listen {port} https` beside the other Listen lines, or name the vhost for a bound address"), site)


def _unread_certificate(site: Site) -> str:
    """Where the default server names a certificate sslint could not read (SSL002/SSL003: `nginx -t`
    fails on it); "" when it names none, or one whose file is only known at handshake."""
    if not site.certs or any(pair.cert.path is None or pair.cert.dynamic or pair.cert.inline for pair in site.certs):
        return ""
    return site.certs[0].cert.node.where()


def _certless_findings(table: dict[Socket, Servers], leaves: _Leaves) -> Iterator[Finding]:
    """nginx: a TLS server block with no certificate in force (none written, none inherited from
    http) that is not the default server of its socket. nginx starts (it checks only the default's,
    SSL001), and when the SNI name picks this server the handshake goes on with the default
    server's certificate (measured with nginx 1.22.1: curl gets the server's page behind
    'no alternative certificate subject name matches target host name', s_client 'hostname
    mismatch'): its names get a certificate that covers them only by chance. When the default's
    certificate cannot be read (nginx -t fails on it: 'cannot load certificate'), the names are
    said all the same, as a warning: they get whatever that file will hold once it loads."""
    found: dict[int, tuple[Site, list[tuple[Servers, list[str]]]]] = {}
    for socket, servers in sorted(table.items()):
        if servers.server != "nginx":
            continue
        default_leaves = leaves(servers.default)
        if not default_leaves and not _unread_certificate(servers.default):
            continue  # the default has no certificate either (SSL001), or refuses handshakes
        for site in servers.sites:
            if site is servers.default or site.certs or site.node is None:
                continue
            reject = site.directives.get("ssl_reject_handshake")
            if reject is not None and reject.args[:1] == ("on",):
                continue  # refuses the handshakes of its names on purpose
            missing = [name for name in site.name_list if is_browser_name(name)
                       and (servers.match(name) or (None, ""))[0] is site
                       and not any(check_server_name(name, san_names(leaf)).covered for leaf in default_leaves)]
            if missing:
                found.setdefault(id(site), (site, []))[1].append((servers, missing))
    for site, places in found.values():
        servers, missing = places[0]
        default = servers.default
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        also = f" (and on {', '.join(str(other.socket) for other, _names in places[1:])})" if len(places) > 1 else ""
        node = site.node
        assert node is not None  # skipped above
        them = "it" if len(missing) == 1 else "them"
        fix = (f"fix: give this server block ssl_certificate and ssl_certificate_key for a certificate that names "
               f"{them}")
        made_tls = _made_tls_by(site, servers)
        if made_tls:
            fix += " (and `ssl` on its listen), or move it to a port no server block makes TLS"
        default_leaves = leaves(default)
        if not default_leaves:
            yield Finding("SSL303", node.file, node.line, (
                f"{who(site)} has no ssl_certificate of its own (none written in it, none inherited from http), "
                f"and it is not the default server of {servers.socket}{also}{made_tls}: nginx answers the handshake of "
                f"{shown} with the certificate of the default server there, {who(default)}, which cannot be read "
                f"now (ssl_certificate at {_unread_certificate(default)}: `nginx -t` fails on it); once it loads, "
                f"browsers show {WRONG_NAME} for https://{missing[0]}/ unless that certificate names {them}; {fix}"),
                tuple(missing), site.server,
                summary=f"{missing[0]} gets the default server's certificate: this server block has none")
            continue
        leaf = default_leaves[0]
        yield Finding("SSL303", node.file, node.line, (
            f"{who(site)} has no ssl_certificate of its own (none written in it, none inherited from http), "
            f"and it is not the default server of {servers.socket}{also}{made_tls}: nginx starts, and answers the "
            f"handshake of {shown} with the certificate of the default server there, {who(default)}: "
            f"{label(leaf)}, which names {_sans_text(san_names(leaf))}, not {missing[0]}; browsers show "
            f"{WRONG_NAME} for https://{missing[0]}/; {fix}"),
            tuple(missing), site.server, severity="error",  # every client of these names, not some
            summary=f"{missing[0]} gets the default server's certificate {label(leaf)}: this server block has none")


def _made_tls_by(site: Site, servers: Servers) -> str:
    """Where a site that listens plain on the socket gets TLS from: nginx keeps `ssl` per socket, so
    another block's `listen ... ssl` (or the `ssl on` of the socket's default) makes it TLS for every
    server there; "" when the site itself wrote `ssl` there."""
    own = [listen for listen in site.listens if listen_socket(listen) == servers.socket]
    if any(listen.ssl or listen.ssl_on for listen in own):
        return ""
    maker = next(((other, listen) for other in servers.sites for listen in other.listens
                  if listen_socket(listen) == servers.socket and (listen.ssl or listen.ssl_on)), None)
    if maker is None:
        return ""
    tls_site, listen = maker
    written, node = ("`ssl on`", tls_site.directives.get("ssl")) if listen.ssl_on else ("`listen ... ssl`", listen.node)
    if node is None:
        return ""
    return (f"; its `listen` there is plain, but {who(tls_site)} makes the socket TLS ({written} at {node.where()}), "
            f"and nginx speaks TLS to every server on it")


@check("SSL303", needs={"chains"})
def name_served_by_another_certificate(inputs: Inputs) -> Iterator[Finding]:
    sites = _routed_sites(inputs)
    table = inputs.routes
    yield from _unheard_findings(sites)
    if not table:
        return  # no TLS socket: no name can reach another server's certificate
    leaves = _Leaves(inputs)
    yield from _certless_findings(table, leaves)
    yield from _twin_findings(inputs, sites, table, leaves)
    yield from _plain_findings(inputs, table, sites, leaves)
    yield from _unicode_findings(table, leaves)


def _unicode_findings(table: dict[Socket, Servers], leaves: _Leaves) -> Iterator[Finding]:
    """nginx: a server_name written in Unicode (bücher.test). Browsers send the A-label form
    (xn--bcher-kva.test) in SNI and Host, and nginx compares the bytes: no request reaches the block
    by that name, the default server answers it (measured with nginx 1.22.1: s_client -servername
    xn--bcher-kva.test got the default's certificate, 'hostname mismatch'). Said when the default's
    certificate does not cover the name, once per server_name, at its line."""
    found: dict[tuple[int, str], tuple[Site, ServerName, str, list[Servers]]] = {}
    for _socket, servers in sorted(table.items()):
        if servers.server != "nginx":
            continue
        for site in servers.sites:
            for entry in site.names:
                name = entry.name
                if name.isascii() or "*" in name or not is_browser_name(name):
                    continue
                sent = to_ascii(name)
                if sent is None or not _wrongly_answered(servers, [sent], leaves):
                    continue
                found.setdefault((id(site), name), (site, entry, sent, []))[3].append(servers)
    for site, entry, sent, sockets in found.values():
        node = entry.node or site.node
        first = sockets[0]
        elsewhere = f" (and on {len(sockets) - 1} more socket{'s' if len(sockets) > 2 else ''})" if len(sockets) > 1 else ""
        own = any(check_server_name(sent, san_names(leaf)).covered for leaf in leaves(site))
        yield Finding(
            "SSL303", node.file if node else site.file, node.line if node else site.line, (
                f"server_name {entry.name} matches no request: browsers send the xn-- form {sent} in SNI and Host, "
                f"and nginx compares the bytes as written, so {who(site)} is never chosen by that name; on "
                f"{first.socket}{elsewhere} {_answered_by(first, leaves)}, not {sent}: browsers show {WRONG_NAME}; "
                f"fix: write `server_name {sent};`{' (its certificate names that form)' if own else ''}"),
            (sent,), site.server)


def _claims(name: str) -> tuple[str, ...]:
    """The names a server_name entry claims on its sockets. `.a.test` is nginx's shorthand for both
    a.test and *.a.test, taken whole or not at all (sites/routing.py NameTable, measured on nginx 1.22.1)."""
    if name.startswith(".") and len(name) > 1:
        return (name[1:], "*" + name)
    return (name,)


def _unclaim(name: str) -> str:
    """SSL304's fix: a name written twice comes out of one block; a block without server_name gets one."""
    if name:
        return "remove the name from one of the two blocks, or merge them"
    return "give this block the server_name it is meant to answer (nginx reaches a block with no name only for requests without one), or merge the two blocks"


def _fallback(servers: Servers, name: str) -> str:
    """Where a name no block holds goes instead, as the admin reads it."""
    match = servers.match(name)
    if match is not None:
        return f"{who(match[0])} answers it through {match[1].removeprefix('server_name ').split(' (')[0]}"
    return f"the default server of {servers.socket}, {who(servers.default)}, answers it"


def _conflict_message(conflict: Conflict, servers: Servers) -> str | None:
    """SSL304's message for a name nginx refuses on a socket; None: nothing is lost (the same block
    wrote it twice)."""
    site, name, socket = conflict.site, conflict.entry.name, servers.socket
    warned = f"nginx warns 'conflicting server name \"{name}\" on {socket}, ignored'"
    table = servers.names
    parts = _claims(name)
    holders = [(part, table.holder(part)) for part in parts]
    first = next((holder.site for _part, holder in holders if holder is not None and holder.site is not site), None)
    if first is None and len(parts) == 1 and not conflict.held:
        # a.test reserved by a `.a.test` nginx refused for its wildcard part (measured: no block answers a.test)
        owner = conflict.owner
        head = table.wildcard_heads.get("." + name)
        taken = f" (*.{name} was taken first at {head.site.file}:{head.site.line})" if head is not None else ""
        place = "this block" if owner is site else f"the TLS server block at {owner.file}:{owner.line}"
        return (f'server_name "{name}" on {socket} is already reserved by server_name ".{name}" of {place}, which '
                f"nginx refused itself{taken}; {warned} and no server block answers {name} by name: "
                f"{_fallback(servers, name)} (measured with nginx 1.22.1); fix: remove \".{name}\" from {place} "
                f"(nothing reaches it there), or merge the blocks")
    if first is None:
        lost = [part for part, holder in holders if holder is None]
        if len(parts) == 1 or not lost:
            return None  # written twice in one block: the block keeps it
        # `a.test .a.test` or `*.a.test .a.test` in one block: the dotted name clashes with the block's own
        kept = next(part for part, holder in holders if holder is not None)
        instead = _fallback(servers, lost[0]) if not lost[0].startswith("*.") else (
            f"its subdomains go to the default server of {socket}, {who(servers.default)}, unless another "
            f"block's wildcard or regex takes them")
        return (f'server_name "{name}" on {socket} clashes with {kept}, written before it in this block; '
                f"{warned} and drops the whole name, so {lost[0]} reaches no block by it: {instead} (measured "
                f"with nginx 1.22.1); fix: write {name} alone, without {kept} ({name} stands for both "
                f"{parts[0]} and {parts[1]})")
    if len(parts) > 1:
        taken = next(part for part, holder in holders if holder is not None and holder.site is first)
        effect = (f"ignores the whole name in this block (measured: neither {parts[0]} nor "
                  f"{parts[1]} reaches it; {taken} goes to that first block)")
        claimed = f'server_name "{name}" (which stands for {parts[0]} and {parts[1]}) on {socket} is already claimed, for {taken},'
    else:
        effect = ("sends every request for it to that first block, with its certificate and content: "
                  "this block never serves it")
        shown = f'"{name}"' if name else '"" (no server_name: requests without a Host header)'
        claimed = f"server_name {shown} on {socket} is already claimed"
    return (f"{claimed} by the TLS server block at {first.file}:{first.line}; {warned} and "
            f"{effect}; fix: {_unclaim(name)}")


@check("SSL304", needs=())
def server_name_conflict(inputs: Inputs) -> Iterator[Finding]:
    """nginx's conflicts, as routing's NameTable records them, in the order of the blocks, their
    names and their sockets; Apache: a vhost whose every name an earlier vhost takes."""
    if inputs.config.server == "apache":
        yield from _apache_unreached(inputs)
        return
    if inputs.config.server != "nginx":
        return
    table = inputs.routes
    refused: dict[tuple[int, Socket], Conflict] = {}
    for socket, servers in table.items():
        if servers.server == "nginx":
            for conflict in servers.names.conflicts:
                refused.setdefault((id(conflict.entry), socket), conflict)
    if not refused:
        return
    reported: set[tuple[int, Socket, str]] = set()
    shared = inputs.tls_sockets  # a plain `listen 443` on a socket another block made TLS counts
    for site in _http_sites(inputs):
        sockets = list(dict.fromkeys(listen_socket(listen) for listen in tls_listens(site, shared)))
        for entry in site.names:
            for socket in sockets:
                refusal = refused.get((id(entry), socket))
                if refusal is None or (id(site), socket, entry.name) in reported:
                    continue
                message = _conflict_message(refusal, table[socket])
                if message is None:
                    continue
                reported.add((id(site), socket, entry.name))
                summary = ""
                if not inputs.reached(site):
                    message, summary = _unreached(message, site, entry.name)
                # A block without server_name claims "" all the same (nginx -t: 'conflicting server
                # name "" on 127.0.0.1:443'): the finding is then at the block itself.
                file, line = (entry.node.file, entry.node.line) if entry.node is not None else (site.file, site.line)
                yield Finding("SSL304", file, line, message, site.name_list, site.server, summary=summary)


def _apache_unreached(inputs: Inputs) -> Iterator[Finding]:
    """One finding per <VirtualHost> no request reaches (Inputs.unreached), at its ServerName: apache2
    tries the vhosts of an address in order and says nothing when an earlier one takes every name
    of a later one (measured with apache2 2.4: no warning, by SNI or by Host the earlier vhost answers)."""
    for site in inputs.unreached:
        if site.server != "apache" or site.context != "virtualhost" or site.node is None:
            continue
        places = [servers for servers in inputs.routes.values() if any(member is site for member in servers.sites)]
        takers = []
        for servers in places:
            for name in site.name_list:
                match = servers.match(name)
                if match is not None and match[0] is not site:
                    takers.append(f"{name} ({match[1]} of the vhost at {match[0].file}:{match[0].line})")
        taken = ", ".join(dict.fromkeys(takers)) or ", ".join(site.name_list)
        sockets = ", ".join(str(servers.socket) for servers in places)
        entry = next((entry for entry in site.names if entry.node is not None), None)
        node = entry.node if entry is not None and entry.node is not None else site.node
        yield Finding.at("SSL304", node, (
            f"every name of {who(site)} on {sockets} is taken by an earlier <VirtualHost> there: {taken}; "
            f"apache2 tries the vhosts of an address in order (ServerName, ServerAlias, then wildcard "
            f"aliases of each) and says nothing, so no request reaches this vhost at all: it is not the first "
            f"for its address, apache2 loads its certificate and never sends it, and its headers answer "
            f"nothing (measured with apache2 2.4); fix: remove the names from one of the vhosts, or merge "
            f"them, or remove this vhost"), site,
            summary="every name of this <VirtualHost> is an earlier vhost's: no request reaches it at all")


def _unreached(message: str, site: Site, name: str) -> tuple[str, str]:
    """SSL304's message and headline for a block that lost every name and is the default of none
    of its sockets (Inputs.unreached): nginx sends it no request at all, so the rules about what a
    client receives say nothing of it, and this finding says why."""
    dead = (f"with this name gone, no request reaches {who(site)} at all: it is the default server of none "
            f"of its sockets and every name it has is another block's, so nginx loads its certificate and "
            f"never sends it, and its headers answer nothing (measured with nginx 1.22.1)")
    head, fix = message.rsplit("; fix: ", 1) if "; fix: " in message else (message, "")
    message = f"{head}; {dead}" + (f"; fix: {fix}, or remove the block" if fix else "")
    shown = f'"{name}"' if name else '""'
    return message, f"server_name {shown} is another block's: no request reaches this server block at all"
