"""GitHub Actions workflow commands: one annotation per finding, then the plain text report.

GitHub shows only the first few annotations of a step, so the full report
follows them in the log. Escaping is GitHub's own: `%`, CR and LF in the
message; additionally `:` and `,` in property values (file, title).
"""

from __future__ import annotations

import os
import re
from typing import TextIO

from nginxssl.model.finding import Finding
from nginxssl.report import text

COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")  # CR, LF: escape_data's


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _readable(value: str) -> str:
    """Undecodable bytes of a path (surrogate escapes) as \\xNN, so the line can be written; other
    control characters than CR and LF (escape_data's) as \\xNN too, so none reaches the log raw."""
    value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}" if ord(match.group()) < 0x100
                        else f"\\u{ord(match.group()):04x}", value)


def workspace_path(path: str, base: str | None = None) -> str:
    """Relative to the checkout when under it (GitHub matches annotations by repository path), else absolute.

    The checkout is $GITHUB_WORKSPACE in a workflow, so a step that runs sslint in a
    subdirectory still annotates the right file; elsewhere the working directory.
    """
    cwd = os.getcwd()
    base = os.path.abspath(base or os.environ.get("GITHUB_WORKSPACE") or cwd)
    absolute = os.path.abspath(os.path.join(cwd, path))
    relative = os.path.relpath(absolute, base)
    return absolute if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


def annotation(finding: Finding, base: str | None = None) -> str:
    properties = []
    if finding.file:
        properties.append(f"file={escape_property(_readable(workspace_path(finding.file, base)))}")
        if finding.line >= 1:
            properties.append(f"line={finding.line}")
    title = f"{finding.rule} {finding.name}".strip()
    properties.append(f"title={escape_property(_readable(title))}")
    command = COMMANDS.get(finding.severity, "warning")
    return f"::{command} {','.join(properties)}::{escape_data(_readable(finding.message))}"


def render(findings: list[Finding], out: TextIO, summary: str, base: str | None = None) -> None:
    for finding in findings:
        out.write(annotation(finding, base) + "\n")
    text.render(findings, out, False, summary)
