"""SSL101-SSL103: is the served leaf certificate valid at --now, and for how long still?"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Callable, Iterator

from cryptography import x509

from nginxssl.checks import Inputs, check
from nginxssl.checks.served import Served, browser_reloads, day, days, served
from nginxssl.model.finding import Finding
from nginxssl.pki.chain import days_left, is_expired, is_not_yet_valid, label

_LETSENCRYPT = re.compile(r"/letsencrypt/(?:live|archive)/([^/]+)/")


def renewal(item: Served) -> str:
    """What to run to get a fresh certificate for this file."""
    match = _LETSENCRYPT.search(item.pair.cert.raw) or _LETSENCRYPT.search(item.pair.cert.path or "")
    reload = browser_reloads(item.server)
    if match:
        return f"renew it with `certbot renew --cert-name {match.group(1)}`, then {reload}"
    return f"renew it with your CA, replace the file, then {reload}"


def _in_use(inputs: Inputs) -> Iterator[Served]:
    for item in served(inputs):
        if item.tls:
            yield item


def _leaves_judged(inputs: Inputs, judged: Callable[[x509.Certificate, datetime], bool]
                   ) -> Iterator[tuple[Served, x509.Certificate]]:
    """Each served leaf that `judged` (expired, not yet valid) at --now, with its item."""
    now = inputs.settings.now
    for item in _in_use(inputs):
        leaf = item.chain.report.leaf
        if judged(leaf, now):
            yield item, leaf


@check("SSL101", needs={"chains"})
def cert_expired(inputs: Inputs) -> Iterator[Finding]:
    now = inputs.settings.now
    for item, leaf in _leaves_judged(inputs, is_expired):
        ago = -days_left(leaf, now)
        yield item.finding("SSL101", (
            f"certificate {label(leaf)} in {item.shown} expired on {day(leaf.not_valid_after_utc)} "
            f"({days(ago)} ago); {inputs.wording} keeps serving it "
            f"and browsers refuse it with NET::ERR_CERT_DATE_INVALID (Firefox: SEC_ERROR_EXPIRED_CERTIFICATE); "
            f"{renewal(item)}"))


@check("SSL102", needs={"chains"})
def cert_not_yet_valid(inputs: Inputs) -> Iterator[Finding]:
    now = inputs.settings.now
    for item, leaf in _leaves_judged(inputs, is_not_yet_valid):
        ahead = (leaf.not_valid_before_utc - now).total_seconds() / 86400
        yield item.finding("SSL102", (
            f"certificate {label(leaf)} in {item.shown} is not valid before "
            f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (in {days(ahead)}); browsers refuse it with "
            f"NET::ERR_CERT_DATE_INVALID until then; if that date looks wrong, check the clock of the "
            f"machine that issued it (and this one's: `timedatectl`), else keep serving the current "
            f"certificate until then"))


@check("SSL103", needs={"chains"})
def cert_expiring_soon(inputs: Inputs) -> Iterator[Finding]:
    now = inputs.settings.now
    limit = inputs.settings.expiry_days
    for item in _in_use(inputs):
        leaf = item.chain.report.leaf
        if is_expired(leaf, now) or is_not_yet_valid(leaf, now):
            continue
        left = days_left(leaf, now)
        if left > limit:
            continue
        yield item.finding("SSL103", (
            f"certificate {label(leaf)} in {item.shown} expires on {day(leaf.not_valid_after_utc)} "
            f"(in {days(left)}; warning threshold --expiry-days {limit}); after that browsers refuse it "
            f"with NET::ERR_CERT_DATE_INVALID; {renewal(item)}"))
