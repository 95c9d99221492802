"""Effective response headers, as data: each header directive, each place a response is built,
and what the values of variables can be."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

from nginxssl.model.node import Node
from nginxssl.model.pattern import ConfigRegex

CSP = "content-security-policy"


CSP_REPORT_ONLY = "content-security-policy-report-only"


HSTS = "strict-transport-security"


SECURITY_HEADERS = {CSP: "Content-Security-Policy", HSTS: "Strict-Transport-Security"}


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
    response: str = "content"  # "content" | "redirect" | "redirect-http" | "error" (return 4xx/5xx) | "closed"
    response_node: Node | None = None  # the `return` / `rewrite` that decides it
    inherit: str = "on"  # nginx add_header_inherit in force: "on" | "off" | "merge"
    inherit_node: Node | None = None  # where that mode was written
    catch_all: bool = False  # `location /`: every URI no other location takes ends here
    # The directive that hands requests here to an application (proxy_pass, fastcgi_pass, ...,
    # Apache ProxyPass, RewriteRule [P]; or the one a try_files fallback reaches): the response,
    # headers included, is the application's, which sslint cannot see.
    upstream: Node | None = None
    hidden: tuple[tuple[str, Node], ...] = ()  # (header key, proxy_hide_header / Header unset) in force here

    @property
    def acme(self) -> bool:
        """An ACME http-01 challenge location: it answers a CA's robot with a token, never a page."""
        return self.node is not None and self.kind == "location" and any(
            "/.well-known/acme-challenge" in arg for arg in self.node.args)

    @property
    def assets(self) -> bool:
        """A location that matches only static files that are no page (`location ~* \\.(css|js|png)$`,
        `location = /favicon.ico`): no document is built from their responses."""
        if self.node is None or self.kind not in ("location", "locationmatch", "filesmatch"):
            return False
        return _only_assets(self.node.args)

    def from_application(self, key: str) -> bool:
        """Can the application behind this scope put header `key` on its responses?"""
        return self.upstream is not None and all(hidden != key for hidden, _node in self.hidden)

    def hider(self, key: str) -> Node | None:
        return next((node for hidden, node in self.hidden if hidden == key), None)

    @property
    def replaces(self) -> bool:
        """This level's own add_header (or add_header_inherit off) discards what the level above had."""
        return self.inherit == "off" or (bool(self.own) and self.inherit != "merge")

    def dropped(self, keys: Iterable[str] = SECURITY_HEADERS) -> tuple[Header, ...]:
        """Inherited headers (among `keys`) that do not reach responses built here."""
        here = {header.key for header in self.headers}
        wanted = set(keys)
        return tuple(h for h in self.inherited if h.key in wanted and h.key not in here)


# Extensions of files that are never an HTML document (a page whose CSP upgrades its resources).
_ASSET_EXTENSIONS = frozenset(
    "ico jpg jpeg gif png webp avif svg svgz bmp tif tiff css js mjs map woff woff2 eot ttf otf mp3 mp4 m4a "
    "ogg ogv oga webm flac wav txt xml json rss atom zip gz tgz bz2 xz 7z rar pdf csv wasm manifest "
    "webmanifest appcache vtt".split())


_EXTENSION_GROUP = re.compile(r"\\\.\(?\??:?([A-Za-z0-9|?\\.]+)\)?\$?\)?\$?$")


def _only_assets(args: tuple[str, ...]) -> bool:
    """Does a location (or <FilesMatch>) match only URIs ending in a static file's extension?"""
    if not args:
        return False
    pattern = args[-1]
    if args[0] == "=":
        return pattern.rsplit(".", 1)[-1].lower() in _ASSET_EXTENSIONS if "." in pattern else False
    if not (args[0] in ("~", "~*") or len(args) == 1 and ("\\." in pattern)):
        return False
    match = _EXTENSION_GROUP.search(pattern)
    if match is None:
        return False
    extensions = set()
    for token in match.group(1).split("|"):
        token = token.replace("\\", "").lower()
        if token.endswith("?") or "?" in token:  # jpe?g: both spellings
            extensions.update({token.replace("?", ""), re.sub(r".\?", "", token)})
        else:
            extensions.add(token)
    return bool(extensions) and all(ext in _ASSET_EXTENSIONS or ext.split(".")[-1] in _ASSET_EXTENSIONS
                                    for ext in extensions)


@dataclass(frozen=True)
class UnjudgedRegex:
    """A regex a header's verdict hinges on that sslint cannot run (model/pattern.py), and why."""

    node: Node  # where it is written: the nginx map holding it, or the Apache Header directive
    regex: str  # as written (an nginx map key keeps its ~ or ~*)
    problem: str  # ConfigRegex.problem


@dataclass(frozen=True)
class MapDef:
    """An nginx `map`: source variable, entries in file order, default."""

    node: Node
    source: str  # "$sent_http_content_type"
    entries: tuple[tuple[str, str], ...]  # (key as written, value)
    default: str = ""

    def value_for(self, subject: str) -> str | None:
        """The value nginx picks for `subject` (exact keys first, then regexes in order); None if a regex
        cannot be judged (model/pattern.py: never run on a backtracking engine; `unjudged_for` says which)."""
        value, _unjudged = self._choose(subject)
        return value

    def unjudged_for(self, subject: str) -> UnjudgedRegex | None:
        """The regex that keeps `value_for(subject)` from being known, and why; None when it is known."""
        return self._choose(subject)[1]

    def _choose(self, subject: str) -> tuple[str | None, UnjudgedRegex | None]:
        lowered = subject.lower()
        for key, value in self.entries:
            if not key.startswith("~") and key.lower() == lowered:
                return value, None
        for key, value in self.entries:
            if not key.startswith("~"):
                continue
            regex = ConfigRegex.from_nginx(key)
            matched = regex.search(subject)
            if matched is None:
                return None, UnjudgedRegex(self.node, key, regex.problem or f"it cannot be run on {subject!r}")
            if matched:
                return value, None
        return self.default, None

    def values(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([value for _key, value in self.entries] + [self.default]))


@dataclass(frozen=True)
class Resolution:
    """Every value a header template can take, as far as the configuration tells."""

    values: tuple[str, ...]  # "" means the header is not sent; UNKNOWN marks an unknowable part
    unknown: tuple[str, ...] = ()  # variables sslint cannot resolve, as written ("$host")
    via: tuple[Node, ...] = ()  # the map / set directives consulted
    for_documents: bool = False  # a map on $sent_http_content_type was evaluated for an HTML page
    unjudged: tuple[UnjudgedRegex, ...] = ()  # map regexes that kept a value from being known

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
        unjudged: dict[UnjudgedRegex, None] = {}
        values = self._expand(template, 0, frozenset(), unknown, via, documents, unjudged)
        return Resolution(tuple(dict.fromkeys(values)), tuple(unknown), tuple(via), documents[0], tuple(unjudged))

    def _expand(self, template: str, depth: int, seen: frozenset, unknown: dict, via: dict,
                documents: list, unjudged: dict) -> list[str]:
        results = [""]
        position = 0
        for match in self.pattern.finditer(template):
            literal = template[position:match.start()]
            position = match.end()
            options = self._options(match, depth, seen, unknown, via, documents, unjudged)
            results = [prefix + literal + option for prefix, option in itertools.product(results, options)]
            results = results[:_MAX_VALUES]
        tail = template[position:]
        return [prefix + tail for prefix in results]

    def _options(self, match: re.Match, depth: int, seen: frozenset, unknown: dict, via: dict,
                 documents: list, unjudged: dict) -> list[str]:
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
                    for kind in DOCUMENT_TYPES:
                        reason = mapping.unjudged_for(kind)
                        if reason is not None:
                            unjudged.setdefault(reason, None)
                    return [UNKNOWN]
                raw.extend(value for value in picked if value is not None)
            else:
                raw.extend(mapping.values())
        for node in self.sets.get(name, ()):
            via.setdefault(node, None)
            raw.append(node.args[1] if len(node.args) > 1 else "")
        options: list[str] = []
        for value in dict.fromkeys(raw):
            options.extend(self._expand(value, depth + 1, seen | {name}, unknown, via, documents, unjudged))
        return list(dict.fromkeys(options))[:_MAX_VALUES] or [""]


@dataclass(frozen=True)
class ResponseHeaders:
    """The response headers of one site, per scope; scopes[0] is the server (or virtual host) level."""

    server: str  # "nginx" | "apache"
    scopes: tuple[Scope, ...]
    variables: Variables = field(default_factory=Variables)
    home: int = 0  # the scope that answers `/`: the site's home page and every URL no other location takes

    def application_site(self, key: str) -> bool:
        """Are the site's pages an application's (its home page is), which may send header `key`?
        Its other locations then serve that application's resources (static files, assets)."""
        return self.scopes[self.home].from_application(key)

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


_CONTENT_TYPE_MATCH = re.compile(r"^expr=%\{CONTENT_TYPE\}\s*=~\s*(?:m(.)(.*)\1|/(.*)/)([a-z]*)$", re.IGNORECASE)


_HTTPS_ON = re.compile(r"""^expr=%\{HTTPS\}\s*==\s*(['"])on\1$""", re.IGNORECASE)


def condition_holds(condition: str) -> bool | None:
    """Apache conditions sslint can judge for an HTML page served over TLS: h5bp's
    `expr=%{CONTENT_TYPE} =~ m#...#i` and `expr=%{HTTPS} == 'on'`; None for anything else."""
    if _HTTPS_ON.match(condition.strip()):
        return True
    regex = _content_type_regex(condition)
    if regex is None:
        return None
    verdicts = [regex.search(kind) for kind in DOCUMENT_TYPES]
    return None if None in verdicts else any(verdicts)


def condition_problem(condition: str) -> str | None:
    """Why sslint cannot judge the regex of an Apache `expr=%{CONTENT_TYPE} =~ ...` condition
    (ConfigRegex.problem); None when it can, or when the condition is not of that shape."""
    regex = _content_type_regex(condition)
    return None if regex is None else regex.problem


def _content_type_regex(condition: str) -> ConfigRegex | None:
    match = _CONTENT_TYPE_MATCH.match(condition.strip())
    if match is None:
        return None
    pattern = match.group(2) if match.group(2) is not None else match.group(3)
    # Never Python's backtracking re (model/pattern.py): m#^([a-z/;= -]|[a-z/;= -]|[a-z/;= -])*X# hung the lint.
    return ConfigRegex(pattern, ignore_case="i" in match.group(4).lower())
