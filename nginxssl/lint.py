"""The pipeline: discover -> parse -> sites -> load -> check, for one target."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from nginxssl.catalogue import SEVERITIES, catalogue
from nginxssl.checks import LATE_RULE, Finding, Inputs, Settings, registry
from nginxssl.discover import Target
from nginxssl.installed import build_for
from nginxssl.parse.node import Config
from nginxssl.parse.sysroot import main_under_root
from nginxssl.pki.load import Loader, Material
from nginxssl.pki.pool import ChainAnalyser, served_key
from nginxssl.probe import Probe
from nginxssl.progress import Report, silent
from nginxssl.sites import Site, sites_of
from nginxssl.suppress import parse_suppressions, split
from nginxssl.workers import Forked, two_processes


@dataclass(frozen=True)
class Result:
    target: Target
    config: Config
    sites: tuple[Site, ...]
    findings: tuple[Finding, ...]


def parse(target: Target, root: str | None) -> Config:
    if root is not None:
        target = replace(target, path=main_under_root(target.path, root))
    if target.server == "apache":
        from nginxssl.parse.apache import fragment_server_root, parse_apache, service_defines

        if target.fragment:  # a lone site file resolves paths against its tree's ServerRoot, if it has one
            return parse_apache(target.path, root=root, fragment=True, server_root=fragment_server_root(target.path))
        defines = service_defines(target.path)[0]  # Gentoo's and RHEL's `-D` flags
        return parse_apache(target.path, root=root, defines=defines)
    from nginxssl.parse.nginx import parse_nginx

    return parse_nginx(target.path, root=root, fragment=target.fragment)


def load(sites: tuple[Site, ...], loader: Loader, wanted: Callable[[str], bool] | None = None,
         progress: Report = silent) -> tuple[dict[str, Material], dict[str, tuple[bytes, ...] | None]]:
    """Read every file the sites name (or the ones `wanted` picks), once; keys are opened with
    the passwords of the first site that names them."""
    passwords: dict[str, tuple[bytes, ...] | None] = {}
    for site in sites:
        for ref in site.password_files:
            if ref.path and ref.path not in passwords:
                passwords[ref.path] = loader.read_lines(ref.path)
    material: dict[str, Material] = {}
    for number, site in enumerate(sites, start=1):
        progress("reading certificate and key files", number, len(sites))
        site_passwords = tuple(
            line for ref in site.password_files for line in (passwords.get(ref.path) or ()) if ref.path
        )
        refs = [site.trusted_certificate, *site.password_files]
        for pair in site.certs:
            refs.extend((pair.cert, pair.key, pair.chain))
        for ref in refs:
            if ref is None or ref.path is None or ref.path in material:
                continue
            if wanted is not None and not wanted(ref.path):
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
         ignored_at: Callable[[str], tuple[str, ...]] | None = None, probe: Probe | None = None,
         progress: Report = silent) -> Result:
    """Lint one target. `severities` are the user's per-rule overrides; `ignored_at(file)`
    names rule ids (or prefixes) the project ignores in that file (per-path-ignores); `probe`
    is what `sslint probe` read from the live endpoint (SSL601 compares it with the files);
    `progress(stage, done, total)` hears how far the run is (progress.py draws it)."""
    progress(f"reading {target.path}", 0, 0)
    config = parse(target, settings.root)
    progress("finding the sites", 0, 0)
    sites = sites_of(config)
    loader = loader or Loader()
    analyser = analyser or chain_analyser(settings, loader)
    # Not with --fetch: two processes could each download the same issuer.
    parallel = two_processes(len(sites)) and not settings.fetch
    if parallel:
        # Every other served pair is diagnosed by a second process (workers.py), which reads
        # the files it needs for itself; the parent reads the files of its own half, does its
        # half, then reads the rest (the checks need every file) while the child finishes.
        pairs = list(dict.fromkeys(served_key(pair) for site in sites for pair in site.certs if pair.cert.path))
        theirs = set(pairs[1::2])
        helper = Forked(lambda: _diagnose_share(sites, loader, analyser, config.prefix, theirs.__contains__))
        later = _key_files(sites, theirs.__contains__) - _key_files(sites, lambda key: key not in theirs)
        material, _passwords = load(sites, loader, lambda path: path not in later, progress=progress)
        analyser.analyse(sites, material, config.prefix, share=lambda key: key not in theirs, progress=progress)
    material, passwords = load(sites, loader, progress=progress)  # when parallel: the files read above, and `later`
    if parallel:
        # While the second process may still be at its half: what the checks need next.
        catalogue()
        registry()
        build = build_for(config.server, settings.server_version)
        analyser.remember(helper.result() or {})  # a failed child leaves its half to the next line
    else:
        build = build_for(config.server, settings.server_version)
    chains = analyser.analyse(sites, material, config.prefix, progress=progress)
    inputs = Inputs(config, sites, material, passwords, settings, chains=chains, extra={"build": build},
                    probe=probe)
    rules = catalogue()
    checks = registry()

    def findings_of(rule_id: str) -> list[Finding]:
        rule = rules[rule_id]
        chosen = (severities or {}).get(rule_id)
        # A check may lower (or raise) one finding from the rule's default, e.g. an undecidable
        # SSL401 is info; the user's own choice for the rule still wins.
        return [finding.named(rule.name, chosen or finding.severity or rule.severity)
                for finding in checks[rule_id](inputs)]

    runnable = [rule for rule in selected if rule != LATE_RULE and rule in checks]
    by_rule = _run_in_two(findings_of, runnable, progress) if parallel else _run_here(findings_of, runnable, progress)
    order = {path: index for index, path in enumerate(config.files)}
    seen: set[tuple] = set()
    findings = []
    for rule in runnable:
        for finding in by_rule[rule]:
            key = (finding.rule, finding.file, finding.line, finding.message)
            if key not in seen:
                seen.add(key)
                findings.append(finding)
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
        findings.extend(f.named(rule.name, severity) for f in registry()[LATE_RULE](late))
    findings.sort(key=lambda f: (order.get(f.file, len(order)), f.file, f.line, f.rule))
    return Result(target, config, sites, tuple(findings))


def _diagnose_share(sites: tuple[Site, ...], loader: Loader, analyser: ChainAnalyser, prefix: str,
                    share: Callable[[tuple], bool]) -> dict[tuple, object]:
    """In the second process: the diagnoses of the pairs `share` picks. It reads their files and
    every served certificate file (where other pairs' missing intermediates may be found), not
    the other pairs' keys, the costliest files to read."""
    needed = _key_files(sites, share)
    for site in sites:
        for pair in site.certs:
            needed.update(ref.path for ref in (pair.cert, pair.chain) if ref is not None and ref.path)
    material, _passwords = load(sites, loader, needed.__contains__)
    before = analyser.diagnosed()
    analyser.analyse(sites, material, prefix, share=share)
    return {key: chain for key, chain in analyser.diagnosed().items() if key not in before}


def _key_files(sites: tuple[Site, ...], share: Callable[[tuple], bool]) -> set[str]:
    """The key files of the served pairs `share` picks."""
    return {pair.key.path for site in sites for pair in site.certs
            if pair.key is not None and pair.key.path and share(served_key(pair))}


# The certificate and name families (SSL1xx-SSL3xx) go to the second process, the files,
# headers and protocols families stay: on the benchmark tree the halves cost about the same.
_SECOND_PROCESS_FAMILIES = ("SSL1", "SSL2", "SSL3")


def _run_here(findings_of: Callable[[str], list[Finding]], runnable: list[str],
              progress: Report, total: int | None = None) -> dict[str, list[Finding]]:
    """Each rule's findings, rule by rule (`total`: the rules of the whole run, when these are a share)."""
    total = total or len(runnable)
    by_rule = {}
    for rule in runnable:
        progress("checking", len(by_rule), total)
        by_rule[rule] = findings_of(rule)
    progress("checking", len(by_rule), total)
    return by_rule


def _run_in_two(findings_of: Callable[[str], list[Finding]], runnable: list[str],
                progress: Report) -> dict[str, list[Finding]]:
    """_run_here(findings_of, runnable, progress), half of the rules run by a second process."""
    theirs = [rule for rule in runnable if rule.startswith(_SECOND_PROCESS_FAMILIES)]
    helper = Forked(lambda: {rule: findings_of(rule) for rule in theirs})
    by_rule = _run_here(findings_of, [rule for rule in runnable if rule not in theirs], progress, len(runnable))
    answered = helper.result()
    if answered is None:  # the child failed: run its rules here
        answered = {rule: findings_of(rule) for rule in theirs}
    by_rule.update(answered)
    progress("checking", len(runnable), len(runnable))
    return by_rule


def at_or_above(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)
