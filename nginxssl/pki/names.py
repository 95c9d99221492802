"""Host names against certificates, as browsers match them (RFC 6125).

Owns reading a certificate's subjectAltName entries, the one-label wildcard
rule, IDN comparison on A-labels, and deciding whether an nginx `server_name`
form (exact, `*.a.b`, `.a.b`, `a.*`, `~regex`) is covered by a certificate.
Browsers ignore the subject CN entirely, so it never covers a name here.

IDN: U-labels are converted with Python's built-in "idna" codec, which
implements IDNA 2003. Browsers use IDNA 2008 / UTS 46; the two differ only for
a handful of characters (ß, ς, ZWJ/ZWNJ, some symbols), which an admin is
unlikely to put in a server_name. Certificates carry A-labels anyway.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import warnings
from dataclasses import dataclass

from cryptography import x509

from nginxssl.pki.load import per_certificate

COVERED = "covered"
NOT_COVERED = "not covered"
CANNOT_CHECK = "cannot check"


@dataclass(frozen=True)
class NameVerdict:
    name: str  # the server_name argument as written
    status: str  # "covered" | "not covered" | "cannot check"
    missing: tuple[str, ...] = ()  # host names (or wildcards) the certificate would have to cover
    covered_by: tuple[str, ...] = ()  # the SANs that cover it
    reason: str | None = None  # why it cannot be checked, or a note on what "covered" means here

    @property
    def covered(self) -> bool:
        return self.status == COVERED

    @property
    def not_covered(self) -> bool:
        return self.status == NOT_COVERED

    @property
    def cannot_check(self) -> bool:
        return self.status == CANNOT_CHECK


# ---------------------------------------------------------------- certificate side


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cryptography's deprecation notes on odd serials
            return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:  # absent, or unparsable (a browser would reject it just the same)
        return None


# Several checks ask for the same leaf's names, once per site that serves it.
@per_certificate
def _san_values(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    san = _san(cert)
    if san is None:
        return (), ()
    try:
        dns = tuple(str(name).lower() for name in san.get_values_for_type(x509.DNSName))
    except Exception:
        dns = ()
    try:
        ips = tuple(str(address) for address in san.get_values_for_type(x509.IPAddress))
    except Exception:
        ips = ()
    return dns, ips


def dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's dNSName SANs, lower-case, in certificate order."""
    return _san_values(cert)[0]


def ip_addresses(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's iPAddress SANs as text ("192.0.2.1", "2001:db8::1")."""
    return _san_values(cert)[1]


@per_certificate
def san_names(cert: x509.Certificate) -> tuple[str, ...]:
    """DNS names then IP addresses: everything a browser matches a host against."""
    return dns_names(cert) + ip_addresses(cert)


def has_san(cert: x509.Certificate) -> bool:
    """The certificate names at least one DNS name or IP address in subjectAltName.

    A certificate with its host only in the CN (or a SAN with only e-mail
    addresses) matches no host in any current browser.
    """
    return bool(dns_names(cert) or ip_addresses(cert))


# ---------------------------------------------------------------- matching


def to_ascii(host: str) -> str | None:
    """Lower-case A-label form without a trailing dot; None when not a valid host name."""
    host = host.strip().rstrip(".")
    if not host:
        return None
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()  # IDNA 2003 (see module docstring)
    except UnicodeError:
        return None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip("[]")
    if ":" not in text and not text.replace(".", "").isdigit():
        return None  # neither IPv6 (has a colon) nor IPv4 (digits and dots): skip the costly ValueError
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _valid_wildcard(labels: list[str]) -> bool:
    # "*" alone as the whole left-most label, at least two labels under it
    # (browsers refuse "*.com"-like patterns; the public suffix list decides the
    # rest, which we do not carry), and no other "*" anywhere.
    return labels[0] == "*" and len(labels) >= 3 and all(label and "*" not in label for label in labels[1:])


def covers(pattern: str, hostname: str) -> bool:
    """Does the SAN `pattern` cover the concrete `hostname` (RFC 6125 §6.4)?

    Case-insensitive, trailing dots ignored, A-labels compared. A wildcard is
    only `*` as the complete left-most label and covers exactly one label: not
    the apex, not two labels. Partial-label wildcards (`w*.a.b`) cover nothing:
    browsers refuse them. IP addresses match only IP addresses, by value.
    """
    host_ip = _ip(hostname)
    return _covers(_prepared((pattern,))[0], host_ip, None if host_ip is not None else to_ascii(hostname))


def _covers(prepared: tuple[str, object, str | None], host_ip: object, host: str | None) -> bool:
    """covers() with both sides worked out: `host` is the A-label form, when not an IP address."""
    _pattern, pattern_ip, pattern_text = prepared
    if host_ip is not None:
        return pattern_ip is not None and pattern_ip == host_ip
    if pattern_text is None or host is None:
        return False
    if "*" in host:
        return pattern_text == host  # a wildcard is covered only by the identical wildcard
    if "*" not in pattern_text:
        return pattern_text == host
    pattern_labels = pattern_text.split(".")
    host_labels = host.split(".")
    if not _valid_wildcard(pattern_labels):
        return False
    return (
        len(host_labels) == len(pattern_labels)
        and host_labels[0] != ""
        and host_labels[1:] == pattern_labels[1:]
    )


@functools.lru_cache(maxsize=4096)
def _prepared(sans: tuple[str, ...]) -> tuple[tuple[str, object, str | None], ...]:
    """Each SAN with its IP address and A-label form, worked out once per certificate."""
    return tuple((san, _ip(san), to_ascii(san)) for san in sans)


def covering(sans: tuple[str, ...], hostname: str) -> tuple[str, ...]:
    """The SANs that cover `hostname`."""
    host_ip = _ip(hostname)
    return _covering(sans, host_ip, None if host_ip is not None else to_ascii(hostname))


def _covering(sans: tuple[str, ...], host_ip: object, host: str | None) -> tuple[str, ...]:
    if host_ip is None and host is not None and "*" not in host:
        by_text = _plain_sans(sans)
        if by_text is not None:
            return by_text.get(host, ())
    return tuple(prepared[0] for prepared in _prepared(sans) if _covers(prepared, host_ip, host))


@functools.lru_cache(maxsize=4096)
def _plain_sans(sans: tuple[str, ...]) -> dict[str, tuple[str, ...]] | None:
    """The SANs by A-label form, when none is a wildcard: a plain host name is then covered by
    exactly the SANs spelled as it is (one look-up for each of a certificate's many sites)."""
    by_text: dict[str, list[str]] = {}
    for san, _ip, text in _prepared(sans):
        if text is None:
            continue
        if "*" in text:
            return None
        by_text.setdefault(text, []).append(san)
    return {text: tuple(found) for text, found in by_text.items()}


# ---------------------------------------------------------------- nginx server_name forms


def _exact(name: str, sans: tuple[str, ...], written: str, reason: str | None = None) -> NameVerdict:
    host_ip = _ip(name)
    return _judged(name, sans, written, host_ip, None if host_ip is not None else to_ascii(name), reason)


def _judged(name: str, sans: tuple[str, ...], written: str, host_ip: object, host: str | None,
            reason: str | None = None) -> NameVerdict:
    """_exact() with the host's forms already worked out (its IP address, else its A-label form)."""
    found = _covering(sans, host_ip, host)
    if found:
        return NameVerdict(written, COVERED, covered_by=found, reason=reason)
    return NameVerdict(written, NOT_COVERED, missing=(host or to_ascii(name) or name,), reason=reason)


_REGEX_LITERAL = re.compile(r"^\^?((?:[A-Za-z0-9-]|\\\.)+)\$?$")


def _regex_literal(regex: str) -> str | None:
    """The one host a regex can match, when it is an anchored literal like ^www\\.a\\.b$."""
    if not (regex.startswith("^") and regex.endswith("$")):
        return None
    match = _REGEX_LITERAL.match(regex)
    if match is None:
        return None
    return match.group(1).replace("\\.", ".")


# The common case, none of the forms below: a lower-case ASCII host name, its own A-label form.
_PLAIN_HOST = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*")


def check_server_name(server_name: str, sans: tuple[str, ...]) -> NameVerdict:
    """Is every host nginx would route to this server_name covered by `sans`?

    - `a.b`: covered when a SAN covers it.
    - `*.a.b`: nginx routes any depth under a.b to it; no certificate can cover
      every depth, and listing sub-names proves nothing about the next one. It
      counts as covered exactly when a SAN `*.a.b` exists (all one-label names,
      which is what such a server_name is written for); otherwise `*.a.b` is
      missing.
    - `.a.b`: nginx's shorthand for `a.b` plus `*.a.b`; both must be covered.
    - `a.*` (trailing wildcard): the top-level part is open: cannot check.
    - `~regex`: an anchored literal (`~^www\\.a\\.b$`) is checked as that name;
      anything else cannot be checked. Never a false alarm.
    - `_`, `""` and names holding `$` (variables) match no host we can name:
      cannot check.
    """
    written = server_name
    name = server_name.strip()
    if _PLAIN_HOST.fullmatch(name) and not name.replace(".", "").isdigit():  # digits and dots: maybe IPv4
        return _judged(name, sans, written, None, name)
    if name in ("", '""', "''"):
        return NameVerdict(written, CANNOT_CHECK, reason="empty server_name: matches requests without a Host header")
    if name == "_":
        return NameVerdict(written, CANNOT_CHECK, reason="'_' is a placeholder that matches no host")
    if "$" in name and not name.startswith("~"):
        return NameVerdict(written, CANNOT_CHECK, reason="names with variables are resolved per request")
    if name.startswith("~"):
        literal = _regex_literal(name[1:])
        if literal is None:
            return NameVerdict(written, CANNOT_CHECK,
                               reason="regular expression: the hosts it matches cannot be listed")
        return _exact(literal, sans, written, reason="regular expression matching exactly one host")
    name_ip = _ip(name)
    if name_ip is not None:
        return _judged(name, sans, written, name_ip, None)
    if name.startswith("."):
        apex = name[1:]
        if not apex:
            return NameVerdict(written, CANNOT_CHECK, reason="'.' alone is not a host name")
        apex_verdict = _exact(apex, sans, written)
        wildcard_verdict = _exact("*." + apex, sans, written)
        missing = apex_verdict.missing + wildcard_verdict.missing
        if missing:
            return NameVerdict(written, NOT_COVERED, missing=missing,
                               covered_by=apex_verdict.covered_by + wildcard_verdict.covered_by)
        return NameVerdict(written, COVERED, covered_by=apex_verdict.covered_by + wildcard_verdict.covered_by)
    if name.endswith(".*"):
        return NameVerdict(written, CANNOT_CHECK, reason="trailing wildcard: the hosts it matches cannot be listed")
    if name.startswith("*."):
        return _exact(name, sans, written,
                      reason="nginx also routes deeper names (a.b.<domain>) here; no certificate can cover those")
    if "*" in name:
        # nginx refuses other wildcard forms at start-up (config-syntax's business).
        return NameVerdict(written, CANNOT_CHECK, reason="wildcard not at either end: nginx rejects this form")
    host = to_ascii(name)
    if host is None:
        return NameVerdict(written, CANNOT_CHECK, reason="not a valid host name (IDNA conversion failed)")
    return _judged(name, sans, written, None, host)
