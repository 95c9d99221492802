"""SSL502-SSL503, SSL506: keys and signatures too weak for browsers and for OpenSSL 3, or of a kind
browsers do not take.

Judged on the certificates the server sends: the leaf and the intermediates in
its file (a trust anchor's own key and self-signature are never used, and
OpenSSL skips them too). Unlike the chain rules these apply to every
certificate the server loads, TLS listener or not: nginx loads an inherited
ssl_certificate for plain servers too, and refuses to start on it.

OpenSSL 3 at security level 2 (the default of Debian 12, Ubuntu 22.04 and
RHEL 9 builds) refuses at load time: RSA and DSA keys under 2048 bits and EC
keys under 224 bits ("ee key too small" for the leaf, "ca key too small" for
an intermediate), and SHA-1 or MD5 signatures ("ca md too weak"). Checked
against this machine's nginx by the rule cases (`nginx_t: fail`).
"""

from __future__ import annotations

from typing import Iterator

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519

from nginxssl.checks import Inputs, check
from nginxssl.checks.served import Served, browser_reloads, in_use, position, served
from nginxssl.model.finding import Finding
from nginxssl.pki.chain import label
from nginxssl.pki.load import KEY_LOAD_ERRORS

_LEVEL2 = "OpenSSL 3 at security level 2 (the default on Debian 12, Ubuntu 22.04, RHEL 9)"
_OPENSSL_MIN_BITS = {"RSA": 2048, "DSA": 2048, "EC": 224}  # 112-bit security


def _refuses(inputs: Inputs, reason: str) -> str:
    if inputs.config.server == "apache":
        return f"{_LEVEL2} refuses it and apache2 will not start ('{reason}')"
    return f"{_LEVEL2} refuses it: `nginx -t` fails with '{reason}' and nginx will not start"


def _where(item: Served, served_index: int | None) -> str:
    total = len(item.chain.report.served)
    if served_index == item.chain.report.leaf_index:
        return f"the certificate {{}} in {item.shown}"
    return f"the intermediate {{}} ({position(served_index, total)} in {item.shown})"


@check("SSL502", needs={"chains"})
def weak_key(inputs: Inputs) -> Iterator[Finding]:
    for item in served(inputs):
        report = item.chain.report
        for weak in report.weak_keys:
            link = weak.link
            if not link.served:
                continue
            is_leaf = link.served_index == report.leaf_index
            where = _where(item, link.served_index).format(label(link.cert))
            key = f"{weak.kind} {weak.bits:,}-bit"
            if weak.kind == "EC":
                key = f"EC {weak.bits}-bit (a curve below P-256)"
            if weak.bits < _OPENSSL_MIN_BITS.get(weak.kind, 0):
                server = _refuses(inputs, "ee key too small" if is_leaf else "ca key too small")
            elif item.tls and not item.answered:
                continue  # the server starts and no client ever receives it
            else:
                server = f"{inputs.wording} starts"
            browsers = ("browsers accept no DSA certificate" if weak.kind == "DSA" else
                        "browsers accept only P-256 and P-384 curves" if weak.kind == "EC" else
                        "browsers refuse RSA keys under 2048 bits (NET::ERR_CERT_WEAK_KEY)")
            if is_leaf:
                fix = ("fix: make a new key and certificate, e.g. `openssl req -new -newkey ec "
                       "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout site.key -out site.csr` "
                       "(or -newkey rsa:2048) and have the CSR signed")
            else:
                fix = "fix: serve your CA's current intermediate; a CA with a weak key must be replaced"
            article = "an" if weak.kind in ("RSA", "EC") else "a"
            yield item.finding("SSL502", f"{where} has {article} {key} key: {server}; {browsers}; {fix}")


_ALGORITHM_NAMES = {"sha1": "SHA-1", "md5": "MD5", "md2": "MD2", "md4": "MD4"}


@check("SSL503", needs={"chains"})
def weak_signature(inputs: Inputs) -> Iterator[Finding]:
    for item in served(inputs):
        report = item.chain.report
        if report.self_signed_leaf:
            continue  # a self-signed leaf's own signature is never checked by anyone (SSL104's case)
        for weak in report.weak_signatures:
            link = weak.link
            if not link.served:
                continue
            is_leaf = link.served_index == report.leaf_index
            where = _where(item, link.served_index).format(label(link.cert))
            algorithm = _ALGORITHM_NAMES.get(weak.algorithm, weak.algorithm.upper())
            issuer = "the CA" if is_leaf else "the root or CA above it"
            fix = ("fix: have it reissued with SHA-256 (any current CA does so by default)" if is_leaf else
                   "fix: serve your CA's current SHA-256 intermediate")
            yield item.finding("SSL503", (
                f"{where} is signed with {algorithm} by {issuer}: {_refuses(inputs, 'ca md too weak')}; "
                f"browsers refuse {algorithm} signatures (NET::ERR_CERT_WEAK_SIGNATURE_ALGORITHM); {fix}"))


_RSA_PSS_KEY = x509.ObjectIdentifier("1.2.840.113549.1.1.10")  # id-RSASSA-PSS as a key's algorithm
_BROWSER_CURVES = ("secp256r1", "secp384r1")
_CURVE_NAMES = {"secp521r1": "P-521", "secp256k1": "secp256k1", "brainpoolP256r1": "brainpoolP256r1"}


def browser_refusal(leaf: x509.Certificate) -> str | None:
    """What about the leaf's key or signature browsers refuse, naming which browsers; None
    when every browser takes it (or when SSL502 already names the key as too weak)."""
    try:
        algorithm = leaf.public_key_algorithm_oid
    except ValueError:  # an odd SubjectPublicKeyInfo cryptography cannot name: not this rule's to judge
        return None
    if algorithm == _RSA_PSS_KEY:
        return ("an RSA-PSS public key (id-RSASSA-PSS): Chrome, Edge, Firefox and Safari take RSA keys only as "
                "rsaEncryption and fail the handshake, and no public CA may issue this form")
    try:
        key = leaf.public_key()
    except KEY_LOAD_ERRORS:  # a key cryptography cannot load (GOST, ...): browsers know it no better
        return None
    if isinstance(key, ed25519.Ed25519PublicKey) or isinstance(key, ed448.Ed448PublicKey):
        kind = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
        return (f"an {kind} key: no browser accepts {kind} certificates (Chrome, Edge, Firefox and Safari fail the "
                f"handshake), although OpenSSL and {{server}} load it happily")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in _BROWSER_CURVES and key.key_size >= 256:
        curve = _CURVE_NAMES.get(key.curve.name, key.curve.name)
        if key.curve.name == "secp521r1":
            return ("a P-521 key: Chrome and Edge (every Chromium browser) accept only P-256 and P-384 certificate "
                    "keys and fail the handshake; Firefox accepts it")
        return f"an EC key on {curve}: browsers accept only the P-256 and P-384 curves"
    signature = leaf.signature_algorithm_oid
    if signature in (x509.SignatureAlgorithmOID.ED25519, x509.SignatureAlgorithmOID.ED448):
        kind = "Ed25519" if signature == x509.SignatureAlgorithmOID.ED25519 else "Ed448"
        return (f"an {kind} signature by its issuer: no browser verifies {kind} signatures in certificates "
                f"(Chrome, Edge, Firefox and Safari reject the chain)")
    return None


@check("SSL506", needs={"chains"})
def key_unsupported_by_browsers(inputs: Inputs) -> Iterator[Finding]:
    for item in in_use(inputs):
        leaf = item.chain.report.leaf
        refusal = browser_refusal(leaf)
        if refusal is None:
            continue
        yield item.finding("SSL506", (
            f"the certificate {label(leaf)} in {item.shown} has {refusal.format(server=inputs.wording)}; "
            f"fix: make a new key and certificate with a key every browser takes, e.g. `openssl req -new -newkey ec "
            f"-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout site.key -out site.csr` (or -newkey rsa:2048), "
            f"have the CSR signed, then {browser_reloads(item.server)}"))
