"""The command line: argument parsing and wiring only.

`sslint PATH...` lints; `sslint rules`, `sslint explain ID` are subcommands.
A path that happens to be called `rules` is linted when written as a path
(`sslint ./rules`): only a bare first word that names a subcommand dispatches.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Optional

import typer

from nginxssl import __version__

SUBCOMMANDS = ("rules", "explain")


class Format(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


class Level(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


class Server(str, Enum):
    nginx = "nginx"
    apache = "apache"


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


def _select(rules: dict, select: list[str], ignore: list[str]) -> tuple[str, ...]:
    for word in [*select, *ignore]:
        if not any(rule_id.startswith(word.upper()) for rule_id in rules):
            raise _fail(f"{word!r} matches no rule id (see `sslint rules`)")
    chosen = [rule_id for rule_id in rules if not select or any(rule_id.startswith(w.upper()) for w in select)]
    return tuple(rule_id for rule_id in chosen if not any(rule_id.startswith(w.upper()) for w in ignore))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sslint {__version__}")
        raise typer.Exit(0)


lint_app = typer.Typer(add_completion=False, rich_markup_mode=None)


@lint_app.command(
    epilog="Other commands: `sslint rules` lists the rules, `sslint explain ID` documents one.",
)
def lint(
    paths: Annotated[list[str], typer.Argument(help="nginx/Apache config directories, main configs or site files.",
                                               show_default=False)],
    format: Annotated[Format, typer.Option("--format", help="Report format.")] = Format.text,
    select: Annotated[list[str], typer.Option("--select", help="Only these rule ids or prefixes (repeatable).")] = [],
    ignore: Annotated[list[str], typer.Option("--ignore", help="Skip these rule ids or prefixes (repeatable).")] = [],
    fail_on: Annotated[Level, typer.Option("--fail-on", help="Lowest severity that makes the exit code 1.")] = Level.warning,
    server: Annotated[Optional[Server], typer.Option("--server", help="Force the server type.")] = None,
    now: Annotated[Optional[str], typer.Option("--now", help="Judge validity at this ISO 8601 time.")] = None,
    expiry_days: Annotated[int, typer.Option("--expiry-days", min=0, help="Warn this many days before expiry.")] = 30,
    root: Annotated[Optional[str], typer.Option("--root", help="Map absolute config paths under this directory.")] = None,
    ca_file: Annotated[list[str], typer.Option("--ca-file", help="Also trust the CA certificates in this PEM file "
                                               "(repeatable; e.g. an internal CA).")] = [],
    no_system_trust: Annotated[bool, typer.Option("--no-system-trust", help="Trust only the --ca-file "
                                                  "certificates, not the system's bundle.")] = False,
    intermediates: Annotated[list[str], typer.Option("--intermediates", help="A directory of intermediate "
                                                     "certificates used to complete chains (repeatable).")] = [],
    fetch: Annotated[bool, typer.Option("--fetch", help="Download missing intermediates from their AIA "
                                        "caIssuers URL (http; the only network use).")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Never colour the text report.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print the unified diff of every fix; change nothing.")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the fixes atomically, validate with the server, "
                                      "restore everything if that fails.")] = False,
    unsafe_fixes: Annotated[bool, typer.Option("--unsafe-fixes", help="Also fixes that can change behaviour "
                                               "for old clients.")] = False,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="With --fix: skip `nginx -t` / `apache2 -t`.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Lint nginx or Apache TLS configuration: every reason a browser would say "untrusted"."""
    import os

    from nginxssl.catalogue import CatalogueError, catalogue
    from nginxssl.checks import Settings
    from nginxssl.discover import UsageError, discover
    from nginxssl.lint import at_or_above, chain_analyser, lint as run
    from nginxssl.pki.load import Loader
    from nginxssl.pki.trust import TrustStoreError

    try:
        rules = catalogue()
    except CatalogueError as error:
        raise _fail(str(error)) from None
    if root is not None and not os.path.isdir(root):
        raise _fail(f"--root {root}: not a directory")
    selected = _select(rules, select, ignore)
    for directory in intermediates:
        if not os.path.isdir(directory):
            raise _fail(f"--intermediates {directory}: not a directory")
    if no_system_trust and not ca_file:
        raise _fail("--no-system-trust needs at least one --ca-file to trust")
    settings = Settings(now=_parse_now(now), expiry_days=expiry_days, root=root, ca_files=tuple(ca_file),
                        intermediates=tuple(intermediates), fetch=fetch, system_trust=not no_system_trust)
    try:
        targets = [discover(path, server.value if server else None) for path in paths]
    except UsageError as error:
        raise _fail(str(error)) from None

    if diff and fix:
        raise _fail("--diff shows the fixes and --fix applies them: choose one")
    loader = Loader()
    analyser = chain_analyser(settings, loader)
    try:
        analyser.trust  # read once, before any target: a bad --ca-file is a usage error
    except TrustStoreError as error:
        raise _fail(f"--ca-file {error.path}: {error.message}") from None
    results = [run(target, settings, selected, loader=loader, analyser=analyser) for target in targets]
    if diff:
        raise typer.Exit(_show_diff(results, unsafe_fixes))
    findings = [finding for result in results for finding in result.findings]
    remaining = findings
    if fix:
        # The report shows what was found before fixing; the exit code what is left after.
        after = _apply_fixes(results, settings, selected, unsafe_fixes, not no_validate, loader)
        remaining = [finding for result in after for finding in result.findings]
    sites = sum(len(result.sites) for result in results)

    if format is Format.json:
        from nginxssl.report import json as report

        report.render(findings, sys.stdout, sites, [result.config.main for result in results])
    elif format is Format.sarif:
        from nginxssl.report import sarif as report

        report.render(findings, sys.stdout, with_fixes=not fix)
    elif format is Format.github:
        from nginxssl.report import github, text

        github.render(findings, sys.stdout, text.summarize(findings, sites, len(results)))
    else:
        from nginxssl.report import text as report

        colour = sys.stdout.isatty() and not no_color and "NO_COLOR" not in os.environ
        report.render(findings, sys.stdout, colour, report.summarize(findings, sites, len(results)))
    failing = any(at_or_above(finding.severity, fail_on.value) for finding in remaining)
    raise typer.Exit(1 if failing else 0)


def _show_diff(results, unsafe: bool) -> int:
    """Print every fix as one unified diff; exit 1 when there is something to fix."""
    from nginxssl.fix.plan import EditConflict
    from nginxssl.fix.run import show

    text = ""
    for result in results:
        try:
            text += show(list(result.findings), unsafe).diff
        except EditConflict as error:
            raise _fail(f"cannot build the fix: {error}") from None
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    return 1 if text else 0


def _apply_fixes(results, settings, selected, unsafe: bool, validate: bool, loader):
    """Fix each configuration; return the results of linting it again afterwards."""
    from nginxssl.fix.apply import FixFailed
    from nginxssl.fix.plan import EditConflict
    from nginxssl.fix.run import fix
    from nginxssl.lint import lint as run

    after = []
    for result in results:
        def relint(target=result.target):
            return list(run(target, settings, selected, loader=loader).findings)

        try:
            outcome = fix(list(result.findings), relint, result.config, settings.root, unsafe, validate)
        except (FixFailed, EditConflict) as error:
            typer.echo(f"sslint: --fix changed nothing: {error}", err=True)
            after.append(result)
            continue
        for note in outcome.notes:
            typer.echo(f"sslint: {note}", err=True)
        if outcome.fixed:
            typer.echo(f"sslint: fixed {len(outcome.fixed)} finding{'s' if len(outcome.fixed) != 1 else ''} "
                       f"in {', '.join(outcome.files)}", err=True)
        after.append(run(result.target, settings, selected, loader=loader))
    return after


commands_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True)


@commands_app.command("rules")
def rules_command() -> None:
    """List every rule: id, name, default severity, what --fix does."""
    from nginxssl.catalogue import catalogue

    rules = catalogue()
    width = max(len(rule.name) for rule in rules.values())
    for rule in rules.values():
        fixable = {"safe": "fix", "unsafe": "unsafe fix"}.get(rule.fixable, "")
        typer.echo(f"{rule.id}  {rule.name:<{width}}  {rule.severity:<7}  {fixable:<10}  {rule.summary}".rstrip())


@commands_app.command("explain")
def explain_command(rule_id: Annotated[str, typer.Argument(help="A rule id such as SSL201.")]) -> None:
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


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        app = typer.main.get_command(commands_app)
    else:
        app = typer.main.get_command(lint_app)
    app.main(args=args, prog_name="sslint")
