"""Config -> TLS sites, with each server's inheritance rules.

A Site is one server block (nginx `server`, Apache `<VirtualHost>`) that speaks
TLS or names certificates: its names, its listens, its certificate/key pairs
(each with the directive that named it, which may sit in an enclosing context),
and the TLS directives in effect for it. Later stages read sites, never the AST
layout of a particular server.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from nginxssl.model.headers import ResponseHeaders
from nginxssl.model.node import Config, Node
from nginxssl.model.site import CertRef, Listen, PathRef, ServerName, Site
from nginxssl.sites.headers.nginx import NginxContext, nginx_context, nginx_headers
from nginxssl.sites.paths import DiskPaths
from nginxssl.sites.routing import Socket, listen_socket, tls_sockets, writes_ssl_on

_VARIABLE = re.compile(r"\$(\{?[A-Za-z_])")


# ---------------------------------------------------------------- nginx

# Directives whose value a server block inherits from http/stream/mail when it has none itself.
_INHERITED = frozenset({
    "ssl_certificate", "ssl_certificate_key", "ssl_password_file", "ssl_trusted_certificate",
    "ssl_protocols", "ssl_stapling", "ssl_stapling_verify", "ssl_stapling_file", "resolver",
    "ssl", "ssl_reject_handshake", "ssl_ciphers", "ssl_stapling_responder",
})


def _path_ref(disk_paths: DiskPaths, node: Node, raw: str) -> PathRef:
    if raw.startswith("data:"):
        return PathRef(raw, None, node, inline=True)
    if "$" in raw and _VARIABLE.search(raw):
        return PathRef(raw, None, node, dynamic=True)
    return PathRef(raw, disk_paths(raw), node)


def parse_listen(node: Node, context: str) -> Listen:
    args = node.args
    target = args[0] if args else ""
    flags = args[1:]
    address, port = "*", None
    if target.startswith("unix:"):
        address = target
    elif target.startswith("["):
        host, _, rest = target.partition("]")
        address = host + "]"
        port = _port(rest.lstrip(":")) if rest.startswith(":") else 80
    elif ":" in target:
        host, _, rest = target.rpartition(":")
        address, port = host or "*", _port(rest)
    elif target.isdigit():
        port = _port(target)
    else:
        address, port = target, 80
    return Listen(
        node=node,
        address=address,
        port=port,
        ssl="ssl" in flags,
        default_server="default_server" in flags or "default" in flags,
        http2="http2" in flags,
        quic="quic" in flags,
    )


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _own_tls(nodes: tuple[Node, ...]) -> dict[str, list[Node]]:
    """The inheritable TLS directives among `nodes`, each name with all its lines."""
    own: dict[str, list[Node]] = {}
    for node in nodes:
        if node.directive in _INHERITED:
            own.setdefault(node.directive, []).append(node)
    return own


@dataclass(frozen=True, slots=True)
class _Enclosing:
    """What an http/stream/mail block hands down to its servers, worked out once for all of them.

    nginx merges each directive separately; array directives such as ssl_certificate
    are inherited as a whole only when the server sets none.
    """

    context: str
    directives: dict[str, list[Node]]  # the inheritable TLS directives written there
    last: dict[str, Node]  # the one in force for each
    # http only: a server block's response headers, from its add_header, add_header_inherit and maps
    # and the block's (Site.header_source: one for all its servers)
    header_source: Callable[[Node], ResponseHeaders] | None = None

    @classmethod
    def of(cls, context: str, block_nodes: tuple[Node, ...], headers: NginxContext | None = None) -> _Enclosing:
        directives = _own_tls(block_nodes)
        return cls(context, directives, {name: nodes[-1] for name, nodes in directives.items()},
                   functools.partial(nginx_headers, context=headers) if headers is not None else None)


def _server_name(arg: str) -> str:
    """A server_name as nginx matches it: lowercased, but a regex as written (`\\D` is not `\\d`).
    A name already in lowercase is the reader's own string, not a copy of it: 100,000 names of a
    50,000-block tree were 6 MiB of copies."""
    if arg.startswith("~"):
        return arg
    lowered = arg.lower()
    return arg if lowered == arg else lowered


def _nginx_site(disk_paths: DiskPaths, server: Node, enclosing: _Enclosing) -> Site:
    """One server block as a Site; in http, a TLS site gets its response headers too (built here
    rather than by dataclasses.replace afterwards, which cost as much as the site; worked out
    when first read)."""
    context = enclosing.context
    own: dict[str, list[Node]] = {}
    listens: list[Listen] = []
    names: list[ServerName] = []
    tls = False
    for child in server.children or ():
        directive = child.directive
        if directive == "listen":
            listen = parse_listen(child, context)
            listens.append(listen)
            tls = tls or listen.ssl or listen.quic
        elif directive == "server_name":
            names.extend(ServerName(_server_name(arg), child) for arg in child.args)
        elif directive in _INHERITED:
            own.setdefault(directive, []).append(child)
    if not listens and context == "http":
        listens.append(Listen(None, "*", 80))
    if not names and context == "http":
        names.append(ServerName("", None))

    inherited = enclosing.directives
    directives = dict(enclosing.last)
    for name, nodes in own.items():
        directives[name] = nodes[-1]

    errors: list[tuple[Node, str]] = []
    cert_nodes = own.get("ssl_certificate") or inherited.get("ssl_certificate") or []
    key_nodes = own.get("ssl_certificate_key") or inherited.get("ssl_certificate_key") or []
    certs = []
    for index, cert_node in enumerate(cert_nodes):
        if not cert_node.args:
            continue
        cert = _path_ref(disk_paths, cert_node, cert_node.args[0])
        key = None
        if index < len(key_nodes) and key_nodes[index].args:
            key = _path_ref(disk_paths, key_nodes[index], key_nodes[index].args[0])
        else:
            errors.append((cert_node, f'no "ssl_certificate_key" is defined for certificate "{cert.raw}"'))
        certs.append(CertRef(cert, key))

    password_nodes = own.get("ssl_password_file") or inherited.get("ssl_password_file") or []
    password_files = tuple(_path_ref(disk_paths, node, node.args[0]) for node in password_nodes if node.args)
    trusted_node = directives.get("ssl_trusted_certificate")
    trusted = _path_ref(disk_paths, trusted_node, trusted_node.args[0]) if trusted_node and trusted_node.args else None
    ssl_on = directives.get("ssl")
    tls = tls or (ssl_on is not None and ssl_on.args[:1] == ("on",))
    return Site(
        server="nginx",
        context=context,
        node=server,
        file=server.file,
        line=server.line,
        names=tuple(names),
        listens=tuple(listens),
        certs=tuple(certs),
        tls=tls,
        password_files=password_files,
        trusted_certificate=trusted,
        errors=tuple(errors),
        directives=directives,
        header_source=enclosing.header_source if tls or certs else None,
    )


def nginx_sites(config: Config) -> tuple[Site, ...]:
    """Every server block that speaks TLS or names a certificate, in file order."""
    sites: list[Site] = []
    disk_paths = DiskPaths(config)

    ssl_on_blocks: list[tuple[tuple[Node, ...], int, int]] = []  # http bodies with `ssl on`: their sites[a:b]

    def servers_in(block_nodes: tuple[Node, ...], context: str) -> None:
        enclosing = _Enclosing.of(context, block_nodes, nginx_context(block_nodes) if context == "http" else None)
        start = len(sites)
        for node in block_nodes:
            if node.directive == "server" and node.is_block:
                site = _nginx_site(disk_paths, node, enclosing)
                if site.tls or site.certs or context == "http":  # a plain one may share a TLS socket
                    sites.append(site)
        if context == "http" and any(writes_ssl_on(site) for site in sites[start:]):
            ssl_on_blocks.append((block_nodes, start, len(sites)))

    if config.fragment:
        # A lone file is read as the inside of `http { }`: site files hold server
        # blocks; snippets hold bare ssl_* directives, checked as a pseudo-site.
        servers_in(config.nodes, "http")
        has_server = any(node.directive == "server" for node in config.nodes)
        if not has_server and any(node.directive == "ssl_certificate" for node in config.nodes):
            holder = Node("snippet", (), config.main, 1, config.nodes)
            site = _nginx_site(disk_paths, holder, _Enclosing("snippet", {}, {}))
            sites.append(replace(site, tls=True, names=(), listens=()))
    for node in config.nodes:
        if node.directive in ("http", "stream", "mail") and node.is_block:
            servers_in(node.children or (), node.directive)
    if ssl_on_blocks:
        # Sockets are one set for the whole configuration, as routing.tls_sockets has them.
        written = {listen_socket(listen) for site in sites if site.context == "http"
                   for listen in site.listens if listen.ssl}
        for block_nodes, start, end in ssl_on_blocks:
            sites[start:end] = _sockets_ssl_on_decides(block_nodes, sites[start:end], written)
    return _speaking_tls(sites)


def _speaking_tls(sites: list[Site]) -> tuple[Site, ...]:
    """The sites that speak TLS or name a certificate, and the plain server blocks with a listen on a
    socket another block made TLS (`listen ... ssl`, or the `ssl on` of the socket's default): nginx
    keeps `ssl` per socket, so such a block answers its names over TLS, with the default server's
    certificate when it has none (measured with nginx 1.22.1: s_client -servername NAME gets the
    default's certificate, 'hostname mismatch'). Routing places them; their listens stay as written
    and Site.tls false, as for a plain block that inherits a certificate from http."""
    shared = tls_sockets(sites)
    return tuple(site for site in sites if site.tls or site.certs
                 or any(listen_socket(listen) in shared for listen in site.listens))


def _sockets_ssl_on_decides(block_nodes: tuple[Node, ...], found: list[Site], written: set[Socket]) -> list[Site]:
    """The sites of an http block, the listens that the removed `ssl on;` makes TLS marked (ssl_on).

    nginx 1.22.1 reads `ssl on` of a socket's default server only (ngx_http_init_connection asks the
    default server's configuration, or a `listen ... ssl` on the socket): there every server speaks
    TLS, while `ssl on` in another server of a socket whose default has none leaves it plain HTTP
    (measured: the `ssl on` block answers http://, and a plain block behind an `ssl on` default
    answers https:// with the default's certificate; tests/test_protocols.py). The default is the
    server marked default_server, else the first on the socket, a plain one included; `written`:
    the sockets a `listen ... ssl` makes TLS."""
    sites = {id(site.node): site for site in found}
    first: dict[Socket, Node] = {}
    flagged: dict[Socket, Node] = {}
    for node in block_nodes:
        if node.directive != "server" or not node.is_block:
            continue
        site = sites.get(id(node))
        listens = site.listens if site is not None else \
            tuple(parse_listen(child, "http") for child in node.each("listen")) or (Listen(None, "*", 80),)
        for listen in listens:
            first.setdefault(listen_socket(listen), node)
            if listen.default_server:
                flagged.setdefault(listen_socket(listen), node)
    defaults = first | flagged
    by_ssl_on = {socket for socket, node in defaults.items()
                 if (default := sites.get(id(node))) is not None and writes_ssl_on(default)}
    decided = []
    for site in found:
        if not writes_ssl_on(site):
            decided.append(site)
            continue
        listens = tuple(replace(listen, ssl_on=True) if not listen.ssl and defaults[listen_socket(listen)] is site.node
                        else listen for listen in site.listens)
        tls = any(listen.ssl or listen.quic or listen_socket(listen) in written or listen_socket(listen) in by_ssl_on
                  for listen in listens)
        decided.append(replace(site, listens=listens, tls=tls))
    return decided


def nginx_plain_servers(config: Config) -> tuple[Site, ...]:
    """The http server blocks that speak no TLS at all (no `ssl` listen, no `ssl on` in force),
    with their names and listens: where a name is served over http:// alone."""
    blocks = [node.children or () for node in config.nodes if node.directive == "http" and node.is_block]
    if config.fragment:
        blocks.append(config.nodes)  # a lone site file is the inside of `http { }`
    plain = []
    for body in blocks:
        http_ssl = next((node for node in reversed(body) if node.directive == "ssl"), None)
        for server in (node for node in body if node.directive == "server" and node.is_block):
            listens = tuple(parse_listen(node, "http") for node in server.each("listen")) or (Listen(None, "*", 80),)
            ssl = server.last("ssl") or http_ssl
            if any(listen.ssl or listen.quic for listen in listens) or (ssl is not None and ssl.args[:1] == ("on",)):
                continue
            names = tuple(ServerName(_server_name(arg), node)
                          for node in server.each("server_name") for arg in node.args)
            plain.append(Site("nginx", "http", server, server.file, server.line, names, listens, (), False))
    return tuple(plain)
