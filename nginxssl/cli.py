"""The command line: argument parsing and wiring only.

`sslint PATH...` lints; `sslint rules`, `sslint explain ID`, `sslint certs PATH...` and
`sslint probe HOST[:PORT] PATH` are subcommands.
A path that happens to be called `rules` is linted when written as a path
(`sslint ./rules`): only a bare first word that names a subcommand dispatches.
"""

from __future__ import annotations

import gc
import io
import warnings
import os
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Annotated, BinaryIO, Callable, Iterator, Optional, TextIO, cast

import typer

from nginxssl import __version__

if TYPE_CHECKING:  # the command line imports each stage only when a command needs it
    from nginxssl.discover import Target
    from nginxssl.engine.cache import Cache, Hit
    from nginxssl.engine.lint import Result
    from nginxssl.model.finding import Finding
    from nginxssl.model.inventory import Inventory
    from nginxssl.model.progress import Report
    from nginxssl.model.settings import Settings
    from nginxssl.pki.analyse import ChainAnalyser
    from nginxssl.pki.load import Loader
    from nginxssl.settings import ProjectSettings

    LintOne = Callable[..., Result]

SUBCOMMANDS = ("rules", "explain", "certs", "probe")


class Format(str, Enum):
    text = "text"
    concise = "concise"
    json = "json"
    sarif = "sarif"
    github = "github"
    html = "html"


class Level(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


class Server(str, Enum):
    nginx = "nginx"
    apache = "apache"


class CertFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    nagios = "nagios"
    prometheus = "prometheus"
    html = "html"


# Options `sslint` and `sslint certs` share: one spelling, one help text, one meaning.
ServerOption = Annotated[Optional[Server], typer.Option("--server", help="Force the server type.")]
NowOption = Annotated[Optional[str], typer.Option("--now", help="Judge validity at this ISO 8601 time.")]
ExpiryDaysOption = Annotated[Optional[int], typer.Option("--expiry-days", min=0, help="Warn this many days before "
                                                         "expiry [default: 30].", show_default=False)]
RootOption = Annotated[Optional[str], typer.Option("--root", help="Map absolute config paths under this directory.")]
CaFileOption = Annotated[list[str], typer.Option("--ca-file", help="Also trust the CA certificates in this PEM file "
                                                 "(repeatable; e.g. an internal CA).")]
NoSystemTrustOption = Annotated[bool, typer.Option("--no-system-trust", help="Trust only the --ca-file "
                                                   "certificates, not the system's bundle.")]
IntermediatesOption = Annotated[list[str], typer.Option("--intermediates", help="A directory of intermediate "
                                                        "certificates used to complete chains (repeatable).")]
FetchOption = Annotated[bool, typer.Option("--fetch", help="Download missing intermediates from their AIA "
                                           "caIssuers URL (http; the only network use).")]
ConfigOption = Annotated[Optional[str], typer.Option("--config", help="Settings file (default: the nearest "
                                                     ".sslint.yaml or pyproject.toml [tool.sslint]).")]
NoColorOption = Annotated[bool, typer.Option("--no-color", help="Never colour the text report.")]
OutputFileOption = Annotated[Optional[str], typer.Option("--output-file", "-o", metavar="FILE", show_default=False,
                                                        help="Write the report to FILE instead of stdout.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print the findings only: no closing summary, no "
                                           "progress, nothing when there is nothing to report.")]
FailOnOption = Annotated[Optional[Level], typer.Option("--fail-on", help="Lowest severity that makes the exit code 1 "
                                                       "[default: warning].", show_default=False)]


def _rule_ids(incomplete: str) -> list[str]:
    """Shell completion for --select, --ignore and `explain`: the rule ids (after the last comma of a
    comma list), with their names as help."""
    from nginxssl.catalogue import catalogue

    head, _, word = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    return [prefix + rule_id for rule_id in catalogue() if rule_id.startswith(word.upper())]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"sslint: {message}", err=True)
    return typer.Exit(2)


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"--now {value!r} is not an ISO 8601 time (e.g. 2026-12-01T00:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _words(values: list[str]) -> list[str]:
    """`--select SSL401,SSL501 --select SSL2`: ids and prefixes, repeated or comma-separated."""
    return [word.strip() for value in values for word in value.split(",") if word.strip()]


def _select(rules: dict, select: list[str], ignore: list[str]) -> tuple[str, ...]:
    select, ignore = _words(select), _words(ignore)
    for word in [*select, *ignore]:
        if not any(rule_id.startswith(word.upper()) for rule_id in rules):
            raise _fail(f"{word!r} matches no rule id (see `sslint rules`)")
    chosen = [rule_id for rule_id in rules if not select or any(rule_id.startswith(w.upper()) for w in select)]
    return tuple(rule_id for rule_id in chosen if not any(rule_id.startswith(w.upper()) for w in ignore))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sslint {__version__}")
        raise typer.Exit(0)


lint_app = typer.Typer(add_completion=True, rich_markup_mode=None)

COMMANDS_HELP = (
    "Other commands (`sslint COMMAND --help`):\n\n"
    "\b\n"
    "  sslint rules                      every rule: id, name, severity, --fix\n"
    "  sslint explain ID                 what a rule finds, why it matters, how to fix it\n"
    "  sslint certs PATH...              the certificate inventory and expiry alarm (cron, monitoring)\n"
    "  sslint probe HOST[:PORT] PATH     does the live endpoint serve what the configuration names?"
)


@lint_app.command(epilog=COMMANDS_HELP)
def lint(
    paths: Annotated[list[str], typer.Argument(help="nginx/Apache config directories, main configs or site files.",
                                               show_default=False)],
    format: Annotated[Format, typer.Option("--format", help="Report format (concise: the first line of each "
                                           "finding alone).")] = Format.text,
    statistics: Annotated[bool, typer.Option("--statistics", help="Count the findings by rule instead of "
                                             "listing them (text and concise).")] = False,
    select: Annotated[list[str], typer.Option("--select", autocompletion=_rule_ids, help="Only these rule ids or "
                                              "prefixes (repeatable or comma-separated).")] = [],
    ignore: Annotated[list[str], typer.Option("--ignore", autocompletion=_rule_ids, help="Skip these rule ids or "
                                              "prefixes (repeatable or comma-separated).")] = [],
    fail_on: FailOnOption = None,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when findings are reported (2 still "
                                            "means a usage error).")] = False,
    output_file: OutputFileOption = None,
    quiet: QuietOption = False,
    server: ServerOption = None,
    now: NowOption = None,
    expiry_days: ExpiryDaysOption = None,
    root: RootOption = None,
    ca_file: CaFileOption = [],
    no_system_trust: NoSystemTrustOption = False,
    intermediates: IntermediatesOption = [],
    fetch: FetchOption = False,
    server_version: Annotated[Optional[str], typer.Option(
        "--server-version", metavar="VERSION", show_default=False,
        help="Judge protocol defaults for this server build, e.g. 1.22.1 or 'nginx/1.22.1 OpenSSL/3.0.13' "
             "('none': no particular version) [default: the installed nginx/apache2].")] = None,
    require_keys: Annotated[bool, typer.Option("--require-keys", help="With --root: report every absent private "
                                               "key as an error (config repos usually hold none).")] = False,
    config: ConfigOption = None,
    no_color: NoColorOption = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print the unified diff of every fix; change nothing.")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the fixes atomically, validate with the server, "
                                      "restore everything if that fails.")] = False,
    unsafe_fixes: Annotated[bool, typer.Option("--unsafe-fixes", help="Also fixes that can change behaviour "
                                               "for old clients.")] = False,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="With --fix: skip `nginx -t` / `apache2 -t`.")] = False,
    show_fixes: Annotated[bool, typer.Option("--show-fixes", help="With --fix: list every edit it made.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the result cache.")] = False,
    cache_dir: Annotated[Optional[str], typer.Option(
        "--cache-dir", metavar="DIR", show_default=False,
        help="Keep the result cache in DIR [default: $XDG_CACHE_HOME/sslint or ~/.cache/sslint].")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Lint nginx or Apache TLS configuration: every reason a browser would say "untrusted"."""
    started = time.time_ns()  # before any input is read: the cache keeps none written since (engine/cache.py)
    from nginxssl.catalogue import CatalogueError, at_or_above, catalogue

    try:
        rules = catalogue()
    except CatalogueError as error:
        raise _fail(str(error)) from None
    project = _project_settings(config, paths)
    select = select or list(project.select)
    ignore = ignore or list(project.ignore)
    fail_on = fail_on or Level(project.fail_on or "warning")
    require_keys = require_keys or bool(project.require_keys)
    for rule_id in project.severity:
        if rule_id not in rules:
            raise _fail(f"{project.source}: severity names {rule_id!r}, which is no rule id")
    selected = _select(rules, select, ignore)
    _writable(output_file)
    if diff and fix:
        raise _fail("--diff shows the fixes and --fix applies them: choose one")
    if statistics and format not in (Format.text, Format.concise):
        raise _fail(f"--statistics is a text report: it does not go with --format {format.value}")
    settings, targets = _settings_and_targets(
        paths, project, server=server, now=now, expiry_days=expiry_days, root=root, ca_file=ca_file,
        no_system_trust=no_system_trust, intermediates=intermediates, fetch=fetch, require_keys=require_keys,
        server_version=server_version)

    # The result cache (engine/cache.py): only for a report; --diff and --fix work on the trees.
    # Apache: whole trees without --root (cache.py says why).
    cache, cache_key, diagnoses_key = None, "", ""
    # A report without colour is kept as rendered, by everything that shapes it; not SARIF's or GitHub's,
    # which name files relative to the checkout found from the working directory or $GITHUB_WORKSPACE.
    plain = (output_file not in (None, "-") or no_color or "NO_COLOR" in os.environ or not sys.stdout.isatty())
    kept_as_rendered = format in (Format.text, Format.concise, Format.json)
    rendering = repr((format.value, statistics, quiet)) if plain and kept_as_rendered else ""
    # Not the HTML page either: it draws the certificates themselves, which the cache does not keep.
    if not (no_cache or diff or fix or fetch) and format is not Format.html \
            and all(target.server == "nginx" or (not target.fragment and settings.root is None) for target in targets):
        from nginxssl.engine.cache import Cache, default_directory, key_of
        from nginxssl.engine.installed import build_for

        cache = Cache(cache_dir or default_directory())
        settings_without_clock = {name: value for name, value in vars(settings).items() if name != "now"}
        # The engine's own switches too: a run with one process, or the other nginx reader, is its own
        # (the tests compare them; their findings must agree, and a cached one would prove nothing).
        engine = [os.environ.get(name) for name in ("SSLINT_JOBS", "SSLINT_NGINX_READER")]
        # What the catalogue gives a finding: the rule's name and default severity.
        named = sorted((rule.id, rule.name, rule.severity) for rule in rules.values())
        cache_key = key_of(os.getcwd(), targets, settings_without_clock, selected, project, engine, named,
                           [build_for(target.server, settings.server_version) for target in targets])
        # A tree's chain diagnoses are kept apart (engine/cache.py): they outlive an edit of the
        # configuration that leaves its certificates alone, and depend on neither the rules, the
        # build, nor how many processes made them.
        if len(targets) == 1:
            diagnoses_key = key_of(os.getcwd(), targets, settings_without_clock, "diagnoses")
        hit = cache.get(cache_key, settings.now)
        if hit is not None:
            report = cache.rendered_file(hit, rendering) if rendering else None
            cached = cache.findings(hit) if report is None else None
            if report is None and cached is not None and rendering:  # kept from now on
                _report_kept(cache, hit, rendering, format, list(cached), hit.sites, list(hit.configs), statistics,
                             quiet, output_file)
            elif report is not None or cached is not None:
                with _output(output_file) as out:
                    if report is not None:
                        _copy_report(report, out, cache.directory)
                    elif cached is not None:  # colour, SARIF, GitHub: rendered at every run
                        _report(format, list(cached), hit.sites, list(hit.configs), no_color,
                                statistics=statistics, out=out, quiet=quiet)
            if report is not None or cached is not None:
                failing = any(at_or_above(severity, fail_on.value) for severity in hit.severities)
                raise typer.Exit(1 if failing and not exit_zero else 0)

    from nginxssl.engine.lint import lint_each_tree_once, trust_findings
    from nginxssl.engine.lint import lint as run
    from nginxssl.model.progress import silent
    from nginxssl.report.progress import for_stream

    loader, analyser = _chain_tools(settings)
    progress = None if quiet else for_stream(sys.stderr)

    def kept_diagnoses(question: str) -> tuple[dict, tuple[str, ...], tuple[str, ...]] | None:
        return cache.diagnoses(diagnoses_key, question, settings.now, loader) if cache is not None else None

    def lint_one(target: Target, progress: Report = silent, first: bool = False) -> Result:
        return run(target, settings, selected, project.severity, loader=loader, analyser=analyser,
                   ignored_at=project.ignored_at, progress=progress,
                   kept_diagnoses=kept_diagnoses if first and diagnoses_key else None)

    try:  # the first pass only: --fix's own passes print their notes on stderr
        results = lint_each_tree_once(targets, lambda target: lint_one(target, progress or silent, first=True))
    finally:
        if progress is not None:  # the report, a diff or an error starts on a clean line
            progress.close()
    if diff:
        raise typer.Exit(_show_diff(results, unsafe_fixes))
    # Trust anchors that did not load: the run's own, reported once before every target's.
    skipped_anchors = list(trust_findings(analyser.trust, selected, project.severity))
    findings = skipped_anchors + [finding for result in results for finding in result.findings]
    summary = None
    if fix:
        # As ruff does: what is left after the fix is the report, and decides the exit code.
        results, fixed = _apply_fixes(results, lint_one, settings.root, unsafe_fixes, not no_validate, show_fixes)
        findings = skipped_anchors + [finding for result in results for finding in result.findings]
        from nginxssl.report import text

        tally = f"{len(fixed)} fixed, {len(findings)} remaining"
        typer.echo(f"sslint: {tally}", err=True)
        summary = f"{tally}: {text.summarize(findings, sum(len(result.sites) for result in results), len(results))}"
    sites = sum(len(result.sites) for result in results)
    configs = [result.config.main for result in results]
    failing = any(at_or_above(finding.severity, fail_on.value) for finding in findings)
    if cache is not None:
        hit = _remember(cache, cache_key, results, findings, sites, configs, analyser, settings, started, diagnoses_key)
        if hit is not None and rendering:
            _report_kept(cache, hit, rendering, format, findings, sites, configs, statistics, quiet, output_file)
            raise typer.Exit(1 if failing and not exit_zero else 0)
    inventory = _inventory(targets, settings, loader, analyser, results=results) if format is Format.html else None
    with _output(output_file) as out:
        _report(format, findings, sites, configs, no_color, with_fixes=not fix, summary=summary, statistics=statistics,
                out=out, quiet=quiet, inventory=inventory)
    raise typer.Exit(1 if failing and not exit_zero else 0)


def _expiry_thresholds(warning_days: int | None, critical_days: int | None,
                       project: ProjectSettings) -> tuple[int, int]:
    """(warning, critical) days for `sslint certs` and `sslint probe`: the options, else the settings'
    expiry-days and 30, and 7; critical is the nearer threshold (exit 2 when it is not)."""
    warning = warning_days if warning_days is not None else (
        project.expiry_days if project.expiry_days is not None else max(30, critical_days or 0))
    critical = critical_days if critical_days is not None else min(7, warning)
    if critical > warning:
        raise _fail(f"--critical-days {critical} is more than --warning-days {warning}: "
                    "critical is the nearer threshold")
    return warning, critical


def _report_kept(cache: Cache, hit: Hit, rendering: str, format: Format, findings: list[Finding], sites: int,
                 configs: list[str], statistics: bool, quiet: bool, output_file: str | None) -> None:
    """The report as _report writes it where no colour applies, to its reader and into the cache at
    once, a piece at a time (a 50,000-site report is 70 MB: held whole, and again as bytes, it was
    a third of the run's memory)."""

    class Both(io.TextIOBase):
        def __init__(self, out: TextIO, keep: Callable[[str], None]) -> None:
            self.out, self.keep = out, keep

        def write(self, text: str) -> int:
            self.out.write(text)
            self.keep(text)
            return len(text)

    with _output(output_file) as out, cache.rendering_kept(hit, rendering) as keep:
        _report(format, findings, sites, configs, no_color=True, statistics=statistics,
                out=cast(TextIO, Both(out, keep)), quiet=quiet)


def _copy_report(report: BinaryIO, out: TextIO, where: str) -> None:
    """A kept report onto `out`, a megabyte at a time (it was written as UTF-8 with surrogatepass).
    A cache file that cannot be read to its end (a disk error) stops the run, exit 2: part of the
    report is out already, and the lint run after it would print a second one."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    with report:
        while True:
            try:
                chunk = report.read(1 << 20)
            except OSError as error:
                out.flush()
                raise _fail(f"the report kept in {where} could not be read to its end "
                            f"({error.strerror or error}); run again with --no-cache") from None
            if not chunk:
                break
            out.write(decoder.decode(chunk))
        out.write(decoder.decode(b"", final=True))


def _remember(cache: Cache, key: str, results: list[Result], findings: list[Finding], sites: int,
              configs: list[str], analyser: ChainAnalyser, settings: Settings, started: int,
              diagnoses_key: str = "") -> Hit | None:
    """Keep this run's report in the cache with every input it read (engine/cache.py), and the
    tree's chain diagnoses (`diagnoses_key`: a run of one tree); `started`: time.time_ns() when
    the run began, before it read anything."""
    from functools import partial

    from nginxssl.discover.sysroot import to_disk
    from nginxssl.engine.cache import recorded

    trees = [(result.config, partial(to_disk, base=result.config.prefix, root=result.config.root)) for result in results]
    referenced = [ref.path for result in results for site in result.sites for ref in site.files_named if ref.path]
    # The lint reports a killed --fix's temporaries (SSL001): their directories' listings decide the report too.
    from nginxssl.fix.apply import leftover_patterns
    from nginxssl.fix.run import loaded_by

    watched = [pattern for result in results
               for pattern in leftover_patterns([*result.config.files, *referenced], loaded_by(result.config))]
    inputs, clock = recorded(trees, referenced, analyser, settings.now, settings.expiry_days, watched, cache.previous,
                             started)
    if diagnoses_key and len(results) == 1:
        from nginxssl.engine.cache import diagnoses_inputs

        tree = results[0]
        question = analyser.question(tree.sites, tree.config.prefix)
        cache.keep_diagnoses(diagnoses_key, question, analyser.diagnosed(), analyser.loader,
                             diagnoses_inputs(analyser, tree.sites, inputs, started), clock)
    return cache.put(key, tuple(findings), tuple(configs), sites, inputs, clock)


def _writable(path: str | None) -> None:
    """--output-file's directory must take a new file: said before anything is linted (exit 2)."""
    if path is None or path == "-":
        return
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise _fail(f"--output-file {path}: is a directory")
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        raise _fail(f"--output-file {path}: cannot write in {directory}")


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    """Where the report goes: stdout, or FILE (written whole, then moved into place: a reader of FILE,
    a cron mail or Prometheus' textfile collector, never sees half a report)."""
    if path is None or path == "-":
        yield sys.stdout
        return
    import tempfile  # here: only --output-file writes one

    directory = os.path.dirname(os.path.abspath(path))
    try:
        # Not the fixer's `.sslint-*.tmp`: those are a killed --fix's leftovers to the lint, which
        # would report (and a --fix remove) this one while it is being written.
        descriptor, temporary = tempfile.mkstemp(prefix=".sslint-report-", suffix=".part", dir=directory)
    except OSError as error:
        raise _fail(f"--output-file {path}: {error.strerror or error}") from None
    try:
        with open(descriptor, "w", encoding="utf-8", errors="backslashreplace") as handle:
            yield handle
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 would hide the report from its readers
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _report(format: Format, findings: list[Finding], sites: int, configs: list[str], no_color: bool,
            with_fixes: bool = True, summary: str | None = None, probe: dict | None = None, statistics: bool = False,
            out: TextIO | None = None, quiet: bool = False, inventory: Inventory | None = None) -> None:
    """Findings on stdout in the chosen format, for `sites` sites of the main files `configs`
    (`summary`: the text/github closing line instead of the count; `probe`: what `sslint probe` saw,
    for the JSON report; `statistics`: counts by rule instead of the findings, for the text formats;
    `out`: stdout unless given; `quiet`: no closing summary; `inventory`: the certificates the HTML
    page draws)."""
    from nginxssl.report import text

    out = out or sys.stdout
    summary = "" if quiet else summary or text.summarize(findings, sites, len(configs))
    if format is Format.json:
        from nginxssl.report import json as json_report

        json_report.render(findings, out, sites, configs, probe=probe)
    elif format is Format.sarif:
        from nginxssl.fix.plan import plan
        from nginxssl.report import sarif

        sarif.render(findings, out, planner=plan if with_fixes else None)
    elif format is Format.github:
        from nginxssl.report import github

        github.render(findings, out, summary)
    elif format is Format.html:
        from nginxssl.catalogue import catalogue
        from nginxssl.report import html

        assert inventory is not None  # the commands that offer html build it
        html.render(inventory, findings, catalogue(), out)
    elif statistics:
        text.render_statistics(findings, out)
        out.write(summary + "\n" if summary else "")
    else:
        colour = out is sys.stdout and out.isatty() and not no_color and "NO_COLOR" not in os.environ
        text.render(findings, out, colour, summary, concise=format is Format.concise)


def _project_settings(explicit: str | None, paths: list[str]) -> ProjectSettings:
    """The settings file that applies: --config, else the nearest one above the first path."""
    from nginxssl.settings import ProjectSettings, SettingsError, find_settings, load_settings

    path = explicit or (find_settings(paths[0]) if paths else None)
    if explicit and not os.path.isfile(explicit):
        raise _fail(f"--config {explicit}: no such file")
    if path is None:
        return ProjectSettings()
    try:
        return load_settings(path)
    except SettingsError as error:
        raise _fail(str(error)) from None


def _prepare(paths: list[str], project: ProjectSettings, *, server: Server | None, now: str | None, expiry_days: int | None,
             root: str | None, ca_file: list[str], no_system_trust: bool, intermediates: list[str], fetch: bool,
             require_keys: bool = False, server_version: str | None = None,
             ) -> tuple[Settings, list[Target], Loader, ChainAnalyser]:
    """What `sslint` and `sslint certs` share: the trust, time and path options (over the project's
    settings file) checked and turned into Settings, the targets, one loader, and one chain analyser
    whose trust store is already read. Every problem is a usage error (exit 2)."""
    settings, targets = _settings_and_targets(
        paths, project, server=server, now=now, expiry_days=expiry_days, root=root, ca_file=ca_file,
        no_system_trust=no_system_trust, intermediates=intermediates, fetch=fetch, require_keys=require_keys,
        server_version=server_version)
    return settings, targets, *_chain_tools(settings)


def _settings_and_targets(paths: list[str], project: ProjectSettings, *, server: Server | None, now: str | None,
                          expiry_days: int | None, root: str | None, ca_file: list[str], no_system_trust: bool,
                          intermediates: list[str], fetch: bool, require_keys: bool = False,
                          server_version: str | None = None) -> tuple[Settings, list[Target]]:
    """_prepare's options and targets, without reading a certificate (a cached run reads none)."""
    from nginxssl.discover import UsageError, discover
    from nginxssl.model.settings import Settings

    if expiry_days is None:
        expiry_days = project.expiry_days if project.expiry_days is not None else 30
    root = root if root is not None else project.root
    server = server or (Server(project.server) if project.server else None)
    ca_file = ca_file or list(project.ca_files)
    intermediates = intermediates or list(project.intermediates)
    if not no_system_trust and project.system_trust is False:
        no_system_trust = True
    if root is not None and not os.path.isdir(root):
        raise _fail(f"--root {root}: not a directory")
    for directory in intermediates:
        if not os.path.isdir(directory):
            raise _fail(f"--intermediates {directory}: not a directory")
    if no_system_trust and not ca_file:
        raise _fail("--no-system-trust needs at least one --ca-file to trust")
    if server_version is not None:
        from nginxssl.settings import server_version_problem

        problem = server_version_problem(server_version)
        if problem:
            raise _fail(f"--server-version {server_version!r}: {problem}")
    server_version = server_version if server_version is not None else project.server_version
    settings = Settings(now=_parse_now(now), expiry_days=expiry_days, root=root, ca_files=tuple(ca_file),
                        intermediates=tuple(intermediates), fetch=fetch, system_trust=not no_system_trust,
                        require_keys=require_keys, server_version=server_version)
    try:
        targets = [discover(path, server.value if server else None) for path in paths]
    except UsageError as error:
        raise _fail(str(error)) from None
    if root is None:
        from nginxssl.settings import mirrored_root

        for target in targets:
            mirror = mirrored_root(target.path)
            if mirror is not None:
                checkout, named = mirror
                raise _fail(f"{target.path} names {named}, which {checkout} holds a copy of: without --root, "
                            f"sslint would read this machine's {named} instead; did you mean "
                            f"`--root {os.path.relpath(checkout)}`? (or `root:` in .sslint.yaml)")
    return settings, targets


def _chain_tools(settings: Settings) -> tuple[Loader, ChainAnalyser]:
    """One loader, and one chain analyser whose trust store is already read (exit 2 for a bad --ca-file)."""
    from nginxssl.engine.lint import chain_analyser
    from nginxssl.pki.load import Loader
    from nginxssl.pki.trust import TrustStoreError

    loader = Loader()
    analyser = chain_analyser(settings, loader)
    try:
        analyser.trust  # read once, before any target: an absent --ca-file, or nothing trusted, is a usage error
    except TrustStoreError as error:
        raise _fail(f"--ca-file {error.path}: {error.message}") from None
    return loader, analyser


def _show_diff(results: list[Result], unsafe: bool) -> int:
    """Print every fix as one unified diff; exit 1 when there is something to fix."""
    from nginxssl.fix.run import show
    from nginxssl.model.edits import EditConflict

    text = ""
    for result in results:
        try:
            outcome = show(list(result.findings), unsafe)
        except EditConflict as error:
            raise _fail(f"cannot build the fix: {error}") from None
        text += outcome.diff
        for note in outcome.notes:  # what --fix would not do, and why (stderr: the diff stays a patch)
            typer.echo(f"sslint: {note}", err=True)
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    return 1 if text else 0


def _apply_fixes(results: list[Result], lint_one: LintOne, root: str | None, unsafe: bool,
                 validate: bool, show_fixes: bool = False) -> tuple[list[Result], list[Finding]]:
    """Fix each configuration; return the results of linting it again afterwards, and what was fixed."""
    from nginxssl.fix.apply import FixFailed
    from nginxssl.fix.run import fix, fixes_shown
    from nginxssl.model.edits import EditConflict

    after = []
    fixed: list[Finding] = []
    for result in results:
        def relint(target: Target = result.target) -> list[Finding]:
            return list(lint_one(target).findings)

        try:
            outcome = fix(list(result.findings), relint, result.config, root, unsafe, validate,
                          say=lambda text: typer.echo(f"sslint: {text}", err=True))
        except (FixFailed, EditConflict) as error:
            typer.echo(f"sslint: --fix changed nothing: {error}", err=True)
            after.append(result)
            continue
        for note in outcome.notes:
            typer.echo(f"sslint: {note}", err=True)
        if outcome.fixed:
            typer.echo(f"sslint: fixed {len(outcome.fixed)} finding{'s' if len(outcome.fixed) != 1 else ''} "
                       f"in {', '.join(outcome.files)}", err=True)
            if show_fixes:
                typer.echo(fixes_shown(outcome.fixed), err=True)
        fixed.extend(outcome.fixed)
        after.append(lint_one(result.target))
    return after, fixed


commands_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True)


@commands_app.command("rules")
def rules_command(
    markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown table (README.md carries this one).")] = False,
) -> None:
    """List every rule: id, name, default severity, what --fix does."""
    from nginxssl.catalogue import catalogue

    rules = catalogue()
    fixes = {"safe": "fix", "unsafe": "unsafe fix"}
    if markdown:
        typer.echo("| id | name | severity | --fix | what it finds |\n|---|---|---|---|---|")
        for rule in rules.values():
            summary = rule.summary.replace("|", "\\|")
            typer.echo(f"| {rule.id} | {rule.name} | {rule.severity} | {fixes.get(rule.fixable, '–')} | {summary} |")
        return
    width = max(len(rule.name) for rule in rules.values())
    for rule in rules.values():
        fixable = fixes.get(rule.fixable, "")
        typer.echo(f"{rule.id}  {rule.name:<{width}}  {rule.severity:<7}  {fixable:<10}  {rule.summary}".rstrip())


@commands_app.command("explain")
def explain_command(rule_id: Annotated[str, typer.Argument(help="A rule id such as SSL201.",
                                                           autocompletion=_rule_ids)]) -> None:
    """Print a rule's documentation: what it finds, why browsers or servers care, how to fix it."""
    from nginxssl.catalogue import catalogue

    rules = catalogue()
    rule = rules.get(rule_id.upper())
    if rule is None:
        raise _fail(f"no rule {rule_id!r}; `sslint rules` lists them")
    typer.echo(f"{rule.id} {rule.name} ({rule.severity}; {', '.join(rule.servers)})\n")
    typer.echo(rule.summary + "\n")
    if rule.why:
        typer.echo("Why it matters\n" + rule.why + "\n")
    if rule.fix:
        typer.echo("How to fix\n" + rule.fix)


@commands_app.command("certs")
def certs_command(
    paths: Annotated[list[str], typer.Argument(help="nginx/Apache config directories, main configs or site files.",
                                               show_default=False)],
    format: Annotated[CertFormat, typer.Option("--format", help="table for people, json for monitoring, csv for "
                                               "spreadsheets, nagios for a Nagios/Icinga check (exit 0-3), "
                                               "prometheus for node_exporter's textfile collector, html for one page that draws "
                                               "the expiry timeline and every site's chain.")
                      ] = CertFormat.table,
    warning_days: Annotated[Optional[int], typer.Option("--warning-days", "--expiry-days", min=0, show_default=False,
                                                        help="Warn this many days before expiry [default: 30].")
                            ] = None,
    critical_days: Annotated[Optional[int], typer.Option("--critical-days", min=0, show_default=False,
                                                         help="Critical this many days before expiry (nagios, "
                                                         "prometheus, colour) [default: 7].")] = None,
    output_file: OutputFileOption = None,
    now: NowOption = None,
    server: ServerOption = None,
    root: RootOption = None,
    ca_file: CaFileOption = [],
    no_system_trust: NoSystemTrustOption = False,
    intermediates: IntermediatesOption = [],
    fetch: FetchOption = False,
    config: ConfigOption = None,
    no_color: NoColorOption = False,
) -> None:
    """Every certificate file the configuration serves, once: names, issuer, key, expiry, chain and the
    sites using it. Exit 1 when one has expired or expires within --warning-days (a cron check); with
    --format nagios, the monitoring plugin's codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    from nginxssl.report import certs as report

    try:
        project = _project_settings(config, paths)
        warning, critical = _expiry_thresholds(warning_days, critical_days, project)
        _writable(output_file)
        settings, targets, loader, analyser = _prepare(
            paths, project, server=server, now=now, expiry_days=warning, root=root, ca_file=ca_file,
            no_system_trust=no_system_trust, intermediates=intermediates, fetch=fetch)
    except typer.Exit as stop:
        if format is CertFormat.nagios and stop.exit_code == 2:  # the plugin guidelines' UNKNOWN
            typer.echo("SSLINT UNKNOWN - invalid arguments or configuration (see stderr)")
            raise typer.Exit(report.UNKNOWN) from None
        raise
    from nginxssl.engine.lint import trust_findings

    for skipped in trust_findings(analyser.trust, ("SSL003",)):  # the inventory has no findings: stderr
        typer.echo(f"sslint: {skipped.file}:{skipped.line}: {skipped.message}", err=True)
    inventory = _inventory(targets, settings, loader, analyser, critical, quietly=False)

    code = 1 if inventory.expiring else 0
    with _output(output_file) as out:
        if format is CertFormat.json:
            report.render_json(inventory, out)
        elif format is CertFormat.csv:
            report.render_csv(inventory, out)
        elif format is CertFormat.nagios:
            code = report.render_nagios(inventory, out)
        elif format is CertFormat.prometheus:
            report.render_prometheus(inventory, out)
        elif format is CertFormat.html:
            from nginxssl.catalogue import catalogue
            from nginxssl.report import html

            html.render(inventory, _findings(project, settings, targets, loader, analyser), catalogue(), out)
        else:
            colour = out is sys.stdout and out.isatty() and not no_color and "NO_COLOR" not in os.environ
            report.render_table(inventory, out, colour)
    raise typer.Exit(code)


def _inventory(targets: list[Target], settings: Settings, loader: Loader, analyser: ChainAnalyser,
               critical: int | None = None, quietly: bool = True, results: list[Result] | None = None) -> Inventory:
    """The certificate inventory of the targets (`critical`: --critical-days, by default 7 or the
    warning days if fewer); unless `quietly`, what could not be parsed is said on stderr (the
    inventory lists what could be read; the lint says the rest). `results`: the lint of the same
    targets, whose configurations and sites are taken as they are (the HTML page)."""
    from nginxssl.engine.inventory import Analysed, build
    from nginxssl.engine.lint import load, parse
    from nginxssl.sites import sites_of

    analysed = []
    if results is not None:
        trees = [(result.target, result.config, result.sites) for result in results]
    else:
        trees = [(target, parsed, sites_of(parsed)) for target in targets for parsed in [parse(target, settings.root)]]
    for target, parsed, sites in trees:
        for error in parsed.errors if not quietly else ():
            typer.echo(f"sslint: {error.file}:{error.line}: {error.message} (`sslint {target.path}` "
                       "reports it as SSL001)", err=True)
        material, _passwords = load(sites, loader)
        chains = analyser.analyse(sites, material, parsed.prefix)
        analysed.append(Analysed(parsed.main, parsed.prefix, sites, material, chains))
    critical = critical if critical is not None else min(7, settings.expiry_days)
    return build(analysed, settings.now, settings.expiry_days, analyser.shown, critical)


def _findings(project: ProjectSettings, settings: Settings, targets: list[Target], loader: Loader,
              analyser: ChainAnalyser) -> list[Finding]:
    """What `sslint PATH` would report, with the project's rule selection: the HTML page of
    `sslint certs` shows the findings too."""
    from nginxssl.catalogue import CatalogueError, catalogue
    from nginxssl.engine.lint import lint, lint_each_tree_once, trust_findings

    try:
        selected = _select(catalogue(), list(project.select), list(project.ignore))
    except CatalogueError as error:
        raise _fail(str(error)) from None
    results = lint_each_tree_once(targets, lambda target: lint(
        target, settings, selected, project.severity, loader=loader, analyser=analyser,
        ignored_at=project.ignored_at))
    return [*trust_findings(analyser.trust, selected, project.severity),
            *(finding for result in results for finding in result.findings)]


@commands_app.command("probe")
def probe_command(
    endpoint: Annotated[str, typer.Argument(metavar="HOST[:PORT]", show_default=False,
                                            help="The live endpoint: a name or an address; port 443 unless given.")],
    path: Annotated[str, typer.Argument(metavar="PATH", show_default=False,
                                        help="The nginx/Apache configuration that should be serving it.")],
    servername: Annotated[Optional[str], typer.Option("--servername", help="The name sent in SNI [default: HOST "
                                                      "when it is a name; none for an address].")] = None,
    format: Annotated[Format, typer.Option("--format", help="Report format.")] = Format.text,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=10.0, help="Seconds for resolving, "
                                           "connecting and the TLS handshake together.")] = 10.0,
    fail_on: FailOnOption = None,
    warning_days: Annotated[Optional[int], typer.Option("--warning-days", "--expiry-days", min=0, show_default=False,
                                                        help="Warn this many days before the live certificate "
                                                        "expires [default: 30].")] = None,
    critical_days: Annotated[Optional[int], typer.Option("--critical-days", min=0, show_default=False,
                                                         help="Critical this many days before it expires "
                                                         "[default: 7].")] = None,
    now: NowOption = None,
    ca_file: CaFileOption = [],
    no_system_trust: NoSystemTrustOption = False,
    server: ServerOption = None,
    root: RootOption = None,
    config: ConfigOption = None,
    no_color: NoColorOption = False,
) -> None:
    """Compare the certificate a live endpoint serves with the one the configuration names for it (SSL601),
    and judge the live endpoint itself: its certificate's expiry (the thresholds of `sslint certs`) and
    whether the chain it sends verifies against the trust store. One TLS handshake, to HOST only. Exit 0
    ok; 1 the served certificate differs (at --fail-on) or the live one expires within --warning-days;
    2 critical (expired, not yet valid, within --critical-days, or a chain that does not verify), or the
    endpoint cannot be reached, or a usage error."""
    from nginxssl.catalogue import CatalogueError, at_or_above, catalogue
    from nginxssl.checks.live import endpoint_text, live_health
    from nginxssl.engine.lint import parse
    from nginxssl.engine.lint import lint as run
    from nginxssl.engine.probe import ProbeError, parse_endpoint, probe
    from nginxssl.model.inventory import CRITICAL, WARNING
    from nginxssl.pki.chain import describe
    from nginxssl.sites import sites_of
    from nginxssl.sites.routing import answers_on, choose_site, tls_ports

    if format is Format.html:
        raise _fail("--format html draws a configuration's certificates: use `sslint PATH --format html` "
                    "or `sslint certs PATH --format html`")
    try:
        wanted = parse_endpoint(endpoint, servername)
        catalogue()
    except ProbeError as error:
        raise _fail(error.message) from None
    except CatalogueError as error:
        raise _fail(str(error)) from None
    project = _project_settings(config, [path])
    warning, critical = _expiry_thresholds(warning_days, critical_days, project)
    settings, targets, loader, analyser = _prepare(
        [path], project, server=server, now=now, expiry_days=warning, root=root, ca_file=ca_file,
        no_system_trust=no_system_trust, intermediates=[], fetch=False)
    parsed = parse(targets[0], settings.root)
    sites = sites_of(parsed)
    if not answers_on(sites, wanted.port):  # decided before any connection: the config cannot describe it
        ports = tls_ports(sites)
        elsewhere = f"it speaks TLS on port {', '.join(map(str, ports))}" if ports else "it names no TLS site at all"
        raise _fail(f"{parsed.main} does not describe {wanted.shown}: no site speaks TLS on port {wanted.port} "
                    f"({elsewhere})")
    try:
        live = probe(wanted, timeout)
    except ProbeError as error:
        raise _fail(error.message) from None
    result = run(targets[0], settings, ("SSL601",), project.severity, loader=loader, analyser=analyser,
                 ignored_at=project.ignored_at, probe=live)
    choice = choose_site(result.sites, live)
    if choice.site is None:  # the same configuration, parsed twice: only if it changed in between
        raise _fail(f"{result.config.main} does not describe {wanted.shown}: {choice.reason}")
    from nginxssl.engine.inventory import sent_rows

    rows = sent_rows(live.chain, settings.now, settings.expiry_days)
    health = live_health(live, rows[0], analyser.trust, settings.now, warning, critical)
    answered = f"answered by {choice.described}, chosen by {choice.reason}"
    if result.findings:
        summary = f"{endpoint_text(live)} ({live.protocol or 'TLS'}): {answered}"
    else:
        summary = (f"{endpoint_text(live)} ({live.protocol or 'TLS'}) serves what the configuration names, "
                   f"{describe(live.leaf)}: {answered}")
    if health.alarms:  # no rule names a live problem: the verdict is the probe's own (checks/live.py)
        summary += "".join(f"\nlive {grade.upper()}: {alarm}" for grade, alarm in health.alarms)
    if format is not Format.text:
        typer.echo(f"sslint: {summary}", err=True)
    seen = None
    if format is Format.json:
        from nginxssl.report.json import probe_dict

        seen = probe_dict(live, choice, rows, verdict=health.verdict, expiry=health.expiry,
                          verified=health.verified, verify_error=health.verify_error,
                          alarms=[{"verdict": grade, "message": alarm} for grade, alarm in health.alarms])
    _report(format, list(result.findings), len(result.sites), [result.config.main], no_color, summary=summary,
            probe=seen)
    threshold = fail_on.value if fail_on else project.fail_on or "warning"
    if health.verdict == CRITICAL:
        raise typer.Exit(2)
    differs = any(at_or_above(finding.severity, threshold) for finding in result.findings)
    raise typer.Exit(1 if differs or health.verdict == WARNING else 0)


def main(argv: list[str] | None = None) -> None:
    # A run allocates hundreds of thousands of long-lived objects (nodes, sites, certificates,
    # findings) and almost no cycles; the collector's default thresholds rescanned them all
    # over and over, 1.2-2 s of a 5,000-site run, and a threshold of 100,000 still 0.13-0.2 s
    # (a few collections, each of every young object). A million: none on that tree, the same peak
    # memory (the run makes next to no cyclic garbage), and still a collector on larger ones.
    gc.set_threshold(1_000_000, 50, 100)
    # A library's notice about what it reads ("DSA is deprecated", a serial number that is not
    # positive) is no report line: the rules judge those keys and certificates (SSL502, SSL003).
    # By its text: importing cryptography here would cost `sslint --help` 25 ms.
    warnings.filterwarnings("ignore", message=r"(?s).*(deprecated and support will be removed|Parsed a serial number)")
    # File names are bytes: one that is not UTF-8 reaches a report as surrogate escapes, which a
    # strict UTF-8 stdout (any UTF-8 locale but C.UTF-8) refuses with a traceback. Write them as
    # \udcXX escapes instead: the text stays one line, JSON stays valid UTF-8. (--diff writes bytes.)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = list(sys.argv[1:] if argv is None else argv)
    # Shell completion runs `sslint` with no arguments and the words typed in COMP_WORDS (bash) or
    # _TYPER_COMPLETE_ARGS (zsh, fish): the command they start with decides which app completes.
    typed = (os.environ.get("COMP_WORDS") or os.environ.get("_TYPER_COMPLETE_ARGS") or "").split()
    if not args and os.environ.get("_SSLINT_COMPLETE") and len(typed) > 1 and typed[1] in SUBCOMMANDS:
        from typer.completion import completion_init

        completion_init()  # typer registers its shells for the app that offers --install-completion only
        args = [typed[1]]
    if args and args[0] in SUBCOMMANDS:
        app = typer.main.get_command(commands_app)
    else:
        app = typer.main.get_command(lint_app)
    try:
        app.main(args=args, prog_name="sslint")
    except SystemExit as done:
        if argv is not None or not (done.code is None or isinstance(done.code, int)):
            raise
        _leave(done.code or 0)


def _leave(code: int) -> None:
    """End the `sslint` process now that everything is written: tearing down the objects
    of a large run one by one (the interpreter's exit) took 0.3-0.5 s of a 5,000-site run,
    for nothing. Nothing runs at exit: every file is written and closed, every child
    process waited for, before the report is printed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`): its loss, not an error
            pass
    os._exit(code)
