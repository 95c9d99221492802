"""One JSON object on stdout: version, findings, summary (shared/DESIGN.md).

The findings are written by hand, in exactly the layout `json.dump(indent=2)`
gives: with an indent, the json module falls back to its pure-Python encoder,
which took 1.5 s of a 12 s run on 16,000 findings; one f-string per finding
with C-encoded strings takes a twentieth of that. tests/test_performance.py
holds the two to the same bytes.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # the C encoder for a str, as ensure_ascii=False writes it
from typing import TYPE_CHECKING, Iterable, TextIO

from nginxssl import __version__
from nginxssl.model.finding import Finding

if TYPE_CHECKING:
    from nginxssl.model.inventory import CertificateRow
    from nginxssl.model.probe import Probe
    from nginxssl.sites.routing import Choice

_EMPTY_FINDINGS = '\n  "findings": [],\n'


def as_dict(finding: Finding) -> dict:
    return {
        "rule": finding.rule,
        "name": finding.name,
        "severity": finding.severity,
        "message": finding.message,
        "file": finding.file,
        "line": finding.line,
        "server": finding.server,
        "names": list(finding.names),
        "fixable": bool(finding.fix and finding.fix.edits),
        **({"related": [{"file": place.file, "line": place.line, "names": list(place.names)}
                        for place in finding.related]} if finding.related else {}),
    }


def _value(value: object) -> str:
    if type(value) is str:
        return encode_basestring(value)
    if type(value) is int:
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _text(finding: Finding) -> str:
    """as_dict(finding) as json.dumps(indent=2) writes it inside the findings list."""
    if finding.names:
        names = "[\n        " + ",\n        ".join(map(_value, finding.names)) + "\n      ]"
    else:
        names = "[]"
    return (
        f'    {{\n      "rule": {_value(finding.rule)},\n'
        f'      "name": {_value(finding.name)},\n'
        f'      "severity": {_value(finding.severity)},\n'
        f'      "message": {_value(finding.message)},\n'
        f'      "file": {_value(finding.file)},\n'
        f'      "line": {_value(finding.line)},\n'
        f'      "server": {_value(finding.server)},\n'
        f'      "names": {names},\n'
        f'      "fixable": {"true" if finding.fix and finding.fix.edits else "false"}'
        f'{_related(finding)}\n'
        "    }"
    )


def indented(value: object, prefix: str = "") -> str:
    """json.dumps(value, indent=2, ensure_ascii=False) as it reads `prefix` deep inside a document
    (each line after the first starts with it), for logs of any shape (SARIF's): strings go through
    the C encoder and the nesting through one call a level, where the json module's pure-Python
    encoder, which any indent sends it to, makes a generator a level and yields every token. Types
    are told apart as the json module does (a bool before an int; an IntEnum writes as an int)."""
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = prefix + "  "
        try:
            return "{\n" + ",\n".join([f"{inner}{encode_basestring(key)}: {indented(item, inner)}"
                                        for key, item in value.items()]) + f"\n{prefix}}}"
        except TypeError:  # a key that is not a string (json writes 1 as "1"), or what JSON cannot hold
            pass
    elif isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = prefix + "  "
        return "[\n" + ",\n".join([inner + indented(item, inner) for item in value]) + f"\n{prefix}]"
    elif value is True or value is False:
        return "true" if value else "false"
    elif isinstance(value, int):
        return int.__repr__(value)
    elif value is None:
        return "null"
    # A float, such a dict, what JSON cannot hold: the json module's own words (or its error).
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + prefix)


def _related(finding: Finding) -> str:
    """The `related` list (the other places one root cause affects), as json.dumps(indent=2) lays it
    out inside a finding of the findings list."""
    if not finding.related:
        return ""
    text = json.dumps(as_dict(finding)["related"], indent=2, ensure_ascii=False)
    return ',\n      "related": ' + text.replace("\n", "\n      ")


def render(findings: list[Finding], out: TextIO, sites: int, configs: list[str], probe: dict | None = None) -> None:
    """The report; `probe` (probe_dict) is what `sslint probe` saw, written after the summary."""
    summary: dict[str, object] = {severity: sum(1 for f in findings if f.severity == severity)
                                  for severity in ("error", "warning", "info")}
    summary.update({"findings": len(findings), "sites": sites, "configs": configs})
    whole = {"version": __version__, "findings": [], "summary": summary, **({"probe": probe} if probe else {})}
    document = json.dumps(whole, indent=2, ensure_ascii=False)
    if not findings:
        out.write(document + "\n")
        return
    # Written a finding at a time: the whole text of 16,000 findings is 15 MB, held twice over if joined.
    head, tail = document.split(_EMPTY_FINDINGS, 1)
    write_list(out, head + '\n  "findings": [\n', (_text(finding) for finding in findings), "\n  ],\n" + tail + "\n")


def write_list(out: TextIO, head: str, items: Iterable[str], tail: str) -> None:
    """`head`, the items of a JSON list as text, separated as json.dumps separates them, and `tail`,
    an item at a time: a report's list is megabytes, held twice over if joined first."""
    out.write(head)
    separator = ""
    for item in items:
        out.write(separator + item)
        separator = ",\n"
    out.write(tail)


def probe_dict(live: Probe, choice: Choice, served: Iterable[CertificateRow], *, verdict: str, expiry: str,
               verified: bool | None, verify_error: str | None, alarms: Iterable[dict]) -> dict:
    """What `sslint probe` saw: where it connected, each certificate sent (`served`: the facts
    `sslint certs --format json` gives of a certificate file), and the site of the
    configuration that answers there, with why that one; then the endpoint's own health
    (checks/live.py LiveHealth): `verdict` ok|warning|critical, the live leaf's `expiry` grade,
    whether the chain sent `verified` (null: only the leaf could be read) and why not, and `alarms`
    ({verdict, message}: what is wrong, worst first)."""
    from nginxssl.report.certs import certificate_part

    site = choice.site
    return {
        "endpoint": live.endpoint.shown,
        "servername": live.endpoint.servername,
        "address": live.address or None,
        "protocol": live.protocol or None,
        "whole_chain_read": live.complete,  # false: only the leaf could be read (probe.py says when)
        "served": [certificate_part(row) for row in served],
        "answered_by": None if site is None else {
            "file": site.file, "line": site.line, "server": site.server, "names": list(site.name_list)},
        "chosen_by": choice.reason,
        "verdict": verdict,
        "expiry": expiry,
        "verified": verified,
        "verify_error": verify_error,
        "alarms": list(alarms),
    }
