"""What `sslint probe` saw: the endpoint and the chain one handshake sent."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509


@dataclass(frozen=True)
class Endpoint:
    host: str  # a DNS name or an IP address (no brackets)
    port: int
    servername: str | None  # the SNI name sent; None: no SNI (an address, and no --servername)

    @property
    def shown(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Probe:
    """What one handshake with the endpoint showed."""

    endpoint: Endpoint
    address: str  # the IP address connected to ("" when the probe was recorded, not made)
    chain: tuple[x509.Certificate, ...]  # as sent: the leaf first
    complete: bool = True  # False: only the leaf could be read (see the module docstring)
    protocol: str = ""  # "TLSv1.3", ...

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]
