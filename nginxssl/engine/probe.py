"""`sslint probe`'s network part: one TLS handshake with a live endpoint, and the chain it sent.

Owns parsing HOST[:PORT], name resolution, the connection and the handshake
(with SNI; verification off: what is sent is the question, not whether it is
trusted), and turning every way that can fail into a ProbeError a person can
act on. It connects only where the user points it, once, and knows nothing of
configurations or rules: the SSL601 check compares what it read with the files.

Reading the whole chain: Python 3.13 has SSLSocket.get_unverified_chain();
3.10 to 3.12 carry the same call, privately, on the socket's _sslobj. Both are
OpenSSL's SSL_get_peer_cert_chain, which on a client holds the leaf and every
certificate sent after it, in the order sent. Where neither exists, only the
leaf (getpeercert) is read and the Probe says so (`complete=False`). No
subprocess and no second TLS stack: `openssl s_client` would add a binary the
tool cannot assume and an output format to parse.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time

from cryptography import x509

from nginxssl.model.probe import Endpoint, Probe

DEFAULT_PORT = 443
TIMEOUT = 10.0  # seconds for name resolution, connection and handshake together


class ProbeError(Exception):
    """The endpoint could not be asked: `kind` is usage | dns | refused | timeout | unreachable | tls."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_endpoint(text: str, servername: str | None = None) -> Endpoint:
    """HOST, HOST:PORT, [V6]:PORT, a bare IPv6 address, or an https:// URL; ProbeError("usage") else."""
    value = text.strip()
    if "://" in value:
        scheme, _, value = value.partition("://")
        if scheme.lower() != "https":
            raise ProbeError("usage", f"{text!r}: only https:// endpoints can be probed")
        value = value.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    port_text = ""
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ProbeError("usage", f"{text!r} is not HOST[:PORT] (IPv6: [ADDRESS]:PORT)")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host = value  # a name, an IPv4 address, or a bare IPv6 address (several colons)
    host = host.rstrip(".") if not is_address(host) else host
    if not host or any(char.isspace() for char in host) or ("/" in host):
        raise ProbeError("usage", f"{text!r} is not HOST[:PORT]")
    if ":" in host and not is_address(host):
        raise ProbeError("usage", f"{text!r} is not HOST[:PORT] (IPv6: [ADDRESS]:PORT)")
    port = DEFAULT_PORT
    if port_text or value.endswith(":"):
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ProbeError("usage", f"{text!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    if servername is not None:
        servername = servername.strip().rstrip(".")
        if not servername or is_address(servername) or any(c.isspace() or c in "/:" for c in servername):
            raise ProbeError("usage", f"--servername {servername!r}: SNI carries a DNS name, not an address")
    elif not is_address(host):
        servername = host
    if servername:
        try:  # SNI and certificates carry A-labels; so do most server_name lines
            servername = servername.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise ProbeError("usage", f"{servername!r} is not a valid host name") from None
    return Endpoint(host, port, servername or None)


def _resolve(endpoint: Endpoint, deadline: float, timeout: float) -> list[tuple]:
    """getaddrinfo has no timeout of its own: it runs in a thread the deadline can abandon."""
    outcome: list = []

    def ask() -> None:
        try:
            outcome.append(socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as error:
            outcome.append(error)

    worker = threading.Thread(target=ask, name="sslint-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not outcome:
        raise ProbeError("timeout", f"cannot resolve {endpoint.host}: no answer from DNS within {timeout:g} s")
    result = outcome[0]
    if isinstance(result, BaseException):
        reason = getattr(result, "strerror", None) or str(result)
        raise ProbeError("dns", f"cannot resolve {endpoint.host}: {reason} (check the spelling, or "
                                f"`getent hosts {endpoint.host}`)")
    return result


def _connect(endpoint: Endpoint, deadline: float, timeout: float) -> socket.socket:
    """A TCP connection to the first address that accepts, within the deadline."""
    if is_address(endpoint.host):
        family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
        candidates = [(family, socket.SOCK_STREAM, 0, "", (endpoint.host, endpoint.port))]
    else:
        candidates = _resolve(endpoint, deadline, timeout)
    failures: list[tuple[str, str, OSError]] = []
    for family, kind, protocol, _name, address in candidates:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection = socket.socket(family, kind, protocol)
        connection.settimeout(remaining)
        try:
            connection.connect(address)
            return connection
        except OSError as error:
            connection.close()
            failures.append((address[0], _connect_kind(error), error))
    if not failures:
        raise ProbeError("timeout", f"no connection to {endpoint.shown} within {timeout:g} s")
    tried = ", ".join(dict.fromkeys(address for address, _kind, _error in failures))
    kinds = {kind for _address, kind, _error in failures}
    where = endpoint.shown if is_address(endpoint.host) else f"{endpoint.shown} ({tried})"
    if kinds == {"refused"}:
        raise ProbeError("refused", f"connection to {where} refused: nothing listens on port {endpoint.port} "
                                    "there (is the server running: `systemctl status nginx` or `apache2`? does "
                                    f"it listen on {endpoint.port}?)")
    if "timeout" in kinds:
        raise ProbeError("timeout", f"no answer from {where} within {timeout:g} s (a firewall drops the "
                                    "connection, or the address is not the server's)")
    last = failures[-1][2]
    raise ProbeError("unreachable", f"cannot connect to {where}: {last.strerror or last}")


def _connect_kind(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timeout"
    return "unreachable"


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the question is what is sent, not whether it is trusted
    # Read what old or weak servers send too (SHA-1, small keys, TLS 1.0): their certificates are the point.
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    try:
        context.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    return context


_TLS_HINTS = (
    ("WRONG_VERSION_NUMBER", "the port answers without TLS (plain HTTP? is `ssl` missing on its `listen`?)"),
    ("UNRECOGNIZED_NAME", "the server refuses the name it was sent (nginx `ssl_reject_handshake on` for "
                          "names no server block claims)"),
    ("HANDSHAKE_FAILURE", "no protocol or cipher in common, or the server rejects this name"),
    ("INTERNAL_ERROR", "the server failed during the handshake (its certificate or key may be unusable: "
                       "see its error log)"),
    ("UNSUPPORTED_PROTOCOL", "no TLS version in common"),
)


def _tls_failure(endpoint: Endpoint, error: Exception, timeout: float) -> ProbeError:
    sni = f"SNI {endpoint.servername}" if endpoint.servername else "no SNI"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return ProbeError("timeout", f"TLS handshake with {endpoint.shown} ({sni}) did not finish within "
                                     f"{timeout:g} s (does the port speak TLS?)")
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error) or type(error).__name__
    hint = next((text for marker, text in _TLS_HINTS if marker in str(reason).upper()), "")
    if isinstance(error, (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError)) or "EOF" in str(reason):
        hint = hint or "the server closed the connection during the handshake (not TLS, or it refused the name)"
    return ProbeError("tls", f"TLS handshake with {endpoint.shown} ({sni}) failed: {reason}"
                             + (f"; {hint}" if hint else ""))


def _sent_chain(tls: ssl.SSLSocket) -> tuple[list[bytes], bool]:
    """(DER certificates as sent, whether that is all of them)."""
    public = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
    read = public or getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)  # 3.10-3.12
    chain: list[bytes] = []
    if read is not None:
        import _ssl

        for item in read() or ():
            chain.append(item if isinstance(item, bytes) else item.public_bytes(_ssl.ENCODING_DER))
    if chain:
        return chain, True
    leaf = tls.getpeercert(binary_form=True)
    return ([leaf] if leaf else []), False


def probe(endpoint: Endpoint, timeout: float = TIMEOUT) -> Probe:
    """Connect, shake hands with SNI `endpoint.servername`, and read the chain the server sent."""
    timeout = min(timeout, TIMEOUT)
    deadline = time.monotonic() + timeout
    connection = _connect(endpoint, deadline, timeout)
    try:
        connection.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            address = connection.getpeername()[0]
            tls = _context().wrap_socket(connection, server_hostname=endpoint.servername)
        except (ssl.SSLError, OSError, ValueError) as error:
            raise _tls_failure(endpoint, error, timeout) from None
        try:
            der, complete = _sent_chain(tls)
            protocol = tls.version() or ""
        except (ssl.SSLError, OSError, ValueError) as error:
            raise _tls_failure(endpoint, error, timeout) from None
        finally:
            tls.close()
    finally:
        connection.close()
    if not der:
        raise ProbeError("tls", f"{endpoint.shown} completed the handshake without sending a certificate")
    chain = []
    for index, data in enumerate(der):
        try:
            chain.append(x509.load_der_x509_certificate(data))
        except ValueError as error:
            raise ProbeError("tls", f"{endpoint.shown} sent a certificate (number {index + 1}) that cannot be "
                                    f"parsed: {error}") from None
    return Probe(endpoint, address, tuple(chain), complete, protocol)
