"""`sslint certs` output: a table for people (100 columns: cron mail does not wrap it), JSON for
monitoring, CSV for spreadsheets, a Nagios/Icinga plugin's status line, a Prometheus textfile.

Each renders an inventory.Inventory as it is: no decision about what is wrong
is made here. Colour only in the table, and only when the caller says the
terminal wants it.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import fields
from datetime import datetime
from typing import TextIO

from nginxssl import __version__
from nginxssl.model.inventory import (
    CHAIN_STATUSES,
    CRITICAL,
    OK,
    WARNING,
    CertificateRow,
    ChainLink,
    ChainState,
    Inventory,
    SiteUse,
)
from nginxssl.report.text import one_line

_RED = "\x1b[31m"
_YELLOW = "\x1b[33m"
_RESET = "\x1b[0m"

TABLE_WIDTH = 100  # every line of the table: cron mail and a terminal beside an editor show it unwrapped
TABLE_INDENT = " " * 7  # a row's detail lines, under its first column
TABLE_NAMES_WIDTH = TABLE_WIDTH - len(TABLE_INDENT) - len("names  ") - len(" +99,999 more")  # then "+N more"
TABLE_SITES = 3  # sites a table row shows before "+N more sites"
CSV_NAMES = 50  # names a CSV cell holds (a spreadsheet cell holds 32,767 characters; badssl has 10,000 SANs)

CSV_COLUMNS = (
    "path", "status", "names", "san_count", "subject", "issuer", "key_type", "key_bits", "not_before",
    "not_after", "days_left", "expiring", "chain", "chain_problems", "sites", "detail",
)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def abbreviate(names: tuple[str, ...], width: int) -> str:
    """As many names as fit in `width` characters (at least one), then "+N more"."""
    shown: list[str] = []
    length = 0
    for name in names:
        extra = len(name) + (2 if shown else 0)
        if shown and length + extra > width:
            break
        shown.append(name)
        length += extra
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" +{rest:,} more" if rest else "")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def site_text(use: SiteUse) -> str:
    """`file:line name name`: where the site is and what it answers to."""
    return " ".join((use.where, *use.names)) if use.names else use.where


def _names_cell(row: CertificateRow) -> str:
    if not row.loaded:
        return f"{row.status}: {row.detail}"
    if row.names:
        return abbreviate(row.names, TABLE_NAMES_WIDTH)
    return f"(no SAN; subject {row.subject})"


def _sites_cell(row: CertificateRow) -> str:
    texts = [site_text(use) for use in row.sites[:TABLE_SITES]]
    rest = len(row.sites) - len(texts)
    if rest:
        texts.append(f"+{rest} more site{'s' if rest != 1 else ''}")
    return "; ".join(texts) or "-"


def _expires_cell(row: CertificateRow) -> str:
    if row.not_after is None:
        return "-"
    text = f"{row.not_after:%Y-%m-%d}"
    return text + " (not yet valid)" if row.validity == "not yet valid" else text


def summarize(inventory: Inventory) -> str:
    rows = inventory.rows
    count = len(rows)
    parts = [f"{count} certificate file{'s' if count != 1 else ''}"]
    expired = len(inventory.expired)
    soon = len(inventory.expiring) - expired
    if expired:
        parts.append(f"{expired} expired")
    parts.append(f"{soon} expiring within {inventory.expiry_days} days")
    unreadable = len(inventory.unreadable)
    if unreadable:
        parts.append(f"{unreadable} could not be read")
    unchecked = sum(1 for row in rows if not row.checked)
    if unchecked:
        parts.append(f"{unchecked} named per handshake (not checked)")
    return ", ".join(parts) + f" (at {inventory.now:%Y-%m-%d %H:%M} UTC)"


def _clip_left(text: str, width: int) -> str:
    """A path too long for its column keeps its end: the file name is what tells rows apart."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1:]


def render_table(inventory: Inventory, out: TextIO, colour: bool) -> None:
    """A line per certificate (days left, expiry, chain, key, file), then its names, issuer and sites
    on indented lines: every line within TABLE_WIDTH columns."""
    header = ("DAYS", "EXPIRES", "CHAIN", "KEY", "CERTIFICATE")
    firsts = []
    for row in inventory.rows:
        key = f"{row.key_type} {row.key_bits}" if row.key_type else "-"
        days = "-" if row.whole_days is None else str(row.whole_days)
        firsts.append((days, _expires_cell(row), row.chain_status or "-", key))
    widths = [max([len(header[index])] + [len(cells[index]) for cells in firsts]) for index in range(4)]

    def line(cells: tuple[str, ...], path: str) -> str:
        padded = [cells[0].rjust(widths[0]), *(cell.ljust(width) for cell, width in zip(cells[1:], widths[1:]))]
        start = "  ".join(padded) + "  "
        return (start + _clip_left(one_line(path), TABLE_WIDTH - len(start))).rstrip()

    out.write(line(header[:4], header[4]) + "\n")
    for row, cells in zip(inventory.rows, firsts):
        text = line(cells, row.path)
        verdict = inventory.verdict(row)
        if colour and verdict != OK:
            text = f"{_RED if verdict == CRITICAL else _YELLOW}{text}{_RESET}"
        out.write(text + "\n")
        details = [("names", _names_cell(row))]
        if row.issuer_label:
            details.append(("issuer", row.issuer_label))
        details.append(("sites", _sites_cell(row)))
        for label, value in details:
            out.write(_clip(f"{TABLE_INDENT}{label:<6} {one_line(value)}", TABLE_WIDTH) + "\n")
    out.write(summarize(inventory) + "\n")


# ---------------------------------------------------------------- JSON


def _record_dict(record: ChainState | ChainLink | SiteUse) -> dict:
    """A served chain, one of its certificates or a site for JSON: every field under its own name, in
    order, tuples as lists, times as ISO 8601.

    The JSON mirrors inventory's dataclass, so a field added there is reported here too.
    """
    return {field.name: _json_value(getattr(record, field.name)) for field in fields(record)}


def _json_value(value: object) -> object:
    if isinstance(value, tuple):
        return [_record_dict(item) if isinstance(item, ChainLink) else item for item in value]
    if isinstance(value, datetime):
        return _time(value)
    return value


def as_dict(row: CertificateRow, verdict: str = OK) -> dict:
    return {
        "path": row.path,
        "resolved": row.resolved,
        "status": row.status,
        "verdict": verdict,
        "detail": row.detail,
        **certificate_part(row),
        "chain": None if not row.chains else {
            "status": row.chain_status,
            "problems": list(row.problems),
            "served": [_record_dict(chain) for chain in row.chains],
        },
        "sites": [_record_dict(use) for use in row.sites],
    }


def certificate_part(row: CertificateRow) -> dict:
    """The certificate's own facts in a row's JSON (None for a file nothing could be read from)."""
    return {
        "subject": row.subject,
        "names": list(row.names),
        "san_count": len(row.names),
        "issuer": row.issuer,
        "key_type": row.key_type,
        "key_bits": row.key_bits,
        "not_before": _time(row.not_before),
        "not_after": _time(row.not_after),
        "days_left": row.whole_days,
        "validity": row.validity,
        "expiring": row.expiring,
        "fingerprint_sha256": row.fingerprint,
        "serial": row.serial,
    }


def summary(inventory: Inventory) -> dict:
    chains = {status: 0 for status in CHAIN_STATUSES}
    for row in inventory.rows:
        if row.chain_status is not None:
            chains[row.chain_status] += 1
    return {
        "certificates": len(inventory.rows),
        "expiring": len(inventory.expiring),
        "expired": len(inventory.expired),
        "unreadable": len(inventory.unreadable),
        "not_checked": sum(1 for row in inventory.rows if not row.checked),
        "chain": chains,
        "expiry_days": inventory.expiry_days,
        "warning_days": inventory.expiry_days,
        "critical_days": inventory.critical_days,
        "verdict": {verdict: sum(1 for row in inventory.rows if inventory.verdict(row) == verdict)
                    for verdict in (OK, WARNING, CRITICAL)},
        "now": _time(inventory.now),
        "configs": list(inventory.configs),
    }


def render_json(inventory: Inventory, out: TextIO) -> None:
    json.dump({"version": __version__,
               "certificates": [as_dict(row, inventory.verdict(row)) for row in inventory.rows],
               "summary": summary(inventory)}, out, indent=2, ensure_ascii=False)
    out.write("\n")


# ---------------------------------------------------------------- CSV


def _text(value: str | None) -> str:
    """A text cell a spreadsheet will not run and a terminal or CI log will not obey: certificate names
    are anyone's to choose (control characters as \\xNN, no cell starting a line with `::`)."""
    if not value:
        return ""
    value = one_line(value)
    return "'" + value if value[0] in "=+-@" or value.startswith("::") else value


def render_csv(inventory: Inventory, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in inventory.rows:
        names = " ".join(row.names[:CSV_NAMES])
        if len(row.names) > CSV_NAMES:
            names += f" (+{len(row.names) - CSV_NAMES} more)"
        writer.writerow((
            _text(row.path), row.status, _text(names), len(row.names), _text(row.subject), _text(row.issuer),
            row.key_type or "", "" if row.key_bits is None else row.key_bits,
            _time(row.not_before) or "", _time(row.not_after) or "",
            "" if row.whole_days is None else row.whole_days,
            "true" if row.expiring else "false",
            row.chain_status or "", " ".join(row.problems),
            _text("; ".join(site_text(use) for use in row.sites)), _text(row.detail),
        ))


# ---------------------------------------------------------------- Nagios / Icinga

# The monitoring plugin guidelines (monitoring-plugins.org, "Plugin Output" and "Plugin Return Codes"):
# one line `SERVICE STATUS - text | perfdata`, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; perfdata
# `'label'=value[UOM];[warn];[crit];[min];[max]`, labels quoted, a quote in one doubled; thresholds
# as ranges, `N:` alerting below N. Days have no unit among the guidelines' (s, %, B, c): none.
NAGIOS_CODES = {OK: 0, WARNING: 1, CRITICAL: 2}
UNKNOWN = 3


def _perf_label(text: str) -> str:
    return "'" + re.sub(r"[=\x00-\x1f]", "_", text).replace("'", "''") + "'"


def nagios(inventory: Inventory) -> tuple[str, int]:
    """The plugin's output (status line, then one long-text line per certificate not OK) and exit code."""
    verdicts = [(row, inventory.verdict(row)) for row in inventory.rows]
    worst = max((verdict for _row, verdict in verdicts), key=lambda v: NAGIOS_CODES[v], default=OK)
    if not inventory.rows:
        return "SSLINT UNKNOWN - the configuration names no certificate file", UNKNOWN
    counts = {verdict: sum(1 for _row, v in verdicts if v == verdict) for verdict in (CRITICAL, WARNING)}
    parts = [f"{len(inventory.rows)} certificate file{'s' if len(inventory.rows) != 1 else ''}"]
    parts += [f"{count} {verdict}" for verdict, count in counts.items() if count]
    soonest = next((row for row in inventory.rows if row.checked and row.days_left is not None), None)
    if soonest is not None:
        parts.append(f"next expiry {soonest.not_after:%Y-%m-%d} ({soonest.whole_days} days, {one_line(soonest.path)})")
    warn, crit = inventory.expiry_days, inventory.critical_days
    perfdata = [f"{_perf_label(row.path)}={row.whole_days};{warn}:;{crit}:;;"
                for row in inventory.rows if row.checked and row.whole_days is not None]
    status = f"SSLINT {worst.upper()} - {', '.join(parts)}"
    lines = [status + (" | " + " ".join(perfdata) if perfdata else "")]
    for row, verdict in verdicts:
        if verdict != OK:
            why = row.validity if row.validity not in (None, "valid") else (
                f"{row.whole_days} days left" if row.loaded else f"{row.status}: {row.detail}")
            chain = f", chain {row.chain_status}" if row.chain_status not in (None, "complete") else ""
            lines.append(f"{verdict.upper()}: {one_line(row.path)} ({why}{chain})")
    return "\n".join(lines), NAGIOS_CODES[worst]


def render_nagios(inventory: Inventory, out: TextIO) -> int:
    text, code = nagios(inventory)
    out.write(text + "\n")
    return code


# ---------------------------------------------------------------- Prometheus


# The text exposition format, as node_exporter's textfile collector reads it: HELP and TYPE before
# each family, label values with backslash, double quote and newline escaped.
VERDICT_VALUES = {OK: 0, WARNING: 1, CRITICAL: 2}


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{name}="{_label_value(value)}"' for name, value in pairs.items()) + "}"


def render_prometheus(inventory: Inventory, out: TextIO) -> None:
    families: dict[str, tuple[str, list[str]]] = {
        "sslint_certificate_expiry_timestamp_seconds": (("When the certificate stops being valid (notAfter), "
                                                         "in seconds since the epoch."), []),
        "sslint_certificate_days_left": ("Days until the certificate expires (negative once expired).", []),
        "sslint_certificate_verdict": (("0 ok, 1 warning (expires within the warning days, or a chain browsers "
                                        "refuse), 2 critical (expired, not yet valid, within the critical days, "
                                        "or unreadable)."), []),
    }
    for row in inventory.rows:
        if not row.checked:
            continue
        labels = {"path": row.path, "subject": row.subject or "", "names": ",".join(row.names[:CSV_NAMES]),
                  "sites": " ".join(sorted({name for use in row.sites for name in use.names})[:CSV_NAMES])}
        if row.not_after is not None and row.days_left is not None:
            families["sslint_certificate_expiry_timestamp_seconds"][1].append(
                f"sslint_certificate_expiry_timestamp_seconds{_labels(labels)} {int(row.not_after.timestamp())}")
            families["sslint_certificate_days_left"][1].append(
                f"sslint_certificate_days_left{_labels(labels)} {row.days_left:.3f}")
        verdict_labels = {**labels, "status": row.status, "chain": row.chain_status or ""}
        families["sslint_certificate_verdict"][1].append(
            f"sslint_certificate_verdict{_labels(verdict_labels)} {VERDICT_VALUES[inventory.verdict(row)]}")
    families["sslint_certificates_checked_timestamp_seconds"] = (
        "When sslint judged these certificates (--now), in seconds since the epoch.",
        [f"sslint_certificates_checked_timestamp_seconds {int(inventory.now.timestamp())}"])
    for name, (help_text, samples) in families.items():
        out.write(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
        out.write("".join(sample + "\n" for sample in samples))
