"""The last look before a chain fix is written: is the chain the server will send right?

A fullchain fix (SSL201-SSL204) carries an ExpectChain promise. After the
edits are planned and before anything touches the disk, the bytes the
directive will name -- the planned new file, or the existing sibling a fix
reuses -- are checked again on their own, without the diagnosis that produced
them: certificates only; the leaf first and its public key that of the key the
site will use; each certificate issued by the next (signature checked); no
root, no duplicate; and cryptography's verifier accepts the chain with the
trust sslint ran with, at the time it judged. A promise that does not hold is
a refused fix, never a written one.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from nginxssl.model.edits import ExpectChain, FilePlan
from nginxssl.pki.analyse import trust_store
from nginxssl.pki.chain import is_self_signed, issued, label, verification_name, verify
from nginxssl.pki.load import Loader
from nginxssl.pki.trust import TrustStoreError, public_key_der

MAX_CHAIN_BYTES = 1024 * 1024


def _content(promise: ExpectChain, plans: dict[str, FilePlan]) -> bytes | None:
    plan = plans.get(promise.path)
    if plan is not None:
        return plan.new
    try:
        with open(promise.path, "rb") as handle:
            return handle.read(MAX_CHAIN_BYTES + 1)
    except OSError:
        return None


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text) if text else datetime.now(timezone.utc)
    except ValueError:
        moment = datetime.now(timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def broken(promise: ExpectChain, plans: dict[str, FilePlan], loader: Loader | None = None) -> str | None:
    """Why the promised chain is not what the server should send; None when it is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _broken(promise, plans, loader or Loader())


def _broken(promise: ExpectChain, plans: dict[str, FilePlan], loader: Loader) -> str | None:
    where = promise.path
    data = _content(promise, plans)
    if data is None:
        return f"{where} cannot be read"
    if len(data) > MAX_CHAIN_BYTES:
        return f"{where} is larger than any certificate chain"
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        return f"{where} does not hold PEM certificates ({error})"
    if data.count(b"-----BEGIN ") != len(certs):
        return f"{where} holds something besides certificates"
    leaf = certs[0]
    if public_key_der(leaf) != promise.key_spki:
        return f"the first certificate of {where}, {label(leaf)}, does not match the key the site uses"
    if promise.key_path is not None:
        held = loader.load(promise.key_path)
        if held.usable and held.keys:
            key = held.keys[0].key.public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
            if key != promise.key_spki:
                return f"the key in {promise.key_path} is not the key of {label(leaf)}"
        elif not held.locked_keys:  # an encrypted key cannot be opened here; its public half was compared above
            return f"{promise.key_path} holds no private key"
    ders = [cert.public_bytes(serialization.Encoding.DER) for cert in certs]
    if len(set(ders)) != len(ders):
        return f"{where} holds the same certificate twice"
    for below, above in zip(certs, certs[1:]):
        if not issued(above, below):
            return f"in {where}, {label(above)} did not issue {label(below)}"
    for cert in certs[1:]:
        if is_self_signed(cert):
            return f"{where} holds the root {label(cert)}"
    try:
        trust = trust_store(tuple(promise.ca_files), promise.system_trust)
    except TrustStoreError as error:
        return f"the trust store cannot be read ({error.path}: {error.message})"
    ok, error = verify(leaf, certs[1:], trust, _moment(promise.now), verification_name(leaf))
    if not ok:
        return f"the chain in {where} does not verify: {error}"
    return None


def check(promises: list[ExpectChain], plans: dict[str, FilePlan]) -> dict[ExpectChain, str]:
    """Every promise that does not hold, with why."""
    loader = Loader()
    problems = {}
    for promise in dict.fromkeys(promises):
        problem = broken(promise, plans, loader)
        if problem is not None:
            problems[promise] = problem
    return problems
