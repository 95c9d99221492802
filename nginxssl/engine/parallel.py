"""A share of one lint run done in a second process, when that pays.

On a large tree (5,000 sites, 1,000 certificates) two parts of a run cost
about as much as each other: diagnosing the served certificate chains and the
rules that read those diagnoses, and the rules that read none (files, headers,
protocols). lint.py forks a copy of itself once: the child already holds
everything the parent had built (fork copies the process); it diagnoses half
of the chains and sends them, then runs the rules that need no diagnosis (those
whose @check declares no `chains`) while the parent, with every diagnosis, runs
the others. Only answers travel,
pickled, each as soon as it is ready. Certificates, public keys and OIDs,
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
import signal
import struct
import threading
import warnings
from types import NotImplementedType
from typing import Any, BinaryIO, Callable, Generic, Iterator, Protocol, TypeVar, cast

T = TypeVar("T")

# What pickle does with an object it cannot pickle itself: call the function with the arguments.
_Reduction = tuple[Callable[..., object], tuple[object, ...]]
# A reducer takes objects of the one type it is registered for; a dict keyed by type cannot say
# which, hence Any for its argument.
_Reducer = Callable[[Any], _Reduction]

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


class Certificates(Protocol):
    """The run's table of certificates read from files (pki/load.Loader): a certificate in an
    answer travels as its DER, and arrives as the parent's own object for that certificate,
    not a copy (the parent has read the same files, and may have computed the
    certificate's facts already: they are remembered by identity)."""

    def block_of(self, cert: object) -> bytes | None: ...

    def certificate(self, block: bytes) -> object: ...


class _Pickler(pickle.Pickler):
    """Pickles what cryptography's Rust-backed objects refuse: by their DER (or dotted string),
    or, for a certificate in `certificates`, by the DER that table knows it by."""

    _reducers: dict[type, _Reducer | None] = {}
    _certificate_types: dict[type, bool] = {}

    def __init__(self, file: BinaryIO, certificates: Certificates | None) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._certificates = certificates

    def persistent_id(self, obj: object) -> bytes | None:  # noqa: D102 (pickle's protocol)
        if self._certificates is None:
            return None
        kind = type(obj)
        is_certificate = self._certificate_types.get(kind)
        if is_certificate is None:
            from cryptography import x509

            is_certificate = self._certificate_types[kind] = isinstance(obj, x509.Certificate)
        return self._certificates.block_of(obj) if is_certificate else None

    def reducer_override(self, obj: object) -> _Reduction | NotImplementedType:  # pickle's protocol
        kind = type(obj)
        try:
            reducer = self._reducers[kind]
        except KeyError:
            reducer = self._reducers[kind] = _reducer_for(obj)
        return NotImplemented if reducer is None else reducer(obj)


def _reducer_for(obj: object) -> _Reducer | None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
    from cryptography.utils import CryptographyDeprecationWarning

    if isinstance(obj, x509.Certificate):
        return lambda cert: (_certificate, (cert.public_bytes(serialization.Encoding.DER),))
    if isinstance(obj, x509.ObjectIdentifier):
        return lambda oid: (_oid, (oid.dotted_string,))
    with warnings.catch_warnings():  # naming DSA at all warns (cryptography 51): a user would see it on stderr
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
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


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, certificates: Certificates | None,
                 allowed: Callable[[str, str], bool] | None = None) -> None:
        super().__init__(file)
        self._certificates = certificates
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 (pickle's protocol)
        if self._allowed is not None and not self._allowed(module, name):
            raise pickle.UnpicklingError(f"{module}.{name} is not what an answer holds")
        return super().find_class(module, name)

    def persistent_load(self, block: bytes) -> object:  # noqa: D102 (pickle's protocol)
        if self._certificates is None:
            raise pickle.UnpicklingError("a certificate by its block, and no table to find it in")
        return self._certificates.certificate(block)


def _dumps(value: object, certificates: Certificates | None = None) -> bytes:
    buffer = io.BytesIO()
    _dump(value, buffer, certificates)
    return buffer.getvalue()


def _dump(value: object, out: BinaryIO, certificates: Certificates | None = None) -> None:
    """`value` pickled into `out` from where it stands, a frame at a time (never whole in memory)."""
    # Findings hold nothing of cryptography's: pickled without the hooks below, which pickle calls
    # for every object (6,000 findings: 68 ms -> 18 ms here, and 34 ms -> 19 ms to read them back).
    # A certificate or key inside refuses at once, and the value is pickled anew with them over
    # what the first attempt wrote.
    start = out.tell()
    try:
        pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        return
    except (TypeError, AttributeError, pickle.PicklingError):
        pass
    out.seek(start)
    out.truncate()
    _Pickler(out, certificates).dump(value)


def _loads(payload: bytes, certificates: Certificates | None = None,
           allowed: Callable[[str, str], bool] | None = None) -> object:
    return _Unpickler(io.BytesIO(payload), certificates, allowed).load()


def dumps(value: object, certificates: Certificates | None = None) -> bytes:
    """`value` as an answer travels (certificates by their DER, when `certificates` holds them)."""
    return _dumps(value, certificates)


def loads(payload: bytes, certificates: Certificates | None = None) -> object:
    """An answer kept by `dumps`, building nothing but sslint's own types, datetimes and what
    cryptography reads from bytes (for a payload read back from a file: engine/cache.py)."""
    return _loads(payload, certificates, _kept_type)


_REBUILDERS = frozenset(("_certificate", "_oid", "_public_key"))


def _kept_type(module: str, name: str) -> bool:
    if module == __name__:
        return name in _REBUILDERS
    if module == "datetime":
        return name in ("datetime", "date", "timedelta", "timezone")
    if not module.startswith(("nginxssl.model.", "nginxssl.pki.")):
        return False
    import dataclasses
    import enum
    import importlib

    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    # The plain data of a diagnosis: never a function, nor a class that does something when made.
    return isinstance(found, type) and (dataclasses.is_dataclass(found) or issubclass(found, enum.Enum))


class Forked(Generic[T]):
    """`work()`, a generator, running in a forked child: `next()` is its next answer (each
    pickled as soon as it is yielded, so the parent can use the first while the child works on
    the second), or None once the child has failed. Certificates read through `certificates`
    arrive as the parent's own objects. `close()` ends the exchange: a child still working is
    stopped, and waited for.

    The answers go through a scratch file (in memory where the system has memfd_create), and
    the pipe only says where each one lies: a child that finishes an answer before the parent
    asks for it goes on at once, instead of waiting for the parent to drain a 64 KiB pipe."""

    def __init__(self, work: Callable[[], Iterator[T]], certificates: Certificates | None = None) -> None:
        self._certificates = certificates
        self._pid: int | None = None
        self._notices: BinaryIO | None = None
        self._scratch: BinaryIO | None = None
        try:
            self._scratch = _scratch_file()
            read, write = os.pipe()
        except OSError:  # no memory file, no temporary one, no descriptors left: no child either
            self.close()
            return
        try:
            pid = os.fork()
        except OSError:  # the process limit, or memory: the parent does the work itself
            os.close(read)
            os.close(write)
            self.close()
            return
        if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
            # No collection in the child: it lives a second, and a collection writes to every
            # object it scans, copying the parent's memory page by page.
            gc.disable()
            status = 0
            try:
                os.close(read)
                scratch = self._scratch.fileno()
                offset = 0
                for answer in work():
                    with io.BufferedWriter(_Window(scratch, offset)) as out:
                        _dump(answer, out, certificates)
                        out.flush()
                        end = out.tell()
                    os.write(write, _NOTICE.pack(offset, end - offset))  # a few bytes: never blocks
                    offset = end
            except BaseException:  # noqa: BLE001
                # Any failure, even KeyboardInterrupt or SystemExit, must end here in os._exit: the
                # child never unwinds into the parent's code. The parent does the rest itself.
                status = 1
            finally:
                os._exit(status)
        os.close(write)
        self._pid = pid
        self._notices = os.fdopen(read, "rb")

    def next(self) -> T | None:
        if self._notices is None:
            return None
        notice = self._notices.read(_NOTICE.size)
        scratch = self._scratch
        assert scratch is not None  # made before the pipe whose end _notices is; close() drops both
        try:
            if len(notice) == _NOTICE.size:
                offset, size = _NOTICE.unpack(notice)
                # What arrives is one of work()'s answers, a T, pickled whole by the child.
                with io.BufferedReader(_Window(scratch.fileno(), offset, offset + size)) as answer:
                    return cast(T, _Unpickler(answer, self._certificates).load())
        except Exception:  # noqa: BLE001
            # A torn answer: unpickling raises UnpicklingError, EOFError, AttributeError, IndexError
            # and whatever the objects' own constructors raise on garbage (pickle's documentation
            # lists no end to it). The parent does the rest itself.
            pass
        self.close()
        return None

    def close(self) -> None:
        if self._notices is not None:
            self._notices.close()
            self._notices = None
        if self._scratch is not None:
            self._scratch.close()
            self._scratch = None
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)  # done with, or given up on: no need to let it finish
            except ProcessLookupError:
                pass
            os.waitpid(self._pid, 0)
            self._pid = None

    def __enter__(self) -> "Forked[T]":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Tickets:
    """The numbers 0 to count-1, shared out between a process and the child it forks next: each
    number is taken by exactly one of them, whichever asks first (the work they stand for goes to
    whichever process is free, not to a half decided in advance).

    A pipe holds one byte per number; its writing end is closed before the fork, so a read takes
    one number (a read of one byte from a pipe is atomic) or says there are none left. Made
    before the Forked it serves."""

    LIMIT = 256  # one byte each

    def __init__(self, count: int) -> None:
        if not 0 <= count < self.LIMIT:
            raise ValueError(f"{count} tickets: at most {self.LIMIT - 1}")
        self._read: int | None = None
        if not count:
            return
        try:
            read, write = os.pipe()
        except OSError:  # no descriptors left: take() says so, and the caller does the work itself
            return
        try:
            os.write(write, bytes(range(count)))  # far below a pipe's buffer: never blocks
        except OSError:
            os.close(read)
            return
        finally:
            os.close(write)
        self._read = read

    def take(self) -> int | None:
        """The next number no process has taken, or None when none is left."""
        if self._read is None:
            return None
        try:
            taken = os.read(self._read, 1)
        except OSError:
            return None
        return taken[0] if taken else None

    def close(self) -> None:
        if self._read is not None:
            os.close(self._read)
            self._read = None

    def __enter__(self) -> "Tickets":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


_NOTICE = struct.Struct("<QQ")  # where an answer lies in the scratch file: offset, size


def _scratch_file() -> BinaryIO:
    """A file no other process can open: anonymous memory, else an unlinked temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            return os.fdopen(os.memfd_create("sslint-answers", os.MFD_CLOEXEC), "w+b")
        except OSError:  # a sandbox that forbids it
            pass
    import tempfile  # where there is no memfd_create (macOS, the BSDs)

    return tempfile.TemporaryFile()


class _Window(io.RawIOBase):
    """The scratch file from `start` (to `end`, for reading), at offsets of its own (pread, pwrite):
    parent and child share the file's position (fork), which neither may move under the other.
    Answers are pickled into it and read from it a frame at a time: held whole as bytes beside
    the objects they hold, the findings of a 50,000-block tree (a 50 MB pickle) were the peak of
    either process."""

    def __init__(self, fd: int, start: int, end: int | None = None) -> None:
        self._fd = fd
        self._position = start
        self._end = end

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._position
        elif whence != os.SEEK_SET:  # nothing here needs the end
            raise io.UnsupportedOperation("seek from the end")
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position

    def truncate(self, size: int | None = None) -> int:
        size = self._position if size is None else size
        os.ftruncate(self._fd, size)
        return size

    def readinto(self, buffer: Any) -> int:  # io's protocol: any writable buffer
        wanted = len(buffer) if self._end is None else min(len(buffer), self._end - self._position)
        if wanted <= 0:
            return 0
        data = os.pread(self._fd, wanted, self._position)
        memoryview(buffer).cast("B")[:len(data)] = data
        self._position += len(data)
        return len(data)

    def write(self, data: Any) -> int:  # io's protocol: any bytes-like object
        written = os.pwrite(self._fd, data, self._position)
        self._position += written
        return written
