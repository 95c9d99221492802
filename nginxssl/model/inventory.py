"""The certificate inventory (`sslint certs`), as data: one row per served certificate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

SELF_SIGNED = "self-signed"


WRONG_ORDER = "wrong-order"


INCOMPLETE = "incomplete"


UNTRUSTED = "untrusted"


COMPLETE = "complete"


CHAIN_STATUSES = (SELF_SIGNED, WRONG_ORDER, INCOMPLETE, UNTRUSTED, COMPLETE)  # worst first


# Why a referenced certificate has no expiry: the loader's Material.status words
# (missing, unreadable, not-regular, too-large, empty, der, pkcs12, garbage), and these.
NO_CERTIFICATE = "no-certificate"  # the file loads but holds only keys


DYNAMIC = "dynamic"  # the path uses variables nginx resolves per handshake


INLINE = "inline"  # nginx `data:` PEM in the configuration itself


LOADED = "ok"


@dataclass(frozen=True)
class SiteUse:
    """A site that serves the certificate, and the directive that names it there."""

    file: str
    line: int
    names: tuple[str, ...]
    server: str
    tls: bool
    directive_file: str
    directive_line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


# A certificate's part in a served chain, as drawn (ChainLink.role).
LEAF, INTERMEDIATE, ANCHOR, UNTRUSTED_ROOT, OFF_PATH = "leaf", "intermediate", "trust anchor", "untrusted root", "off the path"


@dataclass(frozen=True)
class ChainLink:
    """One certificate of a served chain as a reader follows it: the leaf, up the issuer path to the
    anchor, then what the server sends that is on no path (report/html.py draws these)."""

    label: str  # pki.chain.subject_label of its subject
    role: str  # LEAF, INTERMEDIATE, ANCHOR, UNTRUSTED_ROOT or OFF_PATH
    sent: int | None  # its position in what the server sends, from 1; None: not sent
    source: str  # "served", or where it was found instead (a file, "trust store", "--intermediates ...")
    not_before: datetime
    not_after: datetime
    validity: str  # "valid" | "expired" | "not yet valid", at --now
    problems: tuple[str, ...]  # what is wrong with it in this chain, in words ("not sent", "expired", ...)


@dataclass(frozen=True)
class ChainState:
    """The chain one (certificate, key, chain file) triple makes, in a word and in detail."""

    status: str  # one of CHAIN_STATUSES
    problems: tuple[str, ...]  # every status word that applies, worst first (empty when complete)
    key_file: str | None
    chain_file: str | None
    certificates: int  # how many certificates the server sends
    order_ok: bool
    missing: tuple[str, ...]  # intermediates not sent (found elsewhere), by subject
    unresolved_issuer: str | None  # an issuer found nowhere
    anchor: str | None  # the trusted root the chain reaches
    untrusted_root: str | None  # the root it reaches instead, outside the trust store
    key_matches: bool | None  # the configured key belongs to the certificate served as the leaf; None: no key read
    verified: bool  # cryptography's verifier accepts the completed chain at --now
    links: tuple[ChainLink, ...] = ()  # every certificate of the chain, leaf first, as ChainLink says


@dataclass(frozen=True)
class CertificateRow:
    """One certificate file the configuration names."""

    path: str  # as the configuration spells it, made absolute (a certbot live/ link stays a live/ link)
    resolved: str  # the file read, links resolved, without --root; the directive's text for dynamic paths
    status: str  # LOADED, a Material.status word, NO_CERTIFICATE, DYNAMIC or INLINE
    detail: str  # why nothing could be read, in the loader's words
    sites: tuple[SiteUse, ...]
    subject: str | None = None
    names: tuple[str, ...] = ()  # DNS then IP subjectAltNames of the certificate served as the leaf
    issuer: str | None = None  # the issuer's whole name
    issuer_label: str | None = None  # the issuer's CN, else its whole name
    key_type: str | None = None
    key_bits: int | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    days_left: float | None = None  # negative once expired
    validity: str | None = None  # "valid" | "expired" | "not yet valid"
    expiring: bool = False  # expired, or expires within --expiry-days
    fingerprint: str | None = None  # sha256 of the leaf, hex
    serial: str | None = None  # hex
    chains: tuple[ChainState, ...] = ()

    @property
    def loaded(self) -> bool:
        return self.status == LOADED

    @property
    def checked(self) -> bool:
        """The configuration names a file sslint can look at before a handshake."""
        return self.status not in (DYNAMIC, INLINE)

    @property
    def whole_days(self) -> int | None:
        """Whole days left (floor: -1 the day after it expired)."""
        return None if self.days_left is None else math.floor(self.days_left)

    @property
    def chain_status(self) -> str | None:
        """The worst status over the ways the file is served; None when no chain was built."""
        if not self.chains:
            return None
        return min((chain.status for chain in self.chains), key=CHAIN_STATUSES.index)

    @property
    def problems(self) -> tuple[str, ...]:
        found = {problem for chain in self.chains for problem in chain.problems}
        return tuple(status for status in CHAIN_STATUSES if status in found)


OK, WARNING, CRITICAL = "ok", "warning", "critical"  # a row's verdict, as monitoring plugins grade


@dataclass(frozen=True)
class Inventory:
    rows: tuple[CertificateRow, ...]  # unreadable files first, then by days left, dynamic paths last
    now: datetime
    expiry_days: int  # the warning threshold (--warning-days, alias --expiry-days)
    configs: tuple[str, ...] = ()
    critical_days: int = 0  # --critical-days: expiring this soon is critical

    def verdict(self, row: CertificateRow) -> str:
        """critical: browsers refuse it now or within --critical-days, or the server cannot load the
        file; warning: it expires within --warning-days, or its chain is not what browsers accept;
        ok otherwise (also a path resolved per handshake, which nothing can judge beforehand)."""
        if not row.checked:
            return OK
        if not row.loaded:
            return CRITICAL
        expiry = self.expiry_verdict(row)
        if expiry != OK:
            return expiry
        if row.chain_status not in (None, COMPLETE):
            return WARNING
        return OK

    def expiry_verdict(self, row: CertificateRow) -> str:
        """The verdict of its dates alone (the expiry timeline's colour): critical when browsers refuse
        it now or within --critical-days, warning within --warning-days, ok otherwise or undated."""
        if row.validity in ("expired", "not yet valid"):
            return CRITICAL
        if row.days_left is not None and row.days_left <= self.critical_days:
            return CRITICAL
        return WARNING if row.expiring else OK

    @property
    def expiring(self) -> tuple[CertificateRow, ...]:
        """Rows expired or expiring within --expiry-days: what makes the exit code 1."""
        return tuple(row for row in self.rows if row.expiring)

    @property
    def expired(self) -> tuple[CertificateRow, ...]:
        return tuple(row for row in self.rows if row.validity == "expired")

    @property
    def unreadable(self) -> tuple[CertificateRow, ...]:
        return tuple(row for row in self.rows if row.checked and not row.loaded)
