"""The fixer: collect the edits findings carry, show or apply them, re-lint until nothing changes.

It never re-decides what is wrong: it applies the edits the checks attached.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from nginxssl.fix import fullchain
from nginxssl.fix.apply import FixFailed, Validation, apply, remove_stale_temporaries, run_validation, server_binary
from nginxssl.fix.diff import render
from nginxssl.fix.plan import plan
from nginxssl.model.edits import Edit, EditConflict, ExpectChain, FilePlan, NewFile
from nginxssl.model.finding import Finding
from nginxssl.model.node import Config

MAX_ROUNDS = 3


@dataclass
class Outcome:
    diff: str = ""
    fixed: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # written or created
    notes: list[str] = field(default_factory=list)


def fixable(findings: Iterable[Finding], unsafe: bool) -> list[Finding]:
    return [f for f in findings if f.fix is not None and f.fix.edits and (f.fix.safe or unsafe)]


def edits_of(findings: Iterable[Finding]) -> list[Edit]:
    seen: dict[Edit, None] = {}
    for finding in findings:
        for edit in finding.fix.edits if finding.fix is not None else ():
            seen.setdefault(edit, None)
    return list(seen)


def validation_for(config: Config, root: str | None) -> tuple[Validation | None, str]:
    """The server's own check of the whole configuration, or why there is none."""
    if root is not None:
        return None, "not validated: with --root the configuration names paths of another machine"
    binary = server_binary(config.server)
    if binary is None:
        return None, f"not validated: no {config.server} binary on this machine"
    main = config.main
    if config.fragment:
        candidate = os.path.join(config.prefix, "nginx.conf" if config.server == "nginx" else "apache2.conf")
        if not os.path.isfile(candidate):
            return None, "not validated: a lone site file has no main configuration to test with"
        main = candidate
    main = os.path.abspath(main)
    if config.server == "nginx":
        return Validation((binary, "-t", "-q", "-c", main)), ""
    env = {**os.environ, **{k: v for k, v in config.variables.items() if k.startswith("APACHE_")}}
    return Validation((binary, "-t", "-d", os.path.abspath(config.prefix), "-f", main), env), ""


def _fingerprint(plans: dict[str, FilePlan]) -> str:
    digest = hashlib.sha256()
    for path in sorted(plans):
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0" + plans[path].new)
    return digest.hexdigest()


def left_to_you(findings: Iterable[Finding]) -> list[str]:
    """The fixes that carry no edits (sslint cannot or will not make them), one line each."""
    return [f"{finding.file}:{finding.line}: {finding.rule} not fixed automatically: {finding.fix.description}"
            for finding in findings if finding.fix is not None and not finding.fix.edits]


def planned(chosen: list[Finding]) -> tuple[list[Finding], dict[str, FilePlan], list[str]]:
    """Plan the edits; drop every finding whose promised chain (ExpectChain) does not hold
    on the planned bytes, and say why. Raises EditConflict like plan()."""
    notes: list[str] = []
    while True:
        edits = edits_of(chosen)
        plans = plan(edits)
        problems = fullchain.check([edit for edit in edits if isinstance(edit, ExpectChain)], plans)
        if not problems:
            return chosen, plans, notes
        kept = []
        for finding in chosen:
            broken = [problems[edit] for edit in (finding.fix.edits if finding.fix is not None else ()) if edit in problems]
            if broken:
                notes.append(f"{finding.file}:{finding.line}: {finding.rule} not fixed: the chain it would "
                             f"serve is wrong ({broken[0]}); nothing was written for it")
            else:
                kept.append(finding)
        chosen = kept


def show(findings: list[Finding], unsafe: bool) -> Outcome:
    chosen, plans, notes = planned(fixable(findings, unsafe))
    return Outcome(diff=render(plans), fixed=chosen, files=sorted(plans), notes=left_to_you(findings) + notes)


def fix(findings: list[Finding], relint: Callable[[], list[Finding]], config: Config, root: str | None,
        unsafe: bool, validate: bool) -> Outcome:
    """Apply, re-lint, apply what the new lint fixes, at most MAX_ROUNDS times; validate each round."""
    # A killed run's temporaries go even when this run has nothing to write (httpd reads every
    # file of an included directory, dot files too).
    remove_stale_temporaries([*config.files, *(edit.path for finding in findings if finding.fix is not None
                                               for edit in finding.fix.edits if isinstance(edit, NewFile))])
    validation, note = validation_for(config, root) if validate else (None, "not validated (--no-validate)")
    outcome = Outcome(notes=([note] if note else []) + left_to_you(findings))
    seen_states: set[str] = set()
    current = findings
    diffs = []
    for _ in range(MAX_ROUNDS):
        chosen = fixable(current, unsafe)
        if not chosen:
            break
        try:
            chosen, plans, refused = planned(chosen)
        except EditConflict as error:
            if not outcome.fixed:
                raise
            outcome.notes.append(f"stopped after {len(outcome.fixed)} fixes: {error}")
            break
        outcome.notes.extend(note for note in refused if note not in outcome.notes)
        if not chosen:
            break
        state = _fingerprint(plans)
        if state in seen_states:
            outcome.notes.append("stopped: the fixes undo each other")
            break
        seen_states.add(state)
        diffs.append(render(plans))
        try:
            apply(plans, validation)
        except FixFailed as error:
            if validation is not None and not run_validation(validation)[0]:
                # Restored, and the server still refuses: the tree was broken before sslint touched it.
                raise FixFailed(f"{error}\nThe configuration fails this check as it was, before any fix, so the "
                                "server cannot judge the fixes: repair what it names first, or run "
                                "--fix --no-validate") from None
            raise
        outcome.fixed.extend(chosen)
        outcome.files.extend(path for path in sorted(plans) if path not in outcome.files)
        current = relint()
    outcome.diff = "".join(diffs)
    return outcome

