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

import itertools
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Iterator, Mapping

from nginxssl.parse.node import Node

CSP = "content-security-policy"
CSP_REPORT_ONLY = "content-security-policy-report-only"
HSTS = "strict-transport-security"
SECURITY_HEADERS = {CSP: "Content-Security-Policy", HSTS: "Strict-Transport-Security"}

# What add_header without `always` is sent with (ngx_http_headers_filter).
NGINX_SUCCESS_STATUSES = (200, 201, 204, 206, 301, 302, 303, 304, 307, 308)
_REDIRECT_CODES = frozenset({"301", "302", "303", "307", "308"})
# The Content-Type an HTML page goes out with; h5bp adds the charset.
DOCUMENT_TYPES = ("text/html", "text/html; charset=utf-8")
# Stand-in for the part of a value sslint cannot know: never part of a CSP token.
UNKNOWN = "\x00"
_MAX_VALUES = 64
_MAX_DEPTH = 8

_NGINX_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_APACHE_FORMAT = re.compile(r"%\{[^}]*\}[a-zA-Z]|%[a-zA-Z]")


@dataclass(frozen=True, slots=True)
class Header:
    """One directive that puts a header on responses."""

    name: str  # as written: "Content-Security-Policy"
    value: str  # as written; may hold variables
    always: bool  # sent on every response (nginx `always`, Apache's `always` table)
    node: Node  # the directive
    action: str = "add"  # nginx: add | more_set; Apache: set | append | merge | add | setifempty | edit
    conditional: bool = False  # Apache env=/expr=: only for some requests
    condition: str = ""  # that condition, as written ("expr=%{CONTENT_TYPE} =~ m#text/html#")

    @property
    def key(self) -> str:
        return self.name.lower()

    def for_html_pages(self) -> bool | None:
        """Does the header go out with an HTML page over TLS? None: sslint cannot tell."""
        return True if not self.conditional else condition_holds(self.condition)

    def where(self) -> str:
        return self.node.where()


@dataclass(frozen=True, slots=True)
class Scope:
    """One place a response is built: the server level, a location, an `if` inside one."""

    kind: str  # "server" | "location" | "if"; Apache: "vhost" | "location" | "directory" | "files" | "if" | ...
    node: Node | None  # the block
    label: str  # "location /test/cors", "server block", "<Location /x>"
    parent: int | None  # index of the enclosing scope in ResponseHeaders.scopes
    own: tuple[Header, ...]  # header directives written in this block
    inherited: tuple[Header, ...]  # what the enclosing level had in force
    headers: tuple[Header, ...]  # in force here, in the order they are added
    response: str = "content"  # "content" | "redirect" | "redirect-http" | "closed"
    response_node: Node | None = None  # the `return` / `rewrite` that decides it
    inherit: str = "on"  # nginx add_header_inherit in force: "on" | "off" | "merge"
    inherit_node: Node | None = None  # where that mode was written
    catch_all: bool = False  # `location /`: every URI no other location takes ends here

    @property
    def replaces(self) -> bool:
        """This level's own add_header (or add_header_inherit off) discards what the level above had."""
        return self.inherit == "off" or (bool(self.own) and self.inherit != "merge")

    def dropped(self, keys: Iterable[str] = SECURITY_HEADERS) -> tuple[Header, ...]:
        """Inherited headers (among `keys`) that do not reach responses built here."""
        here = {header.key for header in self.headers}
        wanted = set(keys)
        return tuple(h for h in self.inherited if h.key in wanted and h.key not in here)


@dataclass(frozen=True)
class MapDef:
    """An nginx `map`: source variable, entries in file order, default."""

    node: Node
    source: str  # "$sent_http_content_type"
    entries: tuple[tuple[str, str], ...]  # (key as written, value)
    default: str = ""

    def value_for(self, subject: str) -> str | None:
        """The value nginx picks for `subject` (exact keys first, then regexes in order); None if a regex
        is beyond Python's `re`."""
        lowered = subject.lower()
        for key, value in self.entries:
            if not key.startswith("~") and key.lower() == lowered:
                return value
        for key, value in self.entries:
            if not key.startswith("~"):
                continue
            flags, pattern = (re.IGNORECASE, key[2:]) if key.startswith("~*") else (0, key[1:])
            pattern = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)  # PCRE named groups
            try:
                if re.search(pattern, subject, flags):
                    return value
            except re.error:
                return None
        return self.default

    def values(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([value for _key, value in self.entries] + [self.default]))


@dataclass(frozen=True)
class Resolution:
    """Every value a header template can take, as far as the configuration tells."""

    values: tuple[str, ...]  # "" means the header is not sent; UNKNOWN marks an unknowable part
    unknown: tuple[str, ...] = ()  # variables sslint cannot resolve, as written ("$host")
    via: tuple[Node, ...] = ()  # the map / set directives consulted
    for_documents: bool = False  # a map on $sent_http_content_type was evaluated for an HTML page

    @property
    def constant(self) -> bool:
        return not self.unknown and len(self.values) == 1


@dataclass(frozen=True)
class Variables:
    """What the values of variables can be: nginx `map` (http level) and `set` (in the server)."""

    maps: Mapping[str, MapDef] = field(default_factory=dict)  # variable name (no $, lower-case) -> map
    sets: Mapping[str, tuple[Node, ...]] = field(default_factory=dict)
    pattern: re.Pattern = _NGINX_VARIABLE

    def resolve(self, template: str) -> Resolution:
        if self.pattern.search(template) is None:  # no variable: most header values
            return Resolution((template,), (), (), False)
        unknown: dict[str, None] = {}
        via: dict[Node, None] = {}
        documents = [False]
        values = self._expand(template, 0, frozenset(), unknown, via, documents)
        return Resolution(tuple(dict.fromkeys(values)), tuple(unknown), tuple(via), documents[0])

    def _expand(self, template: str, depth: int, seen: frozenset, unknown: dict, via: dict,
                documents: list) -> list[str]:
        results = [""]
        position = 0
        for match in self.pattern.finditer(template):
            literal = template[position:match.start()]
            position = match.end()
            options = self._options(match, depth, seen, unknown, via, documents)
            results = [prefix + literal + option for prefix, option in itertools.product(results, options)]
            results = results[:_MAX_VALUES]
        tail = template[position:]
        return [prefix + tail for prefix in results]

    def _options(self, match: re.Match, depth: int, seen: frozenset, unknown: dict, via: dict,
                 documents: list) -> list[str]:
        if self.pattern is not _NGINX_VARIABLE:
            unknown.setdefault(match.group(0), None)
            return [UNKNOWN]
        name = (match.group(1) or match.group(2)).lower()
        if depth >= _MAX_DEPTH or name in seen or (name not in self.maps and name not in self.sets):
            unknown.setdefault("$" + name, None)
            return [UNKNOWN]
        raw: list[str] = []
        mapping = self.maps.get(name)
        if mapping is not None:
            via.setdefault(mapping.node, None)
            if mapping.source.lower() == "$sent_http_content_type":
                documents[0] = True
                picked = [mapping.value_for(kind) for kind in DOCUMENT_TYPES]
                if any(value is None for value in picked):
                    unknown.setdefault("$" + name, None)
                    return [UNKNOWN]
                raw.extend(value for value in picked if value is not None)
            else:
                raw.extend(mapping.values())
        for node in self.sets.get(name, ()):
            via.setdefault(node, None)
            raw.append(node.args[1] if len(node.args) > 1 else "")
        options: list[str] = []
        for value in dict.fromkeys(raw):
            options.extend(self._expand(value, depth + 1, seen | {name}, unknown, via, documents))
        return list(dict.fromkeys(options))[:_MAX_VALUES] or [""]


# Apache header values hold mod_headers' %{...}e specifiers: known only per request.
_APACHE_VARIABLES = Variables(pattern=_APACHE_FORMAT)


@dataclass(frozen=True)
class ResponseHeaders:
    """The response headers of one site, per scope; scopes[0] is the server (or virtual host) level."""

    server: str  # "nginx" | "apache"
    scopes: tuple[Scope, ...]
    variables: Variables = field(default_factory=Variables)

    @property
    def base(self) -> Scope:
        return self.scopes[0]

    def chain(self, index: int) -> Iterator[Scope]:
        """The scope and its ancestors, innermost first."""
        current: int | None = index
        while current is not None:
            scope = self.scopes[current]
            yield scope
            current = scope.parent

    def endpoints(self) -> tuple[int, ...]:
        """Indexes of the scopes responses can come from. The server level counts unless a
        `location /` takes every URI the other locations leave; its own redirect counts for all."""
        if self.base.response != "content":
            return (0,)
        catch_all = any(scope.catch_all for scope in self.scopes[1:])
        return tuple(i for i, _scope in enumerate(self.scopes) if i > 0 or not catch_all)

    def serves_content(self) -> bool:
        return any(self.scopes[i].response == "content" for i in self.endpoints())


# ----------------------------------------------------------------- header values


def csp_directive_names(value: str) -> set[str]:
    """Directive names of a Content-Security-Policy value (several policies may be comma-joined)."""
    names = set()
    for policy in value.split(","):
        for directive in policy.split(";"):
            tokens = directive.split()
            if tokens:
                names.add(tokens[0].lower())
    return names


def hsts_max_age(value: str) -> int | None:
    """max-age of a Strict-Transport-Security value; None when absent or not a number."""
    for directive in value.split(";"):
        name, _, argument = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            argument = argument.strip().strip('"')
            return int(argument) if argument.isdigit() else None
    return None


@dataclass(frozen=True)
class Verdict:
    """Whether responses built in a scope carry what a check wants."""

    status: str  # "present" | "absent" | "undecidable"
    reason: str = ""  # absent: "none" | "no-upgrade" | "report-only" | "max-age-0" | "no-max-age"
    header: Header | None = None  # the header the verdict is about
    resolution: Resolution | None = None


_CONTENT_TYPE_MATCH = re.compile(r"^expr=%\{CONTENT_TYPE\}\s*=~\s*(?:m(.)(.*)\1|/(.*)/)([a-z]*)$", re.IGNORECASE)
_HTTPS_ON = re.compile(r"""^expr=%\{HTTPS\}\s*==\s*(['"])on\1$""", re.IGNORECASE)


def condition_holds(condition: str) -> bool | None:
    """Apache conditions sslint can judge for an HTML page served over TLS: h5bp's
    `expr=%{CONTENT_TYPE} =~ m#...#i` and `expr=%{HTTPS} == 'on'`; None for anything else."""
    if _HTTPS_ON.match(condition.strip()):
        return True
    match = _CONTENT_TYPE_MATCH.match(condition.strip())
    if match is None:
        return None
    pattern = match.group(2) if match.group(2) is not None else match.group(3)
    flags = re.IGNORECASE if "i" in match.group(4).lower() else 0
    try:
        return any(re.search(pattern, kind, flags) for kind in DOCUMENT_TYPES)
    except re.error:
        return None


def csp_upgrade(headers: Iterable[Header], variables: Variables) -> Verdict:
    """Does a Content-Security-Policy with upgrade-insecure-requests go out?"""
    headers = tuple(headers)
    policies = [h for h in headers if h.key == CSP]
    undecided: Verdict | None = None
    without: Verdict | None = None
    for header in policies:
        applies = header.for_html_pages()
        if applies is False:
            continue  # never sent with an HTML page
        resolution = variables.resolve(header.value)
        sent = [value for value in resolution.values if value.strip()]
        upgrading = [value for value in sent if "upgrade-insecure-requests" in csp_directive_names(value)]
        if upgrading and len(upgrading) == len(resolution.values) and applies:
            return Verdict("present", header=header, resolution=resolution)
        if upgrading or any(UNKNOWN in value for value in sent) or applies is None:
            undecided = undecided or Verdict("undecidable", header=header, resolution=resolution)
        elif sent:
            without = without or Verdict("absent", "no-upgrade", header, resolution)
    if undecided is not None:
        return undecided
    if without is not None:
        return without
    report_only = next((h for h in headers if h.key == CSP_REPORT_ONLY), None)
    if report_only is not None:
        return Verdict("absent", "report-only", report_only)
    return Verdict("absent", "none")


def hsts(headers: Iterable[Header], variables: Variables) -> Verdict:
    """Does a Strict-Transport-Security with a positive max-age go out? (Browsers obey the first.)"""
    for header in headers:
        if header.key != HSTS:
            continue
        resolution = variables.resolve(header.value)
        sent = [value for value in resolution.values if value.strip()]
        if not sent:
            continue
        applies = header.for_html_pages()
        if applies is False:
            continue
        if resolution.unknown or applies is None or len(sent) != len(resolution.values):
            return Verdict("undecidable", header=header, resolution=resolution)
        ages = [hsts_max_age(value) for value in sent]
        if all(age is not None and age > 0 for age in ages):
            return Verdict("present", header=header, resolution=resolution)
        reason = "max-age-0" if any(age == 0 for age in ages) else "no-max-age"
        return Verdict("absent", reason, header, resolution)
    return Verdict("absent", "none")


# ----------------------------------------------------------------- nginx


@dataclass(frozen=True)
class NginxContext:
    """What an http block hands down to its servers: its add_header, inheritance mode and maps."""

    headers: tuple[Header, ...] = ()
    more: tuple[Header, ...] = ()
    inherit: str = "on"
    inherit_node: Node | None = None
    maps: Mapping[str, MapDef] = field(default_factory=dict)

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
            else:
                return "content", node
            return ("redirect-http" if target.lower().startswith("http://") else "redirect"), node
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


def nginx_headers(server: Node, context: NginxContext) -> ResponseHeaders:
    """Scopes of one nginx server block with the headers in force in each."""
    scopes: list[Scope] = []
    # The server level's `inherited` is the http level's own list.
    _nginx_level(scopes, server, "server", "server block", None, _merge(context.headers, (), "on"), context.more,
                 context.inherit, context.inherit_node)
    sets = _sets(server)
    return ResponseHeaders("nginx", tuple(scopes), Variables(context.maps, sets) if sets else context.variables)


def _nginx_level(scopes: list[Scope], block_node: Node, kind: str, label: str, parent: int | None,
                 inherited: tuple[Header, ...], more: tuple[Header, ...], mode: str, mode_node: Node | None) -> None:
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
    index = len(scopes)
    scopes.append(Scope(kind, block_node, label, parent, own, inherited, headers + more,
                        response, response_node, mode, mode_node, catch_all))
    for child in block:
        if (child.directive == "location" or (child.directive == "if" and kind != "server")) and child.is_block:
            child_label = _label(child)
            if kind != "server":  # name the enclosing block, not the whole chain
                child_label = f"{child_label} in {_label(block_node)}"
            _nginx_level(scopes, child, child.directive, child_label, index, headers, more, mode, mode_node)


# ----------------------------------------------------------------- Apache

# Sections whose Header directives apply to the requests they match, as stored by
# the Apache parser (lower-case directive names).
APACHE_SECTIONS = ("location", "locationmatch", "directory", "directorymatch", "files", "filesmatch",
                   "if", "elseif", "else", "proxy", "proxymatch")
_SECTIONS = frozenset(APACHE_SECTIONS)
_APACHE_ACTIONS = ("add", "append", "merge", "set", "setifempty", "unset", "edit", "edit*", "echo", "note")


def _apache_header(node: Node) -> Header | None:
    """`Header [always|onsuccess] action name [value [replacement]] [early|env=..|expr=..]`."""
    args = list(node.args)
    table = "onsuccess"
    if args and args[0].lower() in ("always", "onsuccess"):
        table = args.pop(0).lower()
    if len(args) < 2 or args[0].lower() not in _APACHE_ACTIONS:
        return None
    action, name = args[0].lower(), args[1]
    if action in ("echo", "note"):
        return None  # request headers / notes: nothing reaches the client
    rest = args[2:]
    value = rest[0] if rest and action != "unset" else ""
    trailing = rest[2:] if action in ("edit", "edit*") else rest[1:]
    condition = next((arg for arg in trailing if arg.lower().startswith(("env=", "expr="))), "")
    conditional = bool(condition)
    if value.lower().startswith("expr="):
        value = UNKNOWN  # an ap_expr string: known only per request
    return Header(name, value, table == "always", node, action=action, conditional=conditional,
                  condition=condition)


def _apache_actions(block: Iterable[Node]) -> tuple[Header, ...]:
    found = []
    for node in block:
        if node.directive == "header":
            header = _apache_header(node)
            if header is not None:
                found.append(header)
    return tuple(found)


def apache_apply(actions: Iterable[Header]) -> tuple[Header, ...]:
    """Run Header actions in order on mod_headers' two tables; what is left goes out.

    The result lists the `always` table first (sent on every response), then the
    `onsuccess` table (2xx, and 3xx that are not generated by Apache itself).
    """
    tables: dict[bool, list[Header]] = {True: [], False: []}
    for header in actions:
        table = tables[header.always]
        present = [h for h in table if h.key == header.key]
        if header.action == "unset":
            table[:] = [h for h in table if h.key != header.key]
        elif header.action == "set":
            table[:] = [h for h in table if h.key != header.key] + [header]
        elif header.action == "setifempty":
            if not present:
                table.append(header)
        elif header.action in ("append", "merge") and present:
            first = present[0]
            if header.action == "merge" and header.value in [v.strip() for v in first.value.split(",")]:
                continue
            joined = Header(first.name, f"{first.value}, {header.value}", first.always, header.node,
                            header.action, first.conditional or header.conditional,
                            first.condition or header.condition)
            table[table.index(first)] = joined
        elif header.action in ("edit", "edit*"):
            table[:] = [Header(h.name, UNKNOWN, h.always, header.node, "edit", True) if h.key == header.key
                        else h for h in table]
        else:  # add, or append/merge to a header not there yet
            table.append(header)
    return tuple(tables[True]) + tuple(tables[False])


def _apache_label(node: Node) -> str:
    spelled = {"locationmatch": "LocationMatch", "directorymatch": "DirectoryMatch", "filesmatch": "FilesMatch",
               "elseif": "ElseIf", "proxymatch": "ProxyMatch"}.get(node.directive, node.directive.capitalize())
    return f"<{spelled} {' '.join(node.args)}>".replace(" >", ">")


@dataclass(frozen=True)
class ApacheContext:
    """What the main server config hands down to every virtual host: its Header actions."""

    actions: tuple[Header, ...] = ()
    headers: tuple[Header, ...] = ()  # those actions applied


def apache_context(server_config: tuple[Node, ...]) -> ApacheContext:
    actions = _apache_actions(server_config)
    return ApacheContext(actions, apache_apply(actions))


def apache_headers(vhost: Node, server_config: tuple[Node, ...] = (),
                   context: ApacheContext | None = None) -> ResponseHeaders:
    """Scopes of one Apache <VirtualHost>: the host itself, then each section inside it.

    `server_config` holds the main server's top-level nodes: their `Header`
    directives apply to every virtual host, before the host's own (`context`:
    the same, worked out once for many hosts). A request can match several
    sections at once (a <Directory> and a <Location>); each section is
    computed here on top of the host alone, in isolation.
    """
    if context is None:
        context = apache_context(server_config)
    block = vhost.children or ()
    own = _apache_actions(block)
    base_actions = context.actions + own
    # mod_headers appends each level's actions to the enclosing ones: "merge", never a silent drop.
    scopes: list[Scope] = [
        Scope("vhost", vhost, f"<VirtualHost {' '.join(vhost.args)}>", None, own, context.headers,
              apache_apply(base_actions) if own else context.headers, *_apache_response(block), inherit="merge"),
    ]
    _apache_sections(scopes, block, 0, base_actions)
    return ResponseHeaders("apache", tuple(scopes), _APACHE_VARIABLES)


def _apache_sections(scopes: list[Scope], block: tuple[Node, ...], parent: int, actions: tuple[Header, ...]) -> None:
    """Append a scope for each section in `block`, and for the sections nested in it."""
    for node in block:
        if node.directive not in _SECTIONS or not node.is_block:
            continue
        own = _apache_actions(node.children or ())
        combined = actions + own
        scopes.append(Scope(node.directive, node, _apache_label(node), parent, own,
                            scopes[parent].headers, apache_apply(combined),
                            *_apache_response(node.children or ()), inherit="merge"))
        _apache_sections(scopes, node.children or (), len(scopes) - 1, combined)


def _apache_response(block: Iterable[Node]) -> tuple[str, Node | None]:
    """`Redirect [status] / URL` (mod_alias) or `RewriteRule ^ URL [R]` answering every request."""
    for node in block:
        if node.directive in ("redirect", "redirectpermanent", "redirecttemp") and node.args:
            args = [arg for arg in node.args if arg.lower() not in ("permanent", "temp", "seeother")
                    and not arg.isdigit()]
            if len(args) >= 2 and args[0] == "/":
                return ("redirect-http" if args[1].lower().startswith("http://") else "redirect"), node
        if node.directive == "redirectmatch" and len(node.args) >= 2:
            args = [arg for arg in node.args if arg.lower() not in ("permanent", "temp", "seeother")
                    and not arg.isdigit()]
            if len(args) >= 2 and args[0] in ("^", "^/", "(.*)", "^(.*)$", "^/(.*)$", ".*"):
                return ("redirect-http" if args[1].lower().startswith("http://") else "redirect"), node
    return "content", None
