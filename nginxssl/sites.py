"""Config -> TLS sites, with each server's inheritance rules.

A Site is one server block (nginx `server`, Apache `<VirtualHost>`) that speaks
TLS or names certificates: its names, its listens, its certificate/key pairs
(each with the directive that named it, which may sit in an enclosing context),
and the TLS directives in effect for it. Later stages read sites, never the AST
layout of a particular server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from nginxssl.headers import NginxContext, ResponseHeaders, apache_headers, nginx_context, nginx_headers
from nginxssl.parse.node import Config, Node
from nginxssl.parse.sysroot import SymlinkLoop, to_disk

_VARIABLE = re.compile(r"\$(\{?[A-Za-z_])")


@dataclass(frozen=True, slots=True)
class PathRef:
    """A file a directive names: as written, where it is on disk, and who named it."""

    raw: str
    path: str | None  # None when it cannot be known before a handshake (variables, data:)
    node: Node
    dynamic: bool = False  # uses variables resolved per handshake
    inline: bool = False  # nginx `data:` value: PEM in the config itself


@dataclass(frozen=True, slots=True)
class CertRef:
    """One certificate/key pair a site serves (nginx may have an RSA and an ECDSA pair)."""

    cert: PathRef
    key: PathRef | None  # None: no key directive for it (Apache: key inside the cert file)
    chain: PathRef | None = None  # Apache SSLCertificateChainFile


@dataclass(frozen=True, slots=True)
class Listen:
    node: Node | None  # None for the implicit `listen *:80`
    address: str  # "*", "127.0.0.1", "[::]", "unix:/path"
    port: int | None
    ssl: bool = False
    default_server: bool = False
    http2: bool = False
    quic: bool = False

    @property
    def socket(self) -> str:
        return f"{self.address}:{self.port}" if self.port is not None else self.address


@dataclass(frozen=True, slots=True)
class ServerName:
    name: str
    node: Node | None


@dataclass(frozen=True)
class Site:
    server: str  # "nginx" | "apache"
    # nginx: "http" | "stream" | "mail" | "snippet" (certificates outside any server block);
    # Apache: "virtualhost" | "server" (the main server config) | "snippet"
    context: str
    node: Node | None  # the server block
    file: str
    line: int
    names: tuple[ServerName, ...]
    listens: tuple[Listen, ...]
    certs: tuple[CertRef, ...]
    tls: bool  # speaks TLS on at least one listen (or uses the removed `ssl on;`)
    password_files: tuple[PathRef, ...] = ()
    trusted_certificate: PathRef | None = None
    errors: tuple[tuple[Node, str], ...] = ()  # configuration errors the server refuses to start on
    directives: dict[str, Node] = field(default_factory=dict)  # effective TLS directives, inherited
    headers: ResponseHeaders | None = None  # response headers per location (HTTP sites only; headers.py)

    @property
    def label(self) -> str:
        names = [entry.name for entry in self.names if entry.name]
        return names[0] if names else f"{self.file}:{self.line}"

    @property
    def name_list(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.names if entry.name)


# ---------------------------------------------------------------- nginx

# Directives whose value a server block inherits from http/stream/mail when it has none itself.
_INHERITED = (
    "ssl_certificate", "ssl_certificate_key", "ssl_password_file", "ssl_trusted_certificate",
    "ssl_protocols", "ssl_stapling", "ssl_stapling_verify", "ssl_stapling_file", "resolver",
    "ssl", "ssl_reject_handshake", "ssl_ciphers", "ssl_stapling_responder",
)


def _path_ref(config: Config, node: Node, raw: str) -> PathRef:
    if raw.startswith("data:"):
        return PathRef(raw, None, node, inline=True)
    if _VARIABLE.search(raw):
        return PathRef(raw, None, node, dynamic=True)
    try:
        return PathRef(raw, to_disk(raw, config.prefix, config.root), node)
    except SymlinkLoop:
        return PathRef(raw, raw, node)


def parse_listen(node: Node, context: str) -> Listen:
    args = node.args
    target = args[0] if args else ""
    flags = set(args[1:])
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


def _effective(block: Node, inherited: dict[str, list[Node]]) -> dict[str, list[Node]]:
    """The TLS directives in force in `block`: its own, else the enclosing context's.

    nginx merges each directive separately; array directives such as
    ssl_certificate are inherited as a whole only when the block sets none.
    """
    own: dict[str, list[Node]] = {}
    for child in block.children or ():
        if child.directive in _INHERITED:
            own.setdefault(child.directive, []).append(child)
    merged = dict(inherited)
    merged.update(own)
    return merged


def _nginx_site(config: Config, server: Node, context: str, scope: dict[str, list[Node]],
                http_level: NginxContext | None = None) -> Site:
    """One server block as a Site; with `http_level`, a TLS site gets its response headers too
    (built here rather than by dataclasses.replace afterwards, which cost as much as the site)."""
    directives = _effective(server, scope)
    errors: list[tuple[Node, str]] = []

    listens = tuple(parse_listen(node, context) for node in server.each("listen"))
    if not listens and context == "http":
        listens = (Listen(None, "*", 80),)

    names = tuple(
        ServerName(arg.lower(), node) for node in server.each("server_name") for arg in node.args
    )
    if context == "http" and not names:
        names = (ServerName("", None),)

    cert_nodes = directives.get("ssl_certificate", [])
    key_nodes = directives.get("ssl_certificate_key", [])
    certs = []
    for index, cert_node in enumerate(cert_nodes):
        if not cert_node.args:
            continue
        cert = _path_ref(config, cert_node, cert_node.args[0])
        key = None
        if index < len(key_nodes) and key_nodes[index].args:
            key = _path_ref(config, key_nodes[index], key_nodes[index].args[0])
        else:
            errors.append((cert_node, f'no "ssl_certificate_key" is defined for certificate "{cert.raw}"'))
        certs.append(CertRef(cert, key))

    password_files = tuple(
        _path_ref(config, node, node.args[0]) for node in directives.get("ssl_password_file", []) if node.args
    )
    trusted_nodes = directives.get("ssl_trusted_certificate", [])
    trusted = _path_ref(config, trusted_nodes[-1], trusted_nodes[-1].args[0]) if trusted_nodes and trusted_nodes[-1].args else None
    ssl_on = directives.get("ssl", [])
    uses_ssl_on = bool(ssl_on) and ssl_on[-1].args[:1] == ("on",)
    tls = any(listen.ssl or listen.quic for listen in listens) or uses_ssl_on
    headers = nginx_headers(server, http_level) if http_level is not None and (tls or certs) else None
    return Site(
        server="nginx",
        context=context,
        node=server,
        file=server.file,
        line=server.line,
        names=names,
        listens=listens,
        certs=tuple(certs),
        tls=tls,
        password_files=password_files,
        trusted_certificate=trusted,
        errors=tuple(errors),
        directives={name: nodes[-1] for name, nodes in directives.items()},
        headers=headers,
    )


def listen_socket(listen: Listen) -> tuple[str, int | None]:
    """The socket a listen binds, as nginx groups them (`443` and `0.0.0.0:443` are one)."""
    return ("*" if listen.address in ("*", "0.0.0.0") else listen.address), listen.port


def tls_sockets(sites: tuple[Site, ...]) -> set[tuple[str, int | None]]:
    """nginx keeps `ssl` per listening socket: one server's `listen 443 ssl` makes *:443 TLS for
    every server on it, including ones that wrote a plain `listen 443`."""
    return {listen_socket(listen) for site in sites if site.server == "nginx" and site.context == "http"
            for listen in site.listens if listen.ssl}


def nginx_sites(config: Config) -> tuple[Site, ...]:
    """Every server block that speaks TLS or names a certificate, in file order."""
    sites: list[Site] = []

    def servers_in(block_nodes: tuple[Node, ...], context: str, scope: dict[str, list[Node]]) -> None:
        holder = Node(context, (), "", 0, block_nodes)
        scope = _effective(holder, scope)
        http_level = nginx_context(block_nodes) if context == "http" else None
        for node in block_nodes:
            if node.directive == "server" and node.is_block:
                site = _nginx_site(config, node, context, scope, http_level)
                if site.tls or site.certs:
                    sites.append(site)

    if config.fragment:
        # A lone file is read as the inside of `http { }`: site files hold server
        # blocks; snippets hold bare ssl_* directives, checked as a pseudo-site.
        servers_in(config.nodes, "http", {})
        has_server = any(node.directive == "server" for node in config.nodes)
        if not has_server and any(node.directive == "ssl_certificate" for node in config.nodes):
            holder = Node("snippet", (), config.main, 1, config.nodes)
            site = _nginx_site(config, holder, "snippet", {})
            sites.append(replace(site, tls=True, names=(), listens=()))
    for node in config.nodes:
        if node.directive in ("http", "stream", "mail") and node.is_block:
            servers_in(node.children, node.directive, {})
    return tuple(sites)


def sites_of(config: Config) -> tuple[Site, ...]:
    if config.server == "nginx":
        return nginx_sites(config)
    from nginxssl.sites_apache import apache_sites  # the Apache model lives beside this one

    server_level = tuple(node for node in config.nodes if node.directive != "virtualhost")
    return tuple(_with_apache_headers(site, server_level) for site in apache_sites(config))


def _with_apache_headers(site: Site, server_level: tuple[Node, ...]) -> Site:
    """Response headers of a virtual host (or of the main server when it speaks TLS itself)."""
    if site.context == "virtualhost" and site.node is not None:
        return replace(site, headers=apache_headers(site.node, server_level))
    if site.context == "server":
        return replace(site, headers=apache_headers(Node("server", (), site.file, site.line, server_level)))
    return site


def names_of(sites) -> tuple[str, ...]:
    """The server names of several sites, each once, in order."""
    seen: dict[str, None] = {}
    for site in sites:
        for name in site.name_list:
            seen.setdefault(name, None)
    return tuple(seen)
