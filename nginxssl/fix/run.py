"""The fixer: collect the edits findings carry, show or apply them, re-lint until nothing changes.

It never re-decides what is wrong: it applies the edits the checks attached.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from nginxssl.fix import fullchain
from nginxssl.fix.apply import (
    FixFailed,
    Loaded,
    Validation,
    apply,
    loaded_directories,
    remove_stale_temporaries,
    run_validation,
    server_binary,
    tree_lock,
)
from nginxssl.fix.plan import plan, variable_rewrites
from nginxssl.model.edits import DeleteLine, Edit, EditConflict, ExpectChain, FilePlan, InsertLine, NewFile, ReplaceArgs
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
    # Never an edit whose meaning depends on where the line is used (a <Macro> body, a variable).
    rewrites = variable_rewrites(edits_of(chosen))
    if rewrites:
        kept = []
        for finding in chosen:
            reasons = [rewrites[edit] for edit in finding.fix.edits if edit in rewrites] if finding.fix else []
            if reasons:
                notes.append(f"{finding.file}:{finding.line}: {finding.rule} not fixed: {reasons[0]}; edit it by hand")
            else:
                kept.append(finding)
        chosen = kept
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
    from nginxssl.fix.diff import render  # here: unidiff, which a lint without --diff or --fix never needs

    return Outcome(diff=render(plans), fixed=chosen, files=sorted(plans), notes=left_to_you(findings) + notes)


def tree_directory(config: Config) -> str:
    """The directory whose lock stands for the whole tree: the main configuration's."""
    return os.path.dirname(os.path.abspath(config.main)) or "."


def loaded_by(config: Config) -> Loaded:
    return loaded_directories(list(config.files), config.server)


def fix(findings: list[Finding], relint: Callable[[], list[Finding]], config: Config, root: str | None,
        unsafe: bool, validate: bool, say: Callable[[str], None] = lambda _text: None) -> Outcome:
    """fix_unlocked() holding the tree's lock: one --fix at a time (a second one waits, and says so)."""
    with tree_lock(tree_directory(config), say) as waited:
        if waited:  # the other run fixed the tree meanwhile: judge it as it is now
            findings = relint()
        return fix_unlocked(findings, relint, config, root, unsafe, validate)


def fix_unlocked(findings: list[Finding], relint: Callable[[], list[Finding]], config: Config, root: str | None,
                 unsafe: bool, validate: bool) -> Outcome:
    """Apply, re-lint, apply what the new lint fixes, at most MAX_ROUNDS times; validate each round.

    A round the server refuses is undone, and the server judges the restored tree: when it refused
    that too, the tree was broken before sslint touched it (a fix may repair what made it fail --
    a swapped key, a chain in the wrong order -- so the check before is no reason to refuse on
    its own); otherwise the fix broke it, and the message names the edits."""
    from nginxssl.fix.diff import render

    # A killed run's temporaries go even when this run has nothing to write (httpd reads every
    # file of an included directory, dot files too).
    loaded = loaded_by(config)
    remove_stale_temporaries([*config.files, *(edit.path for finding in findings if finding.fix is not None
                                               for edit in finding.fix.edits if isinstance(edit, NewFile))], loaded)
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
        try:
            apply(plans, validation, loaded)
        except FixFailed as error:
            failure = error
            if validation is not None and error.rejected is not None:
                # Restored byte for byte: the server now judges the tree as it was before this round.
                passed_before, before = run_validation(validation)
                if passed_before:
                    failure = FixFailed(_made_it_fail(validation, error.rejected, chosen), error.rejected)
                else:
                    failure = FixFailed(_already_failing(validation, before, error.rejected), before)
            if not outcome.fixed:
                raise failure from None
            outcome.notes.append(f"stopped after {len(outcome.fixed)} fixes (those stay): {failure}")
            break
        diffs.append(render(plans))
        outcome.fixed.extend(chosen)
        outcome.files.extend(path for path in sorted(plans) if path not in outcome.files)
        current = relint()
    outcome.diff = "".join(diffs)
    return outcome


def _indented(output: str) -> str:
    return "\n".join(f"    {line}" for line in (output or "(no output)").splitlines())


def _already_failing(validation: Validation, before: str, after: str) -> str:
    command = " ".join(validation.command)
    also = "" if after.strip() == before.strip() else f"\nand with the fixes:\n{_indented(after)}"
    return (f"the configuration fails `{command}` as it is, before any fix; the server says:\n"
            f"{_indented(before)}{also}\nWhile the server refuses the tree it cannot judge sslint's fixes, so every "
            "file was restored: repair what it names first, or run --fix --no-validate to fix without its check.")


def _made_it_fail(validation: Validation, output: str, chosen: list[Finding]) -> str:
    """The server passed the tree before this round and refuses it after: name the fixes whose
    edits touch the file the server names (every fix of the round when it names none)."""
    command = " ".join(validation.command)
    named = [finding for finding in chosen if any(_mentions(output, path) for path in _edited_files(finding))]
    culprits = named or chosen
    which = "the fix that touches the file it names" if named else "the fixes of this round"
    lines = [f"{finding.file}:{finding.line}: {finding.rule} {finding.fix.description if finding.fix else ''}"
             for finding in culprits]
    return (f"the fixes made `{command}` fail (it passed before them), so every file was restored; "
            f"the server says:\n{_indented(output)}\n{which.capitalize()}:\n" + "\n".join(f"    {line}" for line in lines))


def _edited_files(finding: Finding) -> set[str]:
    files = set()
    for edit in finding.fix.edits if finding.fix is not None else ():
        if isinstance(edit, NewFile):
            files.add(edit.path)
        elif not isinstance(edit, ExpectChain):
            files.add(edit.file)
    return files


def _mentions(output: str, path: str) -> bool:
    return any(form in output for form in {path, os.path.abspath(path), os.path.realpath(path)})


def fixes_shown(fixed: list[Finding]) -> str:
    """--show-fixes: each fixed finding, then every edit it made, one line each."""
    lines = [f"Fixed {len(fixed)} finding{'s' if len(fixed) != 1 else ''}:"]
    for finding in fixed:
        lines.append(f"  {finding.file}:{finding.line}: {finding.rule} {finding.fix.description if finding.fix else ''}")
        for edit in finding.fix.edits if finding.fix is not None else ():
            shown = _edit_shown(edit)
            if shown:
                lines.append(f"      {shown}")
    return "\n".join(lines)


def _edit_shown(edit: Edit) -> str:
    if isinstance(edit, NewFile):
        return f"wrote {edit.path}"
    if isinstance(edit, ReplaceArgs):
        return f"{edit.file}:{edit.line}: {edit.directive} now names {' '.join(edit.args)}"
    if isinstance(edit, InsertLine):
        return f"{edit.file}:{edit.line}: inserted `{edit.text}`"
    if isinstance(edit, DeleteLine):
        return f"{edit.file}:{edit.line}: deleted {edit.directive}"
    return ""  # ExpectChain: a promise checked before writing, not an edit
