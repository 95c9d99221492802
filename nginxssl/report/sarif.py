"""SARIF 2.1.0: one log with one run, rule metadata from the catalogue, fixes from the findings' edits.

Code-scanning services (GitHub, GitLab, Azure DevOps) and editors read it. Paths
under the repository root ($GITHUB_WORKSPACE in a workflow, else the git checkout
around the working directory, else the working directory) become relative URIs
against %SRCROOT%, others absolute file URIs: GitHub matches alerts to files by
their path in the repository, wherever sslint ran. Each result carries a
fingerprint of what it is about (rule, file, the flagged line's text, the names),
not where: an alert survives lines added above it, as GitHub's "SARIF support for
code scanning" asks of partialFingerprints; rules carry help, helpUri, tags and
security-severity, which GitHub shows and sorts alerts by. A finding whose fix carries edits gets a SARIF `fix`: the
same edits the fixer would apply (nginxssl.fix.plan), expressed as replacements
of whole original lines, so a consumer applying them gets what `--fix` writes.
Nothing but findings and the config text of those edits goes into the log:
new files are fullchain bundles (certificates only), and a fix whose content
holds a private key is left out rather than risked.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import os
import re
from importlib import metadata
from typing import Callable, Iterable, TextIO
from urllib.parse import quote

from nginxssl import __version__
from nginxssl.catalogue import Rule, catalogue
from nginxssl.model.edits import Change, Edit, EditConflict, FilePlan, config_lines
from nginxssl.model.finding import Finding
from nginxssl.report.json import indented, write_list

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
# SARIF's newline sequences; a str.splitlines() line may end in others (\x0b, \u2028, ...).
_NEWLINE = re.compile(r"\r\n|\r|\n")
_KEY_MARKER = b"PRIVATE KEY-----"
# GitHub's scale (0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0+ critical) for each severity: an
# error is what makes a browser refuse the site or the server refuse to start.
SECURITY_SEVERITY = {"error": "8.0", "warning": "5.0", "info": "2.0"}
# partialFingerprints key: our own (GitHub computes and overwrites primaryLocationLineHash itself).
FINGERPRINT = "sslint/v1"


def project_url() -> str | None:
    """The project's home page, from the installed package's metadata (pyproject's [project.urls])."""
    try:
        urls = metadata.metadata("sslint").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "repository", "source"):
            return url.strip().rstrip("/")
    return None


def repository_root(cwd: str) -> str:
    """Where repository paths start: $GITHUB_WORKSPACE, else the nearest directory above `cwd` holding
    .git (a checkout or a worktree), else `cwd`."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace and os.path.isdir(workspace):
        return os.path.abspath(workspace)
    directory = cwd
    while True:
        if os.path.exists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return cwd
        directory = parent


def _readable(text: str) -> str:
    """Undecodable bytes of a path or message (surrogate escapes) as \\xNN: SARIF is UTF-8 JSON."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _file_uri(absolute: str) -> str:
    return "file://" + quote(os.fsencode(absolute), safe="/")


def artifact_location(path: str, cwd: str, root: str | None = None) -> dict:
    """A relative URI against %SRCROOT% (`root`, the repository root; the working directory unless
    given) when under it, else an absolute file URI. `path` is relative to `cwd`."""
    absolute = os.path.abspath(os.path.join(cwd, path))
    relative = os.path.relpath(absolute, root or cwd)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return {"uri": _file_uri(absolute)}
    # quote() also encodes ':', so a first segment like "a:b.conf" cannot read as a URI scheme.
    return {"uri": quote(os.fsencode(relative), safe="/"), "uriBaseId": SRCROOT}


def _descriptor(rule: Rule, home: str | None) -> dict:
    why = rule.why or rule.summary
    help_text = f"{rule.summary}\n\nWhy it matters: {why}" + (f"\n\nHow to fix: {rule.fix}" if rule.fix else "")
    help_markdown = (f"**{rule.id} {rule.name}**: {rule.summary}\n\n**Why it matters**\n\n{why}"
                     + (f"\n\n**How to fix**\n\n{rule.fix}" if rule.fix else "")
                     + f"\n\n`sslint explain {rule.id}` prints this page.")
    descriptor = {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": why},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {
            "tags": ["security", "tls", *rule.servers],
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": "very-high",
            "problem.severity": {"info": "recommendation"}.get(rule.severity, rule.severity),
            "servers": list(rule.servers),
            "fixable": rule.fixable or "no",
        },
    }
    if home:
        descriptor["helpUri"] = f"{home}/blob/main/rules/{rule.id}.yaml"
    return descriptor


class _Positions:
    """Offsets in a text -> SARIF (line, column): columns in code points, lines split at CR, LF, CRLF."""

    def __init__(self, text: str):
        # A BOM does not count: SARIF text regions must not depend on it.
        self.skip = 1 if text.startswith("\ufeff") else 0
        self.text = text[self.skip:]
        self.starts = [0] + [match.end() for match in _NEWLINE.finditer(self.text)]
        if len(self.starts) > 1 and self.starts[-1] == len(self.text):
            # The end of a file that ends in a newline is past the last line's newline, not a line of its own.
            self.starts.pop()

    def at(self, offset: int) -> tuple[int, int]:
        offset = max(0, offset - self.skip)
        index = bisect.bisect_right(self.starts, offset) - 1
        return index + 1, offset - self.starts[index] + 1


def _text_replacement(lines: list[str], positions: _Positions, change: Change) -> dict:
    """Original lines [start, start + count), newlines included, replaced by the change's lines."""
    start = sum(len(line) for line in lines[:change.start - 1])
    end = start + sum(len(line) for line in lines[change.start - 1:change.start - 1 + change.count])
    start_line, start_column = positions.at(start)
    end_line, end_column = positions.at(end)
    replacement: dict[str, dict[str, object]] = {"deletedRegion": {"startLine": start_line, "startColumn": start_column,
                                     "endLine": end_line, "endColumn": end_column}}
    inserted = b"".join(change.lines).decode("utf-8")
    if inserted:
        replacement["insertedContent"] = {"text": inserted}
    return replacement


def _binary_replacement(lines: list[bytes], change: Change) -> dict:
    start = sum(len(line) for line in lines[:change.start - 1])
    length = sum(len(line) for line in lines[change.start - 1:change.start - 1 + change.count])
    replacement: dict[str, dict[str, object]] = {"deletedRegion": {"byteOffset": start, "byteLength": length}}
    inserted = b"".join(change.lines)
    if inserted:
        replacement["insertedContent"] = {"binary": base64.b64encode(inserted).decode("ascii")}
    return replacement


def _replacements(file_plan: FilePlan, read: dict[str, tuple[list[str], _Positions]]) -> list[dict]:
    """`read`: each file text's lines and positions, as far as this log has worked them out."""
    if file_plan.old is None:
        # A new file: an insertion point at the start of the (empty) artifact.
        content = _content(file_plan.new)
        region = ({"startLine": 1, "startColumn": 1, "endColumn": 1} if "text" in content
                  else {"byteOffset": 0, "byteLength": 0})
        return [{"deletedRegion": region, "insertedContent": content}]
    try:
        old = file_plan.old.decode("utf-8")
        for change in file_plan.changes:
            b"".join(change.lines).decode("utf-8")
    except UnicodeDecodeError:
        # Not UTF-8: text regions would need an encoding the consumer cannot know; bytes are exact.
        raw = config_lines(file_plan.old.decode("utf-8", "surrogateescape"))
        encoded = [line.encode("utf-8", "surrogateescape") for line in raw]
        return [_binary_replacement(encoded, change) for change in file_plan.changes]
    # The plan numbered lines with config_lines(); offsets come from the same split.
    known = read.get(old)
    if known is None:
        known = read[old] = (config_lines(old), _Positions(old))
    lines, positions = known
    return [_text_replacement(lines, positions, change) for change in file_plan.changes]


def _content(data: bytes) -> dict:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"binary": base64.b64encode(data).decode("ascii")}


# Edits -> each file's planned change (fix.plan.plan): given by the command line, since a report
# does not apply edits itself.
Planner = Callable[[list[Edit]], dict[str, FilePlan]]


def sarif_fix(finding: Finding, cwd: str, planner: Planner, root: str | None = None) -> dict | None:
    """The finding's edits as a SARIF fix, or None when it has none or they no longer apply."""
    return _Results(cwd, root or cwd, planner, {}).fix(finding)


class _Fingerprints:
    """A result's identity across runs: rule, repository path, the text of the flagged line (not its
    number) and the names, and which of several identical ones it is. Files are read once each."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}
        self.seen: dict[str, int] = {}

    def _line(self, path: str, number: int) -> str:
        if path not in self.lines:
            try:
                with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                    self.lines[path] = handle.read().splitlines()
            except (OSError, ValueError):  # gone, a directory, a FIFO's refusal: the rest still identifies it
                self.lines[path] = []
        lines = self.lines[path]
        return " ".join(lines[number - 1].split()) if 1 <= number <= len(lines) else ""

    def of(self, finding: Finding, location: str, cwd: str) -> str:
        text = self._line(os.path.join(cwd, finding.file), finding.line) if finding.file else ""
        identity = "\0".join((finding.rule, location, text, *finding.names))
        digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        self.seen[digest] = self.seen.get(digest, 0) + 1
        return f"{digest}:{self.seen[digest]}"


class _Results:
    """The results of one log. What many of them share is worked out once: where a file is (two
    path normalisations), a changed file's lines and where each starts (the 5,000-block benchmark
    has 7,000 fixes in 500 files), the lines fingerprints read."""

    def __init__(self, cwd: str, root: str, planner: Planner | None, index: dict[str, int]):
        self.cwd, self.root, self.planner, self.index = cwd, root, planner, index
        self.fingerprints = _Fingerprints()
        self.locations: dict[str, dict] = {}
        self.texts: dict[str, tuple[list[str], _Positions]] = {}

    def location(self, path: str) -> dict:
        known = self.locations.get(path)
        if known is None:
            known = self.locations[path] = artifact_location(path, self.cwd, self.root)
        return dict(known)  # a dict of its own in each place of the log, as before

    def fix(self, finding: Finding) -> dict | None:
        """The finding's edits as a SARIF fix, or None when it has none or they no longer apply."""
        if finding.fix is None or not finding.fix.edits or self.planner is None:
            return None
        try:
            plans = self.planner(list(dict.fromkeys(finding.fix.edits)))
        except (EditConflict, OSError):
            return None  # the file changed since the lint, or vanished: no fix beats a wrong one
        changes = []
        for path in sorted(plans):
            file_plan = plans[path]
            if any(_KEY_MARKER in b"".join(change.lines) for change in file_plan.changes):
                return None
            if file_plan.old == file_plan.new:
                continue
            changes.append({"artifactLocation": self.location(path),
                            "replacements": _replacements(file_plan, self.texts)})
        if not changes:
            return None
        description = finding.fix.description + ("" if finding.fix.safe else " (unsafe: applied only with --unsafe-fixes)")
        return {"description": {"text": description}, "artifactChanges": changes,
                "properties": {"safe": finding.fix.safe}}

    def result(self, finding: Finding) -> dict:
        result: dict = {"ruleId": finding.rule}
        if finding.rule in self.index:
            result["ruleIndex"] = self.index[finding.rule]
        result["level"] = LEVELS.get(finding.severity, "warning")
        result["message"] = {"text": _readable(finding.message)}
        location = self.location(finding.file) if finding.file else {"uri": ""}
        if finding.file:
            physical: dict = {"artifactLocation": location}
            if finding.line >= 1:
                physical["region"] = {"startLine": finding.line}
            result["locations"] = [{"physicalLocation": physical}]
        result["partialFingerprints"] = {FINGERPRINT: self.fingerprints.of(finding, location["uri"], self.cwd)}
        fix = self.fix(finding)
        if fix is not None:
            result["fixes"] = [fix]
        result["properties"] = {"server": finding.server, "names": [_readable(name) for name in finding.names]}
        return result


def log(findings: Iterable[Finding], cwd: str | None = None, planner: Planner | None = None) -> dict:
    """The SARIF log as a dict; fixes only with a `planner` (none after --fix, when the files no
    longer match the findings)."""
    cwd = os.path.abspath(cwd or os.getcwd())
    root = repository_root(cwd)
    rules = list(catalogue().values())
    index = {rule.id: position for position, rule in enumerate(rules)}
    home = project_url()
    driver: dict = {"name": "sslint", "version": __version__, "semanticVersion": __version__}
    if home:
        driver["informationUri"] = home
    driver["rules"] = [_descriptor(rule, home) for rule in rules]
    results = _Results(cwd, root, planner, index)
    run = {
        "tool": {"driver": driver},
        "invocations": [{"executionSuccessful": True, "workingDirectory": {"uri": _file_uri(cwd.rstrip("/") + "/")}}],
        "originalUriBaseIds": {SRCROOT: {"uri": _file_uri(root.rstrip("/") + "/"),
                                         "description": {"text": "The repository root"}}},
        "columnKind": "unicodeCodePoints",
        "defaultEncoding": "utf-8",
        "results": [results.result(finding) for finding in findings],
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render(findings: Iterable[Finding], out: TextIO, planner: Planner | None = None, cwd: str | None = None) -> None:
    """The log as json.dump(indent=2, ensure_ascii=False) writes it, at a fraction of the cost (any
    indent sends the json module to its pure-Python encoder: 0.3 s for the 7,000 results of the
    5,000-block benchmark); a result at a time, as json.dump writes, not 12 MB joined."""
    whole = log(findings, cwd, planner)
    run = whole["runs"][0]
    results, run["results"] = run["results"], []
    document = indented(whole)
    if not results:
        out.write(document + "\n")
        return
    # "results" is the run's last key and the run the log's last part: only closing brackets follow.
    head, tail = document.rsplit(_NO_RESULTS, 1)
    write_list(out, head + '"results": [\n', (_RESULT_INDENT + indented(result, _RESULT_INDENT) for result in results),
               f"\n{_RESULT_INDENT[:-2]}]{tail}\n")


_NO_RESULTS = '"results": []'
_RESULT_INDENT = " " * 8  # the log, its runs, the run, its results: four levels of two
