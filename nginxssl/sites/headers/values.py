"""What the headers in force mean for a page: a CSP that upgrades insecure requests, an HSTS policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from nginxssl.model.headers import CSP, CSP_REPORT_ONLY, HSTS, UNKNOWN, Header, Resolution, Variables


def csp_directive_names(value: str) -> set[str]:
    """Directive names of a Content-Security-Policy value (several policies may be comma-joined)."""
    names = set()
    for policy in value.split(","):
        for directive in policy.split(";"):
            tokens = directive.split()
            if tokens:
                names.add(tokens[0].lower())
    return names


def hsts_max_age(value: str) -> int | None:
    """max-age of a Strict-Transport-Security value; None when absent or not a number."""
    for directive in value.split(";"):
        name, _, argument = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            argument = argument.strip().strip('"')
            return int(argument) if argument.isdigit() else None
    return None


@dataclass(frozen=True)
class Verdict:
    """Whether responses built in a scope carry what a check wants."""

    status: str  # "present" | "absent" | "undecidable"
    reason: str = ""  # absent: "none" | "no-upgrade" | "report-only" | "max-age-0" | "no-max-age"
    header: Header | None = None  # the header the verdict is about
    resolution: Resolution | None = None


def csp_upgrade(headers: Iterable[Header], variables: Variables) -> Verdict:
    """Does a Content-Security-Policy with upgrade-insecure-requests go out?"""
    headers = tuple(headers)
    policies = [h for h in headers if h.key == CSP]
    undecided: Verdict | None = None
    without: Verdict | None = None
    for header in policies:
        applies = header.for_html_pages()
        if applies is False:
            continue  # never sent with an HTML page
        resolution = variables.resolve(header.value)
        sent = [value for value in resolution.values if value.strip()]
        upgrading = [value for value in sent if "upgrade-insecure-requests" in csp_directive_names(value)]
        if upgrading and len(upgrading) == len(resolution.values) and applies:
            return Verdict("present", header=header, resolution=resolution)
        if upgrading or any(UNKNOWN in value for value in sent) or applies is None:
            undecided = undecided or Verdict("undecidable", header=header, resolution=resolution)
        elif sent:
            without = without or Verdict("absent", "no-upgrade", header, resolution)
    if undecided is not None:
        return undecided
    if without is not None:
        return without
    report_only = next((h for h in headers if h.key == CSP_REPORT_ONLY), None)
    if report_only is not None:
        return Verdict("absent", "report-only", report_only)
    return Verdict("absent", "none")


def hsts(headers: Iterable[Header], variables: Variables) -> Verdict:
    """Does a Strict-Transport-Security with a positive max-age go out? (Browsers obey the first.)"""
    for header in headers:
        if header.key != HSTS:
            continue
        resolution = variables.resolve(header.value)
        sent = [value for value in resolution.values if value.strip()]
        if not sent:
            continue
        applies = header.for_html_pages()
        if applies is False:
            continue
        if resolution.unknown or applies is None or len(sent) != len(resolution.values):
            return Verdict("undecidable", header=header, resolution=resolution)
        ages = [hsts_max_age(value) for value in sent]
        if all(age is not None and age > 0 for age in ages):
            return Verdict("present", header=header, resolution=resolution)
        reason = "max-age-0" if any(age == 0 for age in ages) else "no-max-age"
        return Verdict("absent", reason, header, resolution)
    return Verdict("absent", "none")
