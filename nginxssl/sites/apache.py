"""Apache httpd config -> TLS sites, with mod_ssl's way of merging the server config into virtual hosts.

A site is a `<VirtualHost>` that speaks TLS or names certificates itself, and
the main server (directives outside any virtual host) when it turns
`SSLEngine on` on its own. Each site sees the directives in force for it:

* every SSL* directive is per server: a virtual host without one inherits the
  main server config's value, wherever in the files the latter stands (httpd
  merges after reading everything); within one context the last line wins;
* SSLCertificateFile / SSLCertificateKeyFile are lists merged position by
  position: a vhost's first three entries replace the server config's at the
  same positions, the server config's later ones follow (mod_ssl's behaviour
  since 2.4.8, kept compatible with the single-value days). The i-th
  certificate is paired with the i-th key; a certificate without a key file
  of its own must hold its key itself;
* TLS is on with `SSLEngine on`; left unset, mod_ssl switches it on for a
  vhost that has certificates and whose listener speaks `https` (`Listen 443`,
  `Listen 8443 https`, or `Protocol https`);
* SSLCertificateChainFile feeds every pair of the site (CertRef.chain);
  SSLCACertificateFile is Site.trusted_certificate: OpenSSL also completes a
  served chain from it when the certificate file brings no chain of its own.

Names are the vhost's own ServerName (scheme and port stripped) and
ServerAlias words (wildcards kept). A vhost without ServerName on `*` or
`_default_` answers to the server config's ServerName (in Site.names with the
<VirtualHost> node, where the missing line belongs); on a specific address it gets the reverse DNS name of the address at
start-up, which a config cannot tell: it has no ServerName here. Relative paths resolve against ServerRoot
(Config.prefix). Site.directives maps each lower-cased SSL* directive (and
`protocol`) to the node in force, e.g. directives["sslprotocol"].
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Callable

from nginxssl.model.headers import ResponseHeaders
from nginxssl.model.node import Config, Node
from nginxssl.model.site import CertRef, Listen, PathRef, ServerName, Site
from nginxssl.sites.headers.apache import apache_context, apache_headers
from nginxssl.sites.paths import DiskPaths
from nginxssl.sites.routing import socket_address

_CERTKEYS_REPLACED = 3  # mod_ssl's CERTKEYS_IDX_MAX + 1: how many list entries a vhost overrides in place

# Directives only the server config may hold; httpd refuses them in a <VirtualHost>.
_SERVER_ONLY = {
    "sslpassphrasedialog": "SSLPassPhraseDialog",
    "sslstaplingcache": "SSLStaplingCache",
    "sslsessioncache": "SSLSessionCache",
    "sslrandomseed": "SSLRandomSeed",
    "sslcryptodevice": "SSLCryptoDevice",
}

_LISTS = ("sslcertificatefile", "sslcertificatekeyfile")


def _own(nodes: tuple[Node, ...]) -> dict[str, list[Node]]:
    """The TLS directives (SSL* and Protocol) written directly in one context, in order."""
    found: dict[str, list[Node]] = {}
    for node in nodes:
        name = node.directive
        if (name.startswith("ssl") or name == "protocol") and not node.is_block:
            found.setdefault(name, []).append(node)
    return found


def _merge_list(base: list[Node], own: list[Node]) -> list[Node]:
    """SSLCertificateFile/KeyFile: the vhost's entries replace the server config's position by position."""
    head = own[:_CERTKEYS_REPLACED]
    return head + base[len(head):] + own[_CERTKEYS_REPLACED:]


def _merged(base: dict[str, list[Node]], own: dict[str, list[Node]]) -> dict[str, list[Node]]:
    merged = dict(base)
    for name, nodes in own.items():
        merged[name] = _merge_list(base.get(name, []), nodes) if name in _LISTS else nodes
    return merged


def _path_ref(disk_paths: DiskPaths, node: Node) -> PathRef:
    raw = node.args[0]
    if disk_paths.config.fragment and "${" in raw:
        # Defined by the main config or envvars, which a lone file cannot see. (In a
        # whole tree an undefined variable stays literal, as httpd leaves it.)
        return PathRef(raw, None, node, dynamic=True)
    return PathRef(raw, disk_paths(raw), node)


def _host_name(text: str) -> str:
    """`https://a.test:443` -> `a.test`; `[::1]:443` -> `::1`."""
    name = text.split("://", 1)[1] if "://" in text else text
    if name.startswith("["):
        return name[1:].split("]", 1)[0].lower()
    return name.rsplit(":", 1)[0].lower() if name.count(":") == 1 else name.lower()


def _name_port(text: str) -> int | None:
    name = text.split("://", 1)[1] if "://" in text else text
    tail = name.rsplit("]", 1)[-1] if name.startswith("[") else name
    if tail.count(":") == 1 and tail.rsplit(":", 1)[1].isdigit():
        return int(tail.rsplit(":", 1)[1])
    return None


def _address(word: str, default_port: int | None) -> tuple[str, int | None]:
    """(address, port) of one `<VirtualHost>` argument; port None: any port.

    `_default_` is an alias of `*` in httpd 2.4, but not for the port: `apache2 -S` prints
    `<VirtualHost *>` as `*:*` (any port) and `<VirtualHost _default_>` or an address without a
    port on the main server's port (its ServerName's, else any).
    """
    if word == "*":
        return "*", None
    if word.startswith("["):
        host, _, rest = word.partition("]")
        address, port_text = host + "]", rest[1:] if rest.startswith(":") else ""
    elif word.count(":") == 1:
        address, port_text = word.split(":")
    elif ":" in word:  # a bare IPv6 address
        address, port_text = f"[{word}]", ""
    else:
        address, port_text = word, ""
    if address.lower() == "_default_":
        address = "*"
    if port_text.isdigit():
        port: int | None = int(port_text)
    elif port_text == "*":
        port = None
    else:
        port = default_port
    return address, port


def _listen_protocols(nodes: tuple[Node, ...]) -> list[tuple[str, int | None, str]]:
    """(address, port, protocol) of every top-level `Listen [addr:]port [protocol]`."""
    found = []
    for node in nodes:
        if node.directive != "listen" or not node.args:
            continue
        address, port = _address(node.args[0], None)
        if node.args[0].isdigit():
            address, port = "*", int(node.args[0])
        protocol = node.args[1].lower() if len(node.args) > 1 else ("https" if port == 443 else "http")
        found.append((address, port, protocol))
    return found


def _speaks_https(addresses: list[tuple[str, int | None]], listens: list[tuple[str, int | None, str]],
                  directives: dict[str, list[Node]]) -> bool:
    protocol = directives.get("protocol")
    if protocol and protocol[-1].args:
        return protocol[-1].args[0].lower() == "https"
    for address, port in addresses:
        matching = [proto for listen_address, listen_port, proto in listens
                    if listen_port == port and (address == "*" or listen_address in ("*", address))]
        if matching:
            if matching[0] == "https":
                return True
        elif port == 443:  # the Listen lives where we cannot see it (a lone site file): httpd's default
            return True
    return False


def _heard(address: str, port: int | None, listens: list[tuple[str, int | None, str]], known: bool) -> bool:
    """Some `Listen` binds what the vhost is named for: the same port, on its address or on all
    addresses (`*`, `0.0.0.0`, `[::]`; a `*` vhost takes whatever address a Listen of its port
    binds). `known`: the Listen lines are in view (not a lone site file)."""
    if not known:
        return True
    vhost = socket_address(address, "apache")
    for listen_address, listen_port, _protocol in listens:
        if port is not None and listen_port != port:
            continue
        bound = socket_address(listen_address, "apache")
        if vhost == "*" or bound == "*" or bound == vhost or (bound == "[::]" and vhost.startswith("[")):
            return True
    return False


def _bound_families(address: str, port: int | None, listens: list[tuple[str, int | None, str]],
                    known: bool) -> tuple[int, ...]:
    """The address families a `*` vhost on `port` answers: those its port's `Listen` lines bind.
    `Listen 443` and `Listen [::]:443` bind both (apache2 2.4 here: "IPv4-mapped addresses
    enabled", `apache2 -V`), `Listen 0.0.0.0:443` or an IPv4 address IPv4 only, an IPv6 address
    IPv6 only. Both when the Listen lines are not in view or name a host."""
    if not known or socket_address(address, "apache") != "*":
        return (4, 6)
    found: set[int] = set()
    for listen_address, listen_port, _protocol in listens:
        if port is not None and listen_port != port:
            continue
        bare = listen_address.strip("[]")
        if listen_address == "*" or bare == "::":
            return (4, 6)
        try:
            found.add(ipaddress.ip_address(bare).version)
        except ValueError:
            return (4, 6)  # a host name: whatever it resolves to at start-up
    return tuple(sorted(found)) or (4, 6)


def _placed(vhosts: list[Node], main_port: int | None, listens: list[tuple[str, int | None, str]],
            known: bool) -> list[tuple[Node, list[tuple[str, int | None]]]]:
    """Each vhost's addresses (_address; `main_port` for those written without one), an any-port
    one (`*`, `addr:*`) put on the ports where it answers.

    httpd keeps one address set per address:port as written, and a connection to port P takes
    the set named for its address and P before the one named for its address and any port
    (measured with apache2 2.4: `<VirtualHost *>` then `<VirtualHost *:P>` sends every name on P
    to the second, and the first answers the other Listen ports). The ports are those of the
    Listen lines; in a lone file without them, those its vhosts name, else 443. An any-port
    address left with no port (every port taken by a set of its own) keeps port None: it answers
    nothing sslint places on a socket.
    """
    vhost_addresses = [(vhost, [_address(word, main_port) for word in vhost.args]) for vhost in vhosts]
    if known:
        ports = list(dict.fromkeys(port for _where, port, _protocol in listens if port is not None))
    else:
        ports = list(dict.fromkeys(port for _vhost, addresses in vhost_addresses
                                   for _where, port in addresses if port is not None)) or [443]
    named = {(socket_address(address, "apache"), port) for _vhost, addresses in vhost_addresses
             for address, port in addresses if port is not None}
    placed = []
    for vhost, addresses in vhost_addresses:
        concrete: list[tuple[str, int | None]] = []
        for address, port in addresses:
            free = [] if port is not None else [
                other for other in ports if (socket_address(address, "apache"), other) not in named]
            concrete.extend([(address, other) for other in free] or [(address, port)])
        placed.append((vhost, list(dict.fromkeys(concrete))))
    return placed


def _engine(directives: dict[str, list[Node]]) -> str | None:
    nodes = directives.get("sslengine")
    return nodes[-1].args[0].lower() if nodes and nodes[-1].args else None


def _names(nodes: tuple[Node, ...]) -> tuple[ServerName, ...]:
    """The last ServerName first, then every ServerAlias word in order."""
    server_name = None
    aliases: list[ServerName] = []
    for node in nodes:
        if node.directive == "servername" and node.args:
            server_name = node
        elif node.directive == "serveralias":
            aliases.extend(ServerName(arg.lower(), node) for arg in node.args)
    if server_name is None:
        return tuple(aliases)
    return (ServerName(_host_name(server_name.args[0]), server_name), *aliases)


def _vhost_names(vhost: Node, addresses: list[tuple[str, int | None]],
                 main_names: tuple[ServerName, ...]) -> tuple[ServerName, ...]:
    """A vhost's names; one without a ServerName of its own on a wildcard address (`*`, `_default_`)
    takes the server config's, wherever that is written (`apache2 -S` lists it under that name, and
    apache2 2.4 answered the name from it). On a specific address it takes the reverse DNS name of
    the address, which a config cannot tell."""
    names = _names(vhost.children or ())
    own = any(entry.node is not None and entry.node.directive == "servername" for entry in names)
    main = main_names[0] if main_names and main_names[0].node is not None else None
    if own or main is None or main.node is None or main.node.directive != "servername":
        return names
    if not any(socket_address(address, "apache") == "*" for address, _port in addresses):
        return names
    return (ServerName(main.name, vhost), *names)  # at the vhost: where its ServerName is missing


def _certs(disk_paths: DiskPaths, directives: dict[str, list[Node]]) -> tuple[CertRef, ...]:
    chain_nodes = directives.get("sslcertificatechainfile", [])
    chain = _path_ref(disk_paths, chain_nodes[-1]) if chain_nodes and chain_nodes[-1].args else None
    keys = [node for node in directives.get("sslcertificatekeyfile", []) if node.args]
    pairs = []
    for index, cert_node in enumerate(node for node in directives.get("sslcertificatefile", []) if node.args):
        key = _path_ref(disk_paths, keys[index]) if index < len(keys) else None
        pairs.append(CertRef(_path_ref(disk_paths, cert_node), key, chain))
    return tuple(pairs)


def _site(disk_paths: DiskPaths, block: Node, context: str, directives: dict[str, list[Node]], tls: bool,
          names: tuple[ServerName, ...], listens: tuple[Listen, ...], file: str, line: int,
          headers: Callable[[Node], ResponseHeaders] | None) -> Site:
    certs = _certs(disk_paths, directives)
    errors: list[tuple[Node, str]] = []
    if tls and not certs:
        scope = "this virtual host" if context == "virtualhost" else "the server config"
        errors.append((block, f"TLS is on for {scope} but no SSLCertificateFile is in force for it "
                              "(AH02572: Failed to configure at least one certificate and key; `apache2 -t` "
                              "does not notice); add SSLCertificateFile and SSLCertificateKeyFile, or turn "
                              "SSLEngine off"))
    if context == "virtualhost":
        for child in block.children or ():
            if child.directive in _SERVER_ONLY:
                errors.append((child, f"{_SERVER_ONLY[child.directive]} cannot occur within <VirtualHost> section"))
    trusted_nodes = directives.get("sslcacertificatefile", [])
    trusted = _path_ref(disk_paths, trusted_nodes[-1]) if trusted_nodes and trusted_nodes[-1].args else None
    return Site(
        server="apache",
        context=context,
        node=block,
        file=file,
        line=line,
        names=names,
        listens=listens,
        certs=certs,
        tls=tls,
        trusted_certificate=trusted,
        errors=tuple(errors),
        directives={name: nodes[-1] for name, nodes in directives.items()},
        header_source=headers,
    )


def apache_sites(config: Config) -> tuple[Site, ...]:
    """The main server when it is a site, then every virtual host that speaks TLS or names a certificate,
    each with its response headers."""
    top = config.nodes
    vhosts = [node for node in top if node.directive == "virtualhost" and node.is_block]
    server_level = tuple(node for node in top if node.directive != "virtualhost")
    base = _own(server_level)
    listens = _listen_protocols(server_level)
    main_names = _names(server_level)
    main_port = next((_name_port(name.node.args[0]) for name in main_names[:1] if name.node), None)
    disk_paths = DiskPaths(config)
    # Every vhost's response headers, from its block (Site.header_source): one function for all of them.
    vhost_headers = functools.partial(apache_headers, context=apache_context(server_level))
    listens_known = not config.fragment and bool(listens)
    vhost_addresses = _placed(vhosts, main_port, listens, listens_known)

    # The first vhost named for an address:port answers names no other vhost claims.
    first_for: dict[tuple[str, int | None], Node] = {}
    for vhost, addresses in vhost_addresses:
        for address in addresses:
            first_for.setdefault(address, vhost)

    sites: list[Site] = []
    base_certs = base.get("sslcertificatefile", [])
    inherited_used = False  # does a TLS vhost serve a certificate of the server config's?
    for vhost, addresses in vhost_addresses:
        own = _own(vhost.children or ())
        directives = _merged(base, own)
        engine = _engine(directives)
        has_certs = any(node.args for node in directives.get("sslcertificatefile", []))
        if engine is None:
            tls = has_certs and _speaks_https(addresses, listens, directives)
        else:
            tls = engine == "on"
        if not tls and not own.get("sslcertificatefile"):
            continue
        if tls and base_certs and not inherited_used:
            inherited_used = any(node in base_certs for node in directives["sslcertificatefile"])
        site_listens = tuple(
            Listen(vhost, address, port, ssl=tls, default_server=first_for.get((address, port)) is vhost,
                   heard=_heard(address, port, listens, listens_known),
                   families=_bound_families(address, port, listens, listens_known))
            for address, port in addresses
        )
        sites.append(_site(disk_paths, vhost, "virtualhost", directives, tls, _vhost_names(vhost, addresses, main_names),
                           site_listens, vhost.file, vhost.line,
                           vhost_headers))

    main = _main_server(disk_paths, server_level, base, main_names, listens, sites, inherited_used)
    return tuple(([main] if main else []) + sites)


def apache_plain_vhosts(config: Config) -> tuple[Site, ...]:
    """The <VirtualHost> blocks that speak plain HTTP only (no TLS, no certificate of their own),
    with their names and addresses: where a name is served over http:// alone."""
    top = config.nodes
    server_level = tuple(node for node in top if node.directive != "virtualhost")
    base = _own(server_level)
    listens = _listen_protocols(server_level)
    main_names = _names(server_level)
    main_port = next((_name_port(name.node.args[0]) for name in main_names[:1] if name.node), None)
    plain = []
    vhosts = [node for node in top if node.directive == "virtualhost" and node.is_block]
    for vhost, addresses in _placed(vhosts, main_port, listens, not config.fragment and bool(listens)):
        own = _own(vhost.children or ())
        directives = _merged(base, own)
        engine = _engine(directives)
        has_certs = any(node.args for node in directives.get("sslcertificatefile", []))
        tls = engine == "on" if engine is not None else has_certs and _speaks_https(addresses, listens, directives)
        if tls or own.get("sslcertificatefile"):
            continue
        plain.append(Site("apache", "virtualhost", vhost, vhost.file, vhost.line, _vhost_names(vhost, addresses, main_names),
                          tuple(Listen(vhost, address, port) for address, port in addresses), (), False))
    return tuple(plain)


def _main_server(disk_paths: DiskPaths, server_level: tuple[Node, ...], base: dict[str, list[Node]],
                 names: tuple[ServerName, ...], listens: list[tuple[str, int | None, str]],
                 vhost_sites: list[Site], inherited_used: bool) -> Site | None:
    """The server config as a site of its own.

    It speaks TLS with `SSLEngine on` outside any vhost. A lone file holding
    bare SSL* directives (a snippet included by site files) is checked as a
    TLS pseudo-site without names; so are certificates the server config names
    but no TLS vhost inherits, since `apache2 -t` still insists they exist.
    """
    engine = _engine(base)
    cert_nodes = base.get("sslcertificatefile", [])
    written = base.get("sslengine") or cert_nodes
    if not written:
        return None
    anchor = written[-1]
    holder = Node("server", (), anchor.file, anchor.line, server_level)
    if engine == "on":
        site_listens = tuple(Listen(None, address, port, ssl=True) for address, port, _protocol in listens)
        return _site(disk_paths, holder, "server", base, True, names, site_listens, anchor.file, anchor.line,
                     apache_headers)
    if not cert_nodes or inherited_used:
        return None
    snippet = disk_paths.config.fragment and not vhost_sites
    return _site(disk_paths, Node("snippet" if snippet else "server", (), anchor.file, anchor.line, server_level),
                 "snippet" if snippet else "server", base, snippet, (), (), anchor.file, anchor.line,
                 None if snippet else apache_headers)
