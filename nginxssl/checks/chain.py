"""SSL104-SSL106, SSL201-SSL204: does the served chain lead a browser to a root it trusts?

The load stage diagnosed each served file once (pki.pool, pki.chain): the
structural fields say what is wrong and where the missing pieces are;
cryptography's verifier (report.verified / served_verified) confirms. Where the
two disagree, nothing is reported: a false alarm at 2 a.m. costs more than a
finding left to `openssl s_client`.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import datetime
from typing import Iterator

from cryptography import x509

from nginxssl.checks import Inputs, check
from nginxssl.checks.fullchain import chain_fix, fix_text, planned
from nginxssl.checks.served import Served, day, days, directive_name, in_use, position, served, shown
from nginxssl.model.edits import ChainFix
from nginxssl.model.finding import Finding
from nginxssl.model.site import PathRef
from nginxssl.pki.chain import (
    ChainReport,
    Link,
    Signatures,
    copy_on_path,
    days_left,
    is_ca,
    is_expired,
    is_self_signed,
    issued,
    label,
    subject_label,
)
from nginxssl.pki.sources import AIA

BROWSER_UNTRUSTED = "NET::ERR_CERT_AUTHORITY_INVALID, Firefox SEC_ERROR_UNKNOWN_ISSUER"
_SELF_SIGNED_CA = "the internal CA that issues it (or, for one host, this certificate)"


# A name a public CA issues for: certbot refuses `_`, `localhost`, regexes and single labels.
_PUBLIC_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z][A-Za-z0-9-]{0,62}$")


def _certbot(item: Served) -> str:
    names = [name for name in item.names if _PUBLIC_NAME.match(name)][:3]
    if not names:  # a catch-all (`server_name _;`) or internal names: no command that could be followed
        return ""
    plugin = "--apache" if item.server == "apache" else "--nginx"
    return f"`certbot {plugin} {' '.join(f'-d {name}' for name in names)}`"


def ways_out(item: Served, ca: str) -> str:
    """The two ways out of an untrusted certificate, as DESIGN.md promises them."""
    certbot = _certbot(item)
    lets_encrypt = f" (Let's Encrypt: {certbot})" if certbot else ""
    return (
        f"Public site: use a certificate from a public CA{lets_encrypt}. "
        f"Intranet: trust {ca} on every client (Debian/Ubuntu: copy it to /usr/local/share/ca-certificates/ "
        "as a .crt file and run `update-ca-certificates`; Windows: `certutil -addstore root ca.crt`; "
        "macOS: import it into the System keychain with Keychain Access and set it to Always Trust), "
        "and run sslint with `--ca-file ca.crt`"
    )


def _undecided(report: ChainReport) -> str:
    """What the diagnosis could not check (a signature in an algorithm nobody verifies)."""
    return f" (not decided: {'; '.join(report.notes)})" if report.notes else ""


_SHOWN_TRUST_FILES = 3  # a message names a few; a hundred --ca-file files would bury the point


def _trust_text(item: Served) -> str:
    files = item.chain.trust_sources
    more = len(files) - _SHOWN_TRUST_FILES
    sources = (", ".join(files[:_SHOWN_TRUST_FILES]) + (f" and {more} more" if more > 0 else "")) or "no file"
    return f"the trust store ({sources})" if item.chain.system_trust else f"the trusted roots (--ca-file {sources})"


# ---------------------------------------------------------------- SSL104, SSL105


@check("SSL104", needs={"chains"})
def self_signed_leaf(inputs: Inputs) -> Iterator[Finding]:
    for item in in_use(inputs):
        report = item.chain.report
        if not report.self_signed_untrusted:
            continue
        yield item.finding("SSL104", (
            f"certificate {label(report.leaf)} in {item.shown} is self-signed: no browser trusts it "
            "(NET::ERR_CERT_AUTHORITY_INVALID, Firefox MOZILLA_PKIX_ERROR_SELF_SIGNED_CERT) and every visitor "
            f"must click through a warning. {ways_out(item, _SELF_SIGNED_CA)}"))


@check("SSL105", needs={"chains"})
def untrusted_root(inputs: Inputs) -> Iterator[Finding]:
    # The sites of one certificate file share every word but the certbot command: each file's once.
    texts: dict[tuple, tuple[str, str, str] | None] = {}
    for item in in_use(inputs):
        key = (id(item.chain), item.shown)
        if key not in texts:
            texts[key] = _untrusted_root_text(item)
        text = texts[key]
        if text is not None:
            before, ca, after = text
            yield item.finding("SSL105", f"{before}{ways_out(item, ca)}{after}")


def _untrusted_root_text(item: Served) -> tuple[str, str, str] | None:
    """SSL105's message about the chain of `item` as (before the ways out, the CA to trust, after)."""
    report = item.chain.report
    if not report.untrusted:
        return None
    if report.unknown_root:
        top = report.path[-1]
        unresolved = report.unresolved_issuer
        assert unresolved is not None  # unknown_root holds only when the issuer was found nowhere
        issuer = f"'{subject_label(unresolved.issuer)}'"
        where = "" if top.served else f" (found in {_source_text(item, top.origin)})"
        return (f"the chain of {label(report.leaf)} in {item.shown} ends at {label(top.cert)}{where}, issued by "
                f"{issuer}, which is not in {_trust_text(item)}; browsers show {BROWSER_UNTRUSTED}. If "
                f"{issuer} is a public CA's intermediate rather than a root, get it from your CA and serve it "
                f"after {label(top.cert)}. ", issuer, _undecided(report))
    root = report.untrusted_root
    assert root is not None  # untrusted without unknown_root means the path ends at an untrusted root
    if root.served:
        included = (f"; {item.shown} even includes it ({position(root.served_index, len(report.served))}), "
                    "which does not make it trusted")
    else:
        included = f" (found in {_source_text(item, root.origin)})"
    return (f"the chain of {label(report.leaf)} in {item.shown} ends at {label(root.cert)}, a root that is not "
            f"in {_trust_text(item)}{included}; browsers show {BROWSER_UNTRUSTED}. ",
            label(root.cert), _undecided(report))


# ---------------------------------------------------------------- SSL106


def _child_of(report: ChainReport, link: Link) -> x509.Certificate | None:
    for below, above in zip(report.path, report.path[1:]):
        if above is link:
            return below.cert
    return None


@check("SSL106", needs={"chains"})
def chain_cert_invalid(inputs: Inputs) -> Iterator[Finding]:
    now = inputs.settings.now
    for item in in_use(inputs):
        report = item.chain.report
        if report.verified:
            continue  # the verifier found a path browsers accept: no alarm
        by_link: dict[int, list] = {}
        for problem in report.invalid_intermediates:
            if problem.link.served:  # not sent: a pool copy's problems are told in SSL201
                by_link.setdefault(id(problem.link), []).append(problem)
        for problems in by_link.values():
            link = problems[0].link
            reasons = {problem.reason: problem for problem in problems}
            where = f"{label(link.cert)} ({_served_at(item, link.served_index)})"
            if "expired" in reasons:
                what = (f"intermediate {where} expired on {day(link.cert.not_valid_after_utc)} "
                        f"({days(-days_left(link.cert, now))} ago): browsers reject the whole chain with "
                        "NET::ERR_CERT_DATE_INVALID even though the leaf itself is valid")
                fix = "replace it with your CA's current intermediate (the one that issued the leaf)"
            elif "not yet valid" in reasons:
                what = (f"intermediate {where} is not valid before {day(link.cert.not_valid_before_utc)}: "
                        "browsers reject the whole chain with NET::ERR_CERT_DATE_INVALID")
                fix = "serve the intermediate that is valid today"
            elif "not a CA" in reasons:
                child = _child_of(report, link)
                signs = f", which signs {label(child)}," if child is not None else ""
                what = (f"{where}{signs} is not a CA certificate ({reasons['not a CA'].detail}): browsers "
                        "reject the chain (NET::ERR_CERT_INVALID; openssl: 'invalid CA certificate')")
                fix = "a certificate that signs others must be a CA: serve your CA's real intermediate"
            elif "path length exceeded" in reasons:
                what = (f"intermediate {where} allows fewer CAs below it than the chain has "
                        f"({reasons['path length exceeded'].detail}): browsers reject the chain "
                        "(openssl: 'path length constraint exceeded')")
                fix = "ask the CA for a chain that respects its path length constraint"
            else:
                what = (f"intermediate {where} may not sign certificates ({problems[0].detail}): browsers "
                        "reject the chain (openssl: 'key usage does not include certificate signing')")
                fix = "serve your CA's real intermediate"
            others = [problem.detail for problem in problems[1:]]
            also = f" (also: {'; '.join(others)})" if others else ""
            yield item.finding("SSL106", f"{what}{also}; {fix}")


# ---------------------------------------------------------------- SSL201


def _source_text(item: Served, source: str) -> str:
    kind = item.chain.origin(source)
    if kind == AIA:
        return f"{source} (AIA caIssuers, fetched with --fetch)"
    return f"{source} ({kind})" if kind else source


def _written_in(item: Served, index: int) -> PathRef | None:
    """The chain file (Apache) the index-th served certificate comes from: mod_ssl sends its
    certificates after the certificate file's first; None: the certificate file."""
    chain = item.pair.chain
    return chain if chain is not None and index > 0 else None


def _served_at(item: Served, index: int) -> str:
    """Where the index-th served certificate is written: the certificate file, or (Apache) the chain file
    mod_ssl sends after the file's first certificate."""
    chain = _written_in(item, index)
    total = len(item.chain.report.served)
    if chain is not None:
        return f"{position(index - 1, total - 1)} in {directive_name(chain)} {shown(chain)}"
    return f"{position(index, total)} in {item.shown}"


def _fullchain_name(ref_path: str) -> str:
    stem, _ext = os.path.splitext(ref_path)
    return f"{stem}.fullchain.pem"


def _completion(item: Served, missing: tuple[Link, ...], plan: ChainFix) -> str:
    """What to run so that the file holds the leaf and every missing intermediate."""
    fix = plan.fix
    if fix.edits:
        chain = item.chain
        if plan.new_file and chain.ready_chain and len(chain.report.served) == 1:
            return (f"fix: {fix_text(fix)} (by hand: `cat {chain.cert_path} {chain.ready_chain} > "
                    f"{plan.new_file}`)")
        return f"fix: {fix_text(fix)}"
    return f"{_by_hand(item, missing, plan)}; {fix_text(fix)}"


def _by_hand(item: Served, missing: tuple[Link, ...], plan: ChainFix) -> str:
    chain = item.chain
    directive = directive_name(item.pair.cert)
    if plan.ready_fullchain:
        return (f"fix: point {directive} at {plan.ready_fullchain}, which holds exactly the leaf and its "
                "intermediates")
    written = _fullchain_name(item.pair.cert.raw)
    if chain.ready_chain and len(chain.report.served) == 1:
        on_disk = _fullchain_name(chain.cert_path)  # item.pair.cert.path, known: the file was read
        return (f"fix: `cat {chain.cert_path} {chain.ready_chain} > {on_disk}`, then point {directive} "
                f"at {written}")
    labels = ", ".join(label(link.cert) for link in missing)
    return f"fix: write the leaf followed by {labels} (in that order) into {written} and point {directive} at it"


def _impostors(item: Served) -> str:
    """The served certificates that have the missing issuer's name but not its key, said once."""
    report = item.chain.report
    if not report.impostors:
        return ""
    held = ", ".join(f"{label(extra.cert)} ({_served_at(item, extra.index)})" for extra in report.impostors)
    return (f"; the file does hold {held} with the issuer's name, but its key did not sign "
            f"{label(report.leaf)} (the signature and key identifiers disagree: another CA's or an older "
            "intermediate under the same name), so it is no issuer")


@check("SSL201", needs={"chains"})
def chain_incomplete(inputs: Inputs) -> Iterator[Finding]:
    for item in in_use(inputs):
        chain = item.chain
        report = chain.report
        if not report.incomplete:  # what is sent verifies, or nothing is missing from it
            continue
        plan = planned(inputs, item)
        fix = plan.fix
        if report.missing:
            invalid = {id(problem.link): problem for problem in report.invalid_intermediates}
            parts = []
            for link in report.missing:
                child = _child_of(report, link)
                issuer_of = f" (issuer of {label(child)})" if child is not None else ""
                flaw = invalid.get(id(link))
                caveat = f" — but that copy is {flaw.reason}: {flaw.detail}" if flaw else ""
                parts.append(f"{label(link.cert)}{issuer_of}, found in {_source_text(item, link.origin)}{caveat}")
            noun = "intermediate" if len(parts) == 1 else "intermediates"
            yield item.finding("SSL201", (
                f"{item.shown} lacks the {noun} {'; '.join(parts)}; browsers that have not cached it fail "
                "(Firefox: SEC_ERROR_UNKNOWN_ISSUER; Android, curl, Python; `openssl s_client`: 'unable to "
                "verify the first certificate') while desktop Chrome may hide the problem by fetching it"
                f"{_impostors(item)}; {_completion(item, report.missing, plan)}{_undecided(report)}"), fix,
                summary=f"{item.shown} lacks {'an intermediate certificate' if len(parts) == 1 else f'{len(parts)} intermediate certificates'}")
        unresolved = report.unresolved_issuer
        if unresolved is not None and not report.unknown_root:  # found nowhere above the leaf itself
            issuer = f"'{subject_label(unresolved.issuer)}'"
            advice = []
            if chain.aia_urls and not inputs.settings.fetch:
                advice.append(f"the certificate says its issuer can be downloaded from {chain.aia_urls[0]} "
                              "(run sslint with --fetch to use it, or download it and convert with "
                              "`openssl x509 -inform der -in FILE -out issuer.pem`)")
            if chain.fetch_notes:
                advice.append("--fetch tried: " + "; ".join(chain.fetch_notes))
            advice.append(f"if {issuer} is your organisation's own root CA rather than an intermediate, "
                          "trust it on every client and pass it to sslint with --ca-file")
            yield item.finding("SSL201", (
                f"the issuer {issuer} of {label(unresolved.subject)} is not in {item.shown}, and sslint found "
                f"it nowhere (looked in: {'; '.join(chain.searched)}){_impostors(item)}; browsers cannot build a chain "
                f"({BROWSER_UNTRUSTED}; openssl: 'unable to get local issuer certificate'); "
                f"get the intermediate from your CA and serve it after the leaf; {'; '.join(advice)}"
                f"{_undecided(report)}"), fix)


# ---------------------------------------------------------------- SSL202


def _key_shown(item: Served) -> str:
    key = item.pair.key
    if key is None:
        return item.shown
    return f"{directive_name(key)} {shown(key)}"


def _refusal(item: Served) -> str:
    if item.server == "apache":
        return "apache2 will not start (AH02565: certificate and private key do not match)"
    return "`nginx -t` fails with 'key values mismatch' and nginx will not start"


def _misordered(report: ChainReport, signatures: Signatures) -> tuple[int, int] | None:
    served = report.served
    for later in range(1, len(served)):
        for earlier in range(later):
            if served[earlier] != served[later] and issued(served[earlier], served[later], signatures):
                return earlier, later
    return None


@check("SSL202", needs={"chains"})
def chain_order(inputs: Inputs) -> Iterator[Finding]:
    server = inputs.wording
    signatures = Signatures()  # a bundle served by many directives is checked once
    for item in served(inputs):
        report = item.chain.report
        if report.order_ok or not item.tls:
            continue
        kmi = report.key_matches_index
        if not item.answered and not (kmi is not None and kmi > 0):
            # No request reaches the sites serving it: only the order the server refuses at
            # start-up (the key checked against the first certificate) is still a problem.
            continue
        served_certs = report.served
        total = len(served_certs)
        first = served_certs[0]
        plan = planned(inputs, item)
        ready = f"; or point {item.directive} at {plan.ready_fullchain}" if plan.ready_fullchain else ""
        fix = plan.fix
        if kmi is not None and kmi > 0:
            message = (
                f"{item.shown} starts with {label(first)}, but the key ({_key_shown(item)}) belongs to "
                f"{label(report.leaf)}, {position(kmi, total)}: the site's certificate must come first; "
                f"{_refusal(item)}; fix: put {label(report.leaf)} first, then its issuers in order{ready}")
        elif kmi == 0 and report.leaf_is_ca:
            real = next((cert for cert in served_certs[1:] if not is_ca(cert)), None)
            real_text = (f"; the site's own certificate {label(real)} is "
                         f"{position(served_certs.index(real), total)}") if real is not None else ""
            message = (
                f"{item.shown} starts with {label(first)}, a CA certificate, and the key ({_key_shown(item)}) "
                f"is that CA's private key: {server} starts, but serves the CA certificate as the site's "
                f"certificate and browsers reject it (it names no host: NET::ERR_CERT_COMMON_NAME_INVALID)"
                f"{real_text}; reordering alone breaks the key match: put the site's certificate first and "
                f"point the key directive at its own key — and keep a CA's private key off web servers")
        elif report.leaf_index != 0:
            message = (
                f"{item.shown} starts with {label(first)}, a CA certificate; the site's certificate "
                f"{label(report.leaf)} is {position(report.leaf_index, total)}: {server} sends the first "
                f"certificate as the site's and checks the key against it; fix: put {label(report.leaf)} "
                f"first, then its issuers in order{ready}")
        else:
            pair = _misordered(report, signatures)
            if pair is None:
                continue
            earlier, later = pair
            # What is served verifies as it is (browsers and OpenSSL build the path from any
            # order): a warning for the stricter clients, not an error. Otherwise the order is
            # one more reason a client fails.
            severity = "warning" if report.served_verified else ""
            message = (
                f"in {item.shown}, {label(served_certs[earlier])} ({position(earlier, total)}) comes before "
                f"{label(served_certs[later])} ({position(later, total)}), which it issued: each certificate "
                "must be followed by its issuer; browsers usually cope, but stricter TLS clients (older Java, "
                f"embedded devices) fail to build the chain; fix: leaf first, then each issuer in turn{ready}")
            yield replace(item.finding("SSL202", f"{message}; {fix_text(fix)}", fix,
                                       summary=f"{item.shown} has an issuer before the certificate it issued"),
                          severity=severity)
            continue
        yield item.finding("SSL202", f"{message}; {fix_text(fix)}", fix,
                           summary=f"{item.shown}: the site's certificate is not first")


# ---------------------------------------------------------------- SSL203, SSL204


@check("SSL203", needs={"chains"})
def chain_contains_root(inputs: Inputs) -> Iterator[Finding]:
    for item in in_use(inputs):
        report = item.chain.report
        if not report.root_sent or report.anchor is None or report.root_index is None:
            continue
        root = report.served[report.root_index]
        where = f"{label(root)} ({_served_at(item, report.root_index)})"
        size = len(root.tbs_certificate_bytes) + len(root.signature)
        fix = chain_fix(inputs, item)
        if item.chain.auto_chain:
            where = f"{label(root)} ({item.chain.auto_chain})"
            message = (f"apache2 sends the root {where}: the certificate file holds no intermediates, so OpenSSL "
                       f"completes the chain from SSLCACertificateFile, root included; clients trust only their "
                       f"own copy of a root; to send exactly the leaf and its intermediates, put them in "
                       f"{item.shown}")
        elif is_self_signed(root):
            message = (f"{where} is the root itself: clients trust only their own copy, so sending it adds "
                       f"about {size:,} bytes to every handshake for nothing; drop it from the file")
        else:
            message = (f"{where} is a cross-signed copy of the trusted root {label(report.anchor)}: clients that "
                       "trust that root ignore it; keep it only if old clients that lack the root need it")
        yield item.finding("SSL203", f"{message}; {fix_text(fix)}", fix)


def _another_copy(item: Served, where: str, cert: x509.Certificate, now: datetime) -> str:
    """SSL204 on a second certificate for a CA the chain goes through (same name, same key): not an
    impostor, whose key signed nothing of the chain."""
    twin = copy_on_path(cert, item.chain.report.path)
    assert twin is not None  # the reason diagnose() gave it
    issuer = f"'{subject_label(cert.issuer)}'"
    if twin.served and twin.served_index is not None:
        chain = f"clients build the chain through the one {_served_at(item, twin.served_index)}"
    else:
        chain = (f"the chain goes through the one found in {_source_text(item, twin.origin)}, which is not "
                 "sent (SSL201)")
    if is_expired(cert, now):
        why = f"this one expired on {day(cert.not_valid_after_utc)}, so no client uses it"
    else:
        why = f"this one helps only clients that trust {issuer} and not the root the chain ends at"
    return (f"{where} is a second certificate of the CA {label(cert)}, issued by {issuer} rather than "
            f"'{subject_label(twin.cert.issuer)}': {chain}, with the same name and key; {why}; remove it from "
            "the file")


@check("SSL204", needs={"chains"})
def chain_extra_certs(inputs: Inputs) -> Iterator[Finding]:
    for item in in_use(inputs):
        report = item.chain.report
        reversed_chain = report.leaf_is_ca and report.key_matches_index == 0
        if not report.extras:
            continue
        fix = chain_fix(inputs, item)
        for extra in report.extras:
            where = f"{label(extra.cert)} ({_served_at(item, extra.index)})"
            if extra.reason == "duplicate":
                message = (f"{where} is a duplicate: the same certificate is already in the file; it is sent on "
                           "every handshake for nothing; remove the copy")
            elif extra.reason == "subject-of-leaf" and reversed_chain:
                continue  # the real leaf behind a CA served first: SSL202 tells that story
            elif extra.reason == "another-copy":
                message = _another_copy(item, where, extra.cert, inputs.settings.now)
            elif any(extra is impostor for impostor in report.impostors):
                message = (f"{where} has the name of the issuer of the chain but not its key: it signed none of "
                           f"it (SSL201 tells what is missing); it is sent on every handshake for nothing; "
                           "remove it from the file")
            else:
                message = (f"{where} is not on the chain of {label(report.leaf)}: it is sent on every handshake, "
                           "and clients that expect each certificate to certify the one before it (older Java, "
                           "embedded TLS stacks) may fail; remove it from the file")
            # A certificate mod_ssl sends from SSLCertificateChainFile is that line's to answer for
            # (the fix deletes it), as _served_at words it.
            yield item.finding("SSL204", f"{message}; {fix_text(fix)}", fix, at=_written_in(item, extra.index))
