"""A share of one lint run done in a second process, when that pays.

Two parts of a run are many independent pieces of work: diagnosing each
served certificate chain, and running each rule's check. On a large tree
(5,000 sites, 1,000 certificates) each costs about a second on one core, so
lint.py gives half of each to a forked copy of itself: the child already holds
everything the parent had built (fork copies the process), does its half, and
sends back only its answers, pickled. Certificates, public keys and OIDs,
which do not pickle, travel as DER (or as the dotted OID) and are read again
on arrival; one pickle per answer keeps identities inside it as they were.

Whether a second process is used: SSLINT_JOBS=1 never, SSLINT_JOBS=2 always
(tests prove both paths give the same findings); by default only with a second
core, where fork exists, without other threads running (forking a threaded
process is unsafe), and for trees of at least MIN_SITES sites (below that,
starting the child costs more than it saves). If the child fails in any way,
the parent does the work itself: the findings never depend on the child.
"""

from __future__ import annotations

import gc
import io
import os
import pickle
import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")

MIN_SITES = 400


def two_processes(sites: int) -> bool:
    """Whether to give half of this run's work to a second process."""
    forced = os.environ.get("SSLINT_JOBS", "").strip()
    if forced:
        return forced != "1" and hasattr(os, "fork")
    if not hasattr(os, "fork") or threading.active_count() > 1 or sites < MIN_SITES:
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores >= 2


class _Pickler(pickle.Pickler):
    """Pickles what cryptography's Rust-backed objects refuse: by their DER (or dotted string)."""

    _reducers: dict[type, Callable | None] = {}

    def reducer_override(self, obj: object):  # noqa: ANN201 (pickle's protocol)
        kind = type(obj)
        reducer = self._reducers.get(kind, _UNKNOWN)
        if reducer is _UNKNOWN:
            reducer = self._reducers[kind] = _reducer_for(obj)
        return NotImplemented if reducer is None else reducer(obj)


_UNKNOWN = object()


def _reducer_for(obj: object) -> Callable | None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    if isinstance(obj, x509.Certificate):
        return lambda cert: (_certificate, (cert.public_bytes(serialization.Encoding.DER),))
    if isinstance(obj, x509.ObjectIdentifier):
        return lambda oid: (_oid, (oid.dotted_string,))
    public = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey,
              dsa.DSAPublicKey, x25519.X25519PublicKey, x448.X448PublicKey)
    if isinstance(obj, public):
        return lambda key: (_public_key, (key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),))
    return None


# Read again on arrival (cryptography's own loaders live in Rust modules pickle cannot name).

def _certificate(der: bytes) -> object:
    from cryptography import x509

    return x509.load_der_x509_certificate(der)


def _oid(dotted: str) -> object:
    from cryptography import x509

    return x509.ObjectIdentifier(dotted)


def _public_key(spki: bytes) -> object:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_public_key(spki)


def _dumps(value: object) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


class Forked(Generic[T]):
    """`work()` running in a forked child; `result()` is its answer, or None if the child failed."""

    def __init__(self, work: Callable[[], T]) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
            # No collection in the child: it lives a second, and a collection writes to every
            # object it scans, copying the parent's memory page by page.
            gc.disable()
            status = 0
            try:
                os.close(read)
                try:
                    payload = _dumps(work())
                except BaseException:  # noqa: BLE001 (any failure: the parent does the work itself)
                    payload, status = b"", 1
                with os.fdopen(write, "wb") as out:
                    out.write(payload)
            finally:
                os._exit(status)
        os.close(write)
        self._pid = pid
        self._read = read

    def result(self) -> T | None:
        try:
            with os.fdopen(self._read, "rb") as stream:
                payload = stream.read()
        finally:
            _pid, status = os.waitpid(self._pid, 0)
        if status != 0 or not payload:
            return None
        try:
            return pickle.loads(payload)
        except Exception:  # noqa: BLE001 (a torn answer: the parent does the work itself)
            return None
