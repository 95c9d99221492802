"""Effective response headers per location: what a client receives, and on which responses.

Part of the sites stage: it reads the AST, never files. For each TLS site it
lists the places a response is built (the server level, every location, nested
location and `if` inside one; for Apache the virtual host and its sections),
each with the headers in force there, where each was written, and whether it
goes out on error responses too.

nginx (ngx_http_headers_module): a level with any `add_header` of its own
inherits none from the level above; `add_header_inherit` (1.29.3+) changes that
to `merge` (own first, then the parent's) or `off` (never inherit), and is
itself inherited like any directive. Without `always`, a header goes out only
on 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308. An empty value sends
nothing. headers-more's `more_set_headers` is counted too: it adds to every
level below it and, without `-s`, to every status.

Apache (mod_headers): `Header` actions of the server config, then the virtual
host, then the sections that match apply in that order, each to its own table:
`onsuccess` (the default) is dropped on error responses and on redirects Apache
generates itself, `always` is sent on every response.

Values written with variables are resolved through `map` and `set` when their
values can be known; a map keyed on `$sent_http_content_type` is evaluated for
an HTML document, the response the Content-Security-Policy matters for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Mapping

from nginxssl.model.headers import Header, MapDef, ResponseHeaders, Scope, Variables
from nginxssl.model.node import Node

# What add_header without `always` is sent with (ngx_http_headers_filter).
NGINX_SUCCESS_STATUSES = (200, 201, 204, 206, 301, 302, 303, 304, 307, 308)
_REDIRECT_CODES = frozenset({"301", "302", "303", "307", "308"})


# ----------------------------------------------------------------- header values


# ----------------------------------------------------------------- nginx


@dataclass(frozen=True)
class NginxContext:
    """What an http block hands down to its servers: its add_header, inheritance mode and maps."""

    headers: tuple[Header, ...] = ()
    more: tuple[Header, ...] = ()
    inherit: str = "on"
    inherit_node: Node | None = None
    maps: Mapping[str, MapDef] = field(default_factory=dict)
    hides: Mapping[str, tuple[Node, ...]] = field(default_factory=dict)  # http-level <module>_hide_header
    index: tuple[str, ...] = ()  # http-level `index`

    @cached_property
    def variables(self) -> Variables:
        """The variables of its servers that `set` none of their own: one object for all of them."""
        return Variables(self.maps)


def _add_headers(block: Iterable[Node]) -> tuple[Header, ...]:
    found = []
    for node in block:
        if node.directive == "add_header" and len(node.args) >= 2:
            always = len(node.args) > 2 and node.args[2] == "always"
            found.append(Header(node.args[0], node.args[1], always, node))
    return tuple(found)


def _more_set_headers(block: Iterable[Node]) -> tuple[Header, ...]:
    """headers-more: `more_set_headers [-s STATUSES] [-t TYPES] 'Name: value' ...`."""
    found = []
    for node in block:
        if node.directive != "more_set_headers":
            continue
        statuses = False
        args = list(node.args)
        index = 0
        specs = []
        while index < len(args):
            arg = args[index]
            if arg in ("-s", "-t") and index + 1 < len(args):
                statuses = statuses or arg == "-s"
                index += 2
                continue
            if arg.startswith("-s") or arg.startswith("-t"):
                statuses = statuses or arg.startswith("-s")
            elif arg != "-r":
                specs.append(arg)
            index += 1
        for spec in specs:
            name, colon, value = spec.partition(":")
            if colon and name.strip():
                found.append(Header(name.strip(), value.strip(), not statuses, node, action="more_set"))
    return tuple(found)


def _inherit_mode(block: Iterable[Node]) -> Node | None:
    found = None
    for node in block:
        if node.directive == "add_header_inherit" and node.args and node.args[0] in ("on", "off", "merge"):
            found = node
    return found


def _merge(own: tuple[Header, ...], parent: tuple[Header, ...], mode: str) -> tuple[Header, ...]:
    if mode == "off":
        return own
    if not own:
        return parent
    return own + parent if mode == "merge" else own


def _maps(block: Iterable[Node]) -> dict[str, MapDef]:
    maps: dict[str, MapDef] = {}
    for node in block:
        if node.directive != "map" or len(node.args) != 2 or not node.children:
            continue
        entries = []
        default = ""
        for entry in node.children:
            if entry.directive in ("hostnames", "volatile") and not entry.args:
                continue
            value = entry.args[0] if entry.args else ""
            if entry.directive == "default":
                default = value
            else:
                entries.append((entry.directive, value))
        name = node.args[1].lstrip("$").strip("{}").lower()
        maps[name] = MapDef(node, node.args[0], tuple(entries), default)
    return maps


def nginx_context(block: tuple[Node, ...]) -> NginxContext:
    """The http-level (or a lone site file's top-level) headers, add_header_inherit and maps."""
    mode_node = _inherit_mode(block)
    return NginxContext(
        headers=_add_headers(block),
        more=_more_set_headers(block),
        inherit=mode_node.args[0] if mode_node else "on",
        inherit_node=mode_node,
        maps=_maps(block),
        hides=_hides(block, {}),
        index=next((node.args for node in block if node.directive == "index"), ()),
    )


def _response(block: Iterable[Node]) -> tuple[str, Node | None]:
    """What the rewrite phase of this level answers unconditionally: a redirect, a closed
    connection (444), or nothing (the request goes on to content)."""
    for node in block:
        if node.directive == "return" and node.args:
            code = node.args[0]
            if code == "444":
                return "closed", node
            target = ""
            if code in _REDIRECT_CODES:
                target = node.args[1] if len(node.args) > 1 else ""
            elif not code.isdigit():
                target = code  # `return URL` is a 302
            elif int(code) >= 400 and len(node.args) == 1:
                return "error", node  # nginx's own error page: no document of the site
            else:
                return "content", node
            return ("redirect-http" if target.lower().startswith("http://") else "redirect"), node
        if node.directive == "deny" and node.args == ("all",):
            return "error", node  # 403 to everyone
        if node.directive == "rewrite" and len(node.args) >= 2:
            pattern, replacement = node.args[0], node.args[1]
            flag = node.args[2] if len(node.args) > 2 else ""
            absolute = replacement.lower().startswith(("http://", "https://", "$scheme://"))
            if pattern in ("^", "^(.*)$", "^/(.*)$", "^(.*)", ".*", "^.*$", "(.*)") and (
                    absolute or flag in ("permanent", "redirect")):
                return ("redirect-http" if replacement.lower().startswith("http://") else "redirect"), node
    return "content", None


def _label(node: Node) -> str:
    if node.directive == "if":
        return f"if ({' '.join(node.args)})"
    return f"{node.directive} {' '.join(node.args)}".strip()


def _sets(server: Node) -> dict[str, tuple[Node, ...]]:
    found: dict[str, list[Node]] = {}
    _collect_sets(server.children or (), found)
    return {name: tuple(nodes) for name, nodes in found.items()}


# The recursive walks in this module are plain functions, not closures: a closure that calls
# itself is a reference cycle, left to the cyclic garbage collector once per server block.
def _collect_sets(block: tuple[Node, ...], found: dict[str, list[Node]]) -> None:
    for node in block:
        if node.directive == "set" and node.args:
            found.setdefault(node.args[0].lstrip("$").strip("{}").lower(), []).append(node)
        if node.children and node.directive in ("location", "if", "server", "limit_except"):
            _collect_sets(node.children, found)


# The modules that hand a request to an application, whose response headers nginx passes on
# unless `<module>_hide_header` names them.
UPSTREAM_MODULES = ("proxy", "fastcgi", "uwsgi", "scgi", "grpc")
_PASSES = {f"{module}_pass": module for module in UPSTREAM_MODULES}
_HIDES = {f"{module}_hide_header": module for module in UPSTREAM_MODULES}


@dataclass(frozen=True)
class _Upstreams:
    """What a server's locations hand to applications: the named locations' pass directives and
    the server's top-level locations, to follow a try_files fallback to the location that answers it."""

    named: Mapping[str, Node]
    locations: tuple[Node, ...]
    # <module>_hide_header lists in force (an array directive: a level with its own replaces the rest)
    hides: Mapping[str, tuple[Node, ...]]
    index: tuple[str, ...] = ()  # the server's `index` files


def _pass_of(block: Iterable[Node]) -> Node | None:
    return next((node for node in block if node.directive in _PASSES), None)


def _hides(block: Iterable[Node], inherited: Mapping[str, tuple[Node, ...]]) -> dict[str, tuple[Node, ...]]:
    own: dict[str, list[Node]] = {}
    for node in block:
        if node.directive in _HIDES and node.args:
            own.setdefault(_HIDES[node.directive], []).append(node)
    return {**inherited, **{module: tuple(nodes) for module, nodes in own.items()}}


def _location_for(uri: str, locations: tuple[Node, ...]) -> Node | None:
    """The top-level location nginx picks for `uri` (exact, then the longest prefix unless a regex
    matches first; `^~` stops the regexes). A regex beyond Python's `re` is passed over."""
    prefix: Node | None = None
    for node in locations:
        args = node.args
        if len(args) == 2 and args[0] == "=" and args[1] == uri:
            return node
        pattern = args[-1] if args else ""
        if (len(args) == 1 or args[0] == "^~") and uri.startswith(pattern):
            if prefix is None or len(pattern) > len(prefix.args[-1]):
                prefix = node
    if prefix is not None and prefix.args[0] == "^~":
        return prefix
    for node in locations:
        if len(node.args) == 2 and node.args[0] in ("~", "~*"):
            try:
                if re.search(node.args[1], uri, re.IGNORECASE if node.args[0] == "~*" else 0):
                    return node
            except re.error:
                continue
    return prefix


def _handed_on(uri: str, locations: tuple[Node, ...]) -> Node | None:
    """The pass directive of the location an internal redirect to `uri` ends in (variables stand
    for any text: `$1.php` is a PHP script)."""
    uri = re.sub(r"\$(\w+|\{\w+\})", "x", uri.split("?", 1)[0])
    uri = uri if uri.startswith("/") else "/" + uri
    target = _location_for(uri, locations)
    return _pass_of(target.children or ()) if target is not None else None


def _rewritten(block: Iterable[Node], locations: tuple[Node, ...]) -> Node | None:
    """`rewrite ^(.*)$ $1.php last;`: where an internal rewrite hands the request on."""
    for node in block:
        if node.directive == "rewrite" and len(node.args) >= 3 and node.args[2] in ("last", "break"):
            return _handed_on(node.args[1], locations)
    return None


def _fallback(block: Iterable[Node], upstreams: _Upstreams, index: tuple[str, ...]) -> Node | None:
    """The pass directive a `try_files ... @app` or `try_files ... /index.php?...` fallback reaches
    (or the `index index.php` a `$uri/` in it serves): a page no file answers is the application's."""
    for node in block:
        if node.directive != "try_files" or len(node.args) < 2:
            continue
        last = node.args[-1]
        if "$uri/" in node.args[:-1] and index and index[0].endswith(".php"):
            found = _handed_on("/" + index[0], upstreams.locations)
            if found is not None:
                return found
        if last.startswith("@"):
            return upstreams.named.get(last)
        if last.startswith("/"):
            return _handed_on(last, upstreams.locations)
    return None


def nginx_headers(server: Node, context: NginxContext) -> ResponseHeaders:
    """Scopes of one nginx server block with the headers in force in each."""
    scopes: list[Scope] = []
    locations = tuple(node for node in server.children or () if node.directive == "location" and node.is_block)
    unnamed = tuple(node for node in locations if not node.args[:1] or not node.args[0].startswith("@"))
    named = {node.args[0]: found for node in locations if node.args and node.args[0].startswith("@")
             for found in [_pass_of(node.children or ()) or _rewritten(node.children or (), unnamed)]
             if found is not None}
    index_files = next((node.args for node in server.children or () if node.directive == "index"), context.index)
    upstreams = _Upstreams(named, unnamed, _hides(server.children or (), context.hides), index_files)
    # The server level's `inherited` is the http level's own list.
    _nginx_level(scopes, server, "server", "server block", None, _merge(context.headers, (), "on"), context.more,
                 context.inherit, context.inherit_node, upstreams, None)
    sets = _sets(server)
    home = _location_for("/", upstreams.locations)
    home_index = next((i for i, scope in enumerate(scopes) if home is not None and scope.node is home), 0)
    return ResponseHeaders("nginx", tuple(scopes), Variables(context.maps, sets) if sets else context.variables,
                           home_index)


def _nginx_level(scopes: list[Scope], block_node: Node, kind: str, label: str, parent: int | None,
                 inherited: tuple[Header, ...], more: tuple[Header, ...], mode: str, mode_node: Node | None,
                 upstreams: _Upstreams, upstream: Node | None) -> None:
    """Append the scope of `block_node`, then those of the locations (and `if`s in them) inside it."""
    block = block_node.children or ()
    own = _add_headers(block)
    own_mode = _inherit_mode(block)
    if own_mode is not None:
        mode, mode_node = own_mode.args[0], own_mode
    more = _more_set_headers(block) + more
    headers = _merge(own, inherited, mode)
    response, response_node = _response(block)
    catch_all = kind == "location" and block_node.args == ("/",)
    hides = _hides(block, upstreams.hides) if kind != "server" else upstreams.hides
    if kind != "server":
        # An `if` inside a location keeps the location's handler; a nested location has its own.
        upstream = (_pass_of(block) or _fallback(block, upstreams, upstreams.index)
                    or (upstream if kind == "if" else None))
    hidden: tuple[tuple[str, Node], ...] = ()
    if upstream is not None:
        module = _PASSES[upstream.directive]
        hidden = tuple((node.args[0].lower(), node) for node in hides.get(module, ()))
    index = len(scopes)
    scopes.append(Scope(kind, block_node, label, parent, own, inherited, headers + more,
                        response, response_node, mode, mode_node, catch_all, upstream, hidden))
    child_upstreams = _Upstreams(upstreams.named, upstreams.locations, hides, upstreams.index)
    for child in block:
        if (child.directive == "location" or (child.directive == "if" and kind != "server")) and child.is_block:
            child_label = _label(child)
            if kind != "server":  # name the enclosing block, not the whole chain
                child_label = f"{child_label} in {_label(block_node)}"
            _nginx_level(scopes, child, child.directive, child_label, index, headers, more, mode, mode_node,
                         child_upstreams, upstream)


# ----------------------------------------------------------------- Apache


