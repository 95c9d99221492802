"""The certificate inventory: every certificate file a configuration serves, once.

A stage beside the checks, after load: it reads the sites, what the loader
found in each file and the chain analysis (pki.pool), and builds one row per
certificate file the configuration names (nginx `ssl_certificate`, Apache
`SSLCertificateFile`), however many sites share it. It reads no file and knows
no rule; report/certs.py renders the rows.

The chain status is one word, worst first: self-signed, wrong-order,
incomplete, untrusted, complete. It is derived from the ChainReport the way the
lint's rules read it (SSL104, SSL202, SSL201, SSL105), so that `sslint certs`
and `sslint` never tell two stories about one file: in particular a leaf whose
issuer was found nowhere is "incomplete" (SSL201 says it may also be an
internal root), while a chain that climbs through a CA to an issuer found
nowhere is "untrusted" (SSL105). Expiry is not a chain status: it has columns
of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from cryptography import x509

from nginxssl.model.inventory import (
    ANCHOR,
    COMPLETE,
    DYNAMIC,
    INCOMPLETE,
    INLINE,
    INTERMEDIATE,
    LEAF,
    LOADED,
    NO_CERTIFICATE,
    OFF_PATH,
    SELF_SIGNED,
    UNTRUSTED,
    UNTRUSTED_ROOT,
    WRONG_ORDER,
    CertificateRow,
    ChainLink,
    ChainState,
    Inventory,
    SiteUse,
)
from nginxssl.model.site import CertRef, PathRef, Site
from nginxssl.pki import names
from nginxssl.pki.analyse import ServedChain, ServedKey, served_key
from nginxssl.pki.chain import SERVED, ChainReport, days_left, key_description, name_text, subject_label, validity
from nginxssl.pki.load import Material, cert_fingerprint


@dataclass(frozen=True)
class Analysed:
    """One configuration after the load stage: what the inventory is built from."""

    main: str
    prefix: str | None  # where relative paths in the configuration resolve (Config.prefix)
    sites: tuple[Site, ...]
    material: Mapping[str, Material]
    chains: Mapping[ServedKey, ServedChain]


# ---------------------------------------------------------------- chain status


def chain_problems(report: ChainReport) -> tuple[str, ...]:
    """Every status word that applies to a chain, worst first, as the lint's rules decide them."""
    verdicts = ((SELF_SIGNED, report.self_signed_untrusted), (WRONG_ORDER, not report.order_ok),
                (INCOMPLETE, report.incomplete), (UNTRUSTED, report.untrusted))  # SSL104, SSL202, SSL201, SSL105
    return tuple(status for status, applies in verdicts if applies)


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def chain_links(report: ChainReport, now: datetime) -> tuple[ChainLink, ...]:
    """Every certificate of a served chain, leaf first up the issuer path, then those sent off it,
    each with what is wrong with it there: what a drawing of the chain marks."""
    invalid: dict[int, list[str]] = {}
    for problem in report.invalid_intermediates:
        invalid.setdefault(id(problem.link), []).append(problem.reason)
    for weak in report.weak_signatures:
        invalid.setdefault(id(weak.link), []).append(f"weak signature ({weak.algorithm})")
    for small in report.weak_keys:
        invalid.setdefault(id(small.link), []).append(f"weak key ({small.kind} {small.bits})")
    missing = {id(link) for link in report.missing}
    links = []
    sent_before = 0
    for position, link in enumerate(report.path):
        cert = link.cert
        if position == 0:
            role = LEAF
        elif report.anchor is not None and cert == report.anchor:
            role = ANCHOR
        elif report.untrusted_root is link:
            role = UNTRUSTED_ROOT
        else:
            role = INTERMEDIATE
        problems = []
        state = validity(cert, now)
        if state != "valid" and not any(reason == state for reason in invalid.get(id(link), ())):
            problems.append(state)
        problems.extend(invalid.get(id(link), ()))
        if id(link) in missing:
            problems.append("not sent")
        if position == 0 and report.self_signed_untrusted:
            problems.append("self-signed")
        if role == UNTRUSTED_ROOT:
            problems.append("not in the trust store")
        sent = link.served_index + 1 if link.served_index is not None and link.origin == SERVED else None
        if sent is not None:
            sent_before += 1  # where it belongs: after the leaf and the served certificates it issued
            if not report.order_ok and sent != sent_before:
                problems.append(f"sent {_ordinal(sent)}, belongs {_ordinal(sent_before)}")
        links.append(ChainLink(subject_label(cert.subject), role, sent, link.origin, cert.not_valid_before_utc,
                               cert.not_valid_after_utc, state, tuple(problems)))
    if report.anchor is not None and all(link.cert != report.anchor for link in report.path):
        anchor = report.anchor
        links.append(ChainLink(subject_label(anchor.subject), ANCHOR, None, "trust store", anchor.not_valid_before_utc,
                               anchor.not_valid_after_utc, validity(anchor, now), ()))
    for extra in report.extras:
        cert = extra.cert
        reason = {"subject-of-leaf": "issued by the leaf (a reversed chain)"}.get(extra.reason, extra.reason)
        links.append(ChainLink(subject_label(cert.subject), OFF_PATH, extra.index + 1, SERVED,
                               cert.not_valid_before_utc, cert.not_valid_after_utc, validity(cert, now), (reason,)))
    return tuple(links)


def chain_state(chain: ServedChain, pair: CertRef, material: Mapping[str, Material], prefix: str | None,
                shown: Callable[[str], str], now: datetime) -> ChainState:
    report = chain.report
    problems = chain_problems(report)
    key_matches = None
    key = material.get(chain.key_path) if chain.key_path else material.get(chain.cert_path)
    if key is not None and key.usable and key.keys:
        key_matches = report.key_matches_index == report.leaf_index
    return ChainState(
        status=problems[0] if problems else COMPLETE,
        problems=problems,
        key_file=_written(pair.key, prefix, shown) if pair.key is not None and pair.key.path else None,
        chain_file=_written(pair.chain, prefix, shown) if pair.chain is not None and pair.chain.path else None,
        certificates=len(report.served),
        order_ok=report.order_ok,
        missing=tuple(subject_label(link.cert.subject) for link in report.missing),
        unresolved_issuer=name_text(report.unresolved_issuer.issuer) if report.unresolved_issuer else None,
        anchor=subject_label(report.anchor.subject) if report.anchor is not None else None,
        untrusted_root=subject_label(report.untrusted_root.cert.subject) if report.untrusted_root is not None else None,
        key_matches=key_matches,
        verified=report.verified,
        links=chain_links(report, now),
    )


# ---------------------------------------------------------------- rows


def _written(ref: PathRef, prefix: str | None, shown: Callable[[str], str]) -> str:
    """The path as the directive spells it, absolute: what the admin wrote and will look for."""
    disk = ref.path if ref.path is not None else ref.raw  # callers pass files with a path on disk
    if "$" in ref.raw:  # Apache ${VAR}: only the resolved path means anything
        return shown(disk)
    if os.path.isabs(ref.raw):
        return os.path.normpath(ref.raw)
    if prefix is not None:
        return shown(os.path.normpath(os.path.join(prefix, ref.raw)))
    return shown(disk)


def _site_use(site: Site, pair: CertRef) -> SiteUse:
    node = pair.cert.node
    return SiteUse(site.file, site.line, site.name_list, site.server, site.tls, node.file, node.line)


def certificate_fields(leaf: x509.Certificate, now: datetime, expiry_days: int) -> dict:
    """CertificateRow's facts of a certificate (also those of each one `sslint probe` was sent)."""
    left = days_left(leaf, now)
    state = validity(leaf, now)
    described = key_description(leaf)
    try:
        serial = format(leaf.serial_number, "x")
    except Exception:  # a serial cryptography refuses to parse is still a certificate to list
        serial = None
    return {
        "subject": name_text(leaf.subject),
        "names": names.san_names(leaf),
        "issuer": name_text(leaf.issuer),
        "issuer_label": subject_label(leaf.issuer),
        "key_type": described[0] if described else None,
        "key_bits": described[1] if described else None,
        "not_before": leaf.not_valid_before_utc,
        "not_after": leaf.not_valid_after_utc,
        "days_left": left,
        "validity": state,
        # As SSL101/SSL103 judge it: expired, or at most --expiry-days left.
        "expiring": state == "expired" or (state == "valid" and left <= expiry_days),
        "fingerprint": cert_fingerprint(leaf),
        "serial": serial,
    }


def _sort_key(row: CertificateRow) -> tuple:
    # A referenced file nothing can be read from stops the server: it leads. Paths
    # resolved per handshake cannot be judged: they close the list.
    if not row.checked:
        return (2, 0.0, row.path)
    if row.days_left is None:
        return (0, 0.0, row.path)
    return (1, row.days_left, row.path)


def build(configs: Iterable[Analysed], now: datetime, expiry_days: int,
          shown: Callable[[str], str] = lambda path: path, critical_days: int = 0) -> Inventory:
    """One row per certificate file the configurations name, each once, with every site serving it.

    A file is one file however it is spelled (links resolved); the row shows the first
    spelling. `shown` turns a path on disk into the configuration's view of it
    (ChainAnalyser.shown strips --root). The sites listed are those that speak TLS with
    it; a file only plain-HTTP servers inherit (an http-level ssl_certificate) lists
    those instead, so that every row says who names it.
    """
    grouped: dict[tuple, dict[str, Any]] = {}
    mains: list[str] = []
    for config in configs:
        mains.append(config.main)
        for site in config.sites:
            for pair in site.certs:
                ref = pair.cert
                key = ("file", ref.path) if ref.path is not None else ("dynamic", ref.raw)
                entry = grouped.setdefault(key, {"ref": ref, "prefix": config.prefix, "material": None,
                                                 "chains": [], "sites": {}})
                if ref.path is not None and entry["material"] is None:
                    entry["material"] = config.material.get(ref.path)
                chain = config.chains.get(served_key(pair)) if ref.path is not None else None
                if chain is not None and all(chain is not seen[0] for seen in entry["chains"]):
                    entry["chains"].append((chain, pair, config.material, config.prefix))
                entry["sites"].setdefault((site.file, site.line, ref.node.file, ref.node.line), _site_use(site, pair))

    rows = []
    for entry in grouped.values():
        ref = entry["ref"]
        uses = tuple(entry["sites"].values())
        serving = tuple(use for use in uses if use.tls) or uses
        if ref.path is None:
            status = INLINE if ref.inline else DYNAMIC
            detail = ("PEM inline in the configuration (data:)" if ref.inline
                      else "the path holds variables the server resolves per handshake; not checked")
            # An inline value is the PEM itself, and may hold a private key: name where it is, never what.
            named = f"data: ({ref.node.directive} at {ref.node.file}:{ref.node.line})" if ref.inline else ref.raw
            rows.append(CertificateRow(named, named, status, detail, serving))
            continue
        path, resolved = _written(ref, entry["prefix"], shown), shown(ref.path)
        held: Material | None = entry["material"]
        if held is None or not held.usable:
            status = held.status if held is not None else "missing"
            detail = held.detail if held is not None else "not read"
            rows.append(CertificateRow(path, resolved, status, detail, serving))
            continue
        if not entry["chains"]:
            what = "private keys" if held.keys or held.locked_keys else "nothing usable"
            rows.append(CertificateRow(path, resolved, NO_CERTIFICATE, f"holds {what} but no certificate", serving))
            continue
        chains = tuple(chain_state(chain, pair, material, prefix, shown, now)
                       for chain, pair, material, prefix in entry["chains"])
        leaf = entry["chains"][0][0].report.leaf  # the certificate the server presents as the site's
        rows.append(CertificateRow(path, resolved, LOADED, "", serving, chains=chains,
                                   **certificate_fields(leaf, now, expiry_days)))
    rows.sort(key=_sort_key)
    return Inventory(tuple(rows), now, expiry_days, tuple(mains), critical_days)


def sent_rows(chain: Iterable[x509.Certificate], now: datetime, expiry_days: int) -> tuple[CertificateRow, ...]:
    """The certificates a live endpoint sent, as inventory rows without a file (`sslint probe`)."""
    return tuple(CertificateRow("", "", LOADED, "", (), **certificate_fields(cert, now, expiry_days)) for cert in chain)
