"""Which server block or virtual host answers a name on a socket: one model for both servers.

Every rule and command that asks "who answers https://NAME/ here" asks this module
(SSL303/SSL304, `sslint probe`, the TLS-socket questions of SSL504 and the header rules):

- a socket is keyed one way, `Socket`, its address normalised as the server prints it
  (nginx: `listen 443`, `*:443` and `0.0.0.0:443` are all 0.0.0.0:443, `[0::0]` is [::];
  Apache: `*` and `_default_` are one);
- nginx makes a socket TLS for every server on it when one of them writes `ssl`, or when its
  default server has the removed `ssl on;` (in force there; elsewhere nginx ignores it);
- the sites of a socket in config order, its default (nginx: `default_server`, else the
  first; Apache: the first <VirtualHost> for the address), and the site a name reaches:
  nginx's order (exact, longest leading wildcard, longest trailing wildcard, first regular
  expression; names lowercased, a regex caseless when it holds a capital, as
  ngx_http_core_server_name compiles it), Apache's (the first vhost whose ServerName, then
  ServerAlias, then wildcard ServerAlias matches, case-insensitively, as mod_ssl's
  ssl_find_vhost does);
- nginx: which block holds each name of a socket (NameTable), built as nginx builds its
  hashes, in config order: a name written again on the socket conflicts and stays with the
  first block ('conflicting server name "a.test" on 0.0.0.0:443, ignored'), for exact names and
  both kinds of wildcard alike; `.a.test` takes a.test and *.a.test whole or not at all, and
  when refused for its wildcard it still reserves a.test, which then reaches no block by name;
  regular expressions never conflict (the first matching one answers);
- the sites no request reaches at all (unreached): not the default of any of their sockets, and
  every name they wrote taken by another block or vhost;
- which socket a connection to an address reaches: the one bound to that address, else the
  wildcard of its family (nginx's [::] takes IPv4 only with `ipv6only=off`; Apache's `*`
  takes the families its port's `Listen` lines bind: both for `Listen 443`, IPv4 only for
  `Listen 0.0.0.0:443` or `Listen 127.0.0.1:443`);
- where else the clients of a site's names land (landings): on a port the site serves, the
  wildcard socket of an address family it does not listen on (the `[::]:443` twin it forgot)
  and, when it listens on a family's wildcard, each specific address of that family bound by
  other sites (connections to that address never reach the wildcard); loopback sockets only
  the machine itself reaches, and an Apache vhost on an address:port no `Listen` binds never
  answers (Listen.heard).

tests/test_routing.py holds each point against the real nginx and apache2.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from nginxssl.model.pattern import ConfigRegex
from nginxssl.model.site import Listen, ServerName, Site

if TYPE_CHECKING:  # probe.py's dataclasses serve `sslint probe` only
    from nginxssl.model.probe import Probe

_NGINX_ANY4 = "0.0.0.0"
_ANY6 = "[::]"
_APACHE_ANY = "*"
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


@dataclass(frozen=True, slots=True, order=True)
class Socket:
    """An address:port a server listens on, written as the server itself writes it in its messages."""

    address: str  # "0.0.0.0", "[::]", "127.0.0.1", "[::1]", "*" (Apache), "unix:/path", a host name
    port: int | None

    def __str__(self) -> str:
        return f"{self.address}:{self.port}" if self.port is not None else self.address

    @property
    def wildcard(self) -> bool:
        return self.address in (_NGINX_ANY4, _ANY6, _APACHE_ANY)


def socket_address(address: str, server: str = "nginx") -> str:
    """An address as written in `listen` or <VirtualHost>, normalised (see Socket.address)."""
    if address in ("*", "0.0.0.0", "", "_default_") or address.lower() == "_default_":
        return _APACHE_ANY if server == "apache" else _NGINX_ANY4
    if address.startswith("unix:"):
        return address
    if _DOTTED_QUAD.fullmatch(address):  # nginx reads each part in decimal: 127.000.0.1 is 127.0.0.1
        address = ".".join(str(int(part)) for part in address.split("."))
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address.lower()  # a host name: the server resolves it at start-up
    if parsed.version == 6:
        if parsed == ipaddress.IPv6Address("::") and server == "apache":
            return _APACHE_ANY
        return f"[{parsed.compressed}]"
    return _APACHE_ANY if parsed == ipaddress.IPv4Address("0.0.0.0") and server == "apache" else str(parsed)


def listen_socket(listen: Listen, server: str = "nginx") -> Socket:
    """The socket a listen binds, as the server groups them."""
    return _socket(listen.address, listen.port, server)


@functools.lru_cache(maxsize=4096)
def _socket(address: str, port: int | None, server: str) -> Socket:
    # Asked 60,000 times a run on a 5,000-block tree, of a handful of distinct listens.
    return Socket(socket_address(address, server), port)


def tls_sockets(sites: Iterable[Site]) -> set[Socket]:
    """nginx keeps `ssl` per listening socket: one server's `listen 443 ssl`, or the removed `ssl on;`
    of the socket's default server (Listen.ssl_on), makes *:443 TLS for every server on it,
    including ones that wrote a plain `listen 443`."""
    return {listen_socket(listen) for site in sites if site.server == "nginx" and site.context == "http"
            for listen in site.listens if listen.ssl or listen.ssl_on}


def writes_ssl_on(site: Site) -> bool:
    """The site has the removed `ssl on;` in force (its own or inherited from http)."""
    node = site.directives.get("ssl")
    return node is not None and node.args[:1] == ("on",)


def tls_listens(site: Site, shared: set[Socket] | frozenset[Socket] = frozenset()) -> tuple[Listen, ...]:
    """The listens on which the site speaks TLS: its `ssl` ones, those the removed `ssl on;` makes TLS
    (http: where the site is the socket's default, Listen.ssl_on; mail: all of them), and (nginx) its
    plain ones on a socket `shared` (tls_sockets) made TLS."""
    if site.server == "nginx" and site.context != "http" and writes_ssl_on(site):
        return site.listens
    if site.server != "nginx" or not shared:
        return tuple(listen for listen in site.listens if listen.ssl or listen.ssl_on)
    return tuple(listen for listen in site.listens if listen.ssl or listen.ssl_on or listen_socket(listen) in shared)


def _tcp(listen: Listen) -> bool:
    return not listen.address.startswith("unix:") and not (listen.quic and not listen.ssl)


def tls_ports(sites: tuple[Site, ...]) -> list[int]:
    """The TCP ports some site speaks TLS on, to say what could be probed instead."""
    shared = tls_sockets(sites)
    return sorted({listen.port for site in sites if site.context != "snippet"
                   for listen in tls_listens(site, shared) if listen.port is not None and _tcp(listen)})


# ---------------------------------------------------------------- who a site is, in a message


def who(site: Site) -> str:
    """A site as the admin finds it: `server block a.test (/etc/nginx/sites/a:3)`."""
    kind = "<VirtualHost>" if site.server == "apache" and site.context == "virtualhost" else (
        "the Apache server config" if site.server == "apache" else "server block")
    names = site.name_list
    title = f" {names[0]}" if names and kind != "the Apache server config" else ""
    return f"{kind}{title} ({site.file}:{site.line})"


# ---------------------------------------------------------------- names


def _nginx_regex(pattern: str) -> ConfigRegex:
    """A `~regex` server_name as nginx compiles it (model/pattern.py: on RE2, never backtracking)."""
    return ConfigRegex.from_server_name(pattern)


def _apache_wildcard(pattern: str, name: str) -> bool:
    """ap_strcasecmp_match: `*` any run of characters, `?` one, nothing else special."""
    parts = (".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch("".join(parts), name, re.IGNORECASE | re.DOTALL) is not None


@dataclass(frozen=True)
class Conflict:
    """A server_name nginx refuses on a socket: 'conflicting server name "NAME" on SOCKET, ignored'."""

    site: Site  # the block that wrote the refused name
    entry: ServerName
    clashed: str  # the name already taken: the name itself, or for `.a.test` the part that clashed
    owner: Site  # the block that took `clashed` first (it may be `site` itself)
    held: bool  # False: `clashed` is only reserved by an `.a.test` nginx refused itself: no block holds it


@dataclass(frozen=True)
class Holder:
    """The block a name of a socket's table reaches, and the server_name entry as written."""

    site: Site
    written: str


@dataclass(frozen=True)
class NameTable:
    """nginx's server names of one socket, as ngx_http_server_names hashes them in config order.

    `wildcard_heads` is keyed by the suffix with its dot (`*.a.test` and `.a.test`: ".a.test"),
    `wildcard_tails` by the prefix with its dot (`www.a.*`: "www.a."); a refused name is in
    `conflicts`, not in the tables. Measured with nginx 1.22.1 (tests/test_routing.py): the first
    block keeps a name written twice, exact, `*.a.test`, `a.*` and `.a.test` alike, even when both
    are in one block; `.a.test` clashes with an earlier a.test, *.a.test or .a.test; refused for
    its wildcard part, it has already reserved a.test, so a later `a.test` is refused too and
    a.test reaches no block by name."""

    exact: dict[str, Holder]
    wildcard_heads: dict[str, Holder]
    wildcard_tails: dict[str, Holder]
    regexes: tuple[tuple[Site, str, ConfigRegex], ...]
    conflicts: tuple[Conflict, ...]

    @classmethod
    def of(cls, sites: tuple[Site, ...]) -> NameTable:
        exact: dict[str, Holder] = {}
        reserved: dict[str, Site] = {}  # nginx's conflict check for exact names: a refused `.a.test` adds a.test
        heads: dict[str, Holder] = {}
        tails: dict[str, Holder] = {}
        regexes: list[tuple[Site, str, ConfigRegex]] = []
        conflicts: list[Conflict] = []

        def refuse(site: Site, entry: ServerName, clashed: str, owner: Site, held: bool = True) -> None:
            conflicts.append(Conflict(site, entry, clashed, owner, held))

        def answered(bare: str) -> bool:  # a reserved exact name some block answers (not a refused `.a.test`'s)
            dotted = heads.get("." + bare)
            return bare in exact or (dotted is not None and dotted.written.startswith("."))

        for site in sites:
            for entry in site.names:
                name = entry.name
                if name.startswith("~"):
                    regexes.append((site, name, _nginx_regex(name)))
                elif name.endswith(".*"):
                    prefix = name[:-1]
                    if prefix in tails:
                        refuse(site, entry, name, tails[prefix].site)
                    else:
                        tails[prefix] = Holder(site, name)
                elif name.startswith(("*.", ".")) and len(name) > 1:
                    suffix = name.removeprefix("*")
                    if name.startswith("."):
                        bare = name[1:]
                        if bare in reserved:
                            refuse(site, entry, bare, reserved[bare], answered(bare))
                            continue
                        reserved[bare] = site  # before the wildcard is checked: kept when that clashes
                    if suffix in heads:
                        refuse(site, entry, "*" + suffix, heads[suffix].site)
                    else:
                        heads[suffix] = Holder(site, name)
                elif name in reserved:
                    refuse(site, entry, name, reserved[name], answered(name))
                else:
                    reserved[name] = site
                    exact[name] = Holder(site, name)
        return cls(exact, heads, tails, tuple(regexes), tuple(conflicts))

    def holder(self, name: str) -> Holder | None:
        """The block that holds `name` itself (a.test, *.a.test, a.*), else None."""
        if name.endswith(".*"):
            return self.wildcard_tails.get(name[:-1])
        if name.startswith("*."):
            return self.wildcard_heads.get(name[1:])
        return self.exact.get(name) or self._dotted(name)

    def _dotted(self, name: str) -> Holder | None:
        """The `.a.test` that answers a.test through its wildcard."""
        dotted = self.wildcard_heads.get("." + name)
        return dotted if dotted is not None and dotted.written.startswith(".") else None

    def head(self, name: str) -> Holder | None:
        """The longest leading wildcard matching `name` (ngx_hash_find_wc_head)."""
        dotted = self._dotted(name)
        if dotted is not None:
            return dotted
        for at in _dots(name):
            if at > 0 and (holder := self.wildcard_heads.get(name[at:])) is not None:
                return holder
        return None

    def tail(self, name: str) -> Holder | None:
        """The longest trailing wildcard matching `name` (ngx_hash_find_wc_tail)."""
        for at in reversed(list(_dots(name))):
            if at < len(name) - 1 and (holder := self.wildcard_tails.get(name[:at + 1])) is not None:
                return holder
        return None


def _dots(name: str) -> Iterator[int]:
    at = name.find(".")
    while at != -1:
        yield at
        at = name.find(".", at + 1)


@dataclass(frozen=True)
class Servers:
    """The sites answering on one socket, in config order, and the one that answers unknown names."""

    socket: Socket
    sites: tuple[Site, ...]
    default: Site
    flagged: bool  # nginx: the default is marked default_server (else it is the first)
    # the address families whose clients reach the socket: Apache's `*` only those its port's
    # `Listen` lines bind (Listen.families)
    families: tuple[int, ...] = (4, 6)

    @property
    def server(self) -> str:
        return self.default.server

    @functools.cached_property
    def names(self) -> NameTable:
        """nginx: which block holds each name here (built once per socket, asked for every name)."""
        return NameTable.of(self.sites)

    def regexes(self) -> tuple[tuple[Site, str, ConfigRegex], ...]:
        return self.names.regexes

    def match(self, name: str) -> tuple[Site, str] | None:
        """The site `name` (an SNI or Host name) reaches by name, and how; None: the default answers."""
        name = name.lower()
        return self._apache_match(name) if self.server == "apache" else self._nginx_match(name)

    def _nginx_match(self, name: str) -> tuple[Site, str] | None:
        table = self.names
        if name.startswith("*.") or name.endswith(".*"):  # a wildcard as written: the block holding it
            holder = table.holder(name)
            return (holder.site, f"server_name {holder.written}") if holder is not None else None
        holder = table.exact.get(name) if name else None  # "" (a block without server_name) is no SNI name
        if holder is not None:
            return holder.site, f"server_name {name}"
        holder = table.head(name)
        if holder is not None:
            return holder.site, f"server_name {holder.written} (the longest wildcard matching {name})"
        holder = table.tail(name)
        if holder is not None:
            return holder.site, f"server_name {holder.written} (the longest trailing wildcard matching {name})"
        for site, pattern, regex in table.regexes:
            if regex.search(name):  # None, "cannot judge": answers() counts it as a regex that may take the name
                return site, f"server_name {pattern} (the first regular expression matching {name})"
        return None

    def _apache_match(self, name: str) -> tuple[Site, str] | None:
        for site in self.sites:
            entries = [entry for entry in site.names if entry.name]
            aliases = [entry for entry in entries if entry.node is not None and entry.node.directive == "serveralias"]
            server_names = [entry for entry in entries if entry not in aliases]
            for entry in server_names:
                if entry.name == name:
                    return site, f"ServerName {entry.name}"
            for entry in aliases:
                if entry.name == name:
                    return site, f"ServerAlias {entry.name}"
            for entry in aliases:
                if ("*" in entry.name or "?" in entry.name) and _apache_wildcard(entry.name, name):
                    return site, f"ServerAlias {entry.name}"
        return None

    def reaches(self, site: Site) -> bool:
        """Some request on this socket reaches `site`: it is the default (requests without SNI or
        with an unknown name), or the socket's names send at least one name to it. A name sslint
        cannot know counts as reaching it: a regex (nginx), a vhost without a name of its own
        (Apache gives it the main server's)."""
        return site is self.default or id(site) in self._reached

    @functools.cached_property
    def _reached(self) -> frozenset[int]:
        """The sites (by id: Site holds a dict) some name of this socket reaches, worked out once
        for every site of the socket."""
        if self.server == "apache":
            return self._apache_reached()
        table = self.names
        holders = [*table.exact.values(), *table.wildcard_heads.values(), *table.wildcard_tails.values()]
        return frozenset([id(holder.site) for holder in holders] + [id(site) for site, _pattern, _regex in table.regexes])

    def _apache_reached(self) -> frozenset[int]:
        """mod_ssl and the Host lookup try the vhosts in order, each with its ServerName, its
        ServerAlias names, then its wildcard aliases: a vhost keeps a name no earlier vhost takes
        (measured with apache2 2.4: a later vhost whose every name an earlier one matches answers
        nothing, not even an exact name an earlier wildcard alias covers)."""
        first: set[str] = set()  # the exact names of the vhosts before
        patterns: list[str] = []  # their wildcard aliases
        reached: set[int] = set()
        for site in self.sites:
            names = [entry.name.lower() for entry in site.names if entry.name]
            wild = [name for name in names if "*" in name or "?" in name]
            exact = [name for name in names if name not in wild]
            # A wildcard alias stands for names sslint does not list: taken whole only by the same
            # pattern written before.
            if not names or any(name not in patterns for name in wild) or any(
                    name not in first and not any(_apache_wildcard(pattern, name) for pattern in patterns)
                    for name in exact):
                reached.add(id(site))
            first.update(exact)
            patterns.extend(name for name in wild if name not in patterns)
        return frozenset(reached)

    def answers(self, name: str) -> bool:
        """Some site here answers `name` by name, or may (a regex sslint cannot judge); for a wildcard
        `*.x`: some site answers every name it stands for."""
        if not name.startswith("*."):
            return self.match(name) is not None or any(regex.search(name) is None for _site, _pattern, regex in self.regexes())
        if self.server == "apache":
            return self._apache_answers_wildcard(name)
        table = self.names
        if table.regexes:
            return True  # a regex may well take them: not reported
        return table.wildcard_heads.get(name[1:]) is not None or table.head(name[2:]) is not None

    def _apache_answers_wildcard(self, name: str) -> bool:
        for site in self.sites:
            for pattern in site.name_list:
                if pattern.startswith("~") or pattern in (name, name[1:]):
                    return True
                suffix = pattern[1:] if pattern.startswith("*.") else pattern
                if pattern.startswith(("*.", ".")) and name[1:].endswith(suffix):
                    return True
        return False


def _dual_stack(listen: Listen) -> bool:
    return listen.node is not None and "ipv6only=off" in listen.node.args


def routes(sites: Iterable[Site], port: int | None = None) -> dict[Socket, Servers]:
    """Every TLS TCP socket (on `port`, if given) and the sites answering there, in config order.

    nginx: the plain listens of a socket some server made TLS count (tls_sockets); Apache: the
    main server answers an address only when no <VirtualHost> is named for it."""
    sites = tuple(site for site in sites if site.context != "snippet")
    shared = tls_sockets(sites)
    grouped: dict[Socket, list[tuple[Site, Listen]]] = {}
    for site in sites:
        for listen in tls_listens(site, shared):
            if not _tcp(listen) or not listen.heard or listen.port is None or (port is not None and listen.port != port):
                continue
            grouped.setdefault(listen_socket(listen, site.server), []).append((site, listen))
    table = {}
    for socket, members in grouped.items():
        if any(site.context == "virtualhost" for site, _listen in members):
            members = [(site, listen) for site, listen in members if site.context != "server"]
        ordered = tuple({id(site): site for site, _listen in members}.values())  # Site holds a dict: unhashable
        flagged = next((site for site, listen in members if listen.default_server), None)
        families = tuple(sorted({family for _site, listen in members for family in listen.families}))
        table[socket] = Servers(socket, ordered, flagged or ordered[0], flagged is not None, families)
    return table


def unreached(table: dict[Socket, Servers], shared: set[Socket] | frozenset[Socket] = frozenset()) -> tuple[Site, ...]:
    """The sites of `table` (routes()) that no request reaches on any of their TLS sockets: on each
    one they are not the default and every name they wrote is taken by another (nginx: refused as
    'conflicting server name'; Apache: matched by an earlier vhost). A site with a TLS listen the
    table does not hold (a unix socket, an Apache address no `Listen` binds) is left out: sslint
    does not judge who connects there. Each once.

    nginx 1.22.1 and apache2 2.4 send such a block no request at all (tests/test_unreachable.py):
    its certificate is loaded at start-up and never sent, its headers never answer."""
    placed: dict[int, Site] = {}
    reached: set[int] = set()
    for servers in table.values():
        for site in servers.sites:
            placed.setdefault(id(site), site)
            if servers.reaches(site):
                reached.add(id(site))
    return tuple(site for key, site in placed.items() if key not in reached and all(
        _tcp(listen) and listen.heard and listen_socket(listen, site.server) in table
        for listen in tls_listens(site, shared)))


def refused_everywhere(table: dict[Socket, Servers],
                       shared: set[Socket] | frozenset[Socket] = frozenset()) -> frozenset[tuple[int, int]]:
    """The server_name entries nginx refuses on every TLS socket of the block that writes them
    ('conflicting server name ... ignored'), as (id(site), id(entry)): no TLS client of that name
    ever gets this block's certificate (measured with nginx 1.22.1, tests/test_unreachable.py). An
    entry kept on one of the block's sockets (an IPv6 twin, another port) is not refused everywhere,
    nor one of a block with a TLS listen the table does not hold."""
    refused_on: dict[tuple[int, int], set[Socket]] = {}
    writers: dict[int, Site] = {}
    for socket, servers in table.items():
        if servers.server != "nginx":
            continue
        for conflict in servers.names.conflicts:
            refused_on.setdefault((id(conflict.site), id(conflict.entry)), set()).add(socket)
            writers[id(conflict.site)] = conflict.site
    everywhere = set()
    for key, sockets in refused_on.items():
        site = writers[key[0]]
        own = {listen_socket(listen, site.server) for listen in tls_listens(site, shared)}
        if own and own <= sockets:
            everywhere.add(key)
    return frozenset(everywhere)


def dual_stack(sites: Iterable[Site]) -> set[Socket]:
    """nginx's [::] sockets written with `ipv6only=off`: they take IPv4 connections too."""
    return {listen_socket(listen) for site in sites if site.server == "nginx"
            for listen in site.listens if _dual_stack(listen) and socket_address(listen.address) == _ANY6}


def reached(table: dict[Socket, Servers], address: str, port: int | None,
            taking_ipv4: set[Socket] | frozenset[Socket] = frozenset()) -> Servers | None:
    """The socket a connection to `address`:`port` reaches: the one bound to the address, else the
    wildcard of its family (`taking_ipv4`: the [::] sockets that also take IPv4, dual_stack).
    For a wildcard `address` (a plain `listen 80` of the same host): the same wildcard only."""
    if not table:
        return None
    apache = next(iter(table.values())).server == "apache"
    key = socket_address(address, "apache" if apache else "nginx")
    exact = table.get(Socket(key, port))
    if exact is not None or key in (_NGINX_ANY4, _ANY6, _APACHE_ANY):
        if exact is None and key == _NGINX_ANY4 and Socket(_ANY6, port) in taking_ipv4:
            return table.get(Socket(_ANY6, port))
        return exact
    if apache:  # `*` answers the families its port's Listen lines bind (Servers.families)
        servers = table.get(Socket(_APACHE_ANY, port))
        family = address_family(key)
        return servers if servers is None or not family or family in servers.families else None
    if key.startswith("["):
        return table.get(Socket(_ANY6, port))
    any4 = table.get(Socket(_NGINX_ANY4, port))
    if any4 is None and Socket(_ANY6, port) in taking_ipv4:
        return table.get(Socket(_ANY6, port))
    return any4


# ---------------------------------------------------------------- where a name's clients land


@functools.lru_cache(maxsize=4096)  # asked of a few socket addresses, for every site
def address_family(address: str) -> int | None:
    """4 or 6 for a Socket address; 0 for Apache's `*` (both families); None: a host name or unix socket."""
    if address == _APACHE_ANY:
        return 0
    try:
        return ipaddress.ip_address(address.strip("[]")).version
    except ValueError:
        return None


def is_browser_name(name: str) -> bool:
    """A name a browser is sent to, as written: not a regex, `_`, a catch-all or a partial wildcard,
    not a variable, not a name of the machine itself."""
    return bool(name) and name != "_" and not name.startswith(("~", ".")) and not name.endswith(".*") \
        and "$" not in name and not internal(name) and not name.endswith(".localhost")


def browser_name(site: Site) -> str | None:
    """The first name of a site that a browser is sent to (the name its messages speak of); None
    when it has none."""
    return next((name for name in site.name_list if is_browser_name(name)), None)


def internal(address: str) -> bool:
    """A loopback address (or `localhost`): only clients on the machine itself connect to it."""
    bare = address.strip("[]")
    if bare.lower() == "localhost":
        return True
    # Without a colon only an IPv4 address can parse, and it is digits and dots: a host name
    # (nearly every call) is answered here, not by ip_address's ValueError, thousands of times a run.
    if ":" not in bare and bare.strip("0123456789."):
        return False
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


# internal() of a socket's address: a few addresses, asked for every site's landings.
_internal_socket = functools.lru_cache(maxsize=4096)(internal)


def _families(address: str) -> set[int]:
    found = address_family(address)
    return {4, 6} if found == 0 else set() if found is None else {found}


def _bound(socket: Socket, table: dict[Socket, Servers]) -> set[int]:
    """The address families whose clients reach `socket`: its address's, less those no `Listen`
    binds (an Apache `*` vhost behind `Listen 127.0.0.1:443` answers no IPv6 client)."""
    servers = table.get(socket)
    families = _families(socket.address)
    return families & set(servers.families) if servers is not None else families


@dataclass(frozen=True)
class Landing:
    """A socket where clients of a site's names arrive although the site does not listen there."""

    servers: Servers
    families: tuple[int, ...]  # the address families of the clients arriving there (4, 6)
    address: str = ""  # set: only the clients that connect to this address (a socket bound to it)

    @property
    def family(self) -> int:
        return self.families[0]

    def clients(self, names: str) -> str:
        """Who arrives there, as the admin reads it: `IPv6 clients of b.test`."""
        if self.address:
            return f"clients of {names} that connect to {self.address}"
        return " and ".join(f"IPv{family}" for family in self.families) + f" clients of {names}"


def own_sockets(site: Site, port: int, shared: set[Socket] | frozenset[Socket] = frozenset()) -> list[Socket]:
    """The TLS sockets the site is bound to on `port`, each once, in its order."""
    return list(dict.fromkeys(listen_socket(listen, site.server) for listen in tls_listens(site, shared)
                              if listen.port == port and _tcp(listen) and listen.heard))


def landings(site: Site, table: dict[Socket, Servers], port: int,
             taking_ipv4: set[Socket] | frozenset[Socket] = frozenset(),
             shared: set[Socket] | frozenset[Socket] = frozenset()) -> list[Landing]:
    """Where else the clients of the site's names arrive on `port` (see the module docstring).

    A client resolving the name connects to one of the host's addresses: with no listen of
    the site for that address's family, the family's wildcard socket takes it; with the site
    on the wildcard, a socket bound to the very address takes it first (both servers keep the
    specific address apart, nginx by looking the connection's address up, Apache by its
    address set). Loopback sockets are left out, unless the site itself listens on loopback
    only (a machine-local service: its other family arrives on the other loopback address)."""
    own = own_sockets(site, port, shared)
    if not own:
        return []
    local = all(_internal_socket(socket.address) for socket in own)
    covered: set[int] = set()
    wildcard_families: set[int] = set()
    for socket in own:
        families = _bound(socket, table)
        if socket.address == _ANY6 and socket in taking_ipv4:
            families.add(4)
        covered |= families
        if socket.wildcard:
            wildcard_families |= families
    others = [socket for socket in table if socket.port == port and socket not in own]
    arriving: dict[Socket, list[int]] = {}
    for family in (4, 6):
        if family in covered:
            continue
        targets = [socket for socket in others if local and _internal_socket(socket.address)
                   and family in _bound(socket, table)]
        if not targets:
            targets = [socket for socket in others if socket.wildcard and (family in _bound(socket, table) or (
                family == 4 and socket.address == _ANY6 and socket in taking_ipv4))]
        for socket in targets:
            arriving.setdefault(socket, []).append(family)
    found = [Landing(table[socket], tuple(families)) for socket, families in arriving.items()]
    for socket in others:
        if socket.wildcard or _internal_socket(socket.address) or socket in arriving:
            continue
        families = _bound(socket, table)
        if families & wildcard_families:
            found.append(Landing(table[socket], tuple(sorted(families)), socket.address.strip("[]")))
    return found


# ---------------------------------------------------------------- the probe's question


@dataclass(frozen=True)
class Choice:
    """The site that answers the probe, and why that one (as an admin reads it)."""

    site: Site | None
    reason: str
    socket: str = ""

    @property
    def described(self) -> str:
        return "no site" if self.site is None else who(self.site)


def answers_on(sites: tuple[Site, ...], port: int) -> bool:
    """Some site speaks TLS on `port`: the configuration can describe an endpoint there."""
    return bool(routes(sites, port))


def choose_site(sites: tuple[Site, ...], probe: Probe) -> Choice:
    """The site that answers `probe.endpoint.servername` on its port; Choice(None, why) when none can."""
    port = probe.endpoint.port
    table = routes(sites, port)
    if not table:
        return Choice(None, f"no site speaks TLS on port {port}")
    servers = reached(table, probe.address, port, dual_stack(sites)) if probe.address else None
    if servers is None:  # no address, or one the configuration does not bind: its wildcard, if any
        servers = next((table[socket] for socket in (Socket(_NGINX_ANY4, port), Socket(_APACHE_ANY, port),
                                                     Socket(_ANY6, port)) if socket in table), None)
    if servers is None and len(table) == 1:
        servers = next(iter(table.values()))
    if servers is None:
        # The config's addresses are not the one connected to (NAT, a proxy): every socket on the port.
        every = tuple({id(site): site for group in table.values() for site in group.sites}.values())
        flagged = next((group.default for group in table.values() if group.flagged), None)
        servers = Servers(Socket(f"port {port} (any address)", None), every, flagged or every[0], flagged is not None)
    socket = str(servers.socket)
    name = probe.endpoint.servername
    if name:
        match = servers.match(name)
        if match is not None:
            return Choice(match[0], match[1], socket)
    default = servers.default
    how = "marked default_server" if servers.flagged and default.server == "nginx" else (
        "the first named for it" if default.server == "apache" else "the first for it")
    if name:
        return Choice(default, f"the default server for {socket} ({how}): no server name there matches {name}",
                      socket)
    return Choice(default, f"the default server for {socket} ({how}): no SNI name was sent", socket)
