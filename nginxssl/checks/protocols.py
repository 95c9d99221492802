"""SSL501, SSL504, SSL505: protocol versions, TLS on the listening socket, OCSP stapling.

What a server enables when a directive is unset, and whether OpenSSL lets a
protocol through at all, depend on the binary: the build sslint judges for is
Inputs.build (engine/installed.py), None when unknown, in which case
the message says what was assumed.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Iterator
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from nginxssl.checks import Inputs, check
from nginxssl.checks.headers import grouped
from nginxssl.model.build import Build
from nginxssl.model.edits import DeleteLine, InsertLine, ReplaceArgs, insert_into, replace_args
from nginxssl.model.finding import Finding, Fix
from nginxssl.model.node import Node
from nginxssl.model.site import CertRef, Listen, Site
from nginxssl.pki.chain import Signatures, issued
from nginxssl.sites.routing import Socket, browser_name, listen_socket, tls_listens, who

# Protocol names as nginx spells them, oldest first.
PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
WEAK = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")
_NOT_IN_OPENSSL_1_1 = ("SSLv2", "SSLv3")  # absent from OpenSSL 1.1.0+ as built by distributions
_APACHE_NAMES = {"sslv2": "SSLv2", "sslv3": "SSLv3", "tlsv1": "TLSv1", "tlsv1.1": "TLSv1.1",
                 "tlsv1.2": "TLSv1.2", "tlsv1.3": "TLSv1.3"}
_OLD_CLIENTS = "clients that speak nothing newer (Android 4.3 and older, Internet Explorer 10 and older, Java 7)"


def _finding(rule: str, node: Node | None, sites: Iterable[Site], message: str, severity: str = "",
             fix: Fix | None = None) -> Finding:
    sites = list(sites)
    first = sites[0]
    file, line = (node.file, node.line) if node is not None else (first.file, first.line)
    names = tuple(dict.fromkeys(name for site in sites for name in site.name_list))
    return Finding(rule, file, line, message, names, first.server, severity=severity, fix=fix)


def _who(site: Site) -> str:
    """The site by the name a browser uses, else where it is written (routing.who)."""
    return browser_name(site) or who(site)


# ----------------------------------------------------------------- SSL501


def nginx_default_protocols(build: Build) -> tuple[str, ...]:
    """What nginx enables without ssl_protocols (the default changed in 1.23.4; SSLv3 left in 1.9.1)."""
    if build.at_least(1, 23, 4):
        return ("TLSv1.2", "TLSv1.3")
    if build.at_least(1, 9, 1):
        return ("TLSv1", "TLSv1.1", "TLSv1.2")
    return ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")


def nginx_protocols(node: Node) -> tuple[str, ...]:
    by_lower = _PROTOCOLS_BY_LOWER
    return tuple(dict.fromkeys(by_lower[arg.lower()] for arg in node.args if arg.lower() in by_lower))


_PROTOCOLS_BY_LOWER = {name.lower(): name for name in PROTOCOLS}


def apache_protocols(args: tuple[str, ...], openssl_has_sslv3: bool = False) -> tuple[str, ...]:
    """mod_ssl's SSLProtocol: words replace the set, `+word` adds, `-word` removes; `all` is every
    protocol this OpenSSL has (SSLv3 only where OpenSSL still builds it)."""
    everything = (("SSLv3",) if openssl_has_sslv3 else ()) + ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
    enabled: list[str] = []
    for word in args:
        action = word[0] if word[:1] in ("+", "-") else ""
        name = word[1:] if action else word
        chosen = everything if name.lower() == "all" else (
            (_APACHE_NAMES[name.lower()],) if name.lower() in _APACHE_NAMES else ())
        if action == "-":
            enabled = [protocol for protocol in enabled if protocol not in chosen]
        elif action == "+":
            enabled += [protocol for protocol in chosen if protocol not in enabled]
        else:
            enabled = list(chosen)
    return tuple(protocol for protocol in PROTOCOLS if protocol in enabled)


def apache_default_protocols(openssl_has_sslv3: bool = False) -> tuple[str, ...]:
    """mod_ssl 2.4's default: SSL_PROTOCOL_ALL without SSLv3, i.e. `all -SSLv3`."""
    return apache_protocols(("all", "-SSLv3"), openssl_has_sslv3)


def _seclevel_zero(site: Site) -> bool:
    ciphers = site.directives.get("ssl_ciphers") or site.directives.get("sslciphersuite")
    return ciphers is not None and any("@seclevel=0" in arg.lower() for arg in ciphers.args)


def _openssl_note(build: Build | None, site: Site, weak: tuple[str, ...]) -> tuple[str, bool]:
    """(what OpenSSL does with the weak protocols, whether TLS 1.0/1.1 handshakes succeed today)."""
    if build is None or build.openssl is None:
        return "", True
    notes = []
    live = True
    gone = [p for p in weak if p in _NOT_IN_OPENSSL_1_1]
    if gone and build.openssl >= (1, 1, 0):
        notes.append(f"has no {' or '.join(gone)}")
    tls10 = [p for p in weak if p in ("TLSv1", "TLSv1.1")]
    if tls10 and build.openssl >= (3, 0):
        if _seclevel_zero(site):
            notes.append(f"accepts {' and '.join(tls10)} because the cipher list says @SECLEVEL=0")
        else:
            live = False
            notes.append(f"refuses {' and '.join(tls10)} at its default security level (a client that offers "
                         "nothing newer gets alert 'internal error'), so no handshake uses them today; they "
                         "come back with @SECLEVEL=0 in the cipher list or on an older OpenSSL")
    if not notes:
        return "", live
    return f"; but OpenSSL {build.openssl_text}, which {build.program} here runs with, {' and '.join(notes)}", live


def _recommended(build: Build | None, server: str) -> str:
    if server == "apache":
        return "SSLProtocol -all +TLSv1.2 +TLSv1.3"
    if build is not None and not build.at_least(1, 13, 0):
        return "ssl_protocols TLSv1.2;"
    return "ssl_protocols TLSv1.2 TLSv1.3;"


@check("SSL501", needs={"build"})
def weak_protocols(inputs: Inputs) -> Iterator[Finding]:
    build = inputs.build
    findings: list[Finding] = []
    unset: dict[Node | None, list[Site]] = {}
    http_blocks = _enclosing_blocks(inputs)
    for site in inputs.sites:
        if not site.tls or not inputs.reached(site):
            continue  # no request reaches the block: no client negotiates with its settings
        node = site.directives.get("ssl_protocols") or site.directives.get("sslprotocol")
        if node is not None:
            findings.extend(_explicit(site, node, build))
        elif site.context != "snippet" and not inputs.config.fragment:
            # A lone site file: the main config, unseen, usually sets the protocols for every server.
            unset.setdefault(http_blocks.get(id(site.node)), []).append(site)
    written = {http_blocks.get(id(site.node)) for site in inputs.sites if site.tls and site.context != "snippet"
               and (site.directives.get("ssl_protocols") or site.directives.get("sslprotocol")) is not None}
    chosen = inputs.settings.server_version is not None
    for block, sites in unset.items():
        if block in written or inputs.config.server == "apache" and None in written:
            # Only some servers lack the line: the decision is theirs, each where it is written.
            for site in sites:
                finding = _implicit([site], None, build, inputs.config.server, chosen)
                if finding is not None:
                    findings.append(finding)
            continue
        finding = _implicit(sites, block, build, inputs.config.server, chosen)
        if finding is not None:
            findings.append(finding)
    yield from grouped(findings)


def _enclosing_blocks(inputs: Inputs) -> dict[int, Node]:
    """id(server block) -> the http/stream block holding it, where one default covers every server."""
    found: dict[int, Node] = {}
    for node in inputs.config.nodes:
        if node.directive in ("http", "stream", "mail") and node.is_block:
            for child in node.children or ():
                if child.directive == "server":
                    found[id(child)] = node
    return found


def _explicit(site: Site, node: Node, build: Build | None) -> Iterator[Finding]:
    server = site.server
    if server == "apache":
        sslv3 = build is not None and build.openssl is not None and build.openssl < (1, 1, 0)
        enabled = apache_protocols(node.args, sslv3)
        written = "SSLProtocol " + " ".join(node.args)
    else:
        enabled = nginx_protocols(node)
        written = "ssl_protocols " + " ".join(node.args)
    weak = tuple(protocol for protocol in enabled if protocol in WEAK)
    if not weak:
        return
    recommended = _recommended(build, server)
    words = tuple(recommended.rstrip(";").split()[1:])
    fix = Fix(f"replace with `{recommended}` (unsafe: {_OLD_CLIENTS} can no longer connect)",
              (replace_args(node, words, server),), safe=False)
    if not _handshakes(build, site, enabled):
        library = f"OpenSSL {build.openssl_text} (what {build.program} here runs with)" \
            if build is not None and build.openssl else "OpenSSL 1.1.0 and later as distributions build it"
        gone = [p for p in enabled if p in _NOT_IN_OPENSSL_1_1]
        dead = [p for p in enabled if p in ("TLSv1", "TLSv1.1")]
        reasons = ([f"has no {' or '.join(gone)}"] if gone else []) + (
            [f"refuses {' and '.join(dead)} at its default security level"] if dead else [])
        yield _finding(
            "SSL501", node, [site],
            f"`{written}` enables only {', '.join(enabled)}, and {library} {' and '.join(reasons)}: every "
            f"handshake fails and browsers show ERR_SSL_VERSION_OR_CIPHER_MISMATCH; use `{recommended}`",
            severity="error", fix=fix)
        return
    note, live = _openssl_note(build, site, weak)
    yield _finding(
        "SSL501", node, [site],
        f"`{written}` allows {', '.join(weak)}: deprecated (RFC 8996) and offered by no current browser, "
        f"they only serve {_OLD_CLIENTS} over weak crypto (POODLE, BEAST) and fail PCI DSS and SSL Labs "
        f"audits{note}; use `{recommended}`",
        severity="" if live else "info", fix=fix)


def _handshakes(build: Build | None, site: Site, enabled: tuple[str, ...]) -> tuple[str, ...]:
    """The enabled protocols a handshake can complete with, as far as the OpenSSL in use tells."""
    modern = build is None or build.openssl is None or build.openssl >= (1, 1, 0)
    strict = build is not None and build.openssl is not None and build.openssl >= (3, 0) and not _seclevel_zero(site)
    return tuple(p for p in enabled if not (p in _NOT_IN_OPENSSL_1_1 and modern)
                 and not (p in ("TLSv1", "TLSv1.1") and strict))


def _implicit(sites: list[Site], block: Node | None, build: Build | None, server: str,
              chosen: bool = False) -> Finding | None:
    """`chosen`: the build is the user's (--server-version), not the installed binary's."""
    first = sites[0]
    where = "the http block" if block is not None and block.directive == "http" else (
        f"the {block.directive} block" if block is not None else "this server block")
    if server == "apache":
        where = "the server config (outside any <VirtualHost>)"
    recommended = _recommended(build, server)
    directive = "SSLProtocol" if server == "apache" else "ssl_protocols"
    anchor = block if block is not None else first.node  # where the one line for all of them goes
    count = f" for {len(sites)} TLS servers" if len(sites) > 1 else ""
    edits: tuple[InsertLine, ...] = ()
    if server == "nginx" and anchor is not None and anchor.children is not None and anchor.file:
        edits = (insert_into(anchor, recommended),)
    fix = Fix(f"add `{recommended}` to {where} (unsafe: {_OLD_CLIENTS} can no longer connect)", edits, safe=False)
    if build is None:
        if server == "apache":
            return _finding(
                "SSL501", anchor, sites,
                f"{directive} is not set{count}: mod_ssl's default (`all -SSLv3`) enables TLSv1 and TLSv1.1; "
                f"{'judged for server-version none, sslint cannot tell' if chosen else 'no apache2 binary here to tell'}"
                f" whether its OpenSSL still accepts them; add `{recommended}` to {where}", severity="info", fix=fix)
        return _finding(
            "SSL501", anchor, sites,
            f"{directive} is not set{count}, so the protocols depend on the nginx version: before 1.23.4 the "
            f"default enables TLSv1 and TLSv1.1 (since 1.23.4: TLSv1.2 TLSv1.3 only); "
            f"{'judged for server-version none, sslint' if chosen else 'sslint found no nginx binary to ask and'} "
            f"assumed neither; add `{recommended}` to {where} to be sure",
            severity="info", fix=fix)
    if server == "apache":
        sslv3 = build.openssl is not None and build.openssl < (1, 1, 0)
        enabled = apache_default_protocols(sslv3)
        default = "mod_ssl's default (`all -SSLv3`)"
    else:
        enabled = nginx_default_protocols(build)
        default = f"{build.program}'s default"
    weak = tuple(protocol for protocol in enabled if protocol in WEAK)
    if not weak:
        return None
    note, live = _openssl_note(build, first, weak)
    missing13 = "" if "TLSv1.3" in enabled or server == "apache" else ", and not TLSv1.3"
    return _finding(
        "SSL501", anchor, sites,
        f"{directive} is not set{count}, so {default} applies: {' '.join(enabled)}, which allows "
        f"{', '.join(weak)}{missing13}{note}; add `{recommended}` to {where}",
        severity="" if live else "info", fix=fix)


# ----------------------------------------------------------------- SSL504


@check("SSL504", needs={"build"})
def tls_listen_without_ssl(inputs: Inputs) -> Iterator[Finding]:
    build = inputs.build
    findings: list[Finding] = []
    shared = inputs.tls_sockets
    blocks = _enclosing_blocks(inputs)
    for site in inputs.sites:
        if site.server == "apache":
            findings.extend(_apache_engine_off(site))
            continue
        if site.context not in ("http", "mail"):
            continue
        ssl_node = site.directives.get("ssl")
        if ssl_node is not None and ssl_node.args:
            findings.extend(_ssl_directive(site, ssl_node, build, blocks.get(id(site.node)), shared))
            if ssl_node.args[0] in ("on", "off"):
                # on: every listen of this server is TLS (or nginx refuses the line); off: the
                # admin wrote that its plain listens are plain (certificates inherited from http).
                continue
        if site.context != "http" or not site.certs:
            continue
        tls_ports = {listen.port for listen in site.listens if listen.ssl or listen.quic}
        # Certificates written in the server block say it means TLS: any port but the usual plain
        # ones is suspect. Certificates it only inherits from http (the default of every TLS
        # server) say nothing of this one: only the TLS ports, and ports it also serves with ssl.
        own = any(_written_in(pair.cert.node, site.node) for pair in site.certs)
        for listen in site.listens:
            if listen.ssl or listen.quic or listen.node is None or listen.address.startswith("unix:"):
                continue
            if listen_socket(listen) in shared or listen.port == 80:
                continue
            if listen.port in (443, 8443) or listen.port in tls_ports or (
                    own and not tls_ports and listen.port not in (8000, 8080)):
                findings.append(_plain_listen(site, listen, listen.node))
    if not inputs.config.fragment:
        findings.extend(_ssl_in_force_nowhere(inputs, build))
    yield from grouped(findings)


def _ssl_in_force_nowhere(inputs: Inputs, build: Build | None) -> Iterator[Finding]:
    """`ssl` in an http block whose every server sets its own: no site reports it (none inherits
    it), it does nothing, and nginx 1.25.1 and later still refuse to start on it."""
    for block in inputs.config.nodes:
        if block.directive != "http" or not block.is_block:
            continue
        servers = [child for child in block.children or () if child.directive == "server" and child.is_block]
        if not servers or not all(any(child.directive == "ssl" for child in server.children or ()) for server in servers):
            continue
        for node in block.children or ():
            if node.directive != "ssl" or not node.args:
                continue
            if build is not None and build.at_least(1, 25, 1):
                status, severity = (f"it was removed in nginx 1.25.1: {build.program} refuses to start with "
                                    "'unknown directive \"ssl\"'"), "error"
            else:
                status, severity = ("it is deprecated since nginx 1.15.0, and nginx 1.25.1 and later refuse to start "
                                    "on it ('unknown directive \"ssl\"')"), "warning"
            edits = (DeleteLine(node.file, node.line, "ssl"),) if _alone_on_its_line(node, block) else ()
            yield Finding("SSL504", node.file, node.line, (
                f"`ssl {' '.join(node.args)}` in the http block is in force nowhere: each of its {len(servers)} "
                f"server blocks sets its own `ssl`; {status}; delete this line"), (), "nginx", severity=severity,
                fix=Fix("delete the `ssl` line no server uses", edits))


def _url(site: Site, port: str) -> str:
    name = browser_name(site)
    return f"https://{name}{port}/" if name is not None else f"every https:// address of port {port.lstrip(':') or 443}"


def _plain_listen(site: Site, listen: Listen, node: Node) -> Finding:
    """`listen`, written at `node`, is plain though the site names certificates."""
    cert = site.certs[0].cert.node
    written = " ".join(node.args)
    port = "" if listen.port == 443 else f":{listen.port}"
    return _finding(
        "SSL504", node, [site],
        f"`listen {written}` has no `ssl`, but {_who(site)} names certificates "
        f"(ssl_certificate at {cert.where()}): nginx answers plain HTTP on port {listen.port}, so "
        f"{_url(site, port)} fails in the browser (ERR_SSL_PROTOCOL_ERROR; Firefox: "
        f"SSL_ERROR_RX_RECORD_TOO_LONG); write `listen {written} ssl;`",
        fix=Fix("add `ssl` to the listen directive", (replace_args(node, (*node.args, "ssl")),)))


def _written_in(node: Node, block: Node | None) -> bool:
    """`node` is written directly in `block` (not inherited from an enclosing one)."""
    return block is not None and any(child is node for child in block.children or ())


def _alone_on_its_line(node: Node, block: Node | None) -> bool:
    """`node` is a child of `block` and no other directive shares its line (a line edit is safe)."""
    if block is None or not _written_in(node, block):
        return False
    return not any(
        child.line == node.line and child is not node and child.file == node.file for child in block.children or ())


def _keeps_plain(site: Site) -> bool:
    """The site has a plain listen, which its `ssl off` keeps plain against an `ssl on` above it."""
    return not site.listens or not all(listen.ssl or listen.quic for listen in site.listens)


def _ssl_edits(site: Site, node: Node, http: Node | None, removed: bool, tls: tuple[Listen, ...]) -> tuple:
    """What replaces `ssl on|off`. `on`: `ssl` onto every listen `tls` of the server (those `ssl on`
    made TLS, port 80 included, or another server did; not those it leaves plain, where the server
    is not the socket's default: `ssl` there would turn the socket TLS for its default too), then
    the line goes. `off`: the line goes where it changes nothing: every
    listen of the server is TLS anyway, or the nginx judged for (`removed`: 1.25.1 and later)
    knows no `ssl` directive, so no `ssl on` can be in force above it. Otherwise a plain listen
    is what it keeps plain (against an http-level `ssl on`, seen or not), and it stays."""
    value = node.args[0] if node.args else ""
    if value not in ("on", "off"):
        return ()
    parent = next((block for block in (site.node, http) if _written_in(node, block)), None)
    deletable = _alone_on_its_line(node, parent)
    if value == "off":
        changes_nothing = removed or not _keeps_plain(site)
        return (DeleteLine(node.file, node.line, "ssl"),) if deletable and changes_nothing else ()
    edits: list = [replace_args(listen.node, (*listen.node.args, "ssl")) for listen in tls
                   if listen.node is not None and not listen.ssl and not listen.quic]
    if deletable:
        edits.append(DeleteLine(node.file, node.line, "ssl"))
    return tuple(edits)


def _ssl_directive(site: Site, node: Node, build: Build | None, http: Node | None,
                   shared: frozenset[Socket]) -> Iterator[Finding]:
    value = node.args[0]
    removed = build is not None and build.at_least(1, 25, 1)
    tls = tls_listens(site, shared)
    edits = _ssl_edits(site, node, http, removed, tls)
    description = ("move `ssl` onto the listen directives and delete `ssl on`" if value == "on"
                   else f"delete `ssl {value}`")
    plain80 = [listen.node for listen in tls if listen.port == 80 and listen.node is not None]
    # nginx reads `ssl on` of a socket's default server only (sites/nginx.py): elsewhere it is ignored
    ignored = [listen for listen in site.listens if listen.node is not None and not any(listen is own for own in tls)]
    also = ""
    if value == "on" and plain80:
        also = (f"; it also turns `listen {' '.join(plain80[0].args)}` ({plain80[0].where()}) into TLS, "
                "so http:// visitors get a broken connection")
    if value == "on" and ignored and build is not None and not removed:
        shown = ", ".join(f"`listen {' '.join(listen.node.args)}` ({listen.node.where()})"
                          for listen in ignored if listen.node is not None)
        also += (f"; but not on {shown}: {build.program} reads `ssl on` of a socket's default server only, and "
                 f"the default server there has none, so this server answers plain HTTP there (https:// fails "
                 f"with 'wrong version number')")
    if value == "on" and ignored and not tls:
        instead = ("delete this line, or give the listen `ssl` (which makes the socket TLS for every server on it, "
                   "its default included)")
    elif value == "on":
        instead = "write `ssl` on the listen directives instead (listen 443 ssl;) and delete this line"
    elif value == "off" and not removed and _keeps_plain(site):
        instead = ("delete this line once no `ssl on` in the http block relies on it to keep this server's "
                   "plain listen plain")
    else:
        instead = "delete this line"
    if removed and build is not None:
        yield _finding(
            "SSL504", node, [site],
            f"`ssl {value}` was removed in nginx 1.25.1: {build.program} refuses to start "
            f"with 'unknown directive \"ssl\"'{also}; {instead}", severity="error",
            fix=Fix(description, edits))
        return
    if build is not None:
        today = (f"{build.program} still obeys it (and warns 'the \"ssl\" directive is deprecated, use the "
                 f"\"listen ... ssl\" directive instead'), making "
                 + ("every listen of this server TLS" if not ignored else "the listens of this server TLS where it "
                    "is the default server"))
        if value != "on":
            today = f"{build.program} still accepts it"
    else:
        today = ("older nginx obey it, making every listen of the server TLS; which nginx runs this config "
                 "sslint could not tell")
    yield _finding(
        "SSL504", node, [site],
        f"`ssl {value}` is deprecated since nginx 1.15.0 and removed in 1.25.1, where nginx "
        f"refuses to start ('unknown directive \"ssl\"'); {today}{also}; {instead}",
        severity="warning", fix=Fix(description, edits))


def _apache_engine_off(site: Site) -> Iterator[Finding]:
    """A vhost naming certificates on a port other than 80 whose TLS is off: mod_ssl turns it on by
    itself only behind a `Listen` that speaks https (port 443, or `Listen PORT https`); elsewhere
    apache2 answers plain HTTP there (curl: "wrong version number")."""
    if site.tls or site.context != "virtualhost" or not site.certs or site.node is None:
        return
    ports = [listen.port for listen in site.listens if listen.port not in (80, None)]
    if not ports:
        return
    engine = site.directives.get("sslengine")
    cause = f"SSLEngine {engine.args[0]} ({engine.where()})" if engine is not None and engine.args else \
        "no `SSLEngine on`"
    if engine is not None and _written_in(engine, site.node):
        edit: ReplaceArgs | InsertLine = replace_args(engine, ("on",), "apache")
    else:  # unset, or off in the server config: the vhost's own line wins over the inherited one
        edit = InsertLine(site.node.file, site.node.line, "SSLEngine on")
    yield _finding(
        "SSL504", engine if engine is not None and _written_in(engine, site.node) else site.node, [site],
        f"<VirtualHost {' '.join(site.node.args)}> names certificates (SSLCertificateFile at "
        f"{site.certs[0].cert.node.where()}) but has {cause}: apache2 answers plain HTTP on port {ports[0]}, "
        f"so https:// fails (curl: 'wrong version number', browsers: ERR_SSL_PROTOCOL_ERROR); fix: add "
        f"`SSLEngine on` to the virtual host",
        fix=Fix("write `SSLEngine on` in the virtual host", (edit,)))


# ----------------------------------------------------------------- SSL505


def _ocsp_urls(cert: x509.Certificate) -> list[str]:
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [entry.access_location.value for entry in access
            if entry.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(entry.access_location, x509.UniformResourceIdentifier)]


def _needs_dns(url: str) -> str | None:
    """The host name an OCSP URL makes nginx resolve, None for an IP address."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host or None
    return None


@check("SSL505", needs={"material"})
def stapling_misconfigured(inputs: Inputs) -> Iterator[Finding]:
    findings: list[Finding] = []
    signatures = Signatures()  # a thousand sites stapling one leaf check its issuer's signature once
    for site in inputs.sites:
        if site.server == "apache" and site.tls:
            findings.extend(_apache_stapling(inputs, site, signatures))
        if site.server != "nginx" or not site.tls:
            continue
        stapling = site.directives.get("ssl_stapling")
        if stapling is None or stapling.args[:1] != ("on",) or site.directives.get("ssl_stapling_file"):
            continue  # off, or the response comes from a file: no lookup, no issuer needed
        responder = site.directives.get("ssl_stapling_responder")
        resolver = site.directives.get("resolver")
        for pair, leaf, issuers, subject in _stapled(inputs, site):
            ignored = f"nginx logs '\"ssl_stapling\" ignored, {{}}' at start-up and staples nothing for {subject}"
            if not any(issued(candidate, leaf, signatures) for candidate in issuers):
                findings.append(_finding(
                    "SSL505", stapling, [site],
                    f"ssl_stapling is on, but the issuer of {subject} is neither in "
                    f"{pair.cert.raw} nor in ssl_trusted_certificate: "
                    + ignored.format(f'issuer certificate not found for certificate "{pair.cert.raw}"')
                    + "; serve the chain (fullchain) or name the intermediate in ssl_trusted_certificate"))
                continue
            urls = list(responder.args[:1]) if responder is not None and responder.args else _ocsp_urls(leaf)
            if not urls:
                findings.append(_finding(
                    "SSL505", stapling, [site],
                    f"ssl_stapling is on, but {subject} names no OCSP responder (several CAs, "
                    "Let's Encrypt among them, no longer include one): "
                    + ignored.format(f'no OCSP responder URL in the certificate "{pair.cert.raw}"')
                    + "; turn ssl_stapling off"))
                continue
            host = _needs_dns(urls[0])
            if host is not None and resolver is None:
                findings.append(_finding(
                    "SSL505", stapling, [site],
                    f"ssl_stapling is on without a resolver: nginx looks the OCSP responder {host} up only "
                    f"once, at start-up (when that fails: '\"ssl_stapling\" ignored, host not found in OCSP "
                    f"responder'), then keeps those addresses for good, logging 'no resolver defined to "
                    f"resolve {host} while requesting certificate status' at every refresh; when the "
                    f"responder moves, handshakes go out without a stapled response (browsers then ask the "
                    f"CA themselves); add `resolver 127.0.0.53;` (or your DNS server) to this server or the "
                    f"http block"))
    yield from grouped(findings)


def _stapled(inputs: Inputs, site: Site) -> Iterator[tuple[CertRef, x509.Certificate, tuple, str]]:
    """(pair, leaf, the certificates the server may take the leaf's issuer from, the leaf's subject) for
    each certificate of the site that loaded: the rest of its file, the chain file (Apache) and the
    trusted certificates (ssl_trusted_certificate, SSLCACertificateFile)."""
    trusted = inputs.material.get(site.trusted_certificate.path) \
        if site.trusted_certificate is not None and site.trusted_certificate.path else None
    store = tuple(trusted.certs) if trusted is not None and trusted.usable else ()
    for pair in site.certs:
        material = inputs.material.get(pair.cert.path) if pair.cert.path else None
        if material is None or not material.usable or not material.certs:
            continue
        chain = inputs.material.get(pair.chain.path) if pair.chain is not None and pair.chain.path else None
        extra = tuple(chain.certs) if chain is not None and chain.usable else ()
        leaf = material.certs[0]
        yield pair, leaf, tuple(material.certs[1:]) + extra + store, leaf.subject.rfc4514_string() or pair.cert.raw


def _apache_stapling(inputs: Inputs, site: Site, signatures: Signatures) -> Iterator[Finding]:
    """mod_ssl's stapling set-up, as apache2 2.4 does it at start-up (measured: tests/test_apache_live.py)."""
    stapling = site.directives.get("sslusestapling")
    if stapling is None or not stapling.args or stapling.args[0].lower() != "on":
        return
    if site.directives.get("sslstaplingcache") is None and not inputs.config.fragment:
        # (A lone site file cannot tell: the cache usually sits in mods-enabled/ssl.conf.)
        yield _finding(
            "SSL505", stapling, [site],
            "SSLUseStapling is on but no SSLStaplingCache is set in the server config: `apache2 -t` passes, "
            "then apache2 refuses to start ('AH01958: SSLStapling: no stapling cache available', 'AH02312: "
            "Fatal error initialising mod_ssl, exiting'); add `SSLStaplingCache "
            "shmcb:${APACHE_RUN_DIR}/ssl_stapling(32768)` outside any <VirtualHost>, or turn SSLUseStapling off",
            severity="error")
        return
    forced = site.directives.get("sslstaplingforceurl")
    for pair, leaf, issuers, subject in _stapled(inputs, site):
        unable = "'AH02604: Unable to configure certificate ... for stapling'"
        if not any(issued(candidate, leaf, signatures) for candidate in issuers):
            yield _finding(
                "SSL505", stapling, [site],
                f"SSLUseStapling is on, but the issuer of {subject} is neither in {pair.cert.raw}, "
                f"SSLCertificateChainFile nor SSLCACertificateFile: apache2 logs 'AH02217: "
                f"ssl_stapling_init_cert: can't retrieve issuer certificate!' and {unable} at start-up and "
                "staples nothing; serve the chain (leaf then intermediates in SSLCertificateFile)")
        elif forced is None and not _ocsp_urls(leaf):
            yield _finding(
                "SSL505", stapling, [site],
                f"SSLUseStapling is on, but {subject} names no OCSP responder (several CAs, Let's Encrypt "
                "among them, no longer include one): apache2 logs 'AH02218: ssl_stapling_init_cert: no OCSP "
                f"URI in certificate and no SSLStaplingForceURL set' and {unable} at start-up and staples "
                "nothing; turn SSLUseStapling off")


# ----------------------------------------------------------------- SSL507


def _version_text(protocols: tuple[str, ...]) -> str:
    return " ".join(protocols) if protocols else "no protocol at all"


def _nginx_protocols_in_force(site: Site, build: Build | None) -> tuple[tuple[str, ...], str]:
    """(the protocols a site's settings enable, how that is known)."""
    node = site.directives.get("ssl_protocols")
    if node is not None:
        return nginx_protocols(node), f"ssl_protocols at {node.where()}"
    judged = build or Build("nginx", (1, 22, 1))
    assumed = "" if build is not None else ", assumed: the judged version is unknown"
    return nginx_default_protocols(judged), f"nginx {judged.version_text}'s default{assumed}"


_PROTOCOLS_PER_NAME = (1, 29, 2)  # nginx CHANGES 1.29.2: "the ssl_protocols directive works in a virtual server
# different from the default server when using OpenSSL 1.1.1 or newer"


def _nginx_shared_socket_protocols(inputs: Inputs) -> Iterator[Finding]:
    """On nginx 1.22.1 with OpenSSL 3.0 (tests/test_server_truth.py) the protocol version is agreed
    with the settings of the socket's default server: the SNI name switches the certificate and
    the ciphers to the named server's, not the versions it allows."""
    build = inputs.build
    if build is not None and build.at_least(*_PROTOCOLS_PER_NAME) and (build.openssl or (1, 1, 1)) >= (1, 1, 1):
        return  # nginx 1.29.2 CHANGES: ssl_protocols works in a virtual server other than the default
    by_node: dict[int, tuple[Node, Site, list[tuple[str, Site, tuple[str, ...], str]]]] = {}
    for socket, servers in sorted(inputs.routes.items()):  # nginx's: its http server blocks
        default = servers.default
        decided, decided_by = _nginx_protocols_in_force(default, build)
        for site in servers.sites:
            node = site.directives.get("ssl_protocols")
            if site is default or node is None or node is default.directives.get("ssl_protocols") \
                    or not inputs.reached(site):  # a block no request reaches decides nothing at all
                continue
            written = nginx_protocols(node)
            if written == decided:
                continue
            entry = by_node.setdefault(id(node), (node, site, []))
            if all(seen[0] != str(socket) for seen in entry[2]):
                entry[2].append((str(socket), default, decided, decided_by))
    for node, site, sockets in by_node.values():
        written = nginx_protocols(node)
        first_socket, default, decided, decided_by = sockets[0]
        refused = [protocol for protocol in written if protocol not in decided]
        allowed = [protocol for protocol in decided if protocol not in written]
        effects = []
        named = _who(site)
        if refused:
            effects.append(f"clients of {named} that speak {' or '.join(refused)} at most are refused "
                           f"(openssl s_client: 'tlsv1 alert protocol version')")
        if allowed:
            effects.append(f"{' and '.join(allowed)} handshakes still succeed for {named}")
        also = f" (and on {', '.join(entry[0] for entry in sockets[1:])})" if len(sockets) > 1 else ""
        unknown = "" if build is not None else (
            " (so nginx before 1.29.2 does; from 1.29.2 with OpenSSL 1.1.1 or newer the named server's "
            "ssl_protocols is obeyed: the judged version is unknown, so this is only said)")
        yield _finding("SSL507", node, [site], (
            f"ssl_protocols {_version_text(written)} of {who(site)} does not decide the handshake on {first_socket}{also}: "
            f"nginx agrees on the version with the default server of the socket, {who(default)} "
            f"({_version_text(decided)}, from {decided_by}), before the SNI name picks this server{unknown}; "
            f"{'; '.join(effects)}; fix: write the same ssl_protocols in the default server (or once in the http "
            f"block for every server), or give this server a socket of its own"), severity="info" if unknown else "")


def _apache_keyword_resets(inputs: Inputs) -> Iterator[Finding]:
    """mod_ssl reads SSLProtocol word by word: `+X` adds, `-X` removes, a bare keyword starts the
    list again, so only the last bare keyword and what follows it count."""
    seen: set[int] = set()
    for site in inputs.sites:
        node = site.directives.get("sslprotocol")
        if site.server != "apache" or node is None or id(node) in seen:
            continue
        seen.add(id(node))
        bare = [word for word in node.args if word[:1] not in ("+", "-")]
        if len(bare) < 2:
            continue
        has_sslv3 = bool(inputs.build and inputs.build.openssl and inputs.build.openssl < (1, 1))
        meant = apache_protocols(tuple(word if index == 0 or word[:1] in ("+", "-") else f"+{word}"
                                       for index, word in enumerate(node.args)), has_sslv3)
        got = apache_protocols(node.args, has_sslv3)
        if meant == got:
            continue
        lost = [protocol for protocol in meant if protocol not in got]
        line = "SSLProtocol -all " + " ".join(f"+{protocol}" for protocol in meant) if meant else ""
        sites = [other for other in inputs.sites if other.directives.get("sslprotocol") is node]
        if not any(inputs.reached(other) for other in sites):
            continue  # only vhosts no request reaches use it
        yield _finding("SSL507", node, sites, (
            f"SSLProtocol {' '.join(node.args)} enables {_version_text(got)} only, not {' '.join(lost)}: mod_ssl "
            f"starts the list again at each keyword written without + or - (`{bare[-1]}` resets it), and "
            f"`apache2 -t` says 'Syntax OK'; clients that speak {' or '.join(lost)} at most are refused "
            f"(openssl s_client: 'tlsv1 alert protocol version'); fix: write `{line}`"))


@check("SSL507", needs={"build"})
def protocols_not_as_written(inputs: Inputs) -> Iterator[Finding]:
    if inputs.config.server == "nginx":
        yield from _nginx_shared_socket_protocols(inputs)
    else:
        yield from _apache_keyword_resets(inputs)
