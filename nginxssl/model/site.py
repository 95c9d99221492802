"""What the sites stage hands on: a TLS site, the files it names, its listens and names."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from nginxssl.model.headers import ResponseHeaders
from nginxssl.model.node import Node


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
    heard: bool = True  # Apache: some `Listen` binds this address:port (False: the vhost never answers here)
    # nginx: written without `ssl`, made TLS by the removed `ssl on;` of its server, the default server
    # of the socket (nginx reads `ssl on` of a socket's default server only)
    ssl_on: bool = False
    # Apache `*`: the address families the port's `Listen` lines bind, the only clients that reach the
    # vhost there (`Listen 127.0.0.1:443`, `Listen 0.0.0.0:443`: IPv4 only; `Listen 443`: both)
    families: tuple[int, ...] = (4, 6)

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
    tls: bool  # speaks TLS on at least one listen (an `ssl` one, one made TLS by the removed `ssl on;`)
    password_files: tuple[PathRef, ...] = ()
    trusted_certificate: PathRef | None = None
    errors: tuple[tuple[Node, str], ...] = ()  # configuration errors the server refuses to start on
    directives: dict[str, Node] = field(default_factory=dict)  # effective TLS directives, inherited
    # Works out `headers` from `node` when they are read (HTTP sites only): only the header rules
    # read them, through Inputs.http_sites, which the engine forgets once they have run (lint.py).
    # One function for every server of an http block (it holds what they inherit), not one per site.
    header_source: Callable[[Node], ResponseHeaders] | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        names = [entry.name for entry in self.names if entry.name]
        return names[0] if names else f"{self.file}:{self.line}"

    @property
    def headers(self) -> ResponseHeaders | None:
        """Response headers per location (headers.py), or None for a site that serves no HTTP.
        Worked out anew at each read, not kept on the site: the sites live as long as the run,
        and every site's headers together are 65 MiB of a 50,000-block tree that only the four
        header rules read (they read them once, through Inputs.http_sites)."""
        return self.header_source(self.node) if self.header_source is not None and self.node is not None else None

    @functools.cached_property
    def name_list(self) -> tuple[str, ...]:  # asked for by every finding of the site: built once
        return tuple(entry.name for entry in self.names if entry.name)

    @property
    def files_named(self) -> tuple[PathRef, ...]:
        """Every file the site names: its trusted certificate, password files, and each pair's
        certificate, key and chain (what the load stage reads and a cached result watches)."""
        return tuple(ref for ref in (self.trusted_certificate, *self.password_files,
                                     *(part for pair in self.certs for part in (pair.cert, pair.key, pair.chain)))
                     if ref is not None)
