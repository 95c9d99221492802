"""SSL601: does the live endpoint serve the certificate the configuration names?

`sslint probe` puts what one handshake showed into Inputs.probe (engine/probe.py
reads it; this module reads nothing). Here: the site that answers the probed name
on the probed port (sites/routing.py: the way nginx and Apache pick a virtual
server), the chain that site's files make (the load stage's diagnosis:
ServedChain), compared with the chain that was sent. Without a probe, as in `sslint PATH`, nothing.

Beside the rule, `live_health`: how the live endpoint fares on its own, for a monitor
(`sslint probe`'s verdict and exit code, its JSON `probe` object): the leaf sent judged
by the thresholds of `sslint certs` (Inventory.verdict), and the chain sent verified
against the trust store exactly as the chain rules verify a served chain
(ChainReport.served_verified: what was sent, nothing found elsewhere). Neither is
"served-cert-differs", and no rule of the catalogue names a live problem, so they
carry no rule id.

Same leaf, other certificates after it, is SSL601 too: browsers build their path
from what is sent, so every chain verdict on the file (SSL201-SSL204) speaks of
a chain nobody receives; the usual cause is the same as for a new leaf (a
fullchain written, `sslint --fix` applied, no reload), and so is the remedy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Iterator

from cryptography import x509

from nginxssl.checks import Inputs, check
from nginxssl.checks.served import shown
from nginxssl.model.finding import Finding
from nginxssl.model.site import Site
from nginxssl.pki.analyse import served_key
from nginxssl.pki.chain import describe, diagnose, label, subject_label
from nginxssl.pki.trust import TrustStore
from nginxssl.sites.routing import choose_site

if TYPE_CHECKING:  # probe.py imports ssl and socket, which only `sslint probe` needs
    from nginxssl.model.inventory import CertificateRow, Inventory
    from nginxssl.model.probe import Probe


# ---------------------------------------------------------------- comparing


def _short(chain: tuple[x509.Certificate, ...]) -> str:
    return "[" + ", ".join(label(cert) for cert in chain) + "]" if chain else "no certificate after the leaf"


def _reload(site: Site) -> str:
    if site.server == "apache":
        return "`apache2ctl configtest && systemctl reload apache2`"
    return "`nginx -t && systemctl reload nginx`"


def endpoint_text(probe: Probe) -> str:
    """Where the probe went and the name it sent: 'a.test:443 (192.0.2.1) with SNI a.test'."""
    endpoint = probe.endpoint
    at = f"{endpoint.shown} ({probe.address})" if probe.address and probe.address != endpoint.host else endpoint.shown
    sni = f"SNI {endpoint.servername}" if endpoint.servername else "no SNI"
    return f"{at} with {sni}"


def _causes(probe: Probe, site: Site, served: x509.Certificate, held: x509.Certificate | None) -> str:
    reload = _reload(site)
    host = probe.endpoint.host
    elsewhere = (f"a CDN, proxy or load balancer in front of {host} ends TLS with its own copy (upload the "
                 f"certificate there), or {host}" + (f" ({probe.address})" if probe.address not in ("", host) else "")
                 + " is another machine than the one this configuration is for (check DNS and the address)")
    if held is not None and served.not_valid_before_utc < held.not_valid_before_utc:
        return (f"the file is newer than what is served: most likely the server still holds the certificate it "
                f"loaded before the file changed (renewed or replaced without a reload): run {reload}; if a "
                f"reload changes nothing, {elsewhere}")
    if held is not None and served.not_valid_before_utc > held.not_valid_before_utc:
        return (f"what is served is newer than the file: the endpoint is not serving this file — {elsewhere}; "
                f"or the file was restored from an old copy (a reload would then serve the older one)")
    return f"likely causes: no reload since the file changed (run {reload}), or {elsewhere}"


@check("SSL601", needs={"probe", "chains"})
def served_cert_differs(inputs: Inputs) -> Iterator[Finding]:
    probe = inputs.probe
    if probe is None or not probe.chain:
        return
    choice = choose_site(inputs.sites, probe)
    site = choice.site
    if site is None:
        return  # the probe command says so and exits 2: this configuration does not describe the endpoint
    where = endpoint_text(probe)
    answers = f"the site that answers it, {choice.described}, chosen by {choice.reason},"
    sent = probe.chain
    readable = [(pair, chain) for pair in site.certs if pair.cert.path
                for chain in [inputs.chains.get(served_key(pair))] if chain is not None]
    if not readable:
        if any(pair.cert.dynamic for pair in site.certs):
            why = "names its certificate with variables resolved per handshake"
        elif site.certs:
            why = (f"names {shown(site.certs[0].cert)}, which sslint cannot read "
                   f"(`sslint {inputs.config.main}` says why)")
        else:
            why = "names no certificate"
        anchor = site.certs[0].cert.node if site.certs else site.node
        yield Finding("SSL601", anchor.file if anchor else site.file, anchor.line if anchor else site.line, (
            f"cannot compare: {where} serves {describe(sent[0])}; {answers} {why}"),
            site.name_list, site.server, severity="info")
        return
    for pair, chain in readable:
        held = tuple(chain.report.served)
        if held[0] != sent[0]:
            continue
        if held == sent or not probe.complete:
            return  # what the files make is what browsers get
        yield Finding.at("SSL601", pair.cert.node, (
            f"{where} serves the certificate {shown(pair.cert)} holds, {describe(sent[0])}, but another chain "
            f"after it: it sends {_short(sent[1:])}, the files make {_short(held[1:])} ({answers[:-1]}); "
            f"browsers build their path from what is sent, so the chain checks of the file do not describe it; "
            f"most likely the chain was changed (a new fullchain, `sslint --fix`) without a reload: "
            f"run {_reload(site)}"), site)
        return
    held_text = " and ".join(f"{shown(pair.cert)}, which holds {describe(chain.report.served[0])}"
                             for pair, chain in readable)
    partial = "" if probe.complete else " (this Python reads only the leaf of what is sent)"
    yield Finding.at("SSL601", readable[0][0].cert.node, (
        f"{where} serves {describe(sent[0])}{partial}; {answers} names {held_text}: browsers get the served "
        f"certificate, and nothing sslint checks in the file applies to it; "
        f"{_causes(probe, site, sent[0], readable[0][1].report.served[0])}"), site)


# ---------------------------------------------------------------- the live endpoint's own health


@dataclass(frozen=True)
class LiveHealth:
    """How the live endpoint fares for a client, whatever the configuration says."""

    verdict: str  # OK | WARNING | CRITICAL (model.inventory), the worse of expiry and verification
    expiry: str  # the leaf sent, graded as `sslint certs` grades a certificate file
    verified: bool | None  # the chain sent verifies; None: only the leaf could be read, not judged
    verify_error: str | None  # the verifier's reason when it does not
    alarms: tuple[tuple[str, str], ...]  # (WARNING | CRITICAL, what is wrong in one sentence), worst first


def _plural(count: int) -> str:
    return f"{count} day{'' if count == 1 else 's'}"


def _expiry_alarm(leaf: x509.Certificate, row: CertificateRow, grade: str, inventory: Inventory) -> str | None:
    from nginxssl.model.inventory import CRITICAL, OK

    named = f"the live certificate {label(leaf)}"
    days = row.whole_days if row.whole_days is not None else 0
    if row.validity == "expired":
        return (f"{named} expired on {leaf.not_valid_after_utc:%Y-%m-%d} ({_plural(-days)} ago): browsers "
                "refuse it; install the renewed certificate and reload the server")
    if row.validity == "not yet valid":
        return (f"{named} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: browsers refuse "
                "it until then (or a clock is wrong)")
    if grade == OK:
        return None
    threshold = (f"--critical-days {inventory.critical_days}" if grade == CRITICAL
                 else f"--warning-days {inventory.expiry_days}")
    return (f"{named} expires on {leaf.not_valid_after_utc:%Y-%m-%d}, in {_plural(days)} ({threshold}): "
            "renew it and reload the server")


def _verify_alarm(probe: Probe, trust: TrustStore, now: datetime) -> tuple[bool | None, str | None, str | None]:
    """(verified, the verifier's reason, the alarm): the chain as sent, nothing added, as SSL201 judges it."""
    if not probe.complete:
        return None, None, None  # only the leaf was read: a verdict on it alone would be a false alarm
    report = diagnose(probe.chain, None, (), trust, now)
    if report.served_verified:
        return True, None, None
    reason = report.served_verify_error or "the verifier refuses it"
    store = ", ".join(trust.sources) if trust.sources else "no anchors"
    unresolved = report.unresolved_issuer
    if report.incomplete and unresolved is not None:
        top = unresolved.subject
        why = (f"it sends no issuer for {label(top)} (the intermediate '{subject_label(unresolved.issuer)}' is "
               f"missing): serve the full chain (leaf, then intermediates) and reload the server")
    elif report.untrusted:
        why = ("it ends at a root the trust store lacks (an internal CA: give it with --ca-file; a public site "
               "needs a certificate from a public CA)")
    else:
        why = reason
    return False, reason, (f"the chain {probe.endpoint.shown} sends does not verify against the trust store "
                           f"({store}): {why}; clients that verify what they are sent (curl, `openssl s_client "
                           f"-verify_return_error`, apps) refuse the connection")


def live_health(probe: Probe, leaf_row: CertificateRow, trust: TrustStore, now: datetime,
                warning_days: int, critical_days: int) -> LiveHealth:
    """The live leaf by `sslint certs`' thresholds (`leaf_row`: its facts, as engine.inventory.sent_rows
    gives them) and the live chain by the trust store: a chain that does not verify is critical, as an
    expired certificate is, since clients refuse it now, not soon."""
    # Imported here: the inventory's dataclasses serve `sslint probe` and `sslint certs`, not a lint.
    from nginxssl.model.inventory import CRITICAL, OK, WARNING, Inventory

    inventory = Inventory((leaf_row,), now, warning_days, critical_days=critical_days)
    expiry = inventory.verdict(leaf_row)
    verified, reason, verify_alarm = _verify_alarm(probe, trust, now)
    grades = [expiry, CRITICAL if verified is False else OK]
    verdict = max(grades, key=(OK, WARNING, CRITICAL).index)
    expiry_alarm = _expiry_alarm(probe.leaf, leaf_row, expiry, inventory)
    alarms = [(grade, alarm) for grade, alarm in ((expiry, expiry_alarm), (CRITICAL, verify_alarm)) if alarm]
    alarms.sort(key=lambda pair: -(OK, WARNING, CRITICAL).index(pair[0]))  # stable: expiry first among equals
    return LiveHealth(verdict, expiry, verified, reason, tuple(alarms))
