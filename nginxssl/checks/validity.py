"""SSL101-SSL103 and SSL110: is the served leaf certificate valid at --now, for how long still, and
is its lifetime one browsers accept?"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from cryptography import x509

from nginxssl.checks import Inputs, check
from nginxssl.checks.served import Served, browser_reloads, day, days, in_use, served
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


def _leaves_judged(inputs: Inputs, judged: Callable[[x509.Certificate, datetime], bool]
                   ) -> Iterator[tuple[Served, x509.Certificate]]:
    """Each served leaf that `judged` (expired, not yet valid) at --now, with its item."""
    now = inputs.settings.now
    for item in in_use(inputs):
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
    for item in in_use(inputs):
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


# The lifetime limits browsers hold a server certificate to, by the date it was issued
# (notBefore), and who enforces each (rules/SSL110.yaml cites the published policies).
# (issued from, strictly after?, longest lifetime, publicly trusted CAs only?, who refuses it)
_LIFETIME_LIMITS = (
    (datetime(2020, 9, 1, tzinfo=timezone.utc), False, timedelta(days=398), True,
     "Chrome (NET::ERR_CERT_VALIDITY_TOO_LONG) and Safari refuse a certificate from a public CA issued on or after "
     "2020-09-01 and valid for more than 398 days"),
    (datetime(2019, 7, 1, tzinfo=timezone.utc), True, timedelta(days=825), False,
     "Safari and every app on iOS 13+ and macOS 10.15+ refuse a TLS server certificate issued after 2019-07-01 "
     "and valid for more than 825 days, whoever issued it, even a CA installed on the device"),
    (datetime(2018, 3, 1, tzinfo=timezone.utc), False, timedelta(days=825), True,
     "Chrome (NET::ERR_CERT_VALIDITY_TOO_LONG) refuses a certificate from a public CA issued on or after "
     "2018-03-01 and valid for more than 825 days"),
)


def lifetime_refusal(leaf: x509.Certificate, public_ca: bool) -> tuple[int, str] | None:
    """(the longest lifetime allowed in days, who refuses and why) when browsers refuse the
    leaf for living too long; None when none does. `public_ca`: its chain ends at a root
    of the system bundle (a CA installed by hand is held to Apple's limit only)."""
    issued = leaf.not_valid_before_utc
    lifetime = leaf.not_valid_after_utc - issued
    for since, strictly_after, longest, public_only, refusal in _LIFETIME_LIMITS:
        if public_only and not public_ca:
            continue
        applies = issued > since if strictly_after else issued >= since
        if applies and lifetime > longest:
            return longest.days, refusal
    return None


@check("SSL110", needs={"chains"})
def validity_too_long(inputs: Inputs) -> Iterator[Finding]:
    now = inputs.settings.now
    for item in in_use(inputs):
        report = item.chain.report
        leaf = report.leaf
        if report.self_signed_untrusted or report.leaf_is_ca or is_expired(leaf, now):
            continue  # SSL104 / SSL202 / SSL101 already say it must be replaced (a CA's own lifetime is not capped)
        refused = lifetime_refusal(leaf, item.chain.public_anchor)
        if refused is None:
            continue
        longest, refusal = refused
        lifetime = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
        issuer = "your CA" if not item.chain.public_anchor else "the CA"
        yield item.finding("SSL110", (
            f"certificate {label(leaf)} in {item.shown} is valid for {lifetime:,} days "
            f"({day(leaf.not_valid_before_utc)} to {day(leaf.not_valid_after_utc)}): {refusal}; "
            f"fix: have {issuer} reissue it valid for at most {longest - 1} days (by hand: "
            f"`openssl x509 -req -days {longest - 1} ...`), then {browser_reloads(item.server)}"))
