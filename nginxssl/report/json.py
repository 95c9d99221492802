"""One JSON object on stdout: version, findings, summary (shared/DESIGN.md)."""

from __future__ import annotations

import json
from typing import TextIO

from nginxssl import __version__
from nginxssl.checks import Finding


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
    }


def render(findings: list[Finding], out: TextIO, sites: int, configs: list[str]) -> None:
    summary = {severity: sum(1 for f in findings if f.severity == severity) for severity in ("error", "warning", "info")}
    summary.update({"findings": len(findings), "sites": sites, "configs": configs})
    json.dump({"version": __version__, "findings": [as_dict(f) for f in findings], "summary": summary},
              out, indent=2, ensure_ascii=False)
    out.write("\n")
