"""SSL401-SSL404: the security headers a browser receives from a TLS site, per location.

Reads Site.headers (nginxssl/headers.py): the headers in force in each place a
response is built, with nginx's add_header inheritance already applied. Only
Content-Security-Policy (upgrade-insecure-requests) and Strict-Transport-Security
matter here; other headers (X-Frame-Options, ...) are not this linter's business.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterable, Iterator, TypeGuard

from nginxssl.checks import Inputs, check
from nginxssl.model.edits import InsertLine, insert_into, nginx_quote, replace_args
from nginxssl.model.finding import Finding, Fix, Related
from nginxssl.model.headers import CSP, HSTS, SECURITY_HEADERS, Header, ResponseHeaders, Scope, condition_problem
from nginxssl.model.node import Node
from nginxssl.model.site import Site
from nginxssl.sites.headers.nginx import NGINX_SUCCESS_STATUSES
from nginxssl.sites.headers.values import Verdict, csp_directive_names, csp_upgrade, hsts
from nginxssl.sites.routing import browser_name

_CSP_LINE = {"nginx": 'add_header Content-Security-Policy "upgrade-insecure-requests" always;',
             "apache": 'Header always set Content-Security-Policy "upgrade-insecure-requests"'}
_HSTS_LINE = {"nginx": 'add_header Strict-Transport-Security "max-age=31536000" always;',
              "apache": 'Header always set Strict-Transport-Security "max-age=31536000"'}
_MIXED = ("browsers block http:// scripts, styles and frames on its pages (the page breaks) and show "
          "http:// images as 'Not secure', where upgrade-insecure-requests would fetch them over https://")
_STATUSES = ", ".join(map(str, NGINX_SUCCESS_STATUSES))


def _who(site: Site) -> str:
    """The site as a page address (https://name) where it has a name a browser uses."""
    name = browser_name(site)
    if name is not None:
        return f"https://{name}"
    if site.name_list:  # `server_name _;`, a regex: a catch-all, not a missing name
        return f"the server block for {' '.join(site.name_list[:2])}"
    return "this <VirtualHost> (no ServerName)" if site.server == "apache" else "this server block (no server_name)"


def _application(scope: Scope) -> str:
    """`proxy_pass` at file:line: what hands the responses of `scope` to an application."""
    node = scope.upstream
    if node is None:
        return "an application"
    spelled = {"proxypass": "ProxyPass", "proxypassmatch": "ProxyPassMatch", "rewriterule": "RewriteRule [P]"}
    return f"the application behind `{spelled.get(node.directive, node.directive)}` ({node.where()})"


def _block_word(site: Site) -> str:
    return "this <VirtualHost>" if site.server == "apache" else "this server block"


def _fragment_note(inputs: Inputs) -> str:
    if not inputs.config.fragment:
        return ""
    main = "the main apache2.conf" if inputs.config.server == "apache" else "nginx.conf's http block"
    return f" (this file was linted on its own: headers set in {main} are not seen)"


def grouped(findings: Iterable[Finding]) -> Iterator[Finding]:
    """One finding per (rule, place, message), naming every site it concerns."""
    merged: dict[tuple, Finding] = {}
    for finding in findings:
        key = (finding.rule, finding.file, finding.line, finding.message)
        if key in merged:
            before = merged[key]
            related = before.related + tuple(place for place in finding.related if place not in before.related)
            merged[key] = replace(before, names=tuple(dict.fromkeys(before.names + finding.names)),
                                  fix=_merged_fix(before.fix, finding.fix), related=related)
        else:
            merged[key] = finding
    yield from merged.values()


def _merged_fix(first: Fix | None, second: Fix | None) -> Fix | None:
    """One finding for several sites repairs what each of them needed."""
    if first is None or second is None:
        return first or second
    return replace(first, edits=tuple(dict.fromkeys(first.edits + second.edits)))


def _at(rule: str, node: Node | None, site: Site, message: str, fix: Fix | None = None,
        severity: str = "") -> Finding:
    """A finding at `node` (else the site's block); `severity` overrides the rule's default. When
    `node` is written outside the site's own block (a shared snippet), the site is a related place."""
    file, line = (node.file, node.line) if node is not None else (site.file, site.line)
    related = (Related(site.file, site.line, site.name_list),) if (file, line) != (site.file, site.line) else ()
    return Finding(rule, file, line, message, site.name_list, site.server, severity=severity, fix=fix,
                   related=related)


def _add_header_line(header: Header) -> str:
    """The add_header line that re-creates `header` where it is dropped (the security headers
    with `always`, as SSL403 wants them: one round of --fix, not two)."""
    always = header.always or header.key in SECURITY_HEADERS
    return f"add_header {nginx_quote(header.name)} {_quoted_value(header.value)}{' always' if always else ''};"


def _quoted_value(value: str) -> str:
    """A header value in double quotes, as the lines it repeats are written almost everywhere
    (`"max-age=31536000"`, `"upgrade-insecure-requests"`); a lone variable stays bare, as h5bp writes it."""
    if re.fullmatch(r"\$(\w+|\{\w+\})", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _opens_own_line(node: Node | None) -> TypeGuard[Node]:
    """A line can go inside the block (the fixer finds its `{`, on its own line or not)."""
    return node is not None and node.children is not None and bool(node.file)


def _insert(node: Node, lines: Iterable[str]) -> tuple[InsertLine, ...]:
    return tuple(insert_into(node, line) for line in dict.fromkeys(lines))


def _spelled(header: Header) -> str:
    return SECURITY_HEADERS.get(header.key, header.name)


def _directive(header: Header) -> str:
    if header.node.directive == "header":
        return "Header " + " ".join(header.node.args[:3])
    return f"{header.node.directive} {header.name}"


def _drop_in_chain(headers: ResponseHeaders, index: int, key: str) -> Scope | None:
    """The scope on the way from the server level to `index` that drops an inherited `key` header."""
    for scope in headers.chain(index):
        if scope.replaces and scope.dropped((key,)):
            return scope
    return None


def _variable_note(verdict: Verdict) -> str:
    resolution = verdict.resolution
    if resolution is None or not resolution.via:
        return ""
    places = ", ".join(f"{node.directive} at {node.where()}" for node in resolution.via)
    return f" ({places}{', evaluated for an HTML page' if resolution.for_documents else ''})"


# ----------------------------------------------------------------- SSL401


@check("SSL401", needs=())
def csp_upgrade_missing(inputs: Inputs) -> Iterator[Finding]:
    yield from grouped(_csp_findings(inputs))


def _csp_findings(inputs: Inputs) -> Iterator[Finding]:
    for http in inputs.http_sites:
        if not http.pages:
            continue  # a redirect (or a closed connection) has no page to upgrade
        site, headers = http.site, http.headers
        server = site.server
        variables = headers.variables
        missing_here: list[Scope] = []
        for index in http.pages:
            scope = headers.scopes[index]
            verdict = csp_upgrade(scope.headers, variables)
            if verdict.status == "undecidable":
                if verdict.header is not None:  # always: an undecidable verdict is about a header (values.py)
                    yield _undecidable(site, verdict.header, verdict)
                continue
            if verdict.status == "present" or _drop_in_chain(headers, index, CSP) is not None:
                continue  # a dropped header is SSL402's finding, at the location that drops it
            header = verdict.header
            if verdict.reason == "no-upgrade" and header is not None:
                yield _no_upgrade(site, headers, header, verdict, scope)
                continue
            if scope.from_application(CSP) or (headers.application_site(CSP) and scope.hider(CSP) is None):
                # The application's page with its own policy, or a resource of its pages (a
                # stylesheet, a script, an image): not the config's to set.
                continue
            missing_here.append(scope)
        if not missing_here:
            continue
        base = csp_upgrade(headers.base.headers, variables)
        if base.status != "absent":  # the site has it; sections below take it away (Apache `Header unset`)
            for scope in missing_here:
                remover = next((h for h in scope.own if h.key == CSP), None)
                node = remover.node if remover is not None else scope.node
                yield _at("SSL401", node, site,
                          f"{scope.label} removes the Content-Security-Policy that {_who(site)} sets"
                          f"{f' ({base.header.where()})' if base.header else ''}: on responses from it {_MIXED}; "
                          f"drop the `{_directive(remover) if remover else 'Header unset'}` there",
                          Fix("keep the Content-Security-Policy in this section"))
            continue
        base_scope = headers.base
        # A first add_header in the server stops it inheriting the http level's: those must be repeated.
        kept = [] if server != "nginx" or base_scope.own or base_scope.inherit != "on" else [
            h for h in base_scope.inherited if h.action == "add"]
        also = (f", and repeat the http-level add_header lines ({', '.join(h.where() for h in kept[:3])}) "
                "there: a server block with an add_header of its own inherits none") if kept else ""
        if base.status == "absent" and base.reason == "report-only" and base.header is not None:
            message = (f"{_who(site)} sends only Content-Security-Policy-Report-Only "
                       f"({base.header.where()}): report-only policies never upgrade requests, so {_MIXED}; "
                       f"add `{_CSP_LINE[server]}` to {_block_word(site)}{also}")
        else:
            covered = [scope.label for scope in headers.scopes[1:]
                       if csp_upgrade(scope.headers, variables).status == "present"]
            only = f" (only {', '.join(covered[:3])}{' ...' if len(covered) > 3 else ''} sends one)" if covered else ""
            where = ""
            if headers.base.response == "content" and missing_here[0] is not headers.base:
                where = f" on {', '.join(scope.label for scope in missing_here[:3])}"
            hiders = [f"`{hider.directive} {' '.join(hider.args)}` ({hider.where()})" for hider in
                      dict.fromkeys(h for scope in missing_here for h in [scope.hider(CSP)] if h is not None)]
            hidden = (f" (the application's own policy is removed by {', '.join(hiders[:2])})" if hiders else "")
            message = (f"{_who(site)} sends no Content-Security-Policy with upgrade-insecure-requests{where}{only}"
                       f"{hidden}: {_MIXED}; add `{_CSP_LINE[server]}` to {_block_word(site)}{also}"
                       f"{_fragment_note(inputs)}")
        edits: tuple[InsertLine, ...] = ()
        if server == "nginx" and _opens_own_line(site.node):
            edits = _insert(site.node, [_CSP_LINE[server], *map(_add_header_line, kept)])
        yield _at("SSL401", site.node, site, message,
                  Fix(f"add `{_CSP_LINE[server]}` to {_block_word(site)}", edits))


def _undecidable(site: Site, header: Header, verdict: Verdict) -> Finding:
    """Info, never "missing": the value of `header` depends on the request in a way sslint cannot follow."""
    resolution = verdict.resolution
    if header.for_html_pages() is None:
        why = f"`{_directive(header)}` applies only to some requests ({header.condition})"
        problem = condition_problem(verdict.header.condition) if verdict.header is not None else None
        if problem is not None:
            why += f", and sslint cannot judge its regex for an HTML page: {problem}"
    elif resolution is not None and resolution.unjudged:
        regex = resolution.unjudged[0]
        value = f" {verdict.header.value!r}" if verdict.header is not None else ""
        why = (f"its value{value} comes from the map at {regex.node.where()}, whose regex "
               f"{regex.regex!r} sslint cannot judge for an HTML page: {regex.problem}")
    elif resolution is not None and resolution.unknown:
        why = f"its value {header.value!r} depends on {', '.join(resolution.unknown)}, known only per request"
    else:
        values = resolution.values if resolution is not None else ()
        without = next((v for v in values if "upgrade-insecure-requests" not in csp_directive_names(v)), "")
        given = f"{without!r} (no upgrade-insecure-requests)" if without.strip() else "no policy at all"
        why = f"its value {header.value!r}{_variable_note(verdict)} gives some requests {given}, others one with it"
    return _at("SSL401", header.node, site,
               f"sslint cannot tell whether {_who(site)} upgrades insecure requests: {why}; check that every "
               "HTML page gets upgrade-insecure-requests", severity="info")


def _no_upgrade(site: Site, headers: ResponseHeaders, header: Header, verdict: Verdict, scope: Scope) -> Finding:
    value = verdict.resolution.values[0] if verdict.resolution and verdict.resolution.values else header.value
    overriding = next((scope for scope in headers.scopes if header in scope.own and scope is not headers.base
                       and csp_upgrade(scope.inherited, headers.variables).status == "present"), None)
    if overriding is not None:
        lost = csp_upgrade(overriding.inherited, headers.variables).header
        message = (f"{overriding.label} replaces the Content-Security-Policy with upgrade-insecure-requests "
                   f"({lost.where() if lost else 'from above'}) with its own ({_directive(header)}), "
                   f"which has no upgrade-insecure-requests: on responses from there {_MIXED}; "
                   f"append `; upgrade-insecure-requests` to its value")
    else:
        message = (f"the Content-Security-Policy of {_who(site)} ({_directive(header)}: {value!r}"
                   f"{_variable_note(verdict)}) has no upgrade-insecure-requests: {_MIXED}; "
                   f"append `; upgrade-insecure-requests` to its value")
    edits: tuple = ()
    if site.server == "nginx" and header.node.directive == "add_header" and "$" not in header.value:
        value = header.value.rstrip().rstrip(";").rstrip()
        edits = (replace_args(header.node, (header.name, f"{value}; upgrade-insecure-requests",
                                            *header.node.args[2:])),)
    severity = ""
    if scope.from_application(CSP):
        # Browsers enforce every policy they receive: the application's may upgrade.
        severity = "info"
        message += (f" (unless {_application(scope)} sends a policy with it: check with "
                    f"`curl -sI https://{site.name_list[0] if site.name_list else 'HOST'}/`)")
    return _at("SSL401", header.node, site, message,
               Fix("append `; upgrade-insecure-requests` to the Content-Security-Policy value", edits),
               severity=severity)


# ----------------------------------------------------------------- SSL402

_CONSEQUENCE = {
    CSP: "mixed content on those pages is no longer upgraded to https://",
    HSTS: "browsers are not told there to stay on HTTPS",
}


@check("SSL402", needs=())
def header_inheritance_drop(inputs: Inputs) -> Iterator[Finding]:
    findings = []
    for http in inputs.http_sites:
        site, headers = http.site, http.headers
        if site.server != "nginx":
            continue  # Apache merges Header directives down the tree; nothing is dropped silently
        scopes = headers.scopes if headers.base.response == "content" else headers.scopes[:1]
        # HSTS is remembered per host: one response that carries it pins the host for all of them.
        pinned = any(hsts(headers.scopes[index].headers, headers.variables).status == "present"
                     for index in http.endpoints)
        for scope in scopes:
            if not scope.replaces or scope.response in ("closed", "redirect-http"):
                continue
            # A redirect, an error, a challenge token or a stylesheet is no page for a CSP to upgrade.
            page = scope.response == "content" and not scope.acme and not scope.assets
            keys = (CSP, HSTS) if page else (HSTS,)
            dropped = scope.dropped(keys)
            if dropped:
                findings.append(_drop_finding(site, scope, dropped, pinned))
    yield from grouped(findings)


def _drop_finding(site: Site, scope: Scope, dropped: tuple[Header, ...], pinned: bool) -> Finding:
    lost = ", ".join(f"{_spelled(header)} (set at {header.where()})" for header in dropped)
    keys = list(dict.fromkeys(header.key for header in dropped))
    consequence = "; ".join(_CONSEQUENCE[key] for key in keys)
    if scope.inherit == "off" and scope.inherit_node is not None:
        cause = f"add_header_inherit off ({scope.inherit_node.where()}) stops inheritance"
        remedy = "repeat them there or drop add_header_inherit off"
    else:
        own = scope.own[0]
        more = f" and {len(scope.own) - 1} more" if len(scope.own) > 1 else ""
        cause = f"its own add_header {own.name} ({own.where()}{more}) discards every add_header from above"
        remedy = ("repeat those add_header lines inside it (or keep them in a snippet included at every "
                  "level; nginx 1.29.3+ also has `add_header_inherit merge;`)")
    where = scope.label if scope.kind != "server" else f"the server block of {_who(site)}"
    message = (f"{where}: {cause}, so responses from it go out without {lost}: {consequence}; {remedy}")
    # What the browser receives decides the severity: the application behind the location may send
    # the header itself, and an HSTS missing from some responses is harmless when others pin the host.
    severity = ""
    if all(scope.from_application(key) for key in keys):
        severity = "info"
        message += f" (unless {_application(scope)} sends {' and '.join(_spelled(h) for h in dropped)} itself)"
    elif keys == [HSTS] and pinned and scope.kind != "server":
        severity = "info"
        message += (" (the site's other responses carry Strict-Transport-Security, which pins the host for "
                    "every URL: only a visit that meets nothing but these responses goes unpinned)")
    lines = [_add_header_line(header) for header in dropped]
    # A location from a snippet shared by several servers would hand one server's headers to all.
    own_file = scope.node is not None and site.node is not None and scope.node.file == site.node.file
    edits = _insert(scope.node, lines) if own_file and _opens_own_line(scope.node) else ()
    return _at("SSL402", scope.node, site, message, Fix(f"repeat inside {scope.label}: {' '.join(lines)}", edits),
               severity=severity)


# ----------------------------------------------------------------- SSL403


@check("SSL403", needs=())
def header_not_always(inputs: Inputs) -> Iterator[Finding]:
    findings = []
    for http in inputs.http_sites:
        if not http.pages:
            continue  # every response is a redirect, which carries the header anyway
        seen: set[Node] = set()
        for index in http.pages:
            effective = http.headers.scopes[index].headers
            always = {header.key for header in effective if header.always}
            for header in effective:
                if (header.key not in SECURITY_HEADERS or header.always or header.key in always
                        or header.action == "more_set" or header.node in seen):
                    continue
                seen.add(header.node)
                findings.append(_not_always(http.site, header))
    yield from grouped(findings)


def _not_always(site: Site, header: Header) -> Finding:
    name = _spelled(header)
    effect = {CSP: "their http:// resources are not upgraded",
              HSTS: "a browser whose visit meets only error pages is not told to stay on HTTPS"}[header.key]
    if site.server == "apache":
        message = (f"Header {header.action} {name} lives in the `onsuccess` table: apache2 drops it from error "
                   f"responses (404, 500, ...) and from the redirects it generates itself ({effect}); write "
                   f"`Header always {header.action} {header.name} ...`")
        fix = Fix("write the Header directive with `always`")
    else:
        message = (f"add_header {name} has no `always`: nginx sends it only with {_STATUSES} responses, "
                   f"so 404 and 5xx pages go out without it ({effect}); append `always`")
        fix = Fix("append `always` to the add_header directive",
                  (replace_args(header.node, (*header.node.args[:2], "always")),))
    return _at("SSL403", header.node, site, message, fix)


# ----------------------------------------------------------------- SSL404


@check("SSL404", needs=())
def hsts_missing(inputs: Inputs) -> Iterator[Finding]:
    findings = []
    fragment_note = _fragment_note(inputs)
    missing: list[tuple[Site, Scope | None]] = []
    for http in inputs.http_sites:
        site, headers, endpoints = http.site, http.headers, http.endpoints
        if headers.base.response in ("closed", "redirect-http"):
            continue  # nothing answers, or it sends browsers to http:// on purpose
        verdicts = [hsts(headers.scopes[index].headers, headers.variables) for index in endpoints]
        if any(verdict.status in ("present", "undecidable") for verdict in verdicts):
            continue  # one response with HSTS pins the host (drops elsewhere are SSL402)
        if any(_drop_in_chain(headers, index, HSTS) for index in endpoints):
            continue
        wrong = next((verdict for verdict in verdicts if verdict.header is not None), None)
        if wrong is not None and wrong.header is not None:
            if wrong.reason == "max-age-0":
                detail = "max-age=0, which tells browsers to forget the site's HSTS"
            else:
                detail = "no max-age, so browsers ignore it"
            findings.append(_at(
                "SSL404", wrong.header.node, site,
                f"the Strict-Transport-Security header of {_who(site)} has {detail}; use a max-age such as "
                f"31536000 (one year)", Fix("set max-age=31536000")))
            continue
        application = next((headers.scopes[index] for index in http.pages
                            if headers.scopes[index].from_application(HSTS)), None)
        missing.append((site, application))
    findings.extend(_hsts_absent(inputs, missing, fragment_note))
    yield from grouped(findings)


# A directive that would send HSTS, commented out: `#add_header Strict-Transport-Security ...`
_COMMENTED_HSTS = re.compile(r"^[#\s]*(add_header|more_set_headers|Header\s+(always\s+)?(set|add|append|merge))\s+"
                             r"['\"]?Strict-Transport-Security", re.IGNORECASE)


def _hsts_absent(inputs: Inputs, missing: list[tuple[Site, Scope | None]], note: str) -> Iterator[Finding]:
    """One finding per root cause: sites that include a snippet where the HSTS line is commented
    out are reported once, at that line, naming each of them; every other site at its own block."""
    commented: dict[str, tuple[int, str]] = {}
    for comment in inputs.config.comments:
        if comment.file not in commented and _COMMENTED_HSTS.match(comment.text):
            commented[comment.file] = (comment.line, comment.text.lstrip("# ").strip())
    by_line: dict[tuple[str, int], list[Site]] = {}
    for site, application in missing:
        snippet = next((file for file in _files_of(site) if file in commented), None) if commented else None
        if snippet is not None:
            by_line.setdefault((snippet, commented[snippet][0]), []).append(site)
            continue
        hsts_line = _HSTS_LINE[site.server]
        check = ""
        if application is not None:
            check = (f"; unless {_application(application)} sends one itself: check with "
                     f"`curl -sI https://{site.name_list[0] if site.name_list else 'HOST'}/ | grep -i strict`")
        yield _at(
            "SSL404", site.node, site,
            f"{_who(site)} sends no Strict-Transport-Security header: a browser sent to its http:// address "
            f"(a typed name, an old link) first connects in plain HTTP, where anyone on the network can keep "
            f"it there; add `{hsts_line}` to {_block_word(site)} (add includeSubDomains only when every subdomain "
            f"serves HTTPS){check}{note}")
    for (file, line), sites in by_line.items():
        text = commented[file][1]
        who = _who(sites[0]) + (f" and {len(sites) - 1} other site{'s' if len(sites) > 2 else ''}"
                                if len(sites) > 1 else "")
        yield Finding(
            "SSL404", file, line,
            f"`{text}` is commented out in this file, which {who} include{'s' if len(sites) == 1 else ''}: "
            f"they send no Strict-Transport-Security header, so a browser sent to their http:// address first "
            f"connects in plain HTTP, where anyone on the network can keep it there; uncomment it (add "
            f"includeSubDomains only when every subdomain serves HTTPS)",
            tuple(dict.fromkeys(name for site in sites for name in site.name_list)), sites[0].server,
            related=tuple(Related(site.file, site.line, site.name_list) for site in sites))


def _files_of(site: Site) -> Iterator[str]:
    """The files the site's block is written in: its own, then the snippets it includes, in order."""
    seen = {site.file}
    yield site.file
    pending = list(site.node.children or ()) if site.node is not None else []
    while pending:
        node = pending.pop(0)
        if node.file and node.file not in seen:
            seen.add(node.file)
            yield node.file
        if node.children and node.directive not in ("server",):
            pending.extend(node.children)
