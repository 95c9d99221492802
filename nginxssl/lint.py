"""The pipeline: discover -> parse -> sites -> load -> check, for one target."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from nginxssl.catalogue import SEVERITIES, catalogue
from nginxssl.checks import LATE_RULE, Finding, Inputs, Settings, registry, run_checks
from nginxssl.discover import Target
from nginxssl.installed import build_for
from nginxssl.parse.node import Config
from nginxssl.pki.load import Loader, Material
from nginxssl.pki.pool import ChainAnalyser
from nginxssl.probe import Probe
from nginxssl.sites import Site, sites_of
from nginxssl.suppress import parse_suppressions, split


@dataclass(frozen=True)
class Result:
    target: Target
    config: Config
    sites: tuple[Site, ...]
    findings: tuple[Finding, ...]


def parse(target: Target, root: str | None) -> Config:
    if target.server == "apache":
        from nginxssl.parse.apache import fragment_server_root, parse_apache, service_defines

        if target.fragment:  # a lone site file resolves paths against its tree's ServerRoot, if it has one
            return parse_apache(target.path, root=root, fragment=True, server_root=fragment_server_root(target.path))
        defines = service_defines(target.path)[0]  # Gentoo's and RHEL's `-D` flags
        return parse_apache(target.path, root=root, defines=defines)
    from nginxssl.parse.nginx import parse_nginx

    return parse_nginx(target.path, root=root, fragment=target.fragment)


def load(sites: tuple[Site, ...], loader: Loader) -> tuple[dict[str, Material], dict[str, tuple[bytes, ...] | None]]:
    """Read every file the sites name, once; keys are opened with their site's passwords."""
    passwords: dict[str, tuple[bytes, ...] | None] = {}
    for site in sites:
        for ref in site.password_files:
            if ref.path and ref.path not in passwords:
                passwords[ref.path] = loader.read_lines(ref.path)
    material: dict[str, Material] = {}
    for site in sites:
        site_passwords = tuple(
            line for ref in site.password_files for line in (passwords.get(ref.path) or ()) if ref.path
        )
        refs = [site.trusted_certificate, *site.password_files]
        for pair in site.certs:
            refs.extend((pair.cert, pair.key, pair.chain))
        for ref in refs:
            if ref is None or ref.path is None or ref.path in material:
                continue
            material[ref.path] = loader.load(ref.path, site_passwords)
    return material, passwords


def chain_analyser(settings: Settings, loader: Loader) -> ChainAnalyser:
    """One per run: the trust store, the intermediate pools and the diagnoses are shared by every target."""
    return ChainAnalyser(loader, settings.now, ca_files=settings.ca_files, system_trust=settings.system_trust,
                         intermediates=settings.intermediates, fetch=settings.fetch, root=settings.root)


def lint(target: Target, settings: Settings, selected: tuple[str, ...],
         severities: dict[str, str] | None = None, loader: Loader | None = None,
         analyser: ChainAnalyser | None = None,
         ignored_at: Callable[[str], tuple[str, ...]] | None = None, probe: Probe | None = None) -> Result:
    """Lint one target. `severities` are the user's per-rule overrides; `ignored_at(file)`
    names rule ids (or prefixes) the project ignores in that file (per-path-ignores); `probe`
    is what `sslint probe` read from the live endpoint (SSL601 compares it with the files)."""
    config = parse(target, settings.root)
    sites = sites_of(config)
    loader = loader or Loader()
    material, passwords = load(sites, loader)
    chains = (analyser or chain_analyser(settings, loader)).analyse(sites, material, config.prefix)
    build = build_for(config.server, settings.server_version)
    inputs = Inputs(config, sites, material, passwords, settings, chains=chains, extra={"build": build},
                    probe=probe)
    rules = catalogue()
    order = {path: index for index, path in enumerate(config.files)}
    seen: set[tuple] = set()
    findings = []
    for finding in run_checks(inputs, selected):
        key = (finding.rule, finding.file, finding.line, finding.message)
        if key in seen:
            continue
        seen.add(key)
        rule = rules[finding.rule]
        # A check may lower (or raise) one finding from the rule's default, e.g. an undecidable
        # SSL401 is info; the user's own choice for the rule still wins.
        severity = (severities or {}).get(finding.rule) or finding.severity or rule.severity
        findings.append(replace(finding, severity=severity, name=rule.name))
    if ignored_at is not None:
        findings = [f for f in findings if not any(f.rule.startswith(word) for word in ignored_at(f.file))]
    suppressions = parse_suppressions(config.comments)
    findings, used = split(findings, suppressions)
    if LATE_RULE in selected:
        # A suppression is unused only if every rule it names was run.
        judged = [s for s in suppressions if s not in used
                  and all(any(rule.startswith(word) for rule in selected) for word in s.rules)]
        late = replace(inputs, extra={**inputs.extra, "unused_suppressions": tuple(judged)})
        rule = rules[LATE_RULE]
        severity = (severities or {}).get(LATE_RULE) or rule.severity
        findings.extend(replace(f, severity=severity, name=rule.name) for f in registry()[LATE_RULE](late))
    findings.sort(key=lambda f: (order.get(f.file, len(order)), f.file, f.line, f.rule))
    return Result(target, config, sites, tuple(findings))


def at_or_above(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)
