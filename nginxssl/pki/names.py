"""Host names against certificates, as browsers match them (RFC 6125).

Owns reading a certificate's subjectAltName entries, the one-label wildcard
rule, IDN comparison on A-labels, and deciding whether an nginx `server_name`
form (exact, `*.a.b`, `.a.b`, `a.*`, `~regex`) is covered by a certificate.
Browsers ignore the subject CN entirely, so it never covers a name here.

The two kinds of SAN never meet: a host that is an IP address is matched
against the iPAddress entries only, by value, and a host name against the
dNSName entries only, so a dNSName spelled "192.0.2.1" covers nothing a
browser asks for, and an iPAddress entry never covers a host name (Chrome's
VerifyHostname, mozilla::pkix and `openssl -verify_ip` all do so).

IDN: the host side (a server_name a person wrote) is converted to A-labels
with Python's built-in "idna" codec, which implements IDNA 2003. Browsers use
IDNA 2008 / UTS 46; the two differ only for a handful of characters (ß, ς,
ZWJ/ZWNJ, some symbols), which an admin is unlikely to put in a server_name.
The certificate side is never converted: a dNSName is an IA5String, browsers
compare its bytes with the host's A-label form, and a dNSName holding
non-ASCII bytes (a U-label written raw) matches no host.

Wildcards: `*` alone as the left-most label, covering one label, and never
over a public suffix: Chrome refuses `*.com`, `*.co.uk` and wildcards over
top-level domains it does not know (`*.intranet`), as the ICANN part of the
Public Suffix List says (package publicsuffixlist), but accepts them over the
list's private part (`*.appspot.com`, `*.github.io`), which real sites serve.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import warnings
from dataclasses import dataclass

from cryptography import x509
from publicsuffixlist import PublicSuffixList

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
    except x509.ExtensionNotFound:
        return None
    except Exception:  # noqa: BLE001
        # Unparsable: reading one extension parses them all, and a malformed certificate may raise
        # anything from cryptography's constructors (pki/chain.py _extension). A browser rejects
        # such a certificate just the same.
        return None


@dataclass(frozen=True)
class Identities:
    """What a certificate presents to a browser: its dNSName and iPAddress SANs, kept apart."""

    dns: tuple[str, ...] = ()  # dNSName entries, lower-case, in certificate order
    ips: tuple[str, ...] = ()  # iPAddress entries as text ("192.0.2.1", "2001:db8::1")

    @property
    def names(self) -> tuple[str, ...]:
        """DNS names then IP addresses: everything a browser matches a host against, for messages."""
        return self.dns + self.ips

    @classmethod
    def from_texts(cls, texts: tuple[str, ...]) -> Identities:
        """SANs as a person lists them ("a.test", "192.0.2.1"): one that reads as an IP
        address stands for an iPAddress entry. A certificate's own entries come from
        identities(), which knows the kind of each."""
        dns: list[str] = []
        ips: list[str] = []
        for text in texts:
            (ips if _ip(text) is not None else dns).append(text)
        return cls(tuple(dns), tuple(ips))


# Several checks ask for the same leaf's names, once per site that serves it.
@per_certificate
def identities(cert: x509.Certificate) -> Identities:
    """The certificate's dNSName and iPAddress SANs, each kind on its own."""
    san = _san(cert)
    if san is None:
        return Identities()
    # The SAN is parsed whole by _san: listing its entries is plain Python and raises nothing.
    dns = tuple(name.lower() for name in san.get_values_for_type(x509.DNSName))
    ips = tuple(str(address) for address in san.get_values_for_type(x509.IPAddress))
    return Identities(dns, ips)


def dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's dNSName SANs, lower-case, in certificate order."""
    return identities(cert).dns


def ip_addresses(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's iPAddress SANs as text ("192.0.2.1", "2001:db8::1")."""
    return identities(cert).ips


@per_certificate
def san_names(cert: x509.Certificate) -> tuple[str, ...]:
    """DNS names then IP addresses: everything a browser matches a host against."""
    return identities(cert).names


def has_san(cert: x509.Certificate) -> bool:
    """The certificate names at least one DNS name or IP address in subjectAltName.

    A certificate with its host only in the CN (or a SAN with only e-mail
    addresses) matches no host in any current browser.
    """
    found = identities(cert)
    return bool(found.dns or found.ips)


# ---------------------------------------------------------------- matching


def to_ascii(host: str) -> str | None:
    """Lower-case A-label form without a trailing dot; None when not a valid host name.

    For the host side only (what a person wrote in a config): the certificate's
    dNSName is compared as it is (see _presented).
    """
    host = host.strip().rstrip(".")
    if not host:
        return None
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()  # IDNA 2003 (see module docstring)
    except UnicodeError:
        return None


def _presented(san: str) -> str | None:
    """A dNSName as browsers compare it: ASCII letters case-folded. None when it matches no
    host: it holds anything but ASCII (browsers compare bytes with the host's A-label form and
    never convert the certificate's side), or it ends in a dot (see absolute_san)."""
    if not san.isascii() or absolute_san(san):
        return None
    return san.lower() or None


def absolute_san(san: str) -> bool:
    """A dNSName written with a trailing dot (`a.test.`): it covers no host. mozilla::pkix takes
    no presented name that is absolute (Firefox: SSL_ERROR_BAD_CERT_DOMAIN), nor do OpenSSL's
    X509_check_host (`s_client -verify_hostname`, curl: 'hostname mismatch') and cryptography's
    verifier; Chrome alone drops the dot. The host side (a server_name, a typed URL) may end in
    a dot: every client drops that one (to_ascii)."""
    return len(san) > 1 and san.endswith(".")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip("[]")
    if ":" not in text and not text.replace(".", "").isdigit():
        return None  # neither IPv6 (has a colon) nor IPv4 (digits and dots): skip the costly ValueError
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # The ICANN part only, unknown top-level domains counting as public: Chrome's
    # registry_controlled_domains with INCLUDE_UNKNOWN_REGISTRIES and
    # EXCLUDE_PRIVATE_REGISTRIES (see the module docstring). Read on the first wildcard.
    return PublicSuffixList(only_icann=True, accept_unknown=True)


@functools.lru_cache(maxsize=4096)
def is_public_suffix(domain: str) -> bool:
    """A domain under which anyone may register names (`com`, `co.uk`, an unknown TLD)."""
    return bool(_public_suffixes().is_public(domain))


def _valid_wildcard(labels: list[str]) -> bool:
    # "*" alone as the whole left-most label, at least two labels under it, no other
    # "*" anywhere, and what it stands over not a public suffix (`*.co.uk`).
    return (labels[0] == "*" and len(labels) >= 3 and all(label and "*" not in label for label in labels[1:])
            and not is_public_suffix(".".join(labels[1:])))


def wildcard_over_public_suffix(san: str) -> bool:
    """`*.co.uk`, `*.com`: a wildcard browsers take as covering nothing at all."""
    text = _presented(san)
    if text is None or not text.startswith("*."):
        return False
    return "*" not in text[2:] and is_public_suffix(text[2:])


def covers(pattern: str, hostname: str) -> bool:
    """Does the SAN `pattern` cover the concrete `hostname` (RFC 6125 §6.4)?

    `pattern` as a person writes it: one that reads as an IP address stands for an
    iPAddress entry (Identities.from_texts). Case-insensitive, a trailing dot of the host ignored,
    A-labels compared. A wildcard is only `*` as the complete left-most label and
    covers exactly one label: not the apex, not two labels, nothing over a public
    suffix. Partial-label wildcards (`w*.a.b`) cover nothing: browsers refuse them.
    IP addresses match only IP addresses, by value.
    """
    return bool(covering((pattern,), hostname))


def _dns_covers(pattern: str, host: str) -> bool:
    """A presented dNSName (see _presented) against a host's A-label form."""
    if "*" not in pattern:
        return pattern == host
    pattern_labels = pattern.split(".")
    if not _valid_wildcard(pattern_labels):
        return False
    host_labels = host.split(".")
    return (
        len(host_labels) == len(pattern_labels)
        and host_labels[0] != ""
        and host_labels[1:] == pattern_labels[1:]
    )


@functools.lru_cache(maxsize=4096)
def _prepared_dns(dns: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    """Each dNSName with the form browsers compare, worked out once per certificate."""
    return tuple((san, _presented(san)) for san in dns)


@functools.lru_cache(maxsize=4096)
def _prepared_ips(ips: tuple[str, ...]) -> tuple[tuple[str, object], ...]:
    return tuple((san, _ip(san)) for san in ips)


def _identities(sans: Identities | tuple[str, ...]) -> Identities:
    return sans if isinstance(sans, Identities) else Identities.from_texts(tuple(sans))


def covering(sans: Identities | tuple[str, ...], hostname: str) -> tuple[str, ...]:
    """The SANs that cover `hostname`."""
    host_ip = _ip(hostname)
    return _covering(_identities(sans), host_ip, None if host_ip is not None else to_ascii(hostname))


def _covering(sans: Identities, host_ip: object, host: str | None) -> tuple[str, ...]:
    if host_ip is not None:  # an IP address: the iPAddress entries alone, by value
        return tuple(san for san, address in _prepared_ips(sans.ips) if address is not None and address == host_ip)
    if host is None:
        return ()
    if "*" in host:
        # A wildcard server_name is covered only by the identical wildcard, when that covers anything.
        return tuple(san for san, text in _prepared_dns(sans.dns)
                     if text == host and _valid_wildcard(text.split(".")))
    by_text = _plain_sans(sans.dns)
    if by_text is not None:
        return by_text.get(host, ())
    return tuple(san for san, text in _prepared_dns(sans.dns) if text is not None and _dns_covers(text, host))


@functools.lru_cache(maxsize=4096)
def _plain_sans(dns: tuple[str, ...]) -> dict[str, tuple[str, ...]] | None:
    """The dNSNames by compared form, when none is a wildcard: a plain host name is then covered
    by exactly the SANs spelled as it is (one look-up for each of a certificate's many sites)."""
    by_text: dict[str, list[str]] = {}
    for san, text in _prepared_dns(dns):
        if text is None:
            continue
        if "*" in text:
            return None
        by_text.setdefault(text, []).append(san)
    return {text: tuple(found) for text, found in by_text.items()}


# ---------------------------------------------------------------- nginx server_name forms


def _exact(name: str, sans: Identities, written: str, reason: str | None = None) -> NameVerdict:
    host_ip = _ip(name)
    return _judged(name, sans, written, host_ip, None if host_ip is not None else to_ascii(name), reason)


def _judged(name: str, sans: Identities, written: str, host_ip: object, host: str | None,
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


def check_server_name(server_name: str, certificate_sans: Identities | tuple[str, ...]) -> NameVerdict:
    """Is every host nginx would route to this server_name covered by the certificate's SANs?

    `certificate_sans`: identities(leaf), or SANs as a person lists them (see
    Identities.from_texts).

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
    sans = _identities(certificate_sans)
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
