"""The fixer: collect the edits findings carry, show or apply them, re-lint until nothing changes.

It never re-decides what is wrong: it applies the edits the checks attached.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from nginxssl.checks import Finding
from nginxssl.checks.edits import Edit
from nginxssl.fix.apply import Validation, apply, server_binary
from nginxssl.fix.diff import render
from nginxssl.fix.plan import EditConflict, FilePlan, plan
from nginxssl.parse.node import Config

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
        for edit in finding.fix.edits:
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


def show(findings: list[Finding], unsafe: bool) -> Outcome:
    chosen = fixable(findings, unsafe)
    plans = plan(edits_of(chosen))
    return Outcome(diff=render(plans), fixed=chosen, files=sorted(plans))


def fix(findings: list[Finding], relint: Callable[[], list[Finding]], config: Config, root: str | None,
        unsafe: bool, validate: bool) -> Outcome:
    """Apply, re-lint, apply what the new lint fixes, at most MAX_ROUNDS times; validate each round."""
    validation, note = validation_for(config, root) if validate else (None, "not validated (--no-validate)")
    outcome = Outcome(notes=[note] if note else [])
    seen_states: set[str] = set()
    current = findings
    diffs = []
    for _ in range(MAX_ROUNDS):
        chosen = fixable(current, unsafe)
        if not chosen:
            break
        try:
            plans = plan(edits_of(chosen))
        except EditConflict as error:
            if not outcome.fixed:
                raise
            outcome.notes.append(f"stopped after {len(outcome.fixed)} fixes: {error}")
            break
        state = _fingerprint(plans)
        if state in seen_states:
            outcome.notes.append("stopped: the fixes undo each other")
            break
        seen_states.add(state)
        diffs.append(render(plans))
        apply(plans, validation)
        outcome.fixed.extend(chosen)
        outcome.files.extend(path for path in sorted(plans) if path not in outcome.files)
        current = relint()
    outcome.diff = "".join(diffs)
    return outcome

