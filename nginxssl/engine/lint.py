"""The pipeline: discover -> parse -> sites -> load -> check, for one target."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, cast

from nginxssl.catalogue import catalogue
from nginxssl.checks import FAMILY_VIEWS, LATE_RULE, Inputs, registry
from nginxssl.discover import APACHE_MAINS, NGINX_MAINS, Target
from nginxssl.discover.sysroot import main_under_root
from nginxssl.engine.installed import build_for
from nginxssl.engine.parallel import Forked, Tickets, two_processes
from nginxssl.fix.apply import leftovers
from nginxssl.fix.fullchain import plan as plan_fullchains
from nginxssl.fix.run import loaded_by
from nginxssl.model.finding import Finding
from nginxssl.model.node import Config
from nginxssl.model.progress import Report, silent
from nginxssl.model.settings import Settings
from nginxssl.model.site import Site
from nginxssl.parse.suppressions import parse_suppressions, split
from nginxssl.pki.analyse import ChainAnalyser, ServedChain, served_key
from nginxssl.pki.load import Loader, Material
from nginxssl.pki.trust import TrustStore
from nginxssl.sites import sites_of

if TYPE_CHECKING:  # probe.py imports ssl and socket, which only `sslint probe` needs
    from nginxssl.model.probe import Probe


# question -> (diagnoses, the files and the directories they were made from), or None
KeptDiagnoses = Callable[[str], tuple[Mapping[tuple, ServedChain], tuple[str, ...], tuple[str, ...]] | None]


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
        from nginxssl.parse.apache.envvars import service_defines, service_flag_files
        from nginxssl.parse.apache.reader import fragment_server_root, parse_apache

        if target.fragment:  # a lone site file resolves paths against its tree's ServerRoot, if it has one
            return parse_apache(target.path, root=root, fragment=True, server_root=fragment_server_root(target.path))
        defines = service_defines(target.path)[0]  # Gentoo's and RHEL's `-D` flags
        config = parse_apache(target.path, root=root, defines=defines)
        return replace(config, consulted=(*config.consulted,
                                          *(("file", path) for path in service_flag_files(target.path))))
    from nginxssl.parse.nginx import parse_nginx

    return parse_nginx(target.path, root=root, fragment=target.fragment)


def load(sites: tuple[Site, ...], loader: Loader, wanted: Callable[[str], bool] | None = None,
         progress: Report = silent) -> tuple[dict[str, Material], dict[str, tuple[bytes, ...] | None]]:
    """Read every file the sites name (or the ones `wanted` picks), once; keys are opened with
    the passwords of the first site that names them."""
    passwords = _password_lines(sites, loader)
    material: dict[str, Material] = {}
    for number, site in enumerate(sites, start=1):
        progress("reading certificate and key files", number, len(sites))
        site_passwords = _site_passwords(site, passwords)
        for ref in site.files_named:
            if ref.path is None or ref.path in material:
                continue
            if wanted is not None and not wanted(ref.path):
                continue
            material[ref.path] = loader.load(ref.path, site_passwords)
    return material, passwords


def _password_lines(sites: tuple[Site, ...], loader: Loader) -> dict[str, tuple[bytes, ...] | None]:
    """Each ssl_password_file's lines (None: unreadable), read once."""
    passwords: dict[str, tuple[bytes, ...] | None] = {}
    for site in sites:
        for password_file in site.password_files:
            if password_file.path and password_file.path not in passwords:
                passwords[password_file.path] = loader.read_lines(password_file.path)
    return passwords


def _site_passwords(site: Site, passwords: Mapping[str, tuple[bytes, ...] | None]) -> tuple[bytes, ...]:
    return tuple(line for ref in site.password_files if ref.path for line in (passwords.get(ref.path) or ()))


class _OnDemand(Mapping[str, Material]):
    """What load() would read, each file read when first asked for (keys opened with the
    passwords of the first site that names them). The parent's material when every chain's
    diagnosis was kept from an earlier run: only the fullchain plan asks, for the few it completes."""

    def __init__(self, sites: tuple[Site, ...], loader: Loader,
                 passwords: Mapping[str, tuple[bytes, ...] | None]) -> None:
        self._loader = loader
        self._opened_with: dict[str, tuple[bytes, ...]] = {}
        for site in sites:
            site_passwords = _site_passwords(site, passwords)
            for ref in site.files_named:
                if ref.path is not None:
                    self._opened_with.setdefault(ref.path, site_passwords)
        self._read: dict[str, Material] = {}

    def __getitem__(self, path: str) -> Material:
        found = self._read.get(path)
        if found is None:
            found = self._read[path] = self._loader.load(path, self._opened_with[path])  # KeyError: not named
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._opened_with)

    def __len__(self) -> int:
        return len(self._opened_with)


def chain_analyser(settings: Settings, loader: Loader) -> ChainAnalyser:
    """One per run: the trust store, the intermediate pools and the diagnoses are shared by every target."""
    return ChainAnalyser(loader, settings.now, ca_files=settings.ca_files, system_trust=settings.system_trust,
                         intermediates=settings.intermediates, fetch=settings.fetch, root=settings.root)


def lint(target: Target, settings: Settings, selected: tuple[str, ...],
         severities: dict[str, str] | None = None, loader: Loader | None = None,
         analyser: ChainAnalyser | None = None,
         ignored_at: Callable[[str], tuple[str, ...]] | None = None, probe: Probe | None = None,
         progress: Report = silent, kept_diagnoses: KeptDiagnoses | None = None) -> Result:
    """Lint one target. `severities` are the user's per-rule overrides; `ignored_at(file)`
    names rule ids (or prefixes) the project ignores in that file (per-path-ignores); `probe`
    is what `sslint probe` read from the live endpoint (SSL601 compares it with the files);
    `progress(stage, done, total)` hears how far the run is (progress.py draws it);
    `kept_diagnoses(question)` gives the chain diagnoses an earlier run made for the same
    question (ChainAnalyser.question) from the same files, if any (engine/cache.py), with the
    files and directories they were made from."""
    progress(f"reading {target.path}", 0, 0)
    config = parse(target, settings.root)
    progress("finding the sites", 0, 0)
    sites = sites_of(config)
    loader = loader or Loader()
    analyser = analyser or chain_analyser(settings, loader)
    if kept_diagnoses is not None:
        kept = kept_diagnoses(analyser.question(sites, config.prefix))
        if kept is not None:  # before the fork: neither process diagnoses these again
            diagnosed, files, directories = kept
            analyser.remember(diagnosed, (files, directories))
    checks = registry()
    runnable = [rule for rule in selected if rule != LATE_RULE and rule in checks]
    leftover: list[Finding] = []

    def find_leftovers() -> None:  # SSL001's share from the engine (fix/apply.py knows the temporaries)
        if "SSL001" in runnable:
            leftover.extend(_leftovers(config, sites, severities))

    # Not with --fetch: two processes could each download the same issuer.
    if two_processes(len(sites)) and not settings.fetch:
        inputs, by_rule = _lint_in_two(config, sites, settings, loader, analyser, runnable, severities, probe, progress,
                                       meanwhile=find_leftovers)
    else:
        find_leftovers()
        material, passwords = load(sites, loader, progress=progress)
        chains = analyser.analyse(sites, material, config.prefix, progress=progress)
        inputs = Inputs(config, sites, material, passwords, settings, chains=chains,
                        build=build_for(config.server, settings.server_version), probe=probe)
        inputs = inputs.replaced(chain_fixes=plan_fullchains(inputs, analyser.sources))
        by_rule = _run_here(_judge(inputs, severities, runnable), runnable, progress)
    if "SSL001" in runnable:
        by_rule["SSL001"] = [*by_rule["SSL001"], *leftover]
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
        late = inputs.replaced(unused_suppressions=tuple(judged))
        findings.extend(_judge(late, severities)(LATE_RULE))
    findings.sort(key=lambda f: (order.get(f.file, len(order)), f.file, f.line, f.rule))
    return Result(target, config, sites, tuple(findings))


def lint_each_tree_once(targets: Iterable[Target], lint_one: Callable[[Target], Result]) -> list[Result]:
    """Lint several command-line paths as one report: main configurations first (a directory, a
    nginx.conf), then the rest; a path an earlier target's configuration already read (the site
    files a pre-commit hook passes after the tree, `sslint nginx.conf sites-enabled/a`) is not
    linted again on its own, and a finding already reported at the same file, line and rule by
    an earlier tree is dropped: the same file:line:rule never appears twice in one report."""
    mains = {os.path.basename(name) for name in (*NGINX_MAINS, *APACHE_MAINS)}
    ordered = sorted(targets, key=lambda target: target.fragment is True or (
        target.fragment is None and os.path.basename(target.path) not in mains))
    results: list[Result] = []
    read: set[str] = set()
    reported: set[tuple[str, str, int]] = set()
    for number, target in enumerate(ordered):
        if os.path.realpath(target.path) in read:
            continue
        result = lint_one(target)
        if number == len(ordered) - 1:  # the last tree: nothing after it to compare with
            results.append(_without_reported(result, reported) if reported else result)
            break
        read.update(os.path.realpath(path) for path in result.config.files)
        # Against earlier trees only: within one tree the checks already report each root cause once.
        results.append(_without_reported(result, reported))
    return results


def _without_reported(result: Result, reported: set[tuple[str, str, int]]) -> Result:
    """`result` without the findings an earlier tree reported at the same file, line and rule; what
    it reports joins `reported`. Thousands of findings name a few hundred files: each is resolved once."""
    real = {file: os.path.realpath(file) for file in {finding.file for finding in result.findings} if file}
    keys = [(finding.rule, real[finding.file] if finding.file else "", finding.line) for finding in result.findings]
    kept = tuple(finding for finding, key in zip(result.findings, keys) if key not in reported)
    reported.update(keys)
    return replace(result, findings=kept) if len(kept) != len(result.findings) else result


def _leftovers(config: Config, sites: tuple[Site, ...], severities: dict[str, str] | None) -> list[Finding]:
    """SSL001 for each temporary a killed `sslint --fix` left where the fixer writes them
    (nginxssl/fix/apply.py) -- for the config files, and for the fullchain files it writes
    beside the certificates: the parser skips such files, httpd may not."""
    rule = catalogue()["SSL001"]
    loaded = loaded_by(config)
    server = "apache2" if config.server == "apache" else "nginx"
    found = []
    certificates = {pair.cert.path for site in sites for pair in site.certs if pair.cert.path}
    for path in leftovers([*config.files, *sorted(certificates)], loaded):
        read = (f"{server} reads it as configuration (a directory it includes)"
                if loaded.loads(os.path.dirname(path)) else "nothing reads it")
        found.append(Finding("SSL001", path, 1, f"{path} is a temporary file a killed `sslint --fix` left behind; "
                             f"{read}; the next `sslint --fix` removes it (or delete it)", server=config.server)
                     .named(rule.name, (severities or {}).get("SSL001") or rule.severity))
    return found


def _judge(inputs: Inputs, severities: dict[str, str] | None,
           runnable: Iterable[str] = ()) -> Callable[[str], list[Finding]]:
    """findings_of(rule_id): the rule's findings on `inputs`, named, at the severity in force. Once
    every rule of `runnable` (the run's) written in one module has run here, `inputs` forgets the
    derived views only that family reads (FAMILY_VIEWS): they would otherwise last as long as the run."""
    rules = catalogue()
    checks = registry()
    left = Counter(checks[rule].run.__module__ for rule in runnable)

    def findings_of(rule_id: str) -> list[Finding]:
        rule = rules[rule_id]
        chosen = (severities or {}).get(rule_id)
        # A check may lower (or raise) one finding from the rule's default, e.g. an undecidable
        # SSL401 is info; the user's own choice for the rule still wins.
        found = [finding.named(rule.name, chosen or finding.severity or rule.severity)
                 for finding in checks[rule_id](inputs)]
        family = checks[rule_id].run.__module__
        left[family] -= 1
        if left[family] == 0:
            inputs.forget(FAMILY_VIEWS.get(family, ()))
        return found

    return findings_of


def _run_here(findings_of: Callable[[str], list[Finding]], runnable: list[str],
              progress: Report, total: int | None = None) -> dict[str, list[Finding]]:
    """Each rule's findings, rule by rule (`total`: the rules of the whole run, when these are a share)."""
    total = total or len(runnable)
    by_rule: dict[str, list[Finding]] = {}
    for rule in runnable:
        progress("checking", len(by_rule), total)
        by_rule[rule] = findings_of(rule)
    progress("checking", len(by_rule), total)
    return by_rule


def _lint_in_two(config: Config, sites: tuple[Site, ...], settings: Settings, loader: Loader,
                 analyser: ChainAnalyser, runnable: list[str], severities: dict[str, str] | None,
                 probe: Probe | None, progress: Report,
                 meanwhile: Callable[[], None] = lambda: None) -> tuple[Inputs, dict[str, list[Finding]]]:
    """The run's Inputs and each rule's findings, with a second process (parallel.py); `meanwhile`
    is done while the child finishes its last rules:

    the child diagnoses every other served pair (reading every certificate file, where other
    pairs' missing intermediates may be found, and only its own pairs' keys, the costliest
    files to read) and sends those diagnoses; then it reads the rest and runs the rules that
    read the keys. The parent meanwhile reads the files of its own pairs, diagnoses them,
    takes the child's diagnoses and runs the rules that need them (none reads a key). The
    rules that need neither (headers, protocols, the configuration's own) go to whichever
    process is free first, a family of rules at a time (parallel.Tickets): on the benchmark
    tree they cost as much as the rest together, and the child is free a quarter of a second
    before the parent. Whatever the child does not answer, the parent does itself.

    Which rules need what their @check declarations say (`chains`, `material`, `passwords`).
    """
    pairs = list(dict.fromkeys(served_key(pair) for site in sites for pair in site.certs if pair.cert.path))
    theirs = set(pairs[1::2])
    checks = registry()
    our_rules = [rule for rule in runnable if "chains" in checks[rule].needs]
    their_rules = [rule for rule in runnable if rule not in our_rules and checks[rule].needs & _KEY_VIEWS]
    # Either process may run these: grouped by the module they are written in, whose rules
    # share views (the header rules' http_sites) that a process would otherwise work out twice.
    families: dict[str, list[str]] = {}
    for rule in runnable:
        if rule not in our_rules and rule not in their_rules:
            families.setdefault(checks[rule].run.__module__, []).append(rule)
    # The families with most rules first: whichever process is free takes the largest work left.
    shared = sorted(families.values(), key=len, reverse=True)
    build = build_for(config.server, settings.server_version)  # asked once, before the fork: both have it

    def taken(tickets: Tickets, run: Callable[[str], list[Finding]]) -> dict[str, list[Finding]]:
        found: dict[str, list[Finding]] = {}
        while (number := tickets.take()) is not None:
            for rule in shared[number]:
                found[rule] = run(rule)
        return found

    # Every chain's diagnosis kept from an earlier run (engine/cache.py): nothing to diagnose, and
    # the parent reads only what the fullchain plan asks for.
    kept_all = analyser.knows_all(sites)

    def second() -> Iterator[object]:
        if kept_all:
            yield {}, ((), ())
        else:
            needed = _key_files(sites, theirs.__contains__)
            for site in sites:
                for pair in site.certs:
                    needed.update(ref.path for ref in (pair.cert, pair.chain) if ref is not None and ref.path)
            before = analyser.diagnosed()
            analyser.analyse(sites, load(sites, loader, needed.__contains__)[0], config.prefix,
                             share=theirs.__contains__)
            # With what was read for them: the parent's cached result watches the files the child read.
            yield {key: chain for key, chain in analyser.diagnosed().items() if key not in before}, analyser.inputs_read()
        material, passwords = load(sites, loader)
        # Only half the diagnoses are here: a rule that reads one fails the child, and the
        # parent then runs the child's rules itself (tests hold that none does).
        inputs = Inputs(config, sites, material, passwords, settings, build=build, probe=probe).without(("chains",))
        findings_of = _judge(inputs, severities, runnable)
        answered = {rule: findings_of(rule) for rule in their_rules}
        answered.update(taken(tickets, findings_of))
        yield answered

    with Tickets(len(shared)) as tickets, Forked(second, loader) as helper:
        # The other pairs' keys are the child's: no rule run here reads a key, and the pairs
        # they belong to are diagnosed there (if the child fails, they are read below).
        material: Mapping[str, Material]
        if kept_all:
            passwords = _password_lines(sites, loader)
            material = _OnDemand(sites, loader, passwords)
        else:
            theirs_only = _key_files(sites, theirs.__contains__) - _key_files(sites, lambda key: key not in theirs)
            material, passwords = load(sites, loader, lambda path: path not in theirs_only, progress=progress)
            analyser.analyse(sites, material, config.prefix, share=lambda key: key not in theirs, progress=progress)
        # The child's first answer: its diagnoses, with what it read for them; its second: its rules' findings.
        answer = cast("tuple[dict[tuple, ServedChain], tuple[tuple[str, ...], tuple[str, ...]]] | None", helper.next())
        if answer is None:  # the child failed: every file, and every diagnosis, here
            material, passwords = load(sites, loader, progress=progress)
        else:
            analyser.remember(*answer)
        chains = analyser.analyse(sites, material, config.prefix, progress=progress)
        inputs = Inputs(config, sites, material, passwords, settings, chains=chains, build=build, probe=probe)
        inputs = inputs.replaced(chain_fixes=plan_fullchains(inputs, analyser.sources))
        # The child's keys were not read here: a rule run here that read the files would fail.
        findings_of = _judge(inputs.without(("material", "passwords")), severities, runnable)
        by_rule = _run_here(findings_of, our_rules, progress, len(runnable))
        by_rule.update(taken(tickets, findings_of))
        meanwhile()
        answered = cast("dict[str, list[Finding]] | None", helper.next())
    by_rule.update(answered or {})
    left = [rule for rule in runnable if rule not in by_rule]
    if left:  # the child failed: its rules run here, on every file
        material, passwords = load(sites, loader, progress=progress)
        inputs = inputs.replaced(material=material, passwords=passwords)
        findings_of = _judge(inputs, severities, left)
        by_rule.update((rule, findings_of(rule)) for rule in left)
    progress("checking", len(runnable), len(runnable))
    return inputs, by_rule


# The views that hold what only the child reads in full: the keys (and the passwords that open them).
_KEY_VIEWS = frozenset(("material", "passwords"))


def _key_files(sites: tuple[Site, ...], share: Callable[[tuple], bool]) -> set[str]:
    """The key files of the served pairs `share` picks."""
    return {pair.key.path for site in sites for pair in site.certs
            if pair.key is not None and pair.key.path and share(served_key(pair))}


# The rule that names a file sslint cannot load; here a trust anchor, skipped so the run goes on.
UNLOADABLE_RULE = "SSL003"


def trust_findings(trust: TrustStore, selected: tuple[str, ...],
                   severities: dict[str, str] | None = None) -> tuple[Finding, ...]:
    """One finding for each trust anchor that did not load (a --ca-file's or the system
    bundle's), once per run: the trust store is the run's, not a target's. A warning,
    not the rule's error: the sites are not broken by it, sslint's view of them is (a
    chain ending at the skipped CA is judged untrusted)."""
    if UNLOADABLE_RULE not in selected:
        return ()
    rule = catalogue()[UNLOADABLE_RULE]
    severity = (severities or {}).get(UNLOADABLE_RULE) or "warning"
    found = []
    for skipped in trust.unloadable:
        which = (f"certificate {skipped.number} (the PEM block at line {skipped.line})" if skipped.number
                 else "the file")
        if skipped.path in trust.ca_files:
            source = f"--ca-file {skipped.path}"
            fix = ("fix: put the CA's certificate there in PEM (`openssl x509 -inform der -in ca.der -out ca.pem` "
                   "for a DER file), or remove the broken block")
        else:
            source = f"the system trust store {skipped.path}"
            fix = "fix: rebuild it (Debian/Ubuntu: `update-ca-certificates --fresh`; RHEL: `update-ca-trust`)"
        found.append(Finding(
            UNLOADABLE_RULE, skipped.path, skipped.line,
            f"{source}: {which} cannot be read as a trust anchor ({skipped.reason}); sslint skipped it and "
            f"trusts the {len(trust):,} other anchors, so a chain that ends at that CA is judged untrusted "
            f"(SSL105); {fix}", (), "nginx", severity, rule.name))
    return tuple(found)
