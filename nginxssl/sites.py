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
from dataclasses import dataclass, field, replace
from typing import Callable

from nginxssl.headers import NginxContext, ResponseHeaders, nginx_context, nginx_headers
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
    # Works out `headers` when they are first read (HTTP sites only): only the header rules read
    # them, which run in the second process when there is one (lint.py).
    header_source: Callable[[], ResponseHeaders] | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        names = [entry.name for entry in self.names if entry.name]
        return names[0] if names else f"{self.file}:{self.line}"

    @functools.cached_property
    def headers(self) -> ResponseHeaders | None:
        """Response headers per location (headers.py), or None for a site that serves no HTTP."""
        return self.header_source() if self.header_source is not None else None

    @functools.cached_property
    def name_list(self) -> tuple[str, ...]:  # asked for by every finding of the site: built once
        return tuple(entry.name for entry in self.names if entry.name)


# ---------------------------------------------------------------- nginx

# Directives whose value a server block inherits from http/stream/mail when it has none itself.
_INHERITED = frozenset({
    "ssl_certificate", "ssl_certificate_key", "ssl_password_file", "ssl_trusted_certificate",
    "ssl_protocols", "ssl_stapling", "ssl_stapling_verify", "ssl_stapling_file", "resolver",
    "ssl", "ssl_reject_handshake", "ssl_ciphers", "ssl_stapling_responder",
})


class DiskPaths:
    """Where the paths one config names are on disk, each looked up once: thousands of servers
    name the same few certificate files, and with --root every lookup walks symlinks."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._found: dict[str, str] = {}

    def __call__(self, raw: str) -> str:
        path = self._found.get(raw)
        if path is None:
            try:
                path = to_disk(raw, self.config.prefix, self.config.root)
            except SymlinkLoop:
                path = raw
            self._found[raw] = path
        return path


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
    headers: NginxContext | None = None  # http only: add_header, add_header_inherit and maps

    @classmethod
    def of(cls, context: str, block_nodes: tuple[Node, ...], headers: NginxContext | None = None) -> _Enclosing:
        directives = _own_tls(block_nodes)
        return cls(context, directives, {name: nodes[-1] for name, nodes in directives.items()}, headers)


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
            for arg in child.args:
                names.append(ServerName(arg.lower(), child))
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
    cert_nodes = own.get("ssl_certificate") or inherited.get("ssl_certificate", ())
    key_nodes = own.get("ssl_certificate_key") or inherited.get("ssl_certificate_key", ())
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

    password_nodes = own.get("ssl_password_file") or inherited.get("ssl_password_file", ())
    password_files = tuple(_path_ref(disk_paths, node, node.args[0]) for node in password_nodes if node.args)
    trusted_node = directives.get("ssl_trusted_certificate")
    trusted = _path_ref(disk_paths, trusted_node, trusted_node.args[0]) if trusted_node and trusted_node.args else None
    ssl_on = directives.get("ssl")
    tls = tls or (ssl_on is not None and ssl_on.args[:1] == ("on",))
    http_level = enclosing.headers
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
        header_source=(functools.partial(nginx_headers, server, http_level)
                       if http_level is not None and (tls or certs) else None),
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
    disk_paths = DiskPaths(config)

    def servers_in(block_nodes: tuple[Node, ...], context: str) -> None:
        enclosing = _Enclosing.of(context, block_nodes, nginx_context(block_nodes) if context == "http" else None)
        for node in block_nodes:
            if node.directive == "server" and node.is_block:
                site = _nginx_site(disk_paths, node, enclosing)
                if site.tls or site.certs:
                    sites.append(site)

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
            servers_in(node.children, node.directive)
    return tuple(sites)


def sites_of(config: Config) -> tuple[Site, ...]:
    if config.server == "nginx":
        return nginx_sites(config)
    from nginxssl.sites_apache import apache_sites  # the Apache model lives beside this one

    return apache_sites(config)


def names_of(sites) -> tuple[str, ...]:
    """The server names of several sites, each once, in order."""
    seen: dict[str, None] = {}
    for site in sites:
        for name in site.name_list:
            seen.setdefault(name, None)
    return tuple(seen)
