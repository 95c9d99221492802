"""SSL001: what the server itself refuses to start on, in its own words.

Found while reading the config (parse errors, the sites' errors), and here:

- nginx: the default server of a TLS socket with no certificate in force (nginx 1.22.1 `nginx -t`:
  'no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:LINE', the line of
  the server block; a non-default server without one starts, ssl_reject_handshake excuses it);
- nginx: a directive the judged version does not know yet (sites/nginx_versions.yaml, sourced from
  nginx's CHANGES: 'unknown directive "http2"' on 1.22.1), or a listen parameter ('invalid
  parameter "quic"'); with no judged version (`--server-version none`) it says so at info level;
- nginx: a directive in a context nginx refuses ('"add_header" directive is not allowed here' in a
  server-level `if`), from crossplane's table of nginx's own directives and contexts (a directive
  it does not know, a third-party module's, is not judged);
- Apache: a directive of a module no LoadModule loads (apache2 2.4 `apache2 -t`: "Invalid command
  'SSLEngine', perhaps misspelled or defined by a module not included in the server configuration"),
  for the few modules whose directives TLS sites use (_MODULE_DIRECTIVES), and only in a main
  configuration: a lone site file is loaded by a main configuration that loads the modules. `<IfModule>`
  sections are already resolved by the reader (parse/apache/reader.py), `<Macro>` and `Use` reported there.
"""

from __future__ import annotations

from collections.abc import Iterator

from nginxssl.checks import Inputs, check
from nginxssl.model.build import Build
from nginxssl.model.finding import Finding
from nginxssl.model.node import Node, walk
from nginxssl.sites.nginx_versions import Since, directive_since, parameter_since
from nginxssl.sites.routing import listen_socket, who

# Apache modules whose directives TLS sites use, as data: (module identifier, `a2enmod` name, prefix of
# the directive names that are all the module's or "", the directives by httpd's spelling; a section as
# `<Name`). The reader gives Config.modules every name <IfModule> accepts, so `ssl_module` is enough.
_MODULE_DIRECTIVES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("ssl_module", "ssl", "ssl", (
        "SSLEngine", "SSLCertificateFile", "SSLCertificateKeyFile", "SSLCertificateChainFile",
        "SSLCACertificateFile", "SSLCACertificatePath", "SSLProtocol", "SSLCipherSuite", "SSLHonorCipherOrder",
        "SSLUseStapling", "SSLStaplingCache", "SSLSessionCache", "SSLSessionTickets", "SSLOptions",
        "SSLProxyEngine", "SSLCompression", "SSLOpenSSLConfCmd", "SSLVerifyClient")),
    ("headers_module", "headers", "", ("Header", "RequestHeader")),
    ("rewrite_module", "rewrite", "rewrite", (
        "RewriteEngine", "RewriteRule", "RewriteCond", "RewriteBase", "RewriteMap", "RewriteOptions")),
    ("proxy_module", "proxy", "", (
        "ProxyPass", "ProxyPassMatch", "ProxyPassReverse", "ProxyPassReverseCookieDomain",
        "ProxyPassReverseCookiePath", "ProxyPreserveHost", "ProxyRequests", "ProxyTimeout", "ProxyVia",
        "ProxyAddHeaders", "ProxyErrorOverride", "ProxySet", "BalancerMember", "<Proxy", "<ProxyMatch")),
)

# Blocks whose contents are not directives (map and geo entries, MIME types, ...): not judged.
_DATA_BLOCKS = frozenset({"map", "geo", "types", "split_clients", "charset_map", "match", "upstream"})


@check("SSL001", needs={"build"})
def config_syntax(inputs: Inputs) -> Iterator[Finding]:
    server = inputs.wording
    for error in inputs.config.errors:
        yield Finding("SSL001", error.file, error.line,
                      f"{server} will refuse to start: {error.message}", server=inputs.config.server)
    for site in inputs.sites:
        for node, message in site.errors:
            yield Finding.at("SSL001", node, f"{server} will refuse to start: {message}", site)
    if inputs.config.server == "nginx":
        yield from _no_certificate(inputs)
        yield from _directives(inputs)
    elif inputs.config.modules is not None and not inputs.config.fragment:
        yield from _modules_not_loaded(inputs.config.nodes, inputs.config.modules)


def _module_of(node: Node) -> tuple[str, str, str] | None:
    """(module identifier, a2enmod name, the directive as httpd spells it) of a node, if the table has it."""
    for module, enable, prefix, spelled in _MODULE_DIRECTIVES:
        for name in spelled:
            if name.lstrip("<").lower() == node.directive and name.startswith("<") == node.is_block:
                return module, enable, name
        if prefix and node.directive.startswith(prefix) and not node.is_block:
            return module, enable, node.directive
    return None


def _modules_not_loaded(nodes: tuple[Node, ...], loaded: frozenset[str]) -> Iterator[Finding]:
    """httpd stops at the first directive of a module it has not loaded: one finding per module, at
    its first directive in reading order, counting the others."""
    uses: dict[str, list[tuple[Node, str, str]]] = {}
    for node in walk(nodes):
        known = _module_of(node)
        if known is not None and known[0] not in loaded:
            uses.setdefault(known[0], []).append((node, known[1], known[2]))
    for module, found in uses.items():
        node, enable, spelled = found[0]
        more = len(found) - 1
        others = (f"; {more} more directive{'s' if more > 1 else ''} of mod_{enable} follow{'' if more > 1 else 's'}"
                  if more else "")
        yield Finding("SSL001", node.file, node.line, (
            f"apache2 will refuse to start: Invalid command '{spelled}', perhaps misspelled or defined by a module "
            f"not included in the server configuration ({spelled.lstrip('<')} belongs to mod_{enable}, which no "
            f"LoadModule loads{others}); fix: `a2enmod {enable}` (Debian, Ubuntu), or "
            f"`LoadModule {module} modules/mod_{enable}.so` before it"), server="apache")


def _no_certificate(inputs: Inputs) -> Iterator[Finding]:
    """The default server of each TLS socket needs a certificate: nginx checks it at start-up. The
    default is the one marked default_server, else the first server on the socket, a server with a
    plain `listen` on a socket another made TLS included (nginx 1.22.1 names that one's line)."""
    order = {id(node): index for index, node in enumerate(walk(inputs.config.nodes)) if node.directive == "server"}
    plain = inputs.plain_sites
    reported: set[int] = set()
    for socket, servers in sorted(inputs.routes.items()):  # nginx's http server blocks: its routed sites
        default = servers.default
        if not servers.flagged:
            earlier = [site for site in plain if site.node is not None and default.node is not None
                       and order.get(id(site.node), 0) < order.get(id(default.node), 0)
                       and any(listen_socket(listen) == socket for listen in site.listens)]
            if earlier:
                default = min(earlier, key=lambda site: order.get(id(site.node), 0))
        if default.certs or id(default.node) in reported or default.node is None:
            continue
        reject = default.directives.get("ssl_reject_handshake")
        if reject is not None and reject.args[:1] == ("on",):
            continue
        if any(listen.quic and not listen.ssl for listen in default.listens):
            continue  # QUIC-only: judged by the rules of its own nginx version
        reported.add(id(default.node))
        yield Finding("SSL001", default.file, default.line, (
            f"nginx will refuse to start: no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive "
            f"in {default.file}:{default.line} ({who(default)} is the default server of {socket} and no "
            f"ssl_certificate is in force for it, written or inherited from http); fix: give it ssl_certificate "
            f"and ssl_certificate_key, or `ssl_reject_handshake on;` (nginx 1.19.4+) to refuse names no server "
            f"claims"), default.name_list, "nginx")


def _walk(nodes: tuple[Node, ...], context: tuple[str, ...]) -> Iterator[tuple[Node, tuple[str, ...]]]:
    """Every node in config order with the blocks it stands in (a location's own blocks count as
    the http location they are). A stack, not nested generators: 110,000 nodes on a large tree."""
    stack: list[tuple[Iterator[Node], tuple[str, ...]]] = [(iter(nodes), context)]
    while stack:
        level, inside = stack[-1]
        node = next(level, None)
        if node is None:
            stack.pop()
            continue
        yield node, inside
        if node.children and node.directive not in _DATA_BLOCKS:
            inner = ("http", "location") if inside[:1] == ("http",) and node.directive == "location" \
                else inside + (node.directive,)
            stack.append((iter(node.children), inner))


def _unknown(node: Node, since: Since, build: Build | None, words: str, what: str = "") -> Finding | None:
    if build is not None and build.at_least(*since.version):
        return None
    where = what or (f"{node.directive} in {since.context}" if since.context else node.directive)
    if build is None:
        return Finding("SSL001", node.file, node.line, (
            f"{where} needs nginx {since.version_text} or later ({since.source}); older nginx "
            f"refuses to start with '{words}'; the judged version is unknown (--server-version), so this depends "
            f"on the nginx that runs this configuration"), severity="info",
            summary=f"{where} needs nginx {since.version_text} or later")
    return Finding("SSL001", node.file, node.line, (
        f"{build.program} will refuse to start: {words} in {node.file}:{node.line}; {where} "
        f"came with nginx {since.version_text} ({since.source}); fix: remove it, or upgrade nginx"),
        summary=f"{build.program} will refuse to start: {words}")


def _directives(inputs: Inputs) -> Iterator[Finding]:
    import crossplane.analyzer  # type: ignore[import-untyped]  # crossplane ships no type hints

    config = inputs.config
    build = inputs.build
    roots: list[tuple[tuple[Node, ...], tuple[str, ...]]]
    if config.fragment:
        # A lone site file is the inside of `http { }`, a snippet may be included anywhere: only
        # what stands inside its server blocks has a known context.
        roots = [(node.children or (), ("http", "server")) for node in config.nodes
                 if node.directive == "server" and node.children is not None]
    else:
        roots = [(config.nodes, ())]
    # Each (directive, context) is judged once: a large tree repeats a few dozen of them 100,000 times.
    judged: dict[tuple[str, tuple[str, ...]], tuple[Since | None, bool]] = {}
    for nodes, start in roots:
        for node, context in _walk(nodes, start):
            key = (node.directive, context)
            verdict = judged.get(key)
            if verdict is None:
                top = context[0] if context else ""
                since = directive_since(node.directive, top)
                if since is not None and (since.context and since.context != top
                                          or build is not None and build.at_least(*since.version)):
                    since = None  # known to the judged build (or not this context's directive)
                masks = crossplane.analyzer.DIRECTIVES.get(node.directive)
                allowed = crossplane.analyzer.CONTEXTS.get(context)
                verdict = judged[key] = (since, bool(masks and allowed is not None
                                                     and not any(mask & allowed for mask in masks)))
            since, misplaced = verdict
            if since is not None:
                finding = _unknown(node, since, build, f'unknown directive "{node.directive}"')
                if finding is not None:
                    yield finding
                    continue
            if node.directive == "listen":
                for arg in node.args[1:]:
                    parameter = parameter_since(arg)
                    if parameter is not None:
                        finding = _unknown(node, parameter, build, f'invalid parameter "{arg}"',
                                           f"the {arg} parameter of listen")
                        if finding is not None:
                            yield finding
            if misplaced:
                yield Finding("SSL001", node.file, node.line, (
                    f"nginx will refuse to start: \"{node.directive}\" directive is not allowed here in "
                    f"{node.file}:{node.line} (inside {' > '.join(context) or 'the main context'}); fix: move it "
                    f"to a block where nginx takes it" + (
                        " (add_header in a server-level `if` is refused: put the `if` in a location, or the "
                        "header in the server)" if context[-1:] == ("if",) and node.directive == "add_header"
                        else "")))
