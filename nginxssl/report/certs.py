"""`sslint certs` output: an aligned table for people, JSON for monitoring, CSV for spreadsheets.

Each renders an inventory.Inventory as it is: no decision about what is wrong
is made here. Colour only in the table, and only when the caller says the
terminal wants it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from datetime import datetime
from typing import Sequence, TextIO

from nginxssl import __version__
from nginxssl.model.inventory import CHAIN_STATUSES, CertificateRow, ChainState, Inventory, SiteUse
from nginxssl.report.text import one_line

_RED = "\x1b[31m"
_YELLOW = "\x1b[33m"
_RESET = "\x1b[0m"

TABLE_NAMES_WIDTH = 48  # characters of subjectAltNames a table row shows before "+N more"
TABLE_SITES = 3  # sites a table row shows before "+N more sites"
TABLE_ISSUER_WIDTH = 40
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


def render_table(inventory: Inventory, out: TextIO, colour: bool) -> None:
    header = ("DAYS", "EXPIRES", "CHAIN", "KEY", "ISSUER", "NAMES", "CERTIFICATE", "SITES")
    lines: list[tuple[CertificateRow, tuple[str, ...]]] = []
    for row in inventory.rows:
        key = f"{row.key_type} {row.key_bits}" if row.key_type else "-"
        days = "-" if row.whole_days is None else str(row.whole_days)
        written = (days, _expires_cell(row), row.chain_status or "-", key,
                   _clip(row.issuer_label, TABLE_ISSUER_WIDTH) if row.issuer_label else "-",
                   _names_cell(row), row.path, _sites_cell(row))
        lines.append((row, tuple(one_line(cell) for cell in written)))
    widths = [max([len(header[index])] + [len(cells[index]) for _row, cells in lines])
              for index in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [cells[0].rjust(widths[0])]
        padded += [cell.ljust(width) for cell, width in zip(cells[1:-1], widths[1:-1])]
        return "  ".join(padded + [cells[-1]]).rstrip()

    out.write(line(header) + "\n")
    for row, cells in lines:
        text = line(cells)
        if colour:
            if row.validity == "expired" or (row.checked and not row.loaded):
                text = f"{_RED}{text}{_RESET}"
            elif row.expiring:
                text = f"{_YELLOW}{text}{_RESET}"
        out.write(text + "\n")
    out.write(summarize(inventory) + "\n")


# ---------------------------------------------------------------- JSON


def _record_dict(record: ChainState | SiteUse) -> dict:
    """A served chain or a site for JSON: every field under its own name, in order, tuples as lists.

    The JSON mirrors inventory's dataclass, so a field added there is reported here too.
    """
    values = {field.name: getattr(record, field.name) for field in fields(record)}
    return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}


def as_dict(row: CertificateRow) -> dict:
    return {
        "path": row.path,
        "resolved": row.resolved,
        "status": row.status,
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
        "now": _time(inventory.now),
        "configs": list(inventory.configs),
    }


def render_json(inventory: Inventory, out: TextIO) -> None:
    json.dump({"version": __version__, "certificates": [as_dict(row) for row in inventory.rows],
               "summary": summary(inventory)}, out, indent=2, ensure_ascii=False)
    out.write("\n")


# ---------------------------------------------------------------- CSV


def _text(value: str | None) -> str:
    """A text cell a spreadsheet will not run: certificate names are anyone's to choose."""
    if not value:
        return ""
    return "'" + value if value[0] in "=+-@\t\r" else value


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
