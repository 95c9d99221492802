"""SSL107-SSL109: the verifier's verdict on what the site serves, never left unsaid.

cryptography's verifier judged each served chain once (pki.chain.diagnose:
report.served_verified). When it refuses every path it can build from what the
site serves and the trust store, the site gets an error: from the rule that
names the cause (expired, untrusted, incomplete, an invalid intermediate, a leaf
that may not serve sites (SSL107), a name constraint (SSL108), a weak key or
signature, no subjectAltName), else from SSL109 with the verifier's reason in
words and as it said it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Iterator

from nginxssl.checks import Inputs, check
from nginxssl.checks.served import Served, in_use, served
from nginxssl.model.finding import Finding
from nginxssl.pki import names
from nginxssl.pki.chain import ChainReport, is_expired, is_not_yet_valid, label, name_text

MAX_REASON = 240  # characters of the verifier's own words (it can print a whole curve's parameters)


def _reversed_bundle(report: ChainReport) -> bool:
    """The key is that of a CA served first (badssl's reversed chain): SSL202 tells that story."""
    return report.leaf_is_ca and report.key_matches_index == 0 and not report.order_ok


def _raw(report: ChainReport) -> str:
    reason = report.served_verify_error or ""
    return reason if len(reason) <= MAX_REASON else reason[:MAX_REASON] + "..."


# ---------------------------------------------------------------- SSL107


@check("SSL107", needs={"chains"})
def cert_not_for_servers(inputs: Inputs) -> Iterator[Finding]:
    for item in in_use(inputs):
        report = item.chain.report
        problems = report.purpose_problems
        if not problems or _reversed_bundle(report):
            continue
        what = "; ".join(problem.detail for problem in problems)
        kinds = {problem.kind for problem in problems}
        refusals = []
        if "extended key usage" in kinds:
            refusals.append("browsers refuse it (NET::ERR_CERT_INVALID; Firefox SEC_ERROR_INADEQUATE_CERT_TYPE; "
                            "`openssl s_client`: 'unsuitable certificate purpose')")
        if "key usage" in kinds:
            refusals.append("clients refuse a key used for what its keyUsage forbids (Firefox "
                            "SEC_ERROR_INADEQUATE_KEY_USAGE; OpenSSL: 'unsuitable certificate purpose')")
        if "CA certificate" in kinds:
            refusals.append("Firefox refuses a CA certificate as a site's (MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY)"
                            f"{'; apache2 logs AH01906 (a CA certificate)' if item.server == 'apache' else ''}")
        yield item.finding("SSL107", (
            f"certificate {label(report.leaf)} in {item.shown} is not made for a TLS server: {what}; "
            f"{'; '.join(refusals)}; fix: have the CA issue a server certificate (extendedKeyUsage serverAuth, "
            "keyUsage digitalSignature, CA:FALSE) for the same names -- every public CA's default"))


# ---------------------------------------------------------------- SSL108


_NAME_CONSTRAINT = re.compile(r"name constraint(?!s must have)|name constraints matched", re.IGNORECASE)


def _constraint_refused(report: ChainReport) -> bool:
    reason = report.served_verify_error or ""
    return not report.served_verified and bool(_NAME_CONSTRAINT.search(reason)) and "malformed" not in reason \
        and "unsupported" not in reason and "Exceeded" not in reason


@check("SSL108", needs={"chains"})
def name_constraints_violated(inputs: Inputs) -> Iterator[Finding]:
    for item in in_use(inputs):
        report = item.chain.report
        violations = report.constraint_violations
        if report.served_verified or not (violations or _constraint_refused(report)):
            continue  # accepted: any path through a constraining CA is not the one browsers take
        if violations:
            parts = []
            for violation in violations[:4]:
                holder = "" if violation.holder is report.leaf else f" (in {label(violation.holder)})"
                parts.append(f"{label(violation.ca.cert)} {violation.constraint}, which refuses "
                             f"{violation.name}{holder}")
            what = "the name constraints of " + "; ".join(parts)
        else:
            what = f"a CA on the chain constrains the names it may certify and refuses one of {label(report.leaf)}"
        yield item.finding("SSL108", (
            f"{what}: browsers reject the chain of {label(report.leaf)} in {item.shown} (NET::ERR_CERT_INVALID; "
            "`openssl s_client`: 'excluded subtree violation' or 'permitted subtree violation'); fix: get the "
            "certificate for names the CA may certify, or from a CA without that constraint "
            f"(verifier: {_raw(report) or 'the constraint as sslint reads it'})"))


# ---------------------------------------------------------------- SSL109

# The verifier's reasons that another rule names, when that rule's own condition holds.
_VALIDITY = "not valid at validation time"
_PURPOSE = ("required EKU not found", "cA must not be asserted in an EE")
_CA_FLAGS = ("path length constraint", "cA must be asserted in a CA", "keyCertSign must be asserted",
             "CA certificate has no basicConstraints")
_WEAK = ("RSA key is too weak", "Forbidden public key algorithm", "Forbidden signature algorithm",
         "unsupported signature algorithm")
_NO_PATH = ("all candidates exhausted with no interior errors", "chain construction exceeds max depth",
            "signature does not match", "trust store is empty")


def _explained(report: ChainReport, now: datetime) -> bool:
    """Another rule reports the cause of the verifier's refusal."""
    reason = report.served_verify_error or ""
    if report.leaf_index != 0:
        return True  # SSL202: the site's certificate is not sent first (nginx does not even start)
    leaf = report.leaf
    leaf_dates = is_expired(leaf, now) or is_not_yet_valid(leaf, now)  # SSL101, SSL102
    structural = (report.self_signed_untrusted or report.untrusted or report.incomplete  # SSL104, 105, 201
                  or (not report.verified and any(problem.link.served for problem in report.invalid_intermediates)))
    weak = bool(report.weak_keys) or (bool(report.weak_signatures) and not report.self_signed_leaf)  # 502, 503
    if _VALIDITY in reason:
        return leaf_dates or structural
    if any(words in reason for words in _PURPOSE):
        return bool(report.purpose_problems) or _reversed_bundle(report)
    if _constraint_refused(report):
        return True  # SSL108
    if any(words in reason for words in _CA_FLAGS):
        return structural
    if any(words in reason for words in _WEAK):
        return weak
    if "has no subjectAltName" in reason or "no matching subjectAltName" in reason:
        # SSL302: the leaf names no host; SSL301: every name it has ends in a dot, which no client but
        # Chrome matches (the verifier was asked for one of them without its dot)
        return not names.has_san(leaf) or report.verify_name == "invalid" or (
            not names.ip_addresses(leaf) and all(names.absolute_san(name) for name in names.dns_names(leaf)))
    if any(words in reason for words in _NO_PATH):
        return structural or leaf_dates
    return False


# (words in the verifier's reason, what it means for the admin)
_MEANINGS = (
    ("unaccounted-for critical extension",
     ("a certificate carries an extension marked critical that browsers do not understand, and a client must "
      "refuse a certificate with a critical extension it cannot process (RFC 5280 4.2)")),
    ("duplicate extension", "a certificate carries the same extension twice: a malformed certificate browsers refuse"),
    ("incorrect criticality", "a certificate marks an extension critical (or not) against the rules browsers hold CAs to"),
    ("ASN.1 parsing error", "a certificate holds a malformed (unparsable) extension, which browsers refuse"),
    ("malformed", "a CA's name constraints are malformed, so no name can be checked against them"),
    ("unsatisfiable", "a name in the certificate is malformed, so the CA's name constraints cannot be checked"),
    ("unsupported name constraint", "a CA constrains a kind of name browsers cannot check, and they refuse the chain"),
    ("nameConstraints must have", "a CA carries an empty nameConstraints extension, which browsers refuse"),
    ("prohibited extension", "the site's certificate carries an extension only a CA may carry (nameConstraints)"),
    ("Exceeded maximum",
     ("the chain makes the verifier give up (too many name-constraint or signature checks): "
      "browsers guard against such chains the same way")),
    ("exceeds max depth",
     ("no path reaches a trusted root within the verifier's depth limit (a loop between "
      "cross-signed CAs, or too many intermediates)")),
    ("serial", "a certificate's serial number is invalid (zero, negative or longer than 20 bytes)"),
    ("X509v3", "a certificate is X.509 version 1: browsers take only version 3 certificates"),
    ("non-empty Issuer", "a certificate has an empty issuer name"),
    ("subjectAltName MUST", "the subjectAltName extension's criticality contradicts the certificate's subject"),
    ("mismatch between signatureAlgorithm",
     ("a certificate names a signature algorithm that does not match its "
      "issuer's key: browsers refuse it")),
    ("EE keyUsage must not assert keyCertSign",
     ("the site's certificate says its key signs certificates "
      "(keyUsage keyCertSign), which only a CA's may")),
    ("keyUsage", "a CA's keyUsage extension is missing or does not allow signing certificates"),
    ("policy", "the certificate policies of the chain are not satisfied (policy constraints)"),
    (_VALIDITY, "a certificate of the chain (the trusted root itself, if no other) is outside its validity dates"),
    ("no usable host name", "no subjectAltName of the certificate is a valid host name, so no browser matches it"),
    ("malformed public key", "a certificate's issuer key cannot be read, so its signature cannot be checked"),
    ("RSA key is too weak", "a certificate of the chain has an RSA key shorter than browsers accept"),
    ("Forbidden public key algorithm", "a certificate of the chain has a key type or curve browsers do not accept"),
)

_PROCESSING = re.compile(r"encountered processing <Certificate\(subject=<Name\((.*?)\)>")


def _meaning(report: ChainReport) -> str:
    reason = report.served_verify_error or ""
    meaning = next((words for key, words in _MEANINGS if key in reason),
                   "cryptography's web-PKI verifier refuses every path it can build from what is served")
    match = _PROCESSING.search(reason)
    if match:
        at = next((cert for cert in report.served if name_text(cert.subject) == match.group(1)), None)
        meaning += f" (at {label(at) if at is not None else repr(match.group(1))})"
    return meaning


@check("SSL109", needs={"chains"})
def chain_rejected(inputs: Inputs) -> Iterator[Finding]:
    now = inputs.settings.now
    for item in in_use(inputs):
        report = item.chain.report
        if report.served_verified or _explained(report, now):
            continue
        yield item.finding("SSL109", (
            f"browsers reject the chain of {label(report.leaf)} in {item.shown}: {_meaning(report)} "
            f"(the verifier said: {_raw(report)}); fix: have the CA reissue the certificate that carries the "
            "defect, or serve the chain your CA publishes; check with `openssl verify -untrusted chain.pem leaf.pem`"))
